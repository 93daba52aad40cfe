"""Platform endpoints: liveness, readiness, and the caller's and auditor's views."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from kyso import audit, migrate
from kyso.callers import Role
from kyso.db import schema_revision, transaction
from kyso.errors import BadRequest, KysoError
from kyso.web import PROBLEM_JSON, current_caller, public, roles, services

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
@roles(*Role)
def whoami() -> Response:
    caller = current_caller()
    return jsonify({"name": caller.name, "role": caller.role.value})


def _parse_since(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            "'since' must be an ISO 8601 date or date-time",
            "'since' phải là ngày hoặc thời điểm theo ISO 8601",
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@admin_bp.get("/audit")
@roles(Role.AUDITOR, Role.CA_ADMIN)
def audit_export() -> Response:
    since = _parse_since(request.args.get("since"))
    limit = min(int(request.args.get("limit", "1000") or 1000), 10000)
    with transaction(services().sessions) as session:
        records = []
        for rec in audit.export(session, since):
            records.append(rec)
            if len(records) >= limit:
                break
    return jsonify({"records": records, "count": len(records)})


@admin_bp.get("/audit/verify")
@roles(Role.AUDITOR, Role.CA_ADMIN)
def audit_verify() -> Response:
    with transaction(services().sessions) as session:
        report = audit.verify_chain(session)
    return jsonify({"ok": report.ok, "records": report.records,
                    "first_bad_seq": report.first_bad_seq, "problem": report.problem,
                    "summary": report.describe()})
