"""CA endpoints: the public CA certificates and the admin's HSM self-test."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from typing import Any
from urllib.parse import unquote

from flask import Blueprint, Flask, Response, jsonify, request

from ca_admin import crl, ocsp, service
from ca_admin.models import CaRole, CertStatus
from ca_admin.settings import OcspSettings
from hsm.keystore import verify_signature
from hsm.settings import HsmSettings
from kyso import audit
from kyso.callers import Role, UserStatus
from kyso.db import transaction, utcnow
from kyso.errors import BadRequest, ErrorKind, KysoError, PayloadTooLarge
from kyso.policy import Action
from kyso.services import Services
from kyso.web import allows, current_caller, public, request_id, services

pki_bp = Blueprint("pki", __name__, url_prefix="/pki")
ocsp_bp = Blueprint("ocsp", __name__)
log = logging.getLogger("kyso.pki")
ca_admin_bp = Blueprint("ca_admin", __name__, url_prefix="/api/v1/admin/ca")


def register(app: Flask, *, public_only: bool) -> None:
    from ca_admin.api import api_bp

    app.register_blueprint(pki_bp)
    app.register_blueprint(ocsp_bp)
    if not public_only:
        app.register_blueprint(ca_admin_bp)
        app.register_blueprint(api_bp)
        app.extensions["kyso.certificate_authenticator"] = certificate_caller
    app.extensions["kyso"].readiness_checks.append(("ca", _ready_check))


def certificate_caller(session: Any, pem_text: str) -> Any:
    """The client a TLS client certificate (PEM, from a trusted proxy) stands for: a good,
    current client-tls certificate issued here, byte for byte, and the active client user it
    was bound to when it was issued. Never its common name: a name in a certificate is what
    someone asked for, the binding is what this CA recorded. None otherwise."""
    from asn1crypto import pem as asn1_pem
    from asn1crypto import x509
    from sqlalchemy import select

    from ca_admin.models import IssuedCertificate
    from kyso.callers import Caller, User
    from kyso.db import utcnow

    try:
        raw = pem_text.strip().encode("ascii")
        der = asn1_pem.unarmor(raw)[2] if asn1_pem.detect(raw) else b""
        cert = x509.Certificate.load(der, strict=True)
        serial_hex = format(cert.serial_number, "x")
    except (ValueError, TypeError, UnicodeEncodeError):
        return None
    row = session.execute(select(IssuedCertificate).where(IssuedCertificate.serial_hex == serial_hex)
                          ).scalar_one_or_none()
    now = utcnow()
    if (row is None or row.certificate_der != der or row.profile != "client-tls" or row.status != CertStatus.GOOD
            or not row.not_before <= now < row.not_after or row.owner_user_id is None):
        return None
    user = session.get(User, row.owner_user_id)
    if user is None or user.role != Role.CLIENT.value or user.status != UserStatus.ACTIVE:
        return None
    return Caller(user.id, user.name, Role(user.role))


def _ready_check(svc: Services) -> dict[str, Any]:
    """The issuing CA exists and its key signs (which proves the token is really there)."""
    with transaction(svc.sessions) as session:
        issuing = service.active_ca(session, CaRole.ISSUING)
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
    return _ca_certificate(CaRole.ROOT)


@pki_bp.get("/ca/issuing.crt")
@public
def issuing_certificate() -> Response:
    return _ca_certificate(CaRole.ISSUING)


def _crl(role: str) -> Response:
    svc = services()
    try:
        info = crl.latest(svc.sessions, role)
        stale = info.next_update <= utcnow()
    except crl.CrlNotFound:
        info, stale = None, True
    if stale and role == CaRole.ROOT and svc.settings.section(HsmSettings).separate_root:
        # The root's own token is connected only for ceremonies: its CRL (long-lived) is
        # published there, never on a public request (which would only probe an absent token).
        if info is None:
            raise crl.CrlNotFound()
    elif stale:
        # The schedule should have published; do it now (the public sees at most one stale
        # answer per worker, and only if the HSM is down).
        try:
            info = crl.publish(svc.sessions, svc.keystore, svc.settings, role, only_if_stale=True)
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
    return _crl(CaRole.ISSUING)


@pki_bp.get("/crl/root.crl")
@public
def root_crl() -> Response:
    """The root CA's CRL (ARL, DER)."""
    return _crl(CaRole.ROOT)


def _ocsp_response(body: bytes) -> Response:
    svc = services()
    try:
        ans = ocsp.answer(svc.sessions, svc.keystore, svc.settings, body)
    except ocsp.OcspRefusal as refusal:
        return Response(refusal.der(), mimetype="application/ocsp-response", headers={"Cache-Control": "no-store"})
    except KysoError as exc:
        log.warning("OCSP answer failed: %s", exc.code)
        status = "try_later" if exc.kind is ErrorKind.UNAVAILABLE else "internal_error"
        return Response(ocsp.OcspRefusal(status).der(), mimetype="application/ocsp-response",
                        headers={"Cache-Control": "no-store"})
    resp = Response(ans.der, mimetype="application/ocsp-response")
    if ans.cacheable and request.method == "GET":  # RFC 5019 section 6
        max_age = max(int((ans.next_update - utcnow()).total_seconds()), 0)
        resp.headers["Cache-Control"] = f"max-age={max_age}, public, no-transform, must-revalidate"
        resp.last_modified = ans.this_update
        resp.expires = ans.next_update
        resp.set_etag(hashlib.sha1(ans.der).hexdigest())  # noqa: S324 - an ETag, not security
    else:
        resp.headers["Cache-Control"] = "no-store"
    return resp


@ocsp_bp.post("/ocsp")
@public
def ocsp_post() -> Response:
    """OCSP over POST (RFC 6960 A.1), application/ocsp-request."""
    if request.mimetype != "application/ocsp-request":
        return Response(ocsp.OcspRefusal("malformed_request").der(), mimetype="application/ocsp-response")
    limit = services().settings.section(OcspSettings).max_request_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"an OCSP request is at most {limit} bytes",
                              f"yêu cầu OCSP tối đa {limit} byte", extra={"limit_bytes": limit})
    return _ocsp_response(request.get_data(cache=False)[: limit + 1])


@ocsp_bp.get("/ocsp/<path:encoded>")
@public
def ocsp_get(encoded: str) -> Response:
    """OCSP over GET (RFC 6960 A.1, RFC 5019): the DER request, base64, URL-encoded."""
    text = unquote(encoded)
    if len(text) > 4 * services().settings.section(OcspSettings).max_request_bytes:
        return Response(ocsp.OcspRefusal("malformed_request").der(), mimetype="application/ocsp-response")
    try:
        body = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None,
                                validate=False)
    except (ValueError, binascii.Error):
        body = b""
    return _ocsp_response(body)


@ca_admin_bp.post("/self-test")
@allows(Action.CA_OPERATE)
def self_test() -> Response:
    """Sign a fresh challenge with the issuing CA key in the HSM and check it in software."""
    svc = services()
    challenge = secrets.token_bytes(32)
    # Sign inside the transaction that writes the audit record: no signature without it.
    with transaction(svc.sessions) as session:
        issuing = service.active_ca(session, CaRole.ISSUING)
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
