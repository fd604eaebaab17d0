"""Which store the CLI uses: `conveyor info`, config discovery, read-only commands, safe output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import conveyor
import conveyor.testing
import conveyor_test_jobs
from conveyor import config
from conveyor.cli import main
from conveyor.cli.text import escape
from support import TESTS_DIR

CONVEYOR = str(Path(sys.executable).parent / "conveyor")
READ_ONLY = [
    ["jobs", "list"],
    ["jobs", "list", "--state", "failed"],
    ["jobs", "show", "some-id"],
    ["jobs", "cancel", "some-id"],
    ["jobs", "clear"],
    ["jobs", "requeue", "--all-failed"],
    ["jobs", "workers"],
    ["jobs", "queues"],
    ["token", "list"],
]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project: conveyor.ini at its root (no keys) and a subdirectory, the working directory."""
    root = tmp_path / "project"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "conveyor.ini").write_text("[conveyor]\nconveyor.site_id = proj\n", encoding="utf-8")
    return root


# -- read-only commands never create a store ---------------------------------------------------
@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_a_read_only_command_with_no_store_says_where_it_looked(
    tmp_path: Path, args: list[str]
) -> None:
    result = run(*args)
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"There is no job store at {tmp_path}/conveyor.sqlite3")
    assert f"no conveyor.ini in {tmp_path} or its parents" in first
    assert "Traceback" not in result.output
    assert not (tmp_path / "conveyor.sqlite3").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_command_that_enqueues_creates_the_store(tmp_path: Path) -> None:
    assert run("jobs", "test").exit_code == 0
    assert (tmp_path / "conveyor.sqlite3").exists()
    listed = run("jobs", "list")
    assert listed.exit_code == 0
    assert "A test job" in listed.stdout


# -- the default-store rule: conveyor.ini marks the project ------------------------------------
def test_commands_from_any_directory_of_a_project_share_its_store(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "src")
    assert run("jobs", "test").exit_code == 0
    assert (project / "conveyor.sqlite3").exists()
    assert not (project / "src" / "conveyor.sqlite3").exists()
    monkeypatch.chdir(project / "src" / "deep")
    listed = run("jobs", "list")
    assert listed.exit_code == 0, listed.output
    assert "A test job" in listed.stdout


def test_the_python_api_finds_the_same_project_store(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "src" / "deep")
    loaded = config.configure()
    assert loaded.config_file == project / "conveyor.ini"
    assert loaded.config_origin == "found"
    job = conveyor.enqueue(conveyor_test_jobs.succeed, title="from deep inside")
    monkeypatch.chdir(project)
    assert job.id in run("jobs", "list", "--ids").stdout.split()


def test_a_given_config_file_wins_over_discovery(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.ini"
    other.write_text("[conveyor]\nconveyor.site_id = other\n", encoding="utf-8")
    monkeypatch.chdir(project / "src")
    assert config.load(other, env={}).site_id == "other"
    assert config.load(env={"CONVEYOR_CONFIG": str(other)}).site_id == "other"
    assert config.load(env={}).site_id == "proj"


# -- conveyor info -------------------------------------------------------------------------------
def test_info_without_a_config_file_or_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    result = run("info")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Config file: none"
    assert f"no conveyor.ini in {tmp_path} or its parents" in lines[1]
    assert (
        lines[2] == f"Store:       sqlite:///conveyor.sqlite3 (file {tmp_path}/conveyor.sqlite3)"
    )
    assert "does not exist yet" in lines[3]
    assert "Site id:     default" in lines
    assert list(tmp_path.iterdir()) == []


def test_info_names_the_found_file_the_store_queues_and_workers(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "src")
    assert run("jobs", "test", "q1").exit_code == 0
    result = run("info")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Config file: {project}/conveyor.ini"
    assert "found from the working directory" in lines[1]
    assert lines[2] == f"Store:       sqlite:///conveyor.sqlite3 (file {project}/conveyor.sqlite3)"
    assert "Site id:     proj" in lines
    assert "Queues:      1" in lines
    assert "  q1 queued=1 scheduled=0 started=0 finished=0 failed=0 canceled=0" in lines
    assert "Workers:     0 live" in lines
    assert run("jobs", "info").stdout == result.stdout  # the same command under jobs


def test_info_hides_the_password_of_the_store(tmp_path: Path) -> None:
    env = {"CONVEYOR_BACKEND": "redis://:s3cret@127.0.0.1:1/0"}
    result = run("info", "--json", env=env)
    assert result.exit_code == 1, result.output  # nothing listens on port 1
    found = json.loads(result.stdout)
    assert found["store"] == "redis://:***@127.0.0.1:1/0"
    assert found["config_file"] is None
    assert "is unavailable" in found["store_error"]
    assert "s3cret" not in result.output
    shown = run("info", env=env)
    assert shown.exit_code == 1
    assert "Store:       redis://:***@127.0.0.1:1/0" in shown.stdout.splitlines()
    assert "cannot be read: Redis at 127.0.0.1:1/0 is unavailable" in shown.stdout
    assert "s3cret" not in shown.output


# -- numbers and stored text on the terminal ---------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["jobs", "list", "-l", "99999999999999999999999"],
        ["jobs", "list", "-l", "1000001"],
        ["serve", "--threads", "99999999999999999999"],
        ["deploy", "supervisor", "--numprocs", "99999999999999999999"],
        ["deploy", "systemd", "--stop-timeout", "99999999999999999999"],
        ["deploy", "systemd", "--concurrency", "99999999999999999999"],
        ["jobs", "worker", "-n", "99999999999999999999"],
        ["jobs", "worker", "--concurrency", "1025"],
    ],
    ids=" ".join,
)
def test_cli_numbers_out_of_bounds_are_usage_errors(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "is not in the range" in result.stderr
    assert "Traceback" not in result.output


HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07\nfake line\r\ud800\x00end"


def test_control_characters_are_escaped() -> None:
    assert escape(HOSTILE) == "evil\\x1b[2J\\x1b]0;pwned\\x07\\nfake line\\r\\ud800\\x00end"
    assert escape("plain été 漢字 😀") == "plain été 漢字 😀"


def test_stored_text_reaches_the_terminal_escaped(
    conveyor_env: conveyor.Config, tmp_path: Path
) -> None:
    title = "evil\x1b[2J\nfake line\x07"
    job = conveyor.enqueue(conveyor_test_jobs.raise_error, ["boom\x1b[31m\nsecond"], title=title)
    conveyor.testing.run_jobs(raise_errors=False)
    env = {"CONVEYOR_BACKEND": conveyor_env.backend, "CONVEYOR_SITE_ID": conveyor_env.site_id}
    listed = run("jobs", "list", "--state", "failed", env=env)
    shown = run("jobs", "show", job.id, env=env)
    for result in (listed, shown):
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout
        assert "\x07" not in result.stdout
    [line] = listed.stdout.splitlines()
    assert line.endswith('failed "evil\\x1b[2J\\nfake line\\x07"')
    assert 'Title:   "evil\\x1b[2J\\nfake line\\x07"' in shown.stdout.splitlines()
    assert "boom\\x1b[31m" in shown.stdout


def test_an_error_message_with_control_characters_is_escaped(tmp_path: Path) -> None:
    bad = tmp_path / "bad\x1b[31m.ini"
    result = run("-c", str(bad), "jobs", "list")
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr
    assert "bad\\x1b[31m.ini does not exist" in result.stderr


# -- serve, and the web extra --------------------------------------------------------------------
def test_serve_refuses_to_start_when_its_store_is_unreachable(tmp_path: Path) -> None:
    pytest.importorskip("waitress")
    env = {**os.environ, "CONVEYOR_BACKEND": "redis://127.0.0.1:1/0"}
    completed = subprocess.run(
        [CONVEYOR, "serve", "--port", "1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert lines[0].startswith("Redis at 127.0.0.1:1/0 is unavailable")
    assert lines[1:] == ["Aborted!"]


def test_importing_the_web_api_without_flask_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['flask'] = None\n"  # as if Flask were not installed
        "try:\n"
        "    import conveyor.web\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert completed.stdout == "The web API needs the 'web' extra: pip install 'conveyor[web]'\n"


def _commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, [*prefix, name])
        else:
            found.append([*prefix, name])
    return found


def test_every_help_text_is_printable_text() -> None:
    for args in _commands(main, []):
        result = run(*args, "--help")
        assert result.exit_code == 0, args
        assert escape(result.stdout.replace("\n", "")) == result.stdout.replace("\n", ""), args


def test_a_worker_logs_stored_text_escaped(
    conveyor_env: conveyor.Config, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    conveyor.enqueue(
        conveyor_test_jobs.raise_error, ["boom\x1b[31m\rred"], title="title\x1b]0;pwned\x07"
    )
    completed = subprocess.run(
        [CONVEYOR, "jobs", "worker", "--burst"],
        env=subprocess_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "\x1b" not in completed.stderr
    assert "\x07" not in completed.stderr
    assert "\r" not in completed.stderr
    assert "boom\\x1b[31m\\rred" in completed.stderr
    assert "Traceback (most recent call last):\n" in completed.stderr  # line breaks kept


def test_creating_a_store_is_logged_once_with_its_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="conveyor.backends")
    conveyor.enqueue(conveyor_test_jobs.succeed)
    conveyor.enqueue(conveyor_test_jobs.succeed)
    created = [m for m in caplog.messages if m.startswith("Created a new job store")]
    assert created == [f"Created a new job store at {tmp_path}/jobs.sqlite3"]


def test_a_worker_started_in_another_directory_of_the_project_runs_its_jobs(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    config.configure()
    job = conveyor.enqueue(conveyor_test_jobs.add, [2, 3])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["PYTHONPATH"] = str(TESTS_DIR)  # the test jobs' module
    subprocess.run(
        [CONVEYOR, "jobs", "worker", "--burst"],
        env=env,
        cwd=project / "src" / "deep",
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert conveyor.job_from_id(job.id).result == 5
    assert sorted(p.name for p in project.iterdir() if p.suffix == ".sqlite3") == [
        "conveyor.sqlite3"
    ]
    assert not list((project / "src").rglob("*.sqlite3"))


def test_without_config_producer_and_worker_in_one_directory_share_conveyor_sqlite3(
    tmp_path: Path,
) -> None:
    config.install(config.load())  # conftest cleared every CONVEYOR_* variable
    marker = tmp_path / "ran.txt"
    job = conveyor.enqueue(conveyor_test_jobs.touch, [str(marker), "ran"])
    assert (tmp_path / "conveyor.sqlite3").is_file()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "CKAN_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    command = [str(Path(sys.executable).parent / "conveyor"), "jobs", "worker", "--burst"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr.decode()
    assert marker.read_text() == "ran\n"
    job.refresh()
    assert job.state is conveyor.JobState.FINISHED
