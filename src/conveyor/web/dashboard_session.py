"""The dashboard's sign-in session, CSRF check and security headers.

The session is a cookie of its own (not the host application's Flask
session), signed with the application's ``SECRET_KEY``. It holds the
SHA-256 of the API token the person signed in with (never the token) and a
random CSRF value. Every request looks the token up again through
:func:`conveyor.web.auth.authorize_hash`, the API's own check, so a revoked
token loses the dashboard at once and a read-only token can look but not act.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from conveyor.backends.base import ApiToken
from conveyor.exceptions import ConveyorError
from conveyor.web import auth

COOKIE_NAME = "conveyor_dashboard"
#: How long a sign-in lasts, in seconds.
SESSION_MAX_AGE = 12 * 3600
_SALT = "conveyor.dashboard.session"

#: Scripts, styles and requests only from this origin: no inline script runs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


MISSING_KEY = (
    "The conveyor dashboard signs its session cookie with the application's"
    " SECRET_KEY: set app.secret_key (or SECRET_KEY in its config)"
)


class SecretKeyMissing(ConveyorError):
    """The host application has no SECRET_KEY to sign the dashboard's session with."""


@dataclass(frozen=True)
class Viewer:
    """Someone a host application signed in, as its ``authenticate`` hook names them.

    ``read_only`` viewers see every page and no buttons, as a read-only token.
    """

    name: str
    read_only: bool = False


@dataclass(frozen=True)
class Session:
    """Who is signed in: the token's hash and the CSRF value of their forms."""

    token_hash: str | None
    csrf: str


def _serializer() -> URLSafeTimedSerializer:
    key = current_app.secret_key
    if not key:
        raise SecretKeyMissing(MISSING_KEY)
    return URLSafeTimedSerializer(key, salt=_SALT)


def load() -> Session:
    """The request's session; a new anonymous one if its cookie is missing, old or forged."""
    raw = request.cookies.get(COOKIE_NAME)
    if raw:
        try:
            data: Any = _serializer().loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            data = None
        if isinstance(data, dict) and isinstance(data.get("c"), str):
            token_hash = data.get("h")
            return Session(token_hash if isinstance(token_hash, str) else None, data["c"])
    return Session(None, secrets.token_urlsafe(32))


def save(response: Response, session: Session, path: str) -> None:
    """Store ``session`` in its cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    value = _serializer().dumps({"h": session.token_hash, "c": session.csrf})
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=SESSION_MAX_AGE,
        path=path,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )


def user(session: Session, *, acting: str | None = None) -> ApiToken | None:
    """The signed-in token, allowed to do ``acting`` (an action that changes state) if given.

    None when nobody is signed in or the token is gone; NotAuthorized when a
    read-only token tries to act.
    """
    if session.token_hash is None:
        return None
    try:
        return auth.authorize_hash(
            acting or "dashboard_view",
            changes_state=acting is not None,
            token_hash=session.token_hash,
        )
    except auth.NotAuthorized:
        if acting is None:
            return None
        raise


def csrf_ok(session: Session, presented: str | None) -> bool:
    """The form carries this session's CSRF value."""
    return bool(presented) and hmac.compare_digest(session.csrf, presented or "")


def secure_headers(response: Response) -> Response:
    """Headers every dashboard answer carries."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not request.path.endswith((".css", ".js")):
        response.headers["Cache-Control"] = "no-store"
    return response
