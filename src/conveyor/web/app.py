"""The Flask blueprint: one view for every action, one for the OpenAPI document.

A request to ``/action/<name>`` is checked in this order, so that an
anonymous caller learns nothing from error messages:

1. the action exists (400), and the request is within the size limits (413, 414);
2. a GET is only for an action that changes nothing (400, as the reference);
3. the caller's token may call the action (403);
4. the body is a JSON object or form fields (400), and the parameters are valid (409);
5. the action runs: its result (200), or its error (404, 409, 500, 503).
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import urllib.parse
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException

from conveyor.web import auth, openapi
from conveyor.web.actions import ACTIONS, Action
from conveyor.web.dashboard import create_dashboard_blueprint
from conveyor.web.errors import bad_request, error_object, too_large
from conveyor.web.metrics import add_metrics_route
from conveyor.web.schemas import shown, validate

log = logging.getLogger("conveyor.web")

BLUEPRINT_NAME = "conveyor_api"
URL_PREFIX = "/api/3"
OPENAPI_PATH = "/openapi.json"
#: The largest request body (and query string) accepted, in bytes.
DEFAULT_MAX_BODY = 64 * 1024
#: A POST body of this type holds form fields, as CKAN's action API reads them, unless it
#: is a JSON object (``curl -d '{...}'`` sends JSON under this type).
FORM_TYPE = "application/x-www-form-urlencoded"


def json_response(payload: Any, status: int = 200) -> Response:
    """A JSON response, keys in the order given (the reference's envelope order)."""
    try:
        text = json.dumps(payload, allow_nan=False)
    except ValueError:  # a job's arguments or result may hold NaN or infinity
        text = json.dumps(_finite(payload), allow_nan=False)
    response = current_app.response_class(text, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities spelt as strings, which JSON can carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


def _help_url(name: str | None) -> str:
    endpoint = f"{BLUEPRINT_NAME}.action"
    if name in ACTIONS:
        return url_for(endpoint, action_name="help_show", name=name, _external=True)
    return url_for(endpoint, action_name="help_show", _external=True)


def failure(exc: BaseException, help_url: str) -> Response:
    """The reference's error envelope for an exception."""
    status, error = error_object(exc)
    response = json_response({"help": help_url, "success": False, "error": error}, status)
    if isinstance(exc, HTTPException):  # e.g. the Allow header of a 405
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
    return response


def _check_size(max_body: int) -> None:
    if len(request.query_string) > max_body:
        raise too_large(414, "The query string", max_body)
    if request.content_length is not None and request.content_length > max_body:
        raise too_large(413, "The request body", max_body)


def _fields(action: Action, pairs: list[tuple[str, str]]) -> dict[str, object]:
    """Text fields as parameters: a list parameter, or one given more than once, is a list."""
    lists = {param.name for param in action.params if param.is_list}
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return {
        name: values if name in lists or len(values) > 1 else values[0]
        for name, values in grouped.items()
    }


def _query_data(action: Action) -> dict[str, object]:
    return _fields(action, [(name, value) for name, value in request.args.items(multi=True)])


def _form_data(action: Action, body: bytes) -> dict[str, object]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("Error decoding form data: the body is not UTF-8 text") from None
    try:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise bad_request("Error decoding form data: a field is not name=value") from None
    return _fields(action, pairs)


def _body_data(action: Action, max_body: int) -> tuple[dict[str, object], bool]:
    """The parameters in a POST body, and whether they are text (form fields)."""
    body = request.stream.read(max_body + 1)
    if len(body) > max_body:
        raise too_large(413, "The request body", max_body)
    if not body:  # white space alone is not JSON, and is refused below
        return {}, False
    if request.mimetype == FORM_TYPE and not body.lstrip().startswith(b"{"):
        return _form_data(action, body), True
    return _json_data(body), False


def _json_data(body: bytes) -> dict[str, object]:
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"JSON Error: Error decoding JSON data: {_json_problem(exc)}") from None
    if not isinstance(data, dict):
        raise bad_request(
            f"JSON Error: Request data JSON decoded to {shown(data)} but it needs to be a"
            " dictionary."
        )
    return data


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def _json_problem(exc: Exception) -> str:
    """What is wrong with a body, without quoting it."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, UnicodeDecodeError):
        return "the body is not UTF-8 text"
    if isinstance(exc, RecursionError):
        return "the JSON data is nested too deeply"
    return str(exc)


def _options(action: Action) -> Response:
    """The methods an action answers: a GET on one that changes state is refused (400)."""
    response = current_app.response_class(status=204)
    methods = ["POST"] if action.changes_state else ["GET", "HEAD", "POST"]
    response.headers["Allow"] = ", ".join([*methods, "OPTIONS"])
    return response


def _call(action_name: str, max_body: int) -> Any:
    action = ACTIONS.get(action_name)
    if action is None:
        raise bad_request(f"Action name not known: {shown(action_name)}")
    _check_size(max_body)
    from_query = request.method != "POST"  # GET, HEAD, or OPTIONS of an unknown action
    if from_query and action.changes_state:
        raise bad_request("JSON Error: Invalid request. Please use POST method for your request")
    if not action.public:
        token = auth.authorize(
            action.name,
            changes_state=action.changes_state,
            header=request.headers.get("Authorization"),
        )
        log.log(
            logging.INFO if action.changes_state else logging.DEBUG,
            'Web API: %s by token "%s"',
            action.name,
            token.name,
            extra={"action": action.name, "token_name": token.name},
        )
    data, text = (_query_data(action), True) if from_query else _body_data(action, max_body)
    return action.run(validate(action.params, data, query=text))


def create_blueprint(*, max_body_size: int = DEFAULT_MAX_BODY) -> Blueprint:
    """The web API as a blueprint, at ``/api/3`` unless registered with another prefix.

    The application must have configured conveyor (``conveyor.configure``)
    before the first request; every request uses the configuration in force.
    """
    blueprint = Blueprint(BLUEPRINT_NAME, __name__, url_prefix=URL_PREFIX)

    @blueprint.route(
        "/action/<action_name>",
        methods=["GET", "POST", "OPTIONS"],
        provide_automatic_options=False,
    )
    def action(action_name: str) -> Response:
        if request.method == "OPTIONS" and action_name in ACTIONS:
            return _options(ACTIONS[action_name])
        help_url = _help_url(action_name)
        try:
            result = _call(action_name, max_body_size)
            return json_response({"help": help_url, "success": True, "result": result})
        except Exception as exc:
            return failure(exc, help_url)

    @blueprint.route(OPENAPI_PATH, methods=["GET"])
    def openapi_document() -> Response:
        placeholder = "__conveyor_action__"
        template = url_for(f"{BLUEPRINT_NAME}.action", action_name=placeholder)
        return json_response(openapi.document(lambda name: template.replace(placeholder, name)))

    return blueprint


def create_app(*, max_body_size: int = DEFAULT_MAX_BODY) -> Flask:
    """A Flask application serving only the web API, answering JSON to everything."""
    app = Flask("conveyor.web")
    # Signs the dashboard's session cookie; a new key at each start unless one is given.
    app.secret_key = os.environ.get("CONVEYOR_SECRET_KEY") or secrets.token_bytes(32)
    app.register_blueprint(create_blueprint(max_body_size=max_body_size))
    add_metrics_route(app)  # GET /metrics, when the metrics extra is installed
    app.register_blueprint(create_dashboard_blueprint())

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return failure(exc, _openapi_url())

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        return failure(exc, _openapi_url())

    return app


def _openapi_url() -> str:
    return url_for(f"{BLUEPRINT_NAME}.openapi_document", _external=True)
