"""``GET /metrics`` on ``conveyor serve``: the store's gauges for Prometheus.

Served only when prometheus_client (the ``metrics`` extra) is installed, and
only to a request bearing an API token of this site (a read-only one is
enough): the numbers name queues and worker hosts, and Prometheus sends a
bearer token natively (``authorization: credentials_file:`` in a scrape
config). See docs/metrics.md.
"""

from __future__ import annotations

import importlib
import logging

from flask import Flask, Response, request

from conveyor.web import auth
from conveyor.web.errors import error_object

log = logging.getLogger("conveyor.web")

PATH = "/metrics"


def add_metrics_route(app: Flask) -> bool:
    """Serve ``/metrics`` on ``app``; False (and no route) without prometheus_client."""
    try:
        metrics = importlib.import_module("conveyor.metrics")
        client = importlib.import_module("prometheus_client")
    except ImportError:
        return False
    registry = client.CollectorRegistry()
    registry.register(metrics.StoreCollector())

    @app.route(PATH, methods=["GET"])
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

    return True
