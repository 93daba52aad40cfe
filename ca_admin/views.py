"""CA endpoints: the public CA certificates and the admin's HSM self-test."""

from __future__ import annotations

import base64
import os
import secrets
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from ca_admin import crl, service
from hsm.keystore import verify_signature
from kyso import audit
from kyso.callers import Role
from kyso.db import transaction, utcnow
from kyso.errors import BadRequest, KysoError
from kyso.services import Services
from kyso.web import current_caller, public, request_id, roles, services

pki_bp = Blueprint("pki", __name__, url_prefix="/pki")
ca_admin_bp = Blueprint("ca_admin", __name__, url_prefix="/api/v1/admin/ca")


def register(app: Flask, *, public_only: bool) -> None:
    from ca_admin.api import api_bp
    from ca_admin.profiles import validate_profiles

    validate_profiles(app.extensions["kyso"].settings)
    app.register_blueprint(pki_bp)
    if not public_only:
        app.register_blueprint(ca_admin_bp)
        app.register_blueprint(api_bp)
    app.extensions["kyso"].readiness_checks.append(("ca", _ready_check))


def _ready_check(svc: Services) -> dict[str, Any]:
    """The issuing CA exists and its key signs (which proves the token is really there)."""
    with transaction(svc.sessions) as session:
        issuing = service.active_ca(session, "issuing")
    assert issuing.key_label is not None
    svc.keystore.ping(probe_label=issuing.key_label)
    return {"ok": True}


def _ca_certificate(role: str) -> Response:
    fmt = request.args.get("format", "der").lower()
    if fmt not in {"der", "pem"}:
        raise BadRequest("format must be 'der' or 'pem'", "định dạng phải là 'der' hoặc 'pem'")
    with transaction(services().sessions) as session:
        ca = service.active_ca(session, role)
    if fmt == "pem":
        resp = Response(ca.certificate_pem, mimetype="application/x-pem-file")
    else:
        resp = Response(ca.certificate_der, mimetype="application/pkix-cert")
    resp.headers["Content-Disposition"] = f'attachment; filename="{role}.{"pem" if fmt == "pem" else "crt"}"'
    resp.headers["Cache-Control"] = "public, max-age=3600"
    resp.set_etag(ca.serial_hex)
    resp.make_conditional(request)
    return resp


@pki_bp.get("/ca/root.crt")
@public
def root_certificate() -> Response:
    return _ca_certificate("root")


@pki_bp.get("/ca/issuing.crt")
@public
def issuing_certificate() -> Response:
    return _ca_certificate("issuing")


def _crl(role: str) -> Response:
    svc = services()
    try:
        info = crl.latest(svc.sessions, role)
        stale = info.next_update <= utcnow()
    except crl.CrlNotFound:
        info, stale = None, True
    if stale:
        # The schedule should have published; do it now (the public sees at most one stale
        # answer per worker, and only if the HSM is down).
        try:
            info = crl.publish(svc.sessions, svc.keystore, svc.settings, role)
        except KysoError:
            if info is None:
                raise
    assert info is not None
    resp = Response(info.der, mimetype="application/pkix-crl")
    resp.headers["Content-Disposition"] = f'attachment; filename="{role}.crl"'
    resp.set_etag(f"crl-{role}-{info.crl_number}")
    resp.last_modified = info.this_update
    resp.expires = info.next_update
    max_age = max(int((info.next_update - utcnow()).total_seconds()), 0)
    resp.headers["Cache-Control"] = f"public, max-age={max_age}, no-transform"
    resp.make_conditional(request)
    return resp


@pki_bp.get("/crl/issuing.crl")
@public
def issuing_crl() -> Response:
    """The issuing CA's full CRL (DER)."""
    return _crl("issuing")


@pki_bp.get("/crl/root.crl")
@public
def root_crl() -> Response:
    """The root CA's CRL (ARL, DER)."""
    return _crl("root")


@ca_admin_bp.post("/self-test")
@roles(Role.CA_ADMIN)
def self_test() -> Response:
    """Sign a fresh challenge with the issuing CA key in the HSM and check it in software."""
    svc = services()
    challenge = secrets.token_bytes(32)
    # Sign inside the transaction that writes the audit record: no signature without it.
    with transaction(svc.sessions) as session:
        issuing = service.active_ca(session, "issuing")
        scheme = service.signing_scheme_of(issuing, svc.settings)
        assert issuing.key_label is not None
        signature = svc.keystore.sign(issuing.key_label, challenge, scheme)
        verify_signature(issuing.certificate.public_key.dump(), challenge, signature, scheme)
        audit.record(session, actor=current_caller().actor, action="hsm.self-test",
                     target=f"key:{issuing.key_label}", request_id=request_id(),
                     details={"scheme": scheme.value})
    return jsonify({
        "ok": True,
        "pid": os.getpid(),
        "key_label": issuing.key_label,
        "scheme": scheme.value,
        "challenge": base64.b64encode(challenge).decode(),
        "signature": base64.b64encode(signature).decode(),
    })
