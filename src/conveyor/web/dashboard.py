"""The web dashboard: a Flask blueprint of HTML pages over conveyor.manage.

Mount it in a host application (which must have a ``SECRET_KEY``)::

    app.register_blueprint(create_dashboard_blueprint(), url_prefix="/dashboard")

``conveyor serve`` serves it at ``/dashboard/`` beside the API. Pages are
read with any of the site's API tokens; actions need a full token, a CSRF
value from the page, and POST. A host with its own sign-in (the CKAN plugin:
sysadmins) passes ``authenticate`` instead of using tokens; CSRF and POST
stay. Every asset is in the package: no CDN.
"""

from __future__ import annotations

import calendar
import functools
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from conveyor import config as _config
from conveyor import manage
from conveyor.exceptions import ConveyorError, NoSuchJobError
from conveyor.job import PROGRESS_KEY, format_time
from conveyor.periodic_jobs.manage import periodic_list
from conveyor.web import dashboard_data as data
from conveyor.web import dashboard_session as sessions
from conveyor.web.auth import NotAuthorized, hash_token
from conveyor.web.dashboard_actions import ACTIONS, run_action
from conveyor.web.dashboard_session import Viewer

log = logging.getLogger("conveyor.web")

DASHBOARD_NAME = "conveyor_dashboard"
DASHBOARD_PREFIX = "/dashboard"

#: A host's own sign-in: who is looking (None: nobody allowed), called on every request.
Authenticate = Callable[[], "Viewer | None"]


def _age(seconds: float | None) -> str:
    """A duration as people read it: 42s, 3m 5s, 2h 10m, 4d 1h."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _clean(text: object) -> str:
    """Text from job data with control characters made visible (Jinja escapes the rest)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _pretty(value: object) -> str:
    """JSON data indented for reading; escaped by the template like any text."""
    return json.dumps(value, indent=2, ensure_ascii=True, default=repr)


def _since(text: str | None) -> float | None:
    """Seconds since a time in the reference's format (UTC), or None."""
    if not text:
        return None
    try:
        parsed = time.strptime(text.split(".")[0], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return max(0.0, time.time() - _timegm(parsed))


def _timegm(parsed: time.struct_time) -> float:
    return float(calendar.timegm(parsed))


def _before(authenticate: Authenticate | None) -> BaseResponse | tuple[str, int] | None:
    g.dash_host_signin = authenticate is not None
    if not current_app.secret_key:  # say so on the page, not only in a traceback
        g.dash_keep_cookie = True
        log.error("Dashboard: %s", sessions.MISSING_KEY)
        return _page("error.html", message=sessions.MISSING_KEY), 500
    g.dash_session = sessions.load()  # the CSRF value, whoever signs people in
    if request.endpoint == f"{DASHBOARD_NAME}.static":
        g.dash_user = None
        return None
    if authenticate is not None:
        g.dash_user = authenticate()
        if g.dash_user is None:
            abort(403, "The jobs dashboard is for this site's administrators")
        return None
    if request.endpoint == f"{DASHBOARD_NAME}.signin":
        g.dash_user = None
        return None
    g.dash_user = sessions.user(g.dash_session)
    if g.dash_user is None:
        if request.method == "POST" or request.path.endswith(".json"):
            abort(401)
        return redirect(url_for(f"{DASHBOARD_NAME}.signin"))
    return None


def _after(response: BaseResponse) -> BaseResponse:
    session = getattr(g, "dash_session", None)
    if session is not None and not getattr(g, "dash_keep_cookie", False):
        sessions.save(response, session, _cookie_path())
    return sessions.secure_headers(response)


def _cookie_path() -> str:
    return url_for(f"{DASHBOARD_NAME}.overview")


def _page(template: str, **values: Any) -> str:
    return render_template(
        f"conveyor_dashboard/{template}",
        user=getattr(g, "dash_user", None),
        csrf=g.dash_session.csrf if "dash_session" in g else "",
        can_act=getattr(g, "dash_user", None) is not None and not g.dash_user.read_only,
        host_signin=getattr(g, "dash_host_signin", False),
        age=_age,
        clean=_clean,
        pretty=_pretty,
        **values,
    )


def _signin() -> BaseResponse | str:
    if g.dash_host_signin:  # the host signs people in; nothing to do here
        return redirect(url_for(f"{DASHBOARD_NAME}.overview"))
    error = None
    if request.method == "POST":
        if not sessions.csrf_ok(g.dash_session, request.form.get("csrf")):
            abort(400, "The form is stale: reload the page and sign in again")
        token = request.form.get("token", "").strip()
        found = (
            sessions.user(sessions.Session(hash_token(token), g.dash_session.csrf))
            if 0 < len(token) <= 512
            else None
        )
        if found is not None:
            # A new CSRF value with the sign-in: one seen before it is worth nothing after.
            g.dash_session = sessions.Session(found.hash, secrets.token_urlsafe(32))
            log.info('Dashboard: sign-in by token "%s"', found.name)
            return redirect(url_for(f"{DASHBOARD_NAME}.overview"))
        error = "That token does not open this site's dashboard."
    return render_template(
        "conveyor_dashboard/signin.html", csrf=g.dash_session.csrf, error=error, user=None
    )


def _job_or_404(job_id: str) -> dict[str, Any]:
    try:
        return manage.job_show(job_id)
    except NoSuchJobError:
        abort(404)


def _action() -> BaseResponse:
    name = request.form.get("action", "")
    if not sessions.csrf_ok(g.dash_session, request.form.get("csrf")):
        abort(400, "CSRF check failed: reload the page and try again")
    if name not in ACTIONS:
        abort(400, "Unknown action")
    who = _actor(name)
    message = run_action(name, request.form)
    log.info("Dashboard: %s by %s", name, who)
    back = request.form.get("next", "")
    if not back.startswith("/") or back.startswith("//"):
        back = url_for(f"{DASHBOARD_NAME}.overview")
    separator = "&" if "?" in back else "?"
    return redirect(f"{back}{separator}{_notice(message)}")


def _actor(action: str) -> str:
    """Who acts, as the log names them; 403 unless they may act."""
    if g.dash_host_signin:
        viewer: Viewer = g.dash_user
        if viewer.read_only:
            abort(403, f"{viewer.name} may look at the dashboard but not act on it")
        return f'user "{viewer.name}"'
    try:
        token = sessions.user(g.dash_session, acting=f"dashboard_{action}")
    except NotAuthorized as exc:
        abort(403, str(exc))
    assert token is not None
    return f'token "{token.name}"'


def _notice(message: str) -> str:
    return urlencode({"notice": message[:300]})


def _signout() -> BaseResponse:
    if not sessions.csrf_ok(g.dash_session, request.form.get("csrf")):
        abort(400, "CSRF check failed")
    if g.dash_host_signin:  # signing out is the host's business
        return redirect(url_for(f"{DASHBOARD_NAME}.overview"))
    g.dash_session = sessions.Session(None, g.dash_session.csrf)
    return redirect(url_for(f"{DASHBOARD_NAME}.signin"))


def _overview() -> str:
    return _page("overview.html", view=data.overview(), charts=data.charts())


def _jobs() -> str:
    query = data.JobQuery.from_args(request.args)
    records, total, bounded = data.jobs(query)
    return _page(
        "jobs.html",
        query=query,
        records=records,
        total=total,
        pages=max(1, -(-total // data.PAGE_SIZE)),
        bounded=bounded,
        states=data.STATES,
        queues=[q["name"] for q in manage.queue_list()],
        fmt=format_time,
        prefix_len=len(_config.current().queue_prefix),
        scan=data.FILTER_SCAN,
    )


def _job(job_id: str) -> str:
    shown = _job_or_404(job_id)
    return _page("job.html", job=shown, attempts=_attempts(shown))


def _job_progress(job_id: str) -> Response:
    shown = _job_or_404(job_id)
    meta = shown["meta"]
    payload = {
        "state": shown["state"],
        "progress": meta.get(PROGRESS_KEY) if isinstance(meta, dict) else None,
        "started": shown["started"],
        "ended": shown["ended"],
    }
    return Response(json.dumps(payload, default=repr), mimetype="application/json")


def _workers() -> str:
    found = manage.worker_list()
    for worker in found:
        worker["heartbeat_age"] = _since(worker["heartbeat"])
        worker["current"] = [_running(job_id) for job_id in worker["jobs"]]
    return _page("workers.html", workers=found)


def _periodic() -> str:
    return _page("periodic.html", entries=periodic_list())


def _conveyor_error(exc: ConveyorError) -> tuple[str, int]:
    return _page("error.html", message=str(exc)), 409


def _http_error(exc: HTTPException) -> tuple[str, int]:
    """A refusal as a page (the API's JSON envelope is for programs)."""
    return _page("error.html", message=exc.description or exc.name), exc.code or 500


_ROUTES: list[tuple[str, str, Any, list[str]]] = [
    ("/", "overview", _overview, ["GET"]),
    ("/signin", "signin", _signin, ["GET", "POST"]),
    ("/signout", "signout", _signout, ["POST"]),
    ("/action", "action", _action, ["POST"]),
    ("/jobs", "jobs", _jobs, ["GET"]),
    ("/jobs/<job_id>", "job", _job, ["GET"]),
    ("/jobs/<job_id>/progress.json", "job_progress", _job_progress, ["GET"]),
    ("/workers", "workers", _workers, ["GET"]),
    ("/periodic", "periodic", _periodic, ["GET"]),
]


def create_dashboard_blueprint(
    *, authenticate: Authenticate | None = None, url_prefix: str = DASHBOARD_PREFIX
) -> Blueprint:
    """The dashboard as a blueprint, at ``url_prefix`` unless registered with another prefix.

    The application must have a ``SECRET_KEY`` (it signs the session cookie)
    and must have configured conveyor (``conveyor.configure``).

    By default people sign in with the site's API tokens. ``authenticate``
    replaces that with the host's own sign-in: called on every request, it
    returns the :class:`~conveyor.web.dashboard_session.Viewer` looking (a
    read-only one may not act) or None, answered with 403. CSRF checks and
    POST-only actions apply either way.
    """
    blueprint = Blueprint(
        DASHBOARD_NAME,
        __name__,
        url_prefix=url_prefix,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    blueprint.before_request(functools.partial(_before, authenticate))
    blueprint.after_request(_after)
    blueprint.register_error_handler(ConveyorError, _conveyor_error)
    blueprint.register_error_handler(HTTPException, _http_error)
    for rule, endpoint, view, methods in _ROUTES:
        blueprint.add_url_rule(rule, endpoint, view, methods=methods)
    return blueprint


def _attempts(shown: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's attempts, each failed one with its traceback."""
    tracebacks = {error["attempt"]: error["traceback"] for error in shown["errors"]}
    return [
        {**attempt, "traceback": tracebacks.get(attempt["attempt"]) if attempt["error"] else None}
        for attempt in shown["history"]
    ]


def _running(job_id: str) -> dict[str, Any]:
    """A worker's current job: its id, title and how long it has run."""
    try:
        shown = manage.job_show(job_id)
    except NoSuchJobError:
        return {"id": job_id, "title": None, "runtime": None}
    return {"id": job_id, "title": shown["title"], "runtime": _since(shown["started"])}


__all__ = ["Authenticate", "Viewer", "create_dashboard_blueprint"]
