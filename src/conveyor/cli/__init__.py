"""The ``conveyor`` command line.

Errors are mapped to messages and exit codes here, in one place: a user error
prints its message on stderr and exits 1 with no traceback; a usage error is
click's (exit 2).
"""

from __future__ import annotations

from typing import Any

import click

from conveyor import config as _config
from conveyor.__about__ import __version__
from conveyor.cli.deploy import deploy
from conveyor.cli.info import info
from conveyor.cli.jobs import jobs
from conveyor.cli.periodic import periodic
from conveyor.cli.serve import serve, token
from conveyor.cli.text import escape
from conveyor.exceptions import ConveyorError, NoSuchJobError


def error_message(exc: ConveyorError) -> str:
    """The line the CLI prints for an error."""
    if isinstance(exc, NoSuchJobError):
        return f'There is no job with ID "{exc.job_id}"'  # the reference's wording
    return str(exc)


class ConveyorGroup(click.Group):
    """A group that turns conveyor's errors into a message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConveyorError as exc:
            click.secho(escape(error_message(exc)), fg="red", err=True)
            raise click.Abort() from None


@click.group(cls=ConveyorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar=_config.CONFIG_ENV,
    help="Config file (.ini with [conveyor] or [app:main]); or set CONVEYOR_CONFIG."
    " Default: the nearest conveyor.ini in the working directory or a parent.",
)
@click.version_option(__version__, prog_name="conveyor")
def main(config_path: str | None) -> None:
    """conveyor: background jobs for Python applications.

    `conveyor info` shows which config file and job store the commands use.
    """
    _config.configure(config_path)


main.add_command(jobs)
main.add_command(deploy)
main.add_command(serve)
main.add_command(token)
main.add_command(info)
main.add_command(periodic)
