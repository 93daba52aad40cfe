"""Web plumbing shared by every blueprint: callers, roles, problem+json, request ids."""

from __future__ import annotations

import functools
import logging
import math
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import unquote

from flask import Response, current_app, g, jsonify, request

from kyso import audit, policy
from kyso.callers import Caller, UnknownApiKey, authenticate, key_id_of
from kyso.db import read_transaction, transaction
from kyso.errors import BadRequest, Forbidden, KysoError, TooManyRequests, Unauthenticated
from kyso.limits import parse_json
from kyso.messages import BODY_MUST_JSON_CONTENT_TYPE, BODY_MUST_JSON_OBJECT
from kyso.policy import Action
from kyso.problems import http_status, problem
from kyso.services import Services

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("kyso.auth")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PROBLEM_JSON = "application/problem+json"


def json_body() -> dict[str, Any]:
    """The request's JSON object: 400 when it is not JSON or not an object, 400 json-too-deep
    when nested deeper than kyso.limits.MAX_JSON_DEPTH (decoded without the decoder recursing
    into a 500)."""
    if not request.is_json:
        raise BadRequest(BODY_MUST_JSON_CONTENT_TYPE)
    try:
        data = parse_json(request.get_data(cache=True))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BadRequest(BODY_MUST_JSON_OBJECT)
    return data


@contextmanager
def spooled_body(empty: KysoError) -> Iterator[str]:
    """The raw request body in a private temporary file (its path, for a verification helper
    to read): the worker never holds a large document as bytes nor copies it down a pipe.
    ``empty`` is raised for an empty body. The file is removed on exit."""
    with tempfile.NamedTemporaryFile(prefix="kyso-body-") as f:
        while chunk := request.stream.read(1 << 20):
            f.write(chunk)
        if not f.tell():
            raise empty
        f.flush()
        yield f.name


def services() -> Services:
    svc: Services = current_app.extensions["kyso"]
    return svc


def public(view: F) -> F:
    """Mark a view as open to anonymous callers (health, CA certificates, later OCSP)."""
    view._kyso_public = True  # type: ignore[attr-defined]
    return view


def allows(action: Action) -> Callable[[F], F]:
    """Open a view to the roles the policy gives ``action``. Views without this are denied."""

    def decorate(view: F) -> F:
        view._kyso_action = action  # type: ignore[attr-defined]
        view._kyso_roles = policy.roles_for(action)  # type: ignore[attr-defined]

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = current_caller()
            if not policy.allowed(caller, action):
                _audit_denied(caller.actor, "forbidden")
                raise Forbidden(action=action.value)
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
    """Deny by default: every view is closed unless marked public or given a policy action."""
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
    except UnknownApiKey:
        # No key of ours (none, malformed, or an id never issued): only logged and limited
        # per address. Auditing these would let anyone grow the trail and contend for its
        # lock without limit (issue 13, item 12).
        _refuse_stranger(svc, key_id_of(presented))
        raise
    except Unauthenticated:
        # A key of ours that does not work (wrong secret, revoked, expired, user disabled):
        # a security event about a real user.
        _audit_denied(f"key:{key_id_of(presented)}", "unauthenticated")
        raise


class StrangerLimiter:
    """Refusals of callers who presented no key of ours, per client address, in fixed
    one-minute windows, per process. Bounded: at most ``max_tracked`` addresses are kept."""

    def __init__(self, per_minute: int, *, window: float = 60.0, max_tracked: int = 10000) -> None:
        self.per_minute = per_minute
        self.window = window
        self.max_tracked = max_tracked
        self._seen: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, address: str, now: float | None = None) -> tuple[int, int]:
        """Count one refusal; returns (count in this window, seconds to wait or 0)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            start, count = self._seen.get(address, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            count += 1
            self._seen[address] = (start, count)
            if len(self._seen) > self.max_tracked:
                self._prune(now)
        if self.per_minute and count > self.per_minute:
            return count, max(1, math.ceil(start + self.window - now))
        return count, 0

    def _prune(self, now: float) -> None:
        for addr in [a for a, (start, _c) in self._seen.items() if now - start >= self.window]:
            del self._seen[addr]
        while len(self._seen) > self.max_tracked // 2:  # still full: forget the oldest
            del self._seen[next(iter(self._seen))]


def client_address(svc: Services) -> str:
    """The caller's address: the peer, or behind a trusted proxy the nearest address in
    X-Forwarded-For that is not itself a trusted proxy."""
    peer = request.remote_addr or "?"
    trusted = svc.settings.server.trusted_proxies
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return peer


def count_address(name: str, per_minute: int) -> tuple[str, int, int]:
    """Count this request against the per-address limiter ``name`` (one per process, made on
    first use with ``per_minute``): the address, its count in this window and, past the limit,
    the seconds to wait (0 within it)."""
    svc = services()
    limiter: StrangerLimiter | None = current_app.extensions.get(name)
    if limiter is None:
        limiter = current_app.extensions.setdefault(name, StrangerLimiter(per_minute))
    address = client_address(svc)
    count, retry_after = limiter.hit(address)
    return address, count, retry_after


def _refuse_stranger(svc: Services, key_id: str) -> None:
    per_minute = svc.settings.auth.unknown_key_failures_per_minute
    address, count, retry_after = count_address("kyso.stranger_limiter", per_minute)
    if not retry_after:
        # The key id is not a secret; the secret part is never logged.
        log.warning("refused %s %s from %s: %s", request.method, request.path, address,
                    f"unknown API key id {key_id}" if key_id else "no valid API key")
        return
    if count == per_minute + 1:
        log.warning("too many refused requests from %s: 429 for %d s", address, retry_after)
    raise TooManyRequests(retry_after)


def _certificate_caller(svc: Services, value: str) -> Caller:
    """The caller a trusted proxy vouches for with a TLS client certificate."""
    if request.remote_addr not in svc.settings.server.trusted_proxies:
        # Anyone can send the header: logged and limited like an unknown key, not audited.
        log.warning("client certificate header from untrusted address %s ignored", request.remote_addr)
        _refuse_stranger(svc, "")
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


def problem_response(error: KysoError, status: int | None = None) -> Response:
    """The problem+json answer to an error: its kind's status (or ``status``, for the HTTP
    framework's own errors), with the headers that status calls for."""
    resp = jsonify(problem(error, instance=request.path, status=status))
    resp.status_code = status = status or http_status(error)
    resp.content_type = PROBLEM_JSON
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="kyso"'
    if status in (429, 503):
        resp.headers["Retry-After"] = str(error.extra.get("retry_after", 5))
    return resp
