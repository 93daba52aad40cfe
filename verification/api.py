"""Verification API: ``POST /api/v1/verify`` (the report as JSON, HTML or a sealed PDF) and
the trust anchors a CA admin manages (``/api/v1/admin/trust-anchors``, verification/anchors.py)."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from kyso.errors import BadRequest, KysoError
from kyso.limits import bool_option
from kyso.policy import Action
from kyso.web import allows, body_limit, current_caller, json_body, request_id, services, spooled_body
from verification.messages import (
    ANCHOR_CERTIFICATE_NOT_PEM_OR_BASE64,
    ANCHOR_CERTIFICATE_REQUIRED,
    DOCUMENT_EMPTY,
    MULTIPART_NEEDS_FILE,
)

verify_bp = Blueprint("verify_api", __name__, url_prefix="/api/v1")
anchors_bp = Blueprint("trust_anchors", __name__, url_prefix="/api/v1/admin")

# The report as a PDF sealed by Kyso's service seal and time-stamped: (sessions, keystore,
# settings, report JSON, lang) -> PDF. Signing makes it (signer/report_pdf.py: its font, the
# HSM seal, the TSA); the composition root hands it to verification.views.register, so that
# verification never imports signing.
ReportPdf = Callable[[Any, Any, Any, dict[str, Any], str], bytes]
REPORT_PDF = "kyso.verification.report_pdf"


# The largest body POST /api/v1/verify takes, from the settings: the same as a document to
# sign (signing.max_document_bytes, a setting of signing's), handed over by the composition root.
DocumentLimit = Callable[[Any], int]
DOCUMENT_LIMIT = "kyso.verification.document_limit"


def _document_limit(settings: Any) -> int:
    limit: DocumentLimit = current_app.extensions[DOCUMENT_LIMIT]
    return limit(settings)


def uploaded_document(upload: Any, empty: KysoError) -> tuple[bytes | str, int]:
    """A multipart part as a verification helper takes it, and its size: a large part is
    already in a named temporary file (kyso.app.KysoRequest) and goes by its path, as a
    spooled raw body does; a small one as bytes. ``empty`` is raised for an empty part."""
    spooled = getattr(upload.stream, "name", None)
    if isinstance(spooled, str) and os.path.isfile(spooled):
        upload.stream.flush()
        size = os.path.getsize(spooled)
        if not size:
            raise empty
        return spooled, size
    data = upload.read()
    if not data:
        raise empty
    return data, len(data)


def _head(document: bytes | str) -> bytes:
    """The first bytes of an uploaded document (bytes, or the path of a spooled part)."""
    if isinstance(document, bytes):
        return document[:512]
    with open(document, "rb") as f:
        return f.read(512)


@verify_bp.post("/verify")
@allows(Action.VERIFY)
@body_limit(_document_limit)
def verify_document() -> Response:
    """A signed PDF, CMS or XML (raw body; or multipart ``file`` and, for a detached CMS, ``data``;
    for XML with detached references, each referenced file as a further part under its name).
    The type comes from the content. ``?offline=true`` fetches no revocation data;
    ``?format=json|html|pdf`` and ``?lang=vi|en`` choose the report."""
    from verification import xmldsig, xmlsafe
    from verification.service import verify

    svc = services()
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest(MULTIPART_NEEDS_FILE)
        document, _size = uploaded_document(upload, BadRequest(DOCUMENT_EMPTY))
        parts = [(name, part.filename or name, part.read()) for name, part in request.files.items(multi=True)
                 if name not in ("file", "options")]
        detached: bytes | dict[str, bytes] | None = next((body for name, _f, body in parts if name == "data"), None)
        if xmlsafe.looks_like_xml(_head(document)):  # detached references: the other parts, by file name
            detached = {xmldsig.external_key(filename): body for _n, filename, body in parts}
        report = verify(svc.sessions, svc.settings, document, detached,
                        offline=bool_option(dict(request.args), "offline"), bounded=True)
    else:
        # A raw body is spooled to a private file that the verification helper reads: no
        # copy of the document through the worker's memory and the pipe.
        with spooled_body(BadRequest(DOCUMENT_EMPTY)) as path:
            report = verify(svc.sessions, svc.settings, path, None,
                            offline=bool_option(dict(request.args), "offline"), bounded=True)
    fmt = request.args.get("format", "json")
    lang = "en" if request.args.get("lang") == "en" else "vi"
    if fmt == "pdf":
        sealed: ReportPdf = current_app.extensions[REPORT_PDF]
        return Response(sealed(svc.sessions, svc.keystore, svc.settings, report.to_json(), lang),
                        mimetype="application/pdf",
                        headers={"Content-Disposition": 'attachment; filename="bao-cao-kiem-tra.pdf"'})
    if fmt == "html":
        from verification.page import render_report

        return render_report(report.to_json(), lang)
    return jsonify(report.to_json())


# -- admin: trust anchors (verification/anchors.py) ------------------------------------------------

@anchors_bp.get("/trust-anchors")
@allows(Action.TRUST_READ)
def list_trust_anchors() -> Response:
    """The roots verification trusts beside this CA's own, with who added each and when."""
    from verification import anchors

    return jsonify({"trust_anchors": [a.to_json() for a in anchors.list_anchors(services().sessions,
                                                                               current_caller())]})


@anchors_bp.post("/trust-anchors")
@allows(Action.TRUST_WRITE)
def add_trust_anchor() -> Response:
    """Trust a CA certificate: JSON {"certificate": PEM or base64 DER, "sha256": the fingerprint
    the publisher announces, "note": optional}, or the certificate as the raw body with
    ``?sha256=``. Refused unless the fingerprints match and it is a CA certificate."""
    from verification import anchors

    if request.is_json:
        body = json_body()
        text = body.get("certificate")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest(ANCHOR_CERTIFICATE_REQUIRED)
        if "-----BEGIN" in text:
            data = text.encode("ascii", "replace")
        else:
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest(ANCHOR_CERTIFICATE_NOT_PEM_OR_BASE64) \
                    from None
        expected, note = str(body.get("sha256", "")), str(body.get("note", ""))
    else:
        data, expected, note = request.get_data(cache=False), request.args.get("sha256", ""), \
            request.args.get("note", "")
    info = anchors.add(services().sessions, current_caller(), data, expected, note, request_id=request_id())
    resp = jsonify(info.to_json())
    resp.status_code = 201
    return resp


@anchors_bp.delete("/trust-anchors/<sha256>")
@allows(Action.TRUST_WRITE)
def remove_trust_anchor(sha256: str) -> Response:
    """Stop trusting an anchor (named by its SHA-256 fingerprint)."""
    from verification import anchors

    return jsonify(anchors.remove(services().sessions, current_caller(), sha256, request_id=request_id()).to_json())
