"""The one place where exceptions become HTTP statuses and error objects.

The error object is the reference's: ``__type`` and ``message``, or for a
validation error ``__type`` and one list of messages per field. The
``__type`` strings CKAN uses are kept ("Authorization Error", "Not Found
Error", "Validation Error", "Internal Server Error"); the other statuses use
their HTTP reason followed by "Error".

Client errors are logged without the caller's values (a caller may have put
anything in them); server errors are logged with their traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from werkzeug.exceptions import HTTPException

from conveyor.exceptions import (
    BackendUnavailable,
    JobStateError,
    NoSuchJobError,
    NoSuchWorkerError,
    ValidationError,
)
from conveyor.web.auth import NotAuthorized

log = logging.getLogger("conveyor.web")

ErrorObject = dict[str, Any]


class ApiError(Exception):
    """A refusal with its status, ``__type`` and message."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message


def bad_request(detail: str) -> ApiError:
    """A 400, worded as the reference words it (``Bad request - <detail>``)."""
    return ApiError(400, "Bad Request Error", f"Bad request - {detail}")


def too_large(status: int, what: str, limit: int) -> ApiError:
    """A 413 (body) or 414 (query string) for a request over the size limit."""
    return ApiError(status, "Request Too Large Error", f"{what} is larger than {limit} bytes")


def error_object(exc: BaseException) -> tuple[int, ErrorObject]:
    """The HTTP status and the error object for an exception."""
    fields: dict[str, list[str]] | None = None
    if isinstance(exc, ValidationError):
        fields = exc.errors
    elif isinstance(exc, JobStateError):
        # CKAN raises ValidationError when the state of what a request names
        # refuses it; here that is the job named by ``id``.
        fields = {"id": [str(exc)]}
    if fields is not None:
        return 409, {**fields, "__type": "Validation Error"}
    status, type_, message = _refusal(exc)
    return status, {"__type": type_, "message": message}


def _refusal(exc: BaseException) -> tuple[int, str, str]:
    if isinstance(exc, ApiError):
        return exc.status, exc.type, exc.message
    if isinstance(exc, NotAuthorized):
        return 403, "Authorization Error", f"Access denied: {exc}"
    if isinstance(exc, (NoSuchJobError, NoSuchWorkerError)):
        return 404, "Not Found Error", f"Not found: {exc}"
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        message = "Not found" if status == 404 else (exc.description or exc.name)
        return status, f"{exc.name} Error", message
    if isinstance(exc, BackendUnavailable):
        log.error("Web API: the job store is unavailable: %s", exc)
        return 503, "Service Unavailable Error", "The job store is unavailable"
    log.error("Web API: internal error", exc_info=exc)
    return 500, "Internal Server Error", "Internal Server Error"
