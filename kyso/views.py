"""Platform endpoints: liveness, readiness, and the caller's and auditor's views."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from kyso import audit, callers, migrate
from kyso.callers import UserStatus
from kyso.db import read_transaction, schema_revision, transaction
from kyso.errors import BadRequest, KysoError
from kyso.messages import (
    FORMAT_MUST_JSON_OR_JSONL,
    NOT_A_NUMBER_IN_RANGE,
    ROTATE_KEY_NEEDS_API_KEY,
    SINCE_MUST_ISO_8601_DATE,
)
from kyso.policy import Action
from kyso.web import PROBLEM_JSON, allows, current_caller, public, request_id, services

log = logging.getLogger("kyso.health")
health_bp = Blueprint("health", __name__)
admin_bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@health_bp.get("/healthz")
@public
def healthz() -> Response:
    """Alive: the process answers. Says nothing about the database or the token."""
    return jsonify({"status": "alive"})


def _check_database() -> dict[str, Any]:
    rev = schema_revision(services().engine)
    head = migrate.head_revision()
    if rev != head:
        log.warning("database schema at %s, code expects %s", rev or "nothing", head)
        return {"ok": False, "code": "schema-not-current"}
    return {"ok": True}


def _check_token() -> dict[str, Any]:
    services().keystore.ping()
    return {"ok": True}


READY_CACHE_SECONDS = 2.0


@health_bp.get("/readyz")
@public
def readyz() -> Response:
    """Ready: the database answers at the expected schema and the token answers.

    Public (load balancers call it), so it says which check failed and its code, never paths
    or token details (those go to the log), and its result is reused for a couple of
    seconds so that probes cannot make the service hammer the HSM.
    """
    cache = services().ready_cache
    now = time.monotonic()
    if cache and now - cache[0] < READY_CACHE_SECONDS:
        return _ready_response(cache[1])
    checks = _run_checks()
    services().ready_cache = (now, checks)
    return _ready_response(checks)


def _run_checks() -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    named = [("database", lambda _svc: _check_database()), ("token", lambda _svc: _check_token())]
    for name, check in named + services().readiness_checks:
        try:
            checks[name] = check(services())
        except KysoError as exc:
            log.warning("readiness check %s failed: %s (%s)", name, exc.code, exc.message_en)
            checks[name] = {"ok": False, "code": exc.code}
        except Exception as exc:  # noqa: BLE001 - a probe reports, it does not crash
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            checks[name] = {"ok": False, "code": "check-failed"}
    return checks


def _ready_response(checks: dict[str, dict[str, Any]]) -> Response:
    ready = all(c.get("ok") for c in checks.values())
    if ready:
        return jsonify({"status": "ready", "checks": checks})
    failing = [n for n, c in checks.items() if not c.get("ok")]
    body = {
        "type": "https://kyso.invalid/problems/not-ready",
        "title": "Service not ready",
        "status": 503,
        "code": "not-ready",
        "detail": "not ready: " + "; ".join(f"{n} ({checks[n].get('code')})" for n in failing),
        "detail_vi": "chưa sẵn sàng: " + "; ".join(f"{n} ({checks[n].get('code')})" for n in failing),
        "checks": checks,
    }
    resp = jsonify(body)
    resp.status_code = 503
    resp.content_type = PROBLEM_JSON
    return resp


@health_bp.get("/api/v1/openapi.json")
@public
def openapi() -> Response:
    """The OpenAPI document of this service."""
    from flask import current_app

    from kyso.openapi import build

    return jsonify(build(current_app))


@admin_bp.get("/whoami")
@allows(Action.WHOAMI)
def whoami() -> Response:
    caller = current_caller()
    return jsonify({"name": caller.name, "role": caller.role.value})


# -- users and their keys: every grant can be taken back ----------------------------------------

@admin_bp.get("/users")
@allows(Action.USERS_READ)
def list_users() -> Response:
    """Users, roles, status and their keys' ids and dates (never a secret)."""
    with read_transaction(services().sessions) as session:
        return jsonify({"users": [callers.user_view(u).to_json() for u in callers.list_users(session)]})


def _user_status(name: str, status: UserStatus) -> Response:
    with transaction(services().sessions) as session:
        user = callers.set_user_status(session, current_caller(), name, status, request_id=request_id())
        return jsonify(callers.user_view(user).to_json())


@admin_bp.post("/users/<name>/disable")
@allows(Action.USERS_MANAGE)
def disable_user(name: str) -> Response:
    """Every key and client certificate of the user stops working at once."""
    return _user_status(name, UserStatus.DISABLED)


@admin_bp.post("/users/<name>/enable")
@allows(Action.USERS_MANAGE)
def enable_user(name: str) -> Response:
    return _user_status(name, UserStatus.ACTIVE)


def _rotated(name: str, only_key_id: str = "") -> Response:
    auth = services().settings.auth
    with transaction(services().sessions) as session:
        plaintext, key = callers.rotate_keys(
            session, name, grace_hours=auth.rotation_grace_hours, key_days=auth.default_key_days,
            actor=current_caller().actor, only_key_id=only_key_id, request_id=request_id())
        body = {"api_key": plaintext, **callers.user_view(key.user).to_json()}
    resp = jsonify(body)
    resp.status_code = 201
    resp.headers["Cache-Control"] = "no-store"
    return resp


@admin_bp.post("/users/<name>/rotate-key")
@allows(Action.USERS_MANAGE)
def rotate_user_key(name: str) -> Response:
    """A new key for the user (shown once); its other keys stop after the grace period."""
    return _rotated(name)


@admin_bp.post("/me/rotate-key")
@allows(Action.KEY_ROTATE_OWN)
def rotate_my_key() -> Response:
    """A new key for the caller (shown once); the key presented stops after the grace period."""
    caller = current_caller()
    if not caller.key_id:
        raise BadRequest(ROTATE_KEY_NEEDS_API_KEY)
    return _rotated(caller.name, caller.key_id)


@admin_bp.post("/keys/<key_id>/revoke")
@allows(Action.KEY_REVOKE)
def revoke_key(key_id: str) -> Response:
    """Revoke a key at once: a CA admin any key, everyone else their own."""
    with transaction(services().sessions) as session:
        key = callers.revoke_api_key(session, current_caller(), key_id, request_id=request_id())
        return jsonify({"key_id": key.key_id, "user": key.user.name,
                        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None})


def _parse_since(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(SINCE_MUST_ISO_8601_DATE) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


MAX_SEQ = 2**62


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    # ASCII digits only: "²" passed isdigit() and failed int(), a 500.
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise BadRequest(NOT_A_NUMBER_IN_RANGE.format(name=name, low=low, high=high))
    return int(text)


@admin_bp.get("/audit")
@allows(Action.AUDIT_READ)
def audit_export() -> Response:
    """Audit records in chain order: a page (after_seq, limit) or, with format=jsonl, all of
    them streamed as JSON lines. Reads only: no writer is held up."""
    since = _parse_since(request.args.get("since"))
    after = _int_arg("after_seq", 0, 0, MAX_SEQ)
    fmt = request.args.get("format", "json")
    svc = services()
    if fmt == "jsonl":
        lines = (json.dumps(r, ensure_ascii=False) + "\n"
                 for r in audit.stream(svc.sessions, since=since, after_seq=after))
        return Response(lines, mimetype="application/x-ndjson")
    if fmt != "json":
        raise BadRequest(FORMAT_MUST_JSON_OR_JSONL)
    max_page = svc.settings.audit.max_page
    limit = _int_arg("limit", max_page, 1, max_page)
    with read_transaction(svc.sessions) as session:
        records = audit.page(session, after_seq=after, limit=limit, since=since)
    more = records[-1]["seq"] if len(records) == limit else None
    return jsonify({"records": records, "count": len(records), "next_after_seq": more})


@admin_bp.get("/audit/verify")
@allows(Action.AUDIT_READ)
def audit_verify() -> Response:
    """The chain and every signed checkpoint (signatures checked with the audit key in the
    HSM; a missing audit key fails the check when checkpoints exist)."""
    try:
        key: bytes | None = audit.audit_public_key(services().keystore)
    except audit.AuditKeyMissing:
        key = None
    with read_transaction(services().sessions) as session:
        report = audit.verify_chain(session, audit_key=key,
                                    every_records=services().settings.audit.checkpoint_every_records)
    ok = report.ok and (key is not None or not report.checkpoints)
    return jsonify({"ok": ok, "records": report.records, "checkpoints": report.checkpoints,
                    "signatures_checked": report.signatures_checked,
                    "first_bad_seq": report.first_bad_seq, "problem": report.problem,
                    "warnings": list(report.warnings),
                    "summary": report.describe()})
