"""The web API: CKAN's job actions over HTTP, with tokens and an OpenAPI document.

Mount it in an existing Flask application::

    import conveyor
    from conveyor.web import create_blueprint

    conveyor.configure("conveyor.ini")
    app.register_blueprint(create_blueprint())  # serves /api/3/action/<name>
    app.register_blueprint(create_metrics_blueprint())  # GET /metrics (the metrics extra)

or run it standalone with ``conveyor serve``, which serves :func:`create_app`
under waitress. Needs the ``web`` extra (Flask and waitress).
"""

from conveyor.exceptions import extra_needed

try:
    from conveyor.web.app import DEFAULT_MAX_BODY, create_app, create_blueprint
    from conveyor.web.dashboard import create_dashboard_blueprint
    from conveyor.web.metrics import create_metrics_blueprint
except ModuleNotFoundError as exc:  # the same message as the CLI's, naming the extra
    if exc.name not in {"flask", "werkzeug", "waitress"}:
        raise
    raise ModuleNotFoundError(extra_needed("The web API", "web"), name=exc.name) from None

__all__ = [
    "DEFAULT_MAX_BODY",
    "create_app",
    "create_blueprint",
    "create_dashboard_blueprint",
    "create_metrics_blueprint",
]
