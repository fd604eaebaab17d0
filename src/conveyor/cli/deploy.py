"""``conveyor deploy ...``: Supervisor and systemd files for this installation.

Each command prints a file with this installation's real paths filled in:
the ``conveyor`` executable next to the running interpreter, the absolute
path of the config file given with ``-c`` (or ``CONVEYOR_CONFIG``), and the
log directory. The files in the repository's ``deploy/`` folder are the same
output for the conventional paths (``EXAMPLE``); a test keeps them equal.
"""

from __future__ import annotations

import re
import shlex
import shutil
import string
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from conveyor import config as _config
from conveyor.api import check_queue_name
from conveyor.backends import store_missing
from conveyor.backends.urls import sqlite_location
from conveyor.cli.info import store_text
from conveyor.exceptions import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Deployment:
    """What the deployment files say: where things are and how the worker runs."""

    executable: str
    config: str | None = None
    log_dir: str = "/var/log/conveyor"
    user: str = "www-data"
    name: str = "conveyor-worker"
    numprocs: int = 1
    queues: tuple[str, ...] = ()
    concurrency: int | None = None
    stop_timeout: int = 600
    environment: tuple[tuple[str, str], ...] = ()
    #: The directory the worker runs in (it imports the app's modules from there).
    working_dir: str = "/srv/app"
    #: The job store the worker will use, in words (password hidden), for a comment.
    store: str = "the one conveyor.backend names in the config file"

    def argv(self, *command: str) -> list[str]:
        """A conveyor command line with this deployment's config file."""
        config = ["-c", self.config] if self.config else []
        return [self.executable, *config, *command]

    def worker_argv(self) -> list[str]:
        options = ["--concurrency", str(self.concurrency)] if self.concurrency else []
        end = ["--"] if any(q.startswith("-") for q in self.queues) else []
        return self.argv("jobs", "worker", *options, *end, *self.queues)


#: The conventional paths, as in the reference's template (the files in deploy/).
EXAMPLE = Deployment(
    executable="/usr/lib/conveyor/default/bin/conveyor",
    config="/etc/conveyor/conveyor.ini",
)

SUPERVISOR = string.Template("""\
; =======================================================
; Supervisor configuration for conveyor background workers
; =======================================================
;
; Made by `conveyor deploy supervisor`, which fills in the paths of the
; installation it runs from: the conveyor executable, the config file, the
; working directory, the job store and the log directory. Check them, then:
;
;     sudo mkdir -p $log_dir
;     sudo cp this-file /etc/supervisor/conf.d/$name.conf
;     sudo supervisorctl reread && sudo supervisorctl update
;     sudo supervisorctl status
;     sudo supervisorctl restart $name:*
;
; To check that jobs are processed, enqueue a test job and read the log:
;
;     $test_command
;     tail $stdout_example

[program:$name]

; The command that starts a worker. Add queue names at the end to listen on
; other queues than "default".
command=$command
$environment
; The directory the worker runs in: the app's modules are imported from there.
; The job store it uses: $store
directory=$working_dir

; The user the worker runs as; it needs write access to the job store (for the
; SQLite default, the database file and its directory).
user=$user

; Start more processes if you have many or particularly long jobs (or use
; --concurrency to give one worker several child processes).
numprocs=$numprocs
process_name=%(program_name)s-%(process_num)02d

; Log files. The directory must exist.
stdout_logfile=$stdout_log
stderr_logfile=$stderr_log

; Make sure that the worker is started on system start and automatically
; restarted if it crashes unexpectedly.
autostart=true
autorestart=true

; Number of seconds the process has to run before it is considered to have
; started successfully.
startsecs=10

; On stop, supervisor sends SIGTERM to the worker: it stops taking jobs and lets
; the running ones finish (a warm shutdown). Give long jobs time to do so before
; SIGKILL; a job cut off by SIGKILL is not lost: its lease expires and another
; worker runs it again.
stopsignal=TERM
stopwaitsecs=$stop_timeout
killasgroup=true
""")

SYSTEMD = string.Template("""\
# A conveyor background job worker, as a systemd $what.
#
# Made by `conveyor deploy systemd$flag`, which fills in the paths of the
# installation it runs from: the conveyor executable, the config file, the
# working directory and the job store. Check them, then:
#
#     sudo cp this-file /etc/systemd/system/$unit
#     sudo systemctl daemon-reload
$usage#
# To check that jobs are processed, enqueue a test job and read the log:
#
#     $test_command
#     journalctl -u '$journal' -f

[Unit]
Description=conveyor background job worker$description
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=$user
ExecStart=$command
$environment
# The directory the worker runs in: the app's modules are imported from there.
# The job store it uses: $store
WorkingDirectory=$working_dir

# SIGTERM asks for a warm shutdown: the worker stops taking jobs and lets the
# running ones finish. KillMode=mixed sends it to the worker's main process
# only, so its child processes are not cut off; whatever still runs after
# TimeoutStopSec is killed. A job cut off so is not lost: its lease expires
# and it runs again.
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=$stop_timeout

# Restart after a crash, not after a deliberate stop.
Restart=on-failure
RestartSec=5
SyslogIdentifier=$syslog

[Install]
WantedBy=multi-user.target
""")

_SYSTEMD_USAGE = """\
#     sudo systemctl enable --now {name}
#     systemctl status {name}
"""
_SYSTEMD_TEMPLATE_USAGE = """\
#     sudo systemctl enable --now {name}@1 {name}@2    (one unit per worker)
#     systemctl status '{name}@*'
#     sudo systemctl restart '{name}@*'
"""


# -- quoting -------------------------------------------------------------------------
def _supervisor_command(argv: Sequence[str]) -> str:
    # Supervisor expands %(name)s in values, then splits the command like a shell.
    return " ".join(shlex.quote(arg) for arg in argv).replace("%", "%%")


def _supervisor_value(value: str) -> str:
    return value.replace("%", "%%")


def _supervisor_quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{_supervisor_value(escaped)}"'


def _supervisor_environment(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "environment=" + ",".join(f"{k}={_supervisor_quoted(v)}" for k, v in pairs) + "\n"


def _systemd_word(word: str) -> str:
    # systemd expands %-specifiers and $VARIABLES in ExecStart, and splits on blanks.
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not re.search(r'[\s"\'\\;]', word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _systemd_environment(pairs: Sequence[tuple[str, str]]) -> str:
    lines = []
    for key, value in pairs:
        text = f"{key}={value}".replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'Environment="{text}"\n')
    return "".join(lines)


# -- rendering -----------------------------------------------------------------------
def render_supervisor(deployment: Deployment) -> str:
    """The Supervisor ``[program:...]`` file for ``deployment``."""
    log_dir = deployment.log_dir.rstrip("/") or "/"
    # Processes of one program must not share a log file: number them if there are several.
    stem = deployment.name if deployment.numprocs == 1 else "%(program_name)s-%(process_num)02d"
    log_base = f"{_supervisor_value(log_dir)}/{stem}"
    return SUPERVISOR.substitute(
        name=deployment.name,
        command=_supervisor_command(deployment.worker_argv()),
        environment=_supervisor_environment(deployment.environment),
        user=_supervisor_value(deployment.user),
        numprocs=deployment.numprocs,
        stdout_log=f"{log_base}.stdout.log",
        stderr_log=f"{log_base}.stderr.log",
        stdout_example=f"{log_dir}/{deployment.name}"
        + ("" if deployment.numprocs == 1 else "-00")
        + ".stdout.log",
        log_dir=log_dir,
        test_command=shlex.join(deployment.argv("jobs", "test")),
        stop_timeout=deployment.stop_timeout,
        working_dir=_supervisor_value(deployment.working_dir),
        store=_supervisor_value(deployment.store),
    )


def render_systemd(deployment: Deployment, template: bool = False) -> str:
    """The systemd unit for ``deployment``; with ``template``, ``name@.service`` for N workers."""
    name = deployment.name
    usage = _SYSTEMD_TEMPLATE_USAGE if template else _SYSTEMD_USAGE
    return SYSTEMD.substitute(
        what="template unit (one instance per worker)" if template else "service",
        flag=" --template" if template else "",
        unit=f"{name}@.service" if template else f"{name}.service",
        usage=usage.format(name=name),
        journal=f"{name}@*" if template else name,
        test_command=shlex.join(deployment.argv("jobs", "test")),
        description=" %i" if template else "",
        user=deployment.user,
        command=" ".join(_systemd_word(arg) for arg in deployment.worker_argv()),
        environment=_systemd_environment(deployment.environment),
        stop_timeout=deployment.stop_timeout,
        syslog=f"{name}-%i" if template else name,
        working_dir=_systemd_word(deployment.working_dir),
        store=deployment.store.replace("%", "%%"),
    )


# -- the commands ----------------------------------------------------------------------
def find_executable() -> str:
    """This installation's ``conveyor`` command: next to the interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "conveyor"
    if beside.is_file():
        return str(beside.absolute())
    found = shutil.which("conveyor")
    if found is None:
        raise ConfigError(
            f"Cannot find the conveyor executable next to {sys.executable} or on PATH;"
            " give its path with --executable"
        )
    return str(Path(found).absolute())


def _config_path() -> str | None:
    """The config file in force (given with -c or CONVEYOR_CONFIG, or found), absolute."""
    config_file = _config.current().config_file
    return str(config_file) if config_file else None


def _absolute_backend(config: _config.Config) -> str:
    """The backend URL with an SQLite path made absolute (it then means the same anywhere)."""
    if not config.backend.lower().startswith("sqlite:"):
        return config.backend
    query = urlsplit(config.backend).query
    path = sqlite_location(config.backend, config.base_dir).path
    return f"sqlite:///{path}" + (f"?{query}" if query else "")


def _store(config: _config.Config) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The store the app uses, in words, and the variables the worker needs to use it too.

    Keys set in this environment are carried into the file (the worker will
    not have this shell's environment). Without a config file, the default
    SQLite store is named by its absolute path, if it exists; if it does not,
    nothing says where the app's store is, and the command refuses.
    """
    set_keys = _config.origins(config)
    carried = []
    for key, (raw, origin) in set_keys.items():
        if origin.startswith("environment"):
            value = _absolute_backend(config) if key == "conveyor.backend" else raw
            carried.append((_config.env_name(key), value))
    if "conveyor.backend" not in set_keys and config.config_file is None:
        missing = store_missing(config.backend, config.base_dir)
        if missing is not None:
            raise ConfigError(
                f"Cannot tell which job store the app uses: {_config.describe_source(config)},"
                f" CONVEYOR_BACKEND is not set, and there is no job store at {missing}."
                " Run this in the app's directory, give its config file with -c, or set"
                " CONVEYOR_BACKEND."
            )
        carried.append(("CONVEYOR_BACKEND", _absolute_backend(config)))
    where = f"set in {config.config_file}" if config.config_file else "no config file"
    if any(name == "CONVEYOR_BACKEND" for name, _ in carried):
        where = "given to the worker in its environment below"
    return f"{store_text(config)}, {where}", tuple(carried)


def _environment(pairs: Sequence[str]) -> tuple[tuple[str, str], ...]:
    parsed = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _ENV_KEY.match(key):
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--env")
        parsed.append((key, value))
    return tuple(parsed)


def _queues(values: Sequence[str]) -> tuple[str, ...]:
    names = [name for value in values for name in value.replace(",", " ").split()]
    return tuple(check_queue_name(name) for name in names)


def _deployment(
    ctx: click.Context,
    *,
    queues: Sequence[str],
    concurrency: int | None,
    user: str,
    stop_timeout: int,
    env: Sequence[str],
    name: str,
    executable: str | None,
    working_directory: str | None,
    log_dir: str = EXAMPLE.log_dir,
    numprocs: int = 1,
) -> Deployment:
    if not _NAME.match(name):
        raise click.BadParameter(f"{name!r} is not a program name", param_hint="--name")
    given = _environment(env)
    queue_names = _queues(queues)
    config_path = _config_path()
    store, carried = _store(_config.current())
    names = {key for key, _ in given}
    environment = tuple(pair for pair in carried if pair[0] not in names) + given
    if config_path is None:
        click.echo(
            "Note: no config file given (-c or CONVEYOR_CONFIG) or found: the worker gets"
            f" its settings from the environment written in the file ({len(environment)}"
            " variables).",
            err=True,
        )
    return Deployment(
        executable=str(Path(executable).absolute()) if executable else find_executable(),
        config=config_path,
        log_dir=str(Path(log_dir).absolute()),
        user=user,
        name=name,
        numprocs=numprocs,
        queues=queue_names,
        concurrency=concurrency,
        stop_timeout=stop_timeout,
        environment=environment,
        working_dir=str(Path(working_directory or Path.cwd()).resolve()),
        store=store,
    )


def _common(command: click.decorators.FC) -> click.decorators.FC:
    """The options both files share."""
    for option in reversed(
        [
            click.option(
                "--queues",
                multiple=True,
                metavar="QUEUES",
                help="Queues to listen on, comma-separated or repeated. Default: default.",
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(1, _config.MAX_CONCURRENCY),
                default=None,
                help="Child processes per worker. Default: conveyor.worker.concurrency.",
            ),
            click.option(
                "--user", default="www-data", show_default=True, help="User the worker runs as."
            ),
            click.option(
                "--stop-timeout",
                type=click.IntRange(1, 86_400),
                default=600,
                show_default=True,
                help="Seconds running jobs get to finish at a stop before they are killed.",
            ),
            click.option(
                "--env",
                multiple=True,
                metavar="KEY=VALUE",
                help="An environment variable for the worker (repeatable).",
            ),
            click.option(
                "--name",
                default="conveyor-worker",
                show_default=True,
                help="Program or unit name.",
            ),
            click.option(
                "--working-directory",
                type=click.Path(file_okay=False),
                default=None,
                help="Directory the worker runs in and imports the app from."
                " Default: the current directory.",
            ),
            click.option(
                "--executable",
                type=click.Path(dir_okay=False),
                default=None,
                help="The conveyor command. Default: the one next to this Python.",
            ),
        ]
    ):
        command = option(command)
    return command


@click.group(short_help="Print Supervisor or systemd files for this installation.")
def deploy() -> None:
    """Print a Supervisor or systemd file that runs workers of this installation.

    The file names this installation's conveyor executable (next to the
    running Python), the config file in force (given with -c or
    CONVEYOR_CONFIG, or the conveyor.ini found from here; made absolute), the
    working directory (the current one, or --working-directory) and the job
    store the app uses. Store settings that come from this shell's
    environment are written into the file, since the service will not have
    them. With no config file and no store to be found, it refuses rather
    than guess. Redirect the output to a file, check it, and install it:

    \b
        conveyor -c /etc/conveyor/conveyor.ini deploy supervisor > conveyor-worker.conf
        conveyor -c /etc/conveyor/conveyor.ini deploy systemd > conveyor-worker.service
    """


@deploy.command(short_help="Print a Supervisor program file.")
@_common
@click.option(
    "--log-dir",
    default="/var/log/conveyor",
    show_default=True,
    help="Directory of the worker's log files (it must exist).",
)
@click.option(
    "--numprocs",
    type=click.IntRange(1, 1024),
    default=1,
    show_default=True,
    help="Worker processes Supervisor starts.",
)
@click.pass_context
def supervisor(ctx: click.Context, /, **options: Any) -> None:
    """Print a Supervisor [program:...] file that runs `conveyor jobs worker`."""
    click.echo(render_supervisor(_deployment(ctx, **options)), nl=False)


@deploy.command(short_help="Print a systemd unit.")
@_common
@click.option(
    "--template",
    is_flag=True,
    help="Print a template unit (NAME@.service): one instance per worker process.",
)
@click.pass_context
def systemd(ctx: click.Context, /, template: bool, **options: Any) -> None:
    """Print a systemd service unit (or, with --template, a template unit) that
    runs `conveyor jobs worker`."""
    click.echo(render_systemd(_deployment(ctx, **options), template=template), nl=False)
