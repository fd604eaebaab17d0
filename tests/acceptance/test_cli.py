"""The ``conveyor jobs`` commands, in process with click's CliRunner (and once as a process)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import conveyor
import conveyor.testing
import conveyor_test_jobs
from conveyor.cli import main

Invoke = Callable[..., Result]
CONVEYOR = str(Path(sys.executable).parent / "conveyor")


@pytest.fixture
def cli(conveyor_env: conveyor.Config) -> Invoke:
    """Run ``conveyor ...`` in process against the test's database (created, empty)."""
    conveyor.api.backend()  # read-only commands refuse a store that does not exist
    runner = CliRunner()
    env = {"CONVEYOR_BACKEND": conveyor_env.backend, "CONVEYOR_SITE_ID": conveyor_env.site_id}

    def invoke(*args: str, **extra_env: str) -> Result:
        return runner.invoke(main, list(args), env={**env, **extra_env})

    return invoke


def enqueue(queue: str = "default", **options: Any) -> conveyor.Job:
    return conveyor.enqueue(conveyor_test_jobs.succeed, ["x"], queue=queue, **options)


def created(job: conveyor.Job) -> str:
    return job.created_at.strftime("%Y-%m-%dT%H:%M:%S")


def assert_user_error(result: Result, message: str) -> None:
    """A user error: the message and Aborted! on stderr, exit 1, no traceback."""
    assert result.exit_code == 1, result.output
    assert result.stderr == f"{message}\nAborted!\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


# -- jobs list ------------------------------------------------------------------------------
def test_list_prints_created_id_queue_and_quoted_title(cli: Invoke) -> None:
    titled = enqueue("q1", title="My log job")
    plain = enqueue()
    result = cli("jobs", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{created(plain)} {plain.id} default",
        f'{created(titled)} {titled.id} q1 "My log job"',
    ]
    assert result.stderr == ""


def test_list_line_fields_are_whitespace_separated_as_in_the_reference(cli: Invoke) -> None:
    job = enqueue(title="My_Title")
    fields = cli("jobs", "list").output.split()
    assert fields == [created(job), job.id, "default", '"My_Title"']


def test_list_without_jobs_says_there_are_no_pending_jobs(cli: Invoke) -> None:
    result = cli("jobs", "list")
    assert result.exit_code == 0
    assert result.stdout == "There are no pending jobs.\n"


def test_list_of_given_queues(cli: Invoke) -> None:
    q1, q2 = enqueue("q1"), enqueue("q2")
    enqueue("q3")
    result = cli("jobs", "list", "q2", "q1")
    assert [line.split()[1] for line in result.stdout.splitlines()] == [q2.id, q1.id]


def test_list_ids_prints_one_id_per_line(cli: Invoke) -> None:
    jobs = [enqueue(title="t") for _ in range(3)]
    result = cli("jobs", "list", "--ids")
    assert result.stdout.splitlines() == [job.id for job in jobs]
    assert cli("jobs", "list", "-i").stdout == result.stdout


def test_list_limit_caps_the_lines(cli: Invoke) -> None:
    jobs = [enqueue() for _ in range(3)]
    assert cli("jobs", "list", "--ids", "--limit", "2").stdout.splitlines() == [
        jobs[0].id,
        jobs[1].id,
    ]
    assert cli("jobs", "list", "--ids", "-l", "1").stdout.splitlines() == [jobs[0].id]
    assert cli("jobs", "list", "-l", "0").stdout == "There are no pending jobs.\n"


def test_list_refuses_a_negative_limit_as_a_usage_error(cli: Invoke) -> None:
    result = cli("jobs", "list", "--limit", "-1")
    assert result.exit_code == 2
    assert "Invalid value for '-l' / '--limit'" in result.stderr


def test_list_state_failed_shows_failed_jobs_with_their_state(cli: Invoke) -> None:
    failed = conveyor.enqueue(conveyor_test_jobs.failing_job, title="Doomed")
    assert cli("jobs", "list", "--state", "failed").stdout == "There are no failed jobs.\n"
    conveyor.Worker().work(burst=True)
    failed.refresh()
    result = cli("jobs", "list", "--state", "failed")
    assert result.stdout.splitlines() == [f'{created(failed)} {failed.id} default failed "Doomed"']
    assert cli("jobs", "list").stdout == "There are no pending jobs.\n"


def test_list_json_prints_the_job_list(cli: Invoke) -> None:
    enqueue("a", title="A")
    enqueue("b")
    result = cli("jobs", "list", "--json")
    assert json.loads(result.stdout) == conveyor.job_list()
    assert json.loads(cli("jobs", "list", "--json", "--ids").stdout) == conveyor.job_list(
        ids_only=True
    )


# -- jobs show ------------------------------------------------------------------------------
def test_show_prints_the_reference_lines_first(cli: Invoke) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.add, [1, 2], title="Title", queue="my_queue")
    result = cli("jobs", "show", job.id)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        f"ID:      {job.id}",
        'Title:   "Title"',
        f"Created: {created(job)}",
        "Queue:   my_queue",
    ]
    assert lines[4:9] == [
        "State:   queued",
        "Func:    conveyor_test_jobs:add",
        "Args:    [1, 2]",
        "Kwargs:  {}",
        "Timeout: 180",
    ]


def test_show_prints_title_none_without_quotes(cli: Invoke) -> None:
    job = enqueue()
    lines = cli("jobs", "show", job.id).stdout.splitlines()
    assert lines[1] == "Title:   None"


def test_show_of_a_failed_job_adds_its_error(cli: Invoke) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.failing_job)
    conveyor.Worker().work(burst=True)
    lines = cli("jobs", "show", job.id).stdout.splitlines()
    assert lines[4] == "State:   failed"
    assert "Error:   RuntimeError: JOB FAILURE" in lines
    assert any("raise RuntimeError" in line for line in lines)


def test_show_json_prints_the_dictized_job(cli: Invoke) -> None:
    job = enqueue(title="J")
    assert json.loads(cli("jobs", "show", "--json", job.id).stdout) == conveyor.job_show(job.id)


@pytest.mark.parametrize("command", ["show", "cancel"])
@pytest.mark.parametrize("job_id", ["does-not-exist", "abc:x"])
def test_an_unknown_id_is_a_user_error(cli: Invoke, command: str, job_id: str) -> None:
    assert_user_error(cli("jobs", command, job_id), f'There is no job with ID "{job_id}"')


@pytest.mark.parametrize("command", ["show", "cancel"])
def test_a_missing_id_is_a_usage_error(cli: Invoke, command: str) -> None:
    result = cli("jobs", command)
    assert result.exit_code == 2
    assert "Error: Missing argument 'ID'." in result.stderr


# -- jobs cancel ----------------------------------------------------------------------------
def test_cancel_removes_the_job(cli: Invoke) -> None:
    first, second = enqueue(), enqueue()
    result = cli("jobs", "cancel", first.id)
    assert result.exit_code == 0
    assert result.stdout == f"Cancelled job {first.id}\n"
    assert conveyor.job_list(ids_only=True) == [second.id]
    with pytest.raises(KeyError):
        conveyor.job_from_id(first.id)


def test_cancel_of_a_finished_job_is_a_user_error(cli: Invoke) -> None:
    job = enqueue()
    conveyor.Worker().work(burst=True)
    result = cli("jobs", "cancel", job.id)
    assert result.exit_code == 1
    assert job.id in result.stderr
    assert result.stderr.endswith("Aborted!\n")
    assert "Traceback" not in result.output
    assert conveyor.job_show(job.id)["state"] == "finished"


# -- jobs clear -----------------------------------------------------------------------------
def test_clear_without_queues_clears_all_and_counts_per_queue(cli: Invoke) -> None:
    enqueue()
    enqueue("q2")
    enqueue("q2")
    enqueue("q1")
    conveyor.testing.run_jobs(["q1"])  # q1 holds a finished record, no waiting job
    result = cli("jobs", "clear")
    assert result.exit_code == 0
    assert result.stdout == (
        'Deleted 1 waiting job from queue "default"\nDeleted 2 waiting jobs from queue "q2"\n'
    )
    assert conveyor.job_list() == []
    assert conveyor.job_count(states=["finished"]) == 1


def test_clear_of_given_queues_clears_only_them(cli: Invoke) -> None:
    kept = [enqueue(), enqueue("q3")]
    enqueue("q1")
    enqueue("q2")
    enqueue("q2")
    result = cli("jobs", "clear", "q1", "q2", "nothing-here")
    assert result.exit_code == 0
    assert result.stdout == (
        'Deleted 1 waiting job from queue "q1"\n'
        'Deleted 2 waiting jobs from queue "q2"\n'
        'Queue "nothing-here" had no waiting jobs\n'
    )
    assert conveyor.job_list(ids_only=True) == [job.id for job in kept]


def test_clear_of_queues_with_nothing_waiting_says_so(cli: Invoke) -> None:
    enqueue("q1")
    conveyor.testing.run_jobs()
    assert cli("jobs", "clear").stdout == "There were no waiting jobs to delete.\n"
    assert cli("jobs", "clear", "q1").stdout == 'Queue "q1" had no waiting jobs\n'


def test_clear_without_any_queue_says_so(cli: Invoke) -> None:
    result = cli("jobs", "clear")
    assert result.exit_code == 0
    assert result.stdout == "There are no queues to clear.\n"


# -- jobs test ------------------------------------------------------------------------------
def test_test_enqueues_a_test_job_on_the_default_queue(cli: Invoke) -> None:
    result = cli("jobs", "test")
    [job] = [conveyor.job_from_id(i) for i in conveyor.job_list(ids_only=True)]
    assert result.stdout == f'Added test job {job.id} to queue "default"\n'
    assert job.func_name == "conveyor.api:test_job"
    assert job.args == ["A test job"]
    assert job.title == "A test job"


def test_test_enqueues_one_test_job_per_given_queue(cli: Invoke) -> None:
    result = cli("jobs", "test", "q1", "q2")
    first, second = conveyor.job_list(ids_only=True)
    assert result.stdout.splitlines() == [
        f'Added test job {first} to queue "q1"',
        f'Added test job {second} to queue "q2"',
    ]


# -- configuration and errors -------------------------------------------------------------
def test_config_option_points_at_an_ini(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    ini = site / "conveyor.ini"
    ini.write_text(
        "[conveyor]\nconveyor.backend = sqlite:///jobs.sqlite3\nconveyor.site_id = ini-site\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    added = runner.invoke(main, ["-c", str(ini), "jobs", "test", "from-ini"])
    assert added.exit_code == 0, added.output
    assert (site / "jobs.sqlite3").is_file()
    listed = runner.invoke(main, ["--config", str(ini), "jobs", "list", "--ids"])
    assert conveyor.config.current().site_id == "ini-site"
    assert listed.stdout.split() == conveyor.job_list(ids_only=True)
    assert len(listed.stdout.split()) == 1
    via_env = runner.invoke(main, ["jobs", "list", "--ids"], env={"CONVEYOR_CONFIG": str(ini)})
    assert via_env.stdout == listed.stdout


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[conveyor]\nconveyor.jobs.timeout = zero\n", "'zero' is not a duration"),
        ("[conveyor]\nconveyor.jobs.timeout = 1\nconveyor.jobs.timeout = 2\n", "lines 2 and 3"),
        ("[conveyor]\nconveyor.nonsense = 1\n", "unknown key 'conveyor.nonsense'"),
        ("not an ini file\n", "is malformed"),
    ],
)
def test_a_bad_config_file_is_a_user_error_naming_the_file(
    tmp_path: Path, text: str, fragment: str
) -> None:
    ini = tmp_path / "broken.ini"
    ini.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["-c", str(ini), "jobs", "list"])
    assert result.exit_code == 1
    assert str(ini) in result.stderr
    assert fragment in result.stderr
    assert result.stderr.endswith("Aborted!\n")
    assert "Traceback" not in result.output


def test_a_missing_config_file_is_a_user_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.ini"
    result = CliRunner().invoke(main, ["-c", str(missing), "jobs", "list"])
    assert_user_error(result, f"Config file {missing} does not exist")


def test_an_unknown_backend_is_a_user_error(cli: Invoke) -> None:
    result = cli("jobs", "list", CONVEYOR_BACKEND="nosuch://somewhere")
    assert result.exit_code == 1
    assert "Unknown backend URL scheme 'nosuch'" in result.stderr
    assert "Traceback" not in result.output


def test_a_validation_error_is_a_user_error(cli: Invoke) -> None:
    result = cli("jobs", "list", "")
    assert_user_error(result, "queues: Must not be empty")


def test_an_unknown_command_is_a_usage_error(cli: Invoke) -> None:
    result = cli("jobs", "does-not-exist")
    assert result.exit_code == 2
    assert "No such command 'does-not-exist'" in result.stderr


def test_jobs_help_lists_the_reference_commands(cli: Invoke) -> None:
    result = cli("jobs", "--help")
    assert result.exit_code == 0
    # Column widths depend on the longest command name; the words do not.
    for name, help_text in (
        ("cancel", "Cancel a specific job."),
        ("clear", "Delete the waiting jobs of queues."),
        ("list", "List jobs."),
        ("show", "Show details about a specific job."),
        ("test", "Enqueue a test job."),
        ("worker", "Start a worker."),
    ):
        pattern = rf"^\s+{name}\s+{re.escape(help_text)}$"
        assert re.search(pattern, result.stdout, re.MULTILINE), name


def test_the_installed_command_lists_jobs_as_a_process(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    job = enqueue("q", title="In a process")
    completed = subprocess.run(
        [CONVEYOR, "jobs", "list"],
        env=subprocess_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f'{created(job)} {job.id} q "In a process"\n'
    shown = subprocess.run(
        [CONVEYOR, "jobs", "show", "no-such-job"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 1
    assert shown.stderr == 'There is no job with ID "no-such-job"\nAborted!\n'


@pytest.mark.parametrize("offset", [0.0, 0.0004, 0.5, 0.9996, 1.2, 3600.25])
def test_the_worker_log_formatter_writes_what_the_standard_one_writes(offset: float) -> None:
    from conveyor.cli.logs import LOG_FORMAT, _LogFormatter

    fast, standard = _LogFormatter(LOG_FORMAT), logging.Formatter(LOG_FORMAT)
    base = 1_700_000_000.0
    fast.format(logging.makeLogRecord({"created": base, "msecs": 0.0}))  # cache a second
    fields = {
        "name": "conveyor.worker",
        "levelname": "INFO",
        "msg": "Worker %s starts job %s",
        "args": ("w", "j"),
        "created": base + offset,
        "msecs": (offset % 1) * 1000,
    }
    ours = fast.format(logging.makeLogRecord(fields))
    theirs = standard.format(logging.makeLogRecord(fields))
    assert ours == theirs
    assert ours.endswith("INFO    [conveyor.worker] Worker w starts job j")


def test_the_worker_log_formatter_writes_tracebacks_as_the_standard_one_does() -> None:
    from conveyor.cli.logs import LOG_FORMAT, _LogFormatter

    try:
        raise ValueError("broken")
    except ValueError:
        exc_info = sys.exc_info()
    fields = {"name": "conveyor.worker", "levelname": "ERROR", "msg": "failed: %d", "args": (3,)}
    fields |= {"exc_info": exc_info, "created": 1_700_000_000.25, "msecs": 250.0}
    ours = _LogFormatter(LOG_FORMAT).format(logging.makeLogRecord(fields))
    theirs = logging.Formatter(LOG_FORMAT).format(logging.makeLogRecord(fields))
    assert ours == theirs
    assert "ERROR   [conveyor.worker] failed: 3\nTraceback" in ours
    assert ours.endswith("ValueError: broken")
