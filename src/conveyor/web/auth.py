"""Web API tokens: created once, stored as a hash, checked in constant time.

A token is ``cvt_`` followed by 32 random bytes (``secrets.token_urlsafe``).
Only its SHA-256 is stored, in the job store, recorded with the site it was
created for: it opens that site's web API and no other. The token itself is
shown once, when it is created, and never logged.

A caller presents it as ``Authorization: Bearer <token>`` (the bare token,
as CKAN's clients send it, works too). A read-only token may call the
actions that change nothing; a full token may call every action.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time

from conveyor import config as _config
from conveyor.api import backend
from conveyor.backends.base import ApiToken
from conveyor.exceptions import NoSuchTokenError, ValidationError

log = logging.getLogger("conveyor.web")

TOKEN_PREFIX = "cvt_"  # noqa: S105 -- a marker that helps secret scanners, not a secret
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_MAX_HEADER = 512  # a token is 47 characters; anything much longer is not one


class NotAuthorized(Exception):
    """The caller may not call the action; the message says why (after "Access denied: ")."""


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_token_name(name: str) -> str:
    """``name`` if it can name a token, else ValidationError saying why."""
    if not _NAME.match(name):
        raise ValidationError(
            {
                "name": [
                    "A token name is 1-64 letters, digits, '.', '_', '@' or '-',"
                    " starting with a letter or digit"
                ]
            }
        )
    return name


def create_token(name: str, *, read_only: bool = False) -> tuple[ApiToken, str]:
    """A new token for this site: its stored record, and the token to hand over (once).

    DuplicateTokenError if this site has a token of that name.
    """
    config = _config.current()
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        name=check_token_name(name),
        hash=hash_token(secret),
        read_only=read_only,
        created_at=time.time(),
        site_id=config.site_id,
    )
    backend(config).save_token(record)
    log.info(
        'Created %s API token "%s"',
        "read-only" if read_only else "full",
        name,
        extra={"token_name": name},
    )
    return record, secret


def list_tokens() -> list[ApiToken]:
    """This site's tokens (their names and hashes), by name."""
    config = _config.current()
    return backend(config).tokens(config.site_id)


def revoke_token(name: str) -> None:
    """Delete this site's token ``name``; NoSuchTokenError if it has none."""
    config = _config.current()
    if not backend(config).revoke_token(config.site_id, name):
        raise NoSuchTokenError(name)
    log.info('Revoked API token "%s"', name, extra={"token_name": name})


def presented_token(header: str | None) -> str | None:
    """The token in an Authorization header, or None if there is none."""
    if not header or not header.strip():
        return None
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def authorize(action: str, *, changes_state: bool, header: str | None) -> ApiToken:
    """The token that may call ``action``; NotAuthorized if there is none.

    The presented token is hashed and looked up by its hash; the stored hash
    is then compared in constant time, and must belong to this site.
    """
    token = presented_token(header)
    if token is None:
        raise NotAuthorized(f"Action {action} requires an authenticated user")
    presented = hash_token(token) if len(token) <= _MAX_HEADER else None
    return authorize_hash(action, changes_state=changes_state, token_hash=presented)


def authorize_hash(action: str, *, changes_state: bool, token_hash: str | None) -> ApiToken:
    """As :func:`authorize`, for a token known by its hash (the dashboard's session keeps it).

    The API and the dashboard both decide here, so their rules cannot drift apart.
    """
    config = _config.current()
    found = None
    if token_hash:
        found = backend(config).find_token(token_hash)
        if found is not None and not (
            hmac.compare_digest(found.hash, token_hash) and found.site_id == config.site_id
        ):
            found = None
    if found is None:
        raise NotAuthorized("The API token is not valid")
    if changes_state and found.read_only:
        raise NotAuthorized(
            f'Token "{found.name}" is read-only; action {action} needs a full token'
        )
    return found
