"""The parts of the CKAN plugin that need no CKAN: settings, log lines, rebinding."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest

from conveyor import config as conveyor_config
from conveyor.ckan import logbridge, rebinding, settings
from conveyor.exceptions import ConfigError


def test_ckan_keys_configure_conveyor_when_its_own_are_absent(tmp_path: Path) -> None:
    site = {
        "__file__": str(tmp_path / "ckan.ini"),
        "ckan.site_id": "my.site",
        "ckan.jobs.timeout": 10,
        "ckan.redis.url": "redis://127.0.0.1:6379/3",
    }
    config = settings.from_site(site, env={})
    assert (config.site_id, config.jobs_timeout, config.backend) == (
        "my.site",
        10,
        "redis://127.0.0.1:6379/3",
    )
    assert config.base_dir == tmp_path.resolve()


def test_conveyors_own_keys_win_over_ckans_and_the_environment_over_both() -> None:
    site = {
        "ckan.site_id": "ckan.site",
        "conveyor.site_id": "own.site",
        "ckan.redis.url": "redis://127.0.0.1:6379/3",
        "conveyor.backend": "sqlite:///jobs.sqlite3",
    }
    env = {"CONVEYOR_BACKEND": "sqlite:///from-env.sqlite3"}
    config = settings.from_site(site, env=env)
    assert config.site_id == "own.site"
    assert config.backend == "sqlite:///from-env.sqlite3"


def test_a_bad_value_in_the_site_config_names_it_and_installs_nothing() -> None:
    before = conveyor_config.current()
    with pytest.raises(ConfigError, match=r"CKAN config.*conveyor.jobs.timeout"):
        settings.sync({"ckan.jobs.timeout": "soon"}, env={})
    assert conveyor_config.current() is before


def test_sync_installs_a_new_configuration_only_when_a_value_changed() -> None:
    site = {"ckan.site_id": "first.site", "conveyor.backend": "sqlite:///a.sqlite3"}
    first = settings.sync(site, env={})
    assert conveyor_config.current() is first
    assert settings.sync(dict(site), env={}) is first
    site["ckan.site_id"] = "second.site"
    second = settings.sync(site, env={})
    assert second.site_id == "second.site"
    assert conveyor_config.current() is second


def _record(name: str, level: int, msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


@pytest.fixture
def ckan_records() -> list[logging.LogRecord]:
    """Records reaching the ``ckan.lib.jobs`` logger while the bridge is installed."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    target = logging.getLogger(logbridge.CKAN_LOGGER)
    handler, level = Keep(), target.level
    target.addHandler(handler)
    target.setLevel(logging.DEBUG)
    logbridge.install()
    yield seen
    logbridge.uninstall()
    target.removeHandler(handler)
    target.setLevel(level)


def test_worker_lifecycle_lines_are_ckans_on_ckans_logger(
    ckan_records: list[logging.LogRecord],
) -> None:
    worker = logging.getLogger("conveyor.worker")
    for record in (
        _record(
            "conveyor.worker",
            logging.INFO,
            "Worker %s (PID %d) has started on queue(s) %s",
            "w1",
            1,
            '"a"',
            worker="w1",
            queues=["a", "b"],
        ),
        _record(
            "conveyor.worker",
            logging.INFO,
            'Worker %s has finished job %s from queue "%s" in %.3fs',
            "w1",
            "j1",
            "a",
            0.5,
        ),
        _record("conveyor.worker", logging.DEBUG, "Purged %d expired job records", 3),
    ):
        worker.handle(record)
    messages = [record.getMessage() for record in ckan_records]
    started = f'Worker w1 (PID {ckan_records[0].process}) has started on queue(s) "a", "b" '
    assert messages == [started, 'Worker w1 has finished job j1 from queue "a"']
    assert {record.name for record in ckan_records} == {"ckan.lib.jobs"}


def test_job_errors_go_to_ckans_logger_unchanged(ckan_records: list[logging.LogRecord]) -> None:
    logging.getLogger("conveyor.worker").handle(
        _record(
            "conveyor.worker",
            logging.ERROR,
            "Job %s on worker %s raised an exception: %s\n%s",
            "j1",
            "w1",
            "JOB FAILURE",
            "Traceback ...",
            job_id="j1",
        )
    )
    assert [(r.levelno, r.getMessage()) for r in ckan_records] == [
        (logging.ERROR, "Job j1 on worker w1 raised an exception: JOB FAILURE\nTraceback ...")
    ]
    assert ckan_records[0].job_id == "j1"  # type: ignore[attr-defined]


def test_other_conveyor_lines_stay_on_conveyors_loggers(
    ckan_records: list[logging.LogRecord],
) -> None:
    record = _record("conveyor.jobs", logging.INFO, "Requeued job %s", "j1")
    assert logbridge.translate(record) is None
    logging.getLogger("conveyor.jobs").handle(record)
    assert ckan_records == []


def original_function() -> str:
    return "original"


def replacement_function() -> str:
    return "replacement"


def test_rebind_points_copies_of_an_original_at_its_replacement() -> None:
    module = types.ModuleType("ckanext.conveyor_rebind_test")
    module.copied = original_function  # type: ignore[attr-defined]
    module.other = len  # type: ignore[attr-defined]
    outside = types.ModuleType("elsewhere_rebind_test")
    outside.copied = original_function  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    sys.modules[outside.__name__] = outside
    try:
        rebinding.register(original_function, replacement_function)
        assert rebinding.rebind() >= 1
        assert module.copied is replacement_function  # type: ignore[attr-defined]
        assert module.other is len  # type: ignore[attr-defined]
        assert outside.copied is original_function  # type: ignore[attr-defined]
    finally:
        del sys.modules[module.__name__], sys.modules[outside.__name__]


def test_start_and_stop_lines_name_the_worker_by_its_key(
    ckan_records: list[logging.LogRecord],
) -> None:
    logbridge.name_worker("host.42", "conveyor:worker:abc")
    logging.getLogger("conveyor.worker").handle(
        _record(
            "conveyor.worker",
            logging.INFO,
            "Worker %s (PID %d) has stopped",
            "host.42",
            42,
            worker="host.42",
        )
    )
    logging.getLogger("conveyor.worker").handle(
        _record(
            "conveyor.worker",
            logging.INFO,
            'Worker %s starts job %s from queue "%s"',
            "host.42",
            "j1",
            "q",
        )
    )
    assert [r.getMessage() for r in ckan_records] == [
        f"Worker conveyor:worker:abc (PID {ckan_records[0].process}) has stopped",
        'Worker conveyor:worker:abc starts job j1 from queue "q"',
    ]
