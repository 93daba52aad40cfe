"""Web plumbing shared by every blueprint: callers, roles, problem+json, request ids."""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from flask import Response, current_app, g, jsonify, request

from kyso import audit
from kyso.callers import Caller, Role, authenticate, key_id_of
from kyso.db import read_transaction, transaction
from kyso.errors import Forbidden, KysoError, Unauthenticated
from kyso.services import Services

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("kyso.auth")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PROBLEM_JSON = "application/problem+json"


def services() -> Services:
    svc: Services = current_app.extensions["kyso"]
    return svc


def public(view: F) -> F:
    """Mark a view as open to anonymous callers (health, CA certificates, later OCSP)."""
    view._kyso_public = True  # type: ignore[attr-defined]
    return view


def roles(*allowed: Role) -> Callable[[F], F]:
    """Allow only callers with one of ``allowed`` roles. Views without this are denied."""

    def decorate(view: F) -> F:
        view._kyso_roles = frozenset(allowed)  # type: ignore[attr-defined]

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = current_caller()
            if caller.role not in allowed:
                _audit_denied(caller.actor, "forbidden")
                raise Forbidden()
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def body_limit(limit: Callable[[Any], int]) -> Callable[[F], F]:
    """Give a view its own body limit, from settings (documents to sign are larger than
    anything else; server.max_body_bytes applies to every other view)."""

    def decorate(view: F) -> F:
        view._kyso_body_limit = limit  # type: ignore[attr-defined]
        return view

    return decorate


def body_limit_of(app: Any) -> int:
    view = app.view_functions.get(request.endpoint or "")
    limit = getattr(view, "_kyso_body_limit", None)
    if limit is not None:
        return int(limit(services().settings))
    return int(app.config["MAX_CONTENT_LENGTH"])


def current_caller() -> Caller:
    caller: Caller | None = g.get("caller")
    if caller is None:
        raise Unauthenticated()
    return caller


def request_id() -> str:
    return str(g.get("request_id", ""))


def caller_request_id() -> str:
    """The X-Request-Id the caller sent, when well formed (kept beside ours, never instead)."""
    return str(g.get("caller_request_id", ""))


def assign_request_id() -> str:
    """Our own id for this request. A caller's X-Request-Id is only kept beside it: a caller
    must not choose the id under which the audit trail and the logs file its actions."""
    incoming = request.headers.get("X-Request-Id", "")
    g.caller_request_id = incoming if _REQUEST_ID.match(incoming) else ""
    g.request_id = uuid.uuid4().hex
    return str(g.request_id)


def authenticate_request() -> None:
    """Deny by default: every view is closed unless marked public or given roles."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return  # 404 / 405 are answered by Flask
    if getattr(view, "_kyso_public", False):
        return
    if not getattr(view, "_kyso_roles", None):
        raise Forbidden()
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" else None
    svc = services()
    cert_header = svc.settings.server.client_cert_header
    if presented is None and cert_header and request.headers.get(cert_header):
        g.caller = _certificate_caller(svc, request.headers[cert_header])
        return
    try:
        with read_transaction(svc.sessions) as session:
            g.caller = authenticate(session, presented)
    except Unauthenticated:
        key_id = key_id_of(presented)
        if key_id:
            # Someone presented a key of ours that does not work: a security event.
            _audit_denied(f"key:{key_id}", "unauthenticated")
        else:
            # Anonymous or malformed credentials are only logged: auditing them would let
            # anyone grow the trail and contend for its lock without limit.
            log.warning("refused anonymous request to %s %s", request.method, request.path)
        raise


def _certificate_caller(svc: Services, value: str) -> Caller:
    """The caller a trusted proxy vouches for with a TLS client certificate."""
    if request.remote_addr not in svc.settings.server.trusted_proxies:
        log.warning("client certificate header from untrusted address %s ignored", request.remote_addr)
        _audit_denied(f"address:{request.remote_addr}", "client-certificate-from-untrusted-proxy")
        raise Unauthenticated()
    authenticator = current_app.extensions.get("kyso.certificate_authenticator")
    if authenticator is None:
        raise Unauthenticated()
    with read_transaction(svc.sessions) as session:
        caller = authenticator(session, unquote(value))
    if caller is None:
        _audit_denied("client-certificate", "unauthenticated")
        raise Unauthenticated()
    return caller


def _audit_denied(actor: str, why: str) -> None:
    with transaction(services().sessions) as session:
        audit.record(
            session, actor=actor, action="auth.denied", target=f"{request.method} {request.path}",
            outcome="denied", details={"reason": why}, request_id=request_id(),
        )


def problem_response(error: KysoError) -> Response:
    resp = jsonify(error.to_problem(instance=request.path))
    resp.status_code = error.status
    resp.content_type = PROBLEM_JSON
    if error.status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="kyso"'
    if error.status in (429, 503):
        resp.headers["Retry-After"] = str(error.extra.get("retry_after", 5))
    return resp
