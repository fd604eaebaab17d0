"""What the backends share, apart from the conformance suite: the interface and its helpers."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from conveyor import DuplicateJobError, JobStateError
from conveyor.backends import Backend
from conveyor.backends.base import ApiToken, WorkerInfo, lease_tokens, split_queue_name
from conveyor.backends.sqlite import SQLiteBackend
from conveyor.backends.urls import pop_url_option


def test_a_backend_without_from_url_cannot_be_made() -> None:
    assert "from_url" in Backend.__abstractmethods__
    everything_else = {
        name: lambda *args, **kwargs: None
        for name in Backend.__abstractmethods__
        if name != "from_url"
    }
    partial = type("NoFromUrl", (Backend,), everything_else)
    with pytest.raises(TypeError, match="from_url"):
        partial()


def test_from_url_resolves_a_relative_path_against_base_dir(tmp_path: Path) -> None:
    store = SQLiteBackend.from_url("sqlite:///jobs.db", base_dir=tmp_path)
    try:
        assert isinstance(store, SQLiteBackend)
        assert store.path == tmp_path / "jobs.db"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("queue", "parts"),
    [
        ("conveyor:site.example:default", ("conveyor:site.example:", "default")),
        ("conveyor:site:with:colons", ("conveyor:site:", "with:colons")),
        ("conveyor:site:", ("conveyor:site:", "")),
        ("unprefixed", ("", "unprefixed")),
        ("only:one", ("", "only:one")),
    ],
)
def test_a_queue_name_splits_into_its_site_prefix_and_its_name(
    queue: str, parts: tuple[str, str]
) -> None:
    assert split_queue_name(queue) == parts


def test_a_backend_option_is_taken_out_of_the_url_and_the_rest_kept_in_order() -> None:
    url = "redis://:secret@host:6379/0?a=1&namespace=shop&b=&namespace=two"
    assert pop_url_option(url, "namespace") == (
        "redis://:secret@host:6379/0?a=1&b=",
        ["shop", "two"],
    )
    assert pop_url_option("postgresql://u@h/db?schema=jobs", "schema") == (
        "postgresql://u@h/db",
        ["jobs"],
    )


@pytest.mark.parametrize(
    ("url", "name", "rest"),
    [
        ("unix:///run/redis.sock?db=0&namespace=shop", "namespace", "unix:///run/redis.sock?db=0"),
        (
            "postgresql:///jobs?host=/run/pg&schema=shop",
            "schema",
            "postgresql:///jobs?host=%2Frun%2Fpg",
        ),
    ],
)
def test_a_url_with_an_empty_host_keeps_its_slashes_when_an_option_is_taken_out(
    url: str, name: str, rest: str
) -> None:
    """``unix:/run/redis.sock`` is no URL redis-py takes: the ``//`` of an empty host stays."""
    assert pop_url_option(url, name) == (rest, ["shop"])


def test_a_url_without_the_option_comes_back_unchanged() -> None:
    url = "postgresql://u@h/db?sslmode=require&application_name=a%20b"
    assert pop_url_option(url, "schema") == (url, [])


def test_a_duplicate_id_is_named_in_the_one_message_every_backend_gives() -> None:
    error = DuplicateJobError("abc-1")
    assert error.job_id == "abc-1"
    assert (
        str(error)
        == "A job with ID 'abc-1' exists already and has not ended; nothing was enqueued"
    )


def test_cancelling_an_ended_job_says_which_states_can_be_canceled() -> None:
    error = JobStateError.cannot_cancel("j1", "finished")
    assert isinstance(error, JobStateError)
    assert str(error) == (
        "Job j1 has already finished; only queued, scheduled or started jobs can be canceled"
    )


def test_an_api_token_round_trips_through_a_dict_and_reads_a_sql_row() -> None:
    token = ApiToken(name="ci", hash="ab" * 32, read_only=True, created_at=12.5, site_id="s")
    assert ApiToken.from_dict(token.to_dict()) == token
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    row = db.execute(
        "SELECT 's' AS site_id, 'ci' AS name, ? AS hash, 1 AS read_only, 12.5 AS created_at",
        (token.hash,),
    ).fetchone()
    db.close()
    assert ApiToken.from_dict(row) == token


def worker(queues: Sequence[str]) -> WorkerInfo:
    return WorkerInfo(
        key="w", queues=tuple(queues), host="h", pid=1, started_at=0.0, heartbeat_at=0.0
    )


@pytest.mark.parametrize(
    ("queues", "serves"),
    [
        (["conveyor:a:default"], True),
        (["conveyor:b:default", "conveyor:a:mail"], True),
        (["conveyor:ab:default"], False),
        ([], False),
    ],
)
def test_a_worker_serves_a_site_when_one_of_its_queues_is_the_sites(
    queues: list[str], serves: bool
) -> None:
    assert worker(queues).serves("conveyor:a:") is serves


def test_lease_tokens_are_fresh_16_digit_hex_strings() -> None:
    tokens = lease_tokens(50)
    assert len(tokens) == 50
    assert all(len(token) == 16 and int(token, 16) >= 0 for token in tokens)
    assert len(set(tokens) | set(lease_tokens(50))) == 100  # none repeats, within or across calls
    assert lease_tokens(0) == []
