"""Signer endpoints: the public TSA (POST /tsa); signing, consent and CSC APIs for callers.
Verification's page and API are verification/views.py's."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, request

from kyso.errors import PayloadTooLarge
from kyso.web import public, services
from signer import tsa
from signer.messages import TIME_STAMP_REQUEST_TOO_LARGE
from signer.settings import TsaSettings

log = logging.getLogger("kyso.tsa")
tsa_bp = Blueprint("tsa", __name__)


def register(app: Flask, *, public_only: bool) -> None:
    app.register_blueprint(tsa_bp)
    if not public_only:
        from signer.api import consent_bp, sign_bp
        from signer.csc import csc_bp
        from signer.enrol_page import enrol_bp

        app.register_blueprint(sign_bp)
        app.register_blueprint(enrol_bp)
        app.register_blueprint(consent_bp)
        app.register_blueprint(csc_bp)


@tsa_bp.post("/tsa")
@public
def timestamp() -> Response:
    """RFC 3161 time-stamping (application/timestamp-query)."""
    svc = services()
    limit = svc.settings.section(TsaSettings).max_request_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(TIME_STAMP_REQUEST_TOO_LARGE.format(limit=limit), extra={"limit_bytes": limit})
    try:
        if request.mimetype != "application/timestamp-query":
            raise tsa.TsaRefusal("bad_request", "Content-Type must be application/timestamp-query")
        body = tsa.stamp(svc.sessions, svc.keystore, svc.settings, request.get_data(cache=False)[: limit + 1])
        status = 200
    except tsa.TsaRefusal as refusal:
        log.warning("time-stamp refused: %s", refusal.fail_info)
        body, status = refusal.der(), refusal.http_status
    return Response(body, status=status, mimetype="application/timestamp-reply", headers={"Cache-Control": "no-store"})
