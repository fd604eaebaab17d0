"""The web API: CKAN's job actions over HTTP, with tokens and an OpenAPI document.

Mount it in an existing Flask application::

    import conveyor
    from conveyor.web import create_blueprint

    conveyor.configure("conveyor.ini")
    app.register_blueprint(create_blueprint())  # serves /api/3/action/<name>

or run it standalone with ``conveyor serve``, which serves :func:`create_app`
under waitress. Needs the ``web`` extra (Flask and waitress).
"""

from conveyor.web.app import DEFAULT_MAX_BODY, create_app, create_blueprint

__all__ = ["DEFAULT_MAX_BODY", "create_app", "create_blueprint"]
