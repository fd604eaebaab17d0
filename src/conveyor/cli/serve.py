"""``conveyor serve`` and ``conveyor token ...``: the web API and its tokens.

Flask and waitress (the ``web`` extra) are imported when a command runs, so
the rest of the CLI works without them.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import types
from typing import Any

import click

from conveyor.api import backend
from conveyor.cli.info import reads_store
from conveyor.config import current
from conveyor.exceptions import ConfigError, extra_needed
from conveyor.job import format_time

log = logging.getLogger("conveyor.web")


def _web(module: str) -> types.ModuleType:
    """Import a module of the web extra, or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name in {"flask", "werkzeug", "waitress"}:
            raise ConfigError(extra_needed("The web API", "web")) from None
        raise


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)


@click.command(short_help="Serve the web API.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="TCP port."
)
@click.option(
    "--threads",
    type=click.IntRange(1, 1024),
    default=4,
    show_default=True,
    help="Requests handled at once.",
)
def serve(host: str, port: int, threads: int) -> None:
    """Serve the web API with waitress (a production WSGI server).

    The job actions answer under /api/3/action/<name> and the OpenAPI
    document at /api/3/openapi.json. Every job action needs a token from
    `conveyor token create`. SIGINT or SIGTERM stops the server. It does
    not start (exit status 1) if the job store cannot be reached.
    """
    web = _web("conveyor.web")
    waitress = _web("waitress")
    # A misconfigured or unreachable store fails here (exit 1, one line), not at the first
    # request: opening a Redis client does not connect, so ask the store something.
    config = current()
    backend(config).queue_names(config.queue_prefix)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s [%(name)s] %(message)s",
        stream=sys.stderr,
    )
    server = waitress.create_server(web.create_app(), host=host, port=port, threads=threads)
    signal.signal(signal.SIGTERM, _stop)
    log.info(
        "Serving the conveyor web API on http://%s:%s/api/3/action/"
        " (OpenAPI: /api/3/openapi.json)",
        host,
        port,
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        log.info("Stopped serving the web API")


@click.group(short_help="Manage web API tokens.")
def token() -> None:
    """Manage the tokens that open the web API of this site."""


@token.command(short_help="Create a token and print it (once).")
@click.option("--name", required=True, help="A name to know (and revoke) it by.")
@click.option(
    "--read-only", is_flag=True, help="It may only call the actions that change nothing."
)
def create(name: str, read_only: bool) -> None:
    """Create a token and print it on standard output.

    The token is shown only this once; only its hash is stored. Clients send
    it as `Authorization: Bearer <token>`. A read-only token may list and
    show; a full token may also cancel, clear and requeue.
    """
    auth = _web("conveyor.web.auth")
    record, secret = auth.create_token(name, read_only=read_only)
    click.echo(secret)
    kind = "read-only" if record.read_only else "full"
    click.secho(
        f'Created {kind} token "{record.name}". It is shown only once: store it now.',
        fg="green",
        err=True,
    )


@token.command("list", short_help="List the tokens of this site.")
@reads_store
def list_tokens() -> None:
    """List the tokens of this site: name, kind (full or read-only) and creation time (UTC)."""
    auth = _web("conveyor.web.auth")
    found = auth.list_tokens()
    if not found:
        click.secho("There are no API tokens.", fg="green")
        return
    for record in found:
        kind = "read-only" if record.read_only else "full"
        click.echo(f"{record.name} {kind} created {format_time(record.created_at)}")


@token.command(short_help="Revoke a token.")
@click.argument("name")
@reads_store
def revoke(name: str) -> None:
    """Revoke the token NAME: requests carrying it are refused from now on."""
    auth = _web("conveyor.web.auth")
    auth.revoke_token(name)
    click.secho(f'Revoked token "{name}"', fg="green")
