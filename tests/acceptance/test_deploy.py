"""`conveyor deploy`: the generated files, and a real Supervisor running the worker."""

from __future__ import annotations

import configparser
import contextlib
import getpass
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import JobState
from conveyor.cli import main
from conveyor.cli.deploy import EXAMPLE, render_supervisor, render_systemd
from support import ROOT, TESTS_DIR

REPO = ROOT
BIN = Path(sys.executable).parent
CONVEYOR = str(BIN / "conveyor")
SUPERVISORD = str(BIN / "supervisord")
SUPERVISORCTL = str(BIN / "supervisorctl")


def deploy(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def unit(text: str) -> configparser.RawConfigParser:
    """A systemd unit read as an ini file (its comments start with '#')."""
    parser = configparser.RawConfigParser(strict=False, comment_prefixes=("#",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


# -- the generated files ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "render"),
    [
        ("deploy/supervisor-conveyor-worker.conf", render_supervisor),
        ("deploy/conveyor-worker.service", render_systemd),
        ("deploy/conveyor-worker@.service", lambda d: render_systemd(d, template=True)),
    ],
)
def test_the_files_in_deploy_are_the_commands_output_for_the_conventional_paths(
    path: str, render: Callable[..., str]
) -> None:
    assert (REPO / path).read_text(encoding="utf-8") == render(EXAMPLE)


def test_deploy_supervisor_fills_in_this_installations_paths(tmp_path: Path) -> None:
    ini = tmp_path / "conveyor.ini"
    ini.write_text("[conveyor]\nconveyor.site_id = deployed\n", encoding="utf-8")

    result = deploy(
        "-c", "conveyor.ini", "deploy", "supervisor", "--log-dir", "logs", "--numprocs", "1"
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"command={CONVEYOR} -c {ini} jobs worker" in lines
    assert f"stdout_logfile={tmp_path}/logs/conveyor-worker.stdout.log" in lines
    assert f"stderr_logfile={tmp_path}/logs/conveyor-worker.stderr.log" in lines
    assert "[program:conveyor-worker]" in lines
    assert "user=www-data" in lines
    assert "stopsignal=TERM" in lines
    assert "stopwaitsecs=600" in lines
    assert result.stderr == ""


def test_deploy_reads_the_config_file_from_conveyor_config_and_makes_it_absolute(
    tmp_path: Path,
) -> None:
    (tmp_path / "site.ini").write_text("[conveyor]\n", encoding="utf-8")
    result = deploy("deploy", "systemd", env={"CONVEYOR_CONFIG": "site.ini"})
    assert result.exit_code == 0, result.output
    service = unit(result.stdout)["Service"]
    assert service["ExecStart"] == f"{CONVEYOR} -c {tmp_path / 'site.ini'} jobs worker"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory (the test's working directory) marked by an empty conveyor.ini."""
    (tmp_path / "conveyor.ini").write_text("[conveyor]\n", encoding="utf-8")
    return tmp_path


def test_without_a_config_file_the_worker_is_given_the_apps_store_by_its_path(
    tmp_path: Path,
) -> None:
    assert deploy("jobs", "test").exit_code == 0  # the app has made its default store here
    result = deploy("deploy", "supervisor")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"command={CONVEYOR} jobs worker" in lines
    assert f'environment=CONVEYOR_BACKEND="sqlite:///{tmp_path}/conveyor.sqlite3"' in lines
    assert f"directory={tmp_path}" in lines
    assert "no config file given" in result.stderr


def test_without_a_config_file_or_a_store_deploy_refuses_to_guess(tmp_path: Path) -> None:
    result = deploy("deploy", "systemd")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Cannot tell which job store the app uses" in result.stderr
    assert f"no job store at {tmp_path}/conveyor.sqlite3" in result.stderr
    assert not (tmp_path / "conveyor.sqlite3").exists()


def test_a_conveyor_ini_found_above_the_working_directory_is_used(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = project / "app"
    app.mkdir()
    monkeypatch.chdir(app)
    result = deploy("deploy", "systemd")
    assert result.exit_code == 0, result.output
    service = unit(result.stdout)["Service"]
    assert service["ExecStart"] == f"{CONVEYOR} -c {project / 'conveyor.ini'} jobs worker"
    assert service["WorkingDirectory"] == str(app)
    assert f"(file {project}/conveyor.sqlite3)" in result.stdout
    assert "Environment=" not in result.stdout
    assert result.stderr == ""


def test_store_settings_from_the_environment_are_written_into_the_unit(tmp_path: Path) -> None:
    env = {"CONVEYOR_BACKEND": "sqlite:///data/jobs.db", "CONVEYOR_SITE_ID": "shop"}
    result = deploy("deploy", "systemd", "--working-directory", "/srv/shop", env=env)
    assert result.exit_code == 0, result.output
    assert f'Environment="CONVEYOR_BACKEND=sqlite:///{tmp_path}/data/jobs.db"' in result.stdout
    assert 'Environment="CONVEYOR_SITE_ID=shop"' in result.stdout
    assert unit(result.stdout)["Service"]["WorkingDirectory"] == "/srv/shop"


def test_the_store_password_is_not_in_the_comment(project: Path) -> None:
    env = {"CONVEYOR_BACKEND": "redis://:s3cret@127.0.0.1:6379/0"}
    result = deploy("deploy", "systemd", env=env)
    assert result.exit_code == 0, result.output
    comments = [line for line in result.stdout.splitlines() if line.startswith("#")]
    assert any("redis://:***@127.0.0.1:6379/0" in line for line in comments)
    assert not any("s3cret" in line for line in comments)


@pytest.mark.usefixtures("project")
def test_several_supervisor_processes_get_a_log_file_each() -> None:
    result = deploy("deploy", "supervisor", "--numprocs", "3", "--log-dir", "/srv/log")
    lines = result.stdout.splitlines()
    assert "numprocs=3" in lines
    assert "stdout_logfile=/srv/log/%(program_name)s-%(process_num)02d.stdout.log" in lines


def test_deploy_systemd_prints_a_unit_with_a_warm_shutdown(tmp_path: Path) -> None:
    (tmp_path / "c.ini").write_text("[conveyor]\n", encoding="utf-8")
    result = deploy(
        "-c",
        "c.ini",
        "deploy",
        "systemd",
        "--user",
        "jobs",
        "--queues",
        "default,urgent",
        "--queues",
        "bulk",
        "--concurrency",
        "4",
        "--stop-timeout",
        "900",
        "--env",
        "PYTHONPATH=/opt/my app",
        "--env",
        "RATE=50%",
    )

    assert result.exit_code == 0, result.output
    parsed = unit(result.stdout)
    service = parsed["Service"]
    assert service["ExecStart"] == (
        f"{CONVEYOR} -c {tmp_path / 'c.ini'} jobs worker --concurrency 4 default urgent bulk"
    )
    assert service["User"] == "jobs"
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"  # SIGTERM to the worker only, not to its children
    assert service["TimeoutStopSec"] == "900"
    assert service["Restart"] == "on-failure"
    assert 'Environment="PYTHONPATH=/opt/my app"' in result.stdout
    assert 'Environment="RATE=50%%"' in result.stdout  # % is a systemd specifier
    assert parsed["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.usefixtures("project")
def test_deploy_systemd_template_is_one_instance_per_worker() -> None:
    result = deploy("deploy", "systemd", "--template", "--name", "jobs-worker")
    assert result.exit_code == 0, result.output
    parsed = unit(result.stdout)
    assert parsed["Unit"]["Description"].endswith("%i")
    assert parsed["Service"]["SyslogIdentifier"] == "jobs-worker-%i"
    assert "/etc/systemd/system/jobs-worker@.service" in result.stdout
    assert "systemctl enable --now jobs-worker@1 jobs-worker@2" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "NOVALUE"], "is not KEY=VALUE"),
        (["--env", "1X=2"], "is not KEY=VALUE"),
        (["--name", "bad name"], "is not a program name"),
        (["--concurrency", "0"], "0 is not in the range"),
    ],
)
def test_deploy_refuses_bad_options(args: list[str], message: str) -> None:
    result = deploy("deploy", "supervisor", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_supervisor_values_are_escaped_for_its_percent_expansion(project: Path) -> None:
    result = deploy(
        "deploy", "supervisor", "--executable", "/opt/100%/conveyor", "--env", 'Q=say "hi"'
    )
    lines = result.stdout.splitlines()
    assert f"command=/opt/100%%/conveyor -c {project}/conveyor.ini jobs worker" in lines
    assert 'environment=Q="say \\"hi\\""' in lines


# -- a real Supervisor --------------------------------------------------------------------------
def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left for an init that does not reap counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    return True


def wait_for(condition: Callable[[], object], what: str, timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Supervisor:
    """A supervisord started for one test, from a config file in its tmp_path."""

    conf: Path
    env: dict[str, str]
    pid: int = 0
    worker_pids: set[int] = field(default_factory=set)

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SUPERVISORCTL, "-c", str(self.conf), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def status(self) -> tuple[str, int | None]:
        """The worker's state and pid, as ``supervisorctl status`` shows them."""
        out = self.ctl("status", "conveyor-worker:*").stdout
        match = re.search(r"conveyor-worker-00\s+(\w+)(?:\s+pid (\d+))?", out)
        assert match is not None, out
        pid = int(match.group(2)) if match.group(2) else None
        if pid is not None:
            self.worker_pids.add(pid)
        return match.group(1), pid

    def running_pid(self) -> int:
        def running() -> int | None:
            state, pid = self.status()
            return pid if state == "RUNNING" else None

        return int(wait_for(running, "the worker to be RUNNING"))  # type: ignore[call-overload]

    def start(self) -> None:
        with (self.conf.parent / "supervisord.out").open("w") as out:
            subprocess.run(
                [SUPERVISORD, "-c", str(self.conf)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=60,
                check=True,
            )  # returns once supervisord has daemonized
        pidfile = self.conf.parent / "supervisord.pid"
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), "the pid file")
        self.pid = int(pidfile.read_text())

    def shut_down(self) -> None:
        """Stop supervisord (and so the worker); kill what is left by pid."""
        if self.pid and alive(self.pid):
            self.ctl("shutdown")
            with contextlib.suppress(AssertionError):
                wait_for(lambda: not alive(self.pid), "supervisord to exit")
        for pid in (self.pid, *self.worker_pids):
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def supervisor(tmp_path: Path, conveyor_env: conveyor.Config) -> Iterator[Supervisor]:
    """supervisord running the worker of `conveyor deploy supervisor`, on the test's database."""
    ini = tmp_path / "conveyor.ini"
    ini.write_text(
        "[conveyor]\n"
        f"conveyor.backend = {conveyor_env.backend}\n"
        f"conveyor.site_id = {conveyor_env.site_id}\n",
        encoding="utf-8",
    )
    (tmp_path / "logs").mkdir()
    generated = deploy(
        "-c",
        str(ini),
        "deploy",
        "supervisor",
        "--log-dir",
        str(tmp_path / "logs"),
        "--user",
        getpass.getuser(),
        "--stop-timeout",
        "30",
        "--env",
        f"PYTHONPATH={TESTS_DIR}",  # the test jobs' module
    )
    assert generated.exit_code == 0, generated.output
    program = generated.stdout
    assert "\nstartsecs=10\n" in program
    # Supervisor waits startsecs before it calls a start done: one second keeps the test short.
    (tmp_path / "conveyor-worker.conf").write_text(
        program.replace("\nstartsecs=10\n", "\nstartsecs=1\n"), encoding="utf-8"
    )
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        f"""\
[unix_http_server]
file={tmp_path}/s.sock

[supervisord]
nodaemon=false
pidfile={tmp_path}/supervisord.pid
logfile={tmp_path}/supervisord.log
childlogdir={tmp_path}
directory={tmp_path}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{tmp_path}/s.sock

[include]
files = {tmp_path}/conveyor-worker.conf
""",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    running = Supervisor(conf, env)
    try:
        running.start()
        yield running
    finally:
        running.shut_down()


def log_text(tmp_path: Path, name: str) -> str:
    path = tmp_path / "logs" / name
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@pytest.mark.slow
def test_supervisor_runs_restarts_and_warm_stops_the_generated_worker(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    # The worker comes up.
    first_pid = supervisor.running_pid()

    # `jobs test` is processed: the worker's stdout log shows the test job's output.
    added = subprocess.run(
        [CONVEYOR, "-c", str(tmp_path / "conveyor.ini"), "jobs", "test"],
        env=supervisor.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    test_job_id = re.search(r"Added test job (\S+)", added.stdout)
    assert test_job_id is not None, added.stdout
    wait_for(
        lambda: "('A test job',)" in log_text(tmp_path, "conveyor-worker.stdout.log"),
        "the test job's output in the stdout log",
    )
    # The child prints before its supervisor records the outcome: wait for the record too.
    wait_for(
        lambda: conveyor.job_from_id(test_job_id.group(1)).state is JobState.FINISHED,
        "the test job recorded as finished",
    )

    # `supervisorctl restart` gives a new worker process.
    restarted = supervisor.ctl("restart", "conveyor-worker:*")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    second_pid = supervisor.running_pid()
    assert second_pid != first_pid
    assert not alive(first_pid)

    # `supervisorctl stop` while a job runs: the job finishes, the queued one stays queued.
    marks, release, later_marks = tmp_path / "job.txt", tmp_path / "release", tmp_path / "later"
    running = conveyor.enqueue(test_jobs.touch_then_wait, [str(marks), str(release)])
    waiting = conveyor.enqueue(test_jobs.touch, [str(later_marks)])
    wait_for(marks.exists, "the job to start")
    stopper = subprocess.Popen(
        [SUPERVISORCTL, "-c", str(supervisor.conf), "stop", "conveyor-worker:*"],
        env=supervisor.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: supervisor.status()[0] == "STOPPING", "SIGTERM to reach the worker")
        assert conveyor.job_from_id(running.id).state is JobState.STARTED
        release.touch()
        output, _ = stopper.communicate(timeout=60)
    finally:
        if stopper.poll() is None:
            stopper.kill()
            stopper.wait()
    assert stopper.returncode == 0, output
    assert supervisor.status()[0] == "STOPPED"
    assert not alive(second_pid)
    assert marks.read_text().splitlines() == ["started", "done"]
    assert conveyor.job_from_id(running.id).state is JobState.FINISHED
    assert conveyor.job_from_id(waiting.id).state is JobState.QUEUED
    log = (tmp_path / "supervisord.log").read_text()
    assert "stopped: conveyor-worker-00 (exit status 0)" in log  # it exited, not SIGKILLed

    # Nothing was lost: the next worker runs the job that waited.
    started = supervisor.ctl("start", "conveyor-worker:*")
    assert started.returncode == 0, started.stdout + started.stderr
    supervisor.running_pid()
    wait_for(
        lambda: conveyor.job_from_id(waiting.id).state is JobState.FINISHED,
        "the waiting job to finish",
    )
    assert later_marks.exists()

    supervisor.ctl("shutdown")
    wait_for(lambda: not alive(supervisor.pid), "supervisord to exit")
    assert not any(alive(pid) for pid in supervisor.worker_pids)
