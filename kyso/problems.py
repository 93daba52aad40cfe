"""Errors over HTTP: the status of each error kind and the RFC 9457 problem details body.

The domains raise errors with a kind (kyso.errors.ErrorKind); only the web edge (the app's
error handler, views and pages) knows what a kind is as an HTTP status. Domain modules must
not import this module (an import-linter contract).
"""

from __future__ import annotations

from typing import Any

from kyso.errors import ErrorKind, KysoError

HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED: 415,
    ErrorKind.UNPROCESSABLE: 422,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.INTERNAL: 500,
    ErrorKind.UNAVAILABLE: 503,
}

def http_status(error: KysoError) -> int:
    """The HTTP status of an error, from its kind."""
    return HTTP_STATUS[error.kind]


def problem(error: KysoError, instance: str | None = None, *, status: int | None = None) -> dict[str, Any]:
    """The RFC 9457 problem details body of an error (``status`` overrides its kind's, for the
    HTTP framework's own errors such as 405)."""
    body: dict[str, Any] = {
        "type": f"https://kyso.invalid/problems/{error.code}",
        "title": error.title_en,
        "status": status or http_status(error),
        "code": error.code,
        "detail": error.message_en,
        "detail_vi": error.message_vi,
    }
    if instance:
        body["instance"] = instance
    body.update(error.extra)
    return body
