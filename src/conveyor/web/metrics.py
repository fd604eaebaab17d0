"""``GET /metrics``: the store's gauges for Prometheus, on ``conveyor serve`` or any Flask app.

Served only when prometheus_client (the ``metrics`` extra) is installed, and
only to a request bearing an API token of this site (a read-only one is
enough): the numbers name queues and worker hosts, and Prometheus sends a
bearer token natively (``authorization: credentials_file:`` in a scrape
config). :func:`create_app` serves it; an application that mounts the API
or dashboard blueprints registers :func:`create_metrics_blueprint` for the
same route. See docs/metrics.md.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from flask import Blueprint, Flask, Response, request

from conveyor.exceptions import extra_needed
from conveyor.web import auth
from conveyor.web.errors import error_object

log = logging.getLogger("conveyor.web")

PATH = "/metrics"
METRICS_NAME = "conveyor_metrics"


def _modules() -> tuple[ModuleType, ModuleType]:
    """conveyor.metrics and prometheus_client; ModuleNotFoundError naming the extra."""
    try:
        return (
            importlib.import_module("conveyor.metrics"),
            importlib.import_module("prometheus_client"),
        )
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(extra_needed("/metrics", "metrics"), name=exc.name) from None


def create_metrics_blueprint() -> Blueprint:
    """A blueprint serving ``GET /metrics`` (under the prefix it is registered with).

    The same route ``conveyor serve`` answers: the store's gauges, for a
    request with one of the site's API tokens. ModuleNotFoundError, naming
    the ``metrics`` extra, if prometheus_client is not installed.
    """
    metrics, client = _modules()
    registry = client.CollectorRegistry()
    registry.register(metrics.StoreCollector())
    blueprint = Blueprint(METRICS_NAME, __name__)

    @blueprint.route(PATH, methods=["GET"])
    def prometheus_metrics() -> Response:
        try:
            auth.authorize(
                "metrics", changes_state=False, header=request.headers.get("Authorization")
            )
            body = client.generate_latest(registry)
        except Exception as exc:
            status, payload = error_object(exc)
            return Response(payload.get("message", ""), status=status, mimetype="text/plain")
        return Response(body, mimetype=client.CONTENT_TYPE_LATEST)

    return blueprint


def add_metrics_route(app: Flask) -> bool:
    """Serve ``/metrics`` on ``app``; False (and no route) without prometheus_client."""
    try:
        blueprint = create_metrics_blueprint()
    except ModuleNotFoundError:
        return False
    app.register_blueprint(blueprint)
    return True
