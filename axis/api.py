"""The axis connector's API: edXML packages signed and verified, status messages sent,
received and listed (/api/v1/edxml/...). Callers are API clients acting for the agencies
they are bound to, as for /api/v1/sign; the signing credential and the official's consent
are read from the request as signer.api reads them (signer.signing, signer.consent)."""

from __future__ import annotations

import unicodedata
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.wsgi import wrap_file

from axis.messages import (
    LEVEL_NOT_BB_OR_BT,
    METADATA_NOT_AN_OBJECT,
    PACKAGE_EMPTY,
    SCHEME_NOT_A_STRING,
    STATUS_MESSAGE_EMPTY,
)
from kyso.errors import BadRequest
from kyso.limits import bool_option, parse_json
from kyso.policy import Action
from kyso.web import allows, body_limit, current_caller, json_body, request_id, services, spooled_body
from signer import consent, signing

edxml_bp = Blueprint("edxml_api", __name__, url_prefix="/api/v1/edxml")


@edxml_bp.post("/verify")
@allows(Action.VERIFY)
@body_limit(signing.document_limit)
def verify_edxml() -> Response:
    """An edXML package (raw body): the signature, the package rules and each attached PDF.
    ``?offline=true`` fetches no revocation data."""
    from axis.verify import verify_package

    svc = services()
    # Spooled to a private file that the verification helper reads: the worker never holds
    # the package (a 10 MB attachment) as bytes, nor copies it into the helper.
    with spooled_body(BadRequest(PACKAGE_EMPTY)) as path:
        report = verify_package(svc.sessions, svc.settings, path, offline=bool_option(dict(request.args), "offline"))
    return jsonify(report)


@edxml_bp.post("/sign")
@allows(Action.SIGN)
@body_limit(signing.document_limit)
def sign_edxml() -> Response:
    """A complete edXML package (raw XML body), or multipart with a JSON ``metadata`` part and
    ``file`` parts. Options (query or form): ``xades``, ``level`` (B-B, B-T), ``sign_pdfs``,
    ``pdf_appearance``, ``pdf_credential`` (e.g. ``official:<id>`` for the leader's appearance,
    with the official's consent in the consent header), ``scheme``. The From agency's seal
    signs the package."""
    from axis import parsing
    from axis.sign import SignOptions, metadata_package, sign_package

    svc = services()
    options: dict[str, Any] = dict(request.args)
    if request.mimetype == "multipart/form-data":
        options.update(request.form)
        try:
            meta = parse_json(request.form.get("metadata") or "")
        except ValueError:
            raise BadRequest(METADATA_NOT_AN_OBJECT) from None
        if not isinstance(meta, dict):
            raise BadRequest(METADATA_NOT_AN_OBJECT)
        files = [(f.filename or "tep-dinh-kem", f.mimetype or "", f.read()) for f in request.files.getlist("file")]
        pkg = metadata_package(meta, files)
    else:
        if request.content_length == 0:
            raise BadRequest(PACKAGE_EMPTY)
        # Read in chunks into the parser, the tree let go once read: a 10 MB package is
        # not held as bytes, tree and model at once.
        pkg = parsing.parse(request.stream, keep_tree=False)
    level = str(options.get("level") or "B-B").upper()
    if level not in ("B-B", "B-T"):
        raise BadRequest(LEVEL_NOT_BB_OR_BT)
    pdf_ref = options.get("pdf_credential")
    pdf_credential = signing.authorise_co_signer(svc.sessions, svc.keystore, svc.settings, signing.SignRequest(
        current_caller(), str(pdf_ref), "sign.pdf", consent=request.headers.get(consent.HEADER),
        request_id=request_id())) if pdf_ref else None
    opts = SignOptions(xades=bool_option(options, "xades"), level=level,
                       sign_pdfs=bool_option(options, "sign_pdfs") or bool(pdf_ref),
                       pdf_appearance=str(options.get("pdf_appearance") or ("leader" if pdf_ref else "seal")),
                       scheme=options.get("scheme"), pdf_credential=pdf_credential)
    out, sig_id = sign_package(svc.sessions, svc.keystore, svc.settings, current_caller(), pkg, opts,
                               request_id=request_id())
    length = out.seek(0, 2)
    out.seek(0)
    resp = Response(wrap_file(request.environ, out), mimetype="application/xml", direct_passthrough=True,
                    headers={"X-Kyso-Signature-Id": sig_id,
                             "Content-Disposition": 'attachment; filename="goi-tin.edxml"'})
    resp.content_length = length
    return resp


@edxml_bp.post("/status")
@allows(Action.SIGN)
@body_limit(signing.document_limit)
def edxml_status() -> Response:
    """JSON: build a status message for a received document (``sign``: sealed by the From
    agency) and record it; the message is returned. XML body: an incoming status message,
    parsed, its signature checked, and recorded; a JSON summary is returned."""
    from axis import status
    from axis.sign import SignOptions

    svc = services()
    if request.mimetype in ("application/xml", "text/xml"):
        data = request.get_data(cache=False)
        if not data:
            raise BadRequest(STATUS_MESSAGE_EMPTY)
        return jsonify(status.receive(svc.sessions, svc.settings, current_caller(), data,
                                      offline=bool_option(dict(request.args), "offline"), request_id=request_id()))
    body = json_body()
    msg = status.message_from_json(body)
    level = str(body.get("level") or "B-B").upper()
    if level not in ("B-B", "B-T"):
        raise BadRequest(LEVEL_NOT_BB_OR_BT)
    scheme = body.get("scheme")
    if scheme is not None and not isinstance(scheme, str):
        raise BadRequest(SCHEME_NOT_A_STRING)
    opts = SignOptions(xades=bool(body.get("xades")), level=level, scheme=scheme)
    out, sig_id = status.send(svc.sessions, svc.keystore, svc.settings, current_caller(), msg,
                              sign=bool(body.get("sign")), opts=opts, request_id=request_id())
    headers = {"Content-Disposition": 'attachment; filename="trang-thai.edxml"'}
    if sig_id:
        headers["X-Kyso-Signature-Id"] = sig_id
    return Response(out, mimetype="application/xml", headers=headers)


@edxml_bp.get("/documents/<path:document_id>/status")
@allows(Action.AXIS_STATUS_READ)
def edxml_document_status(document_id: str) -> Response:
    """A document's status history, per recipient, with the codes allowed next (the
    DocumentId URL-encoded: ``000.00.12.H31%2C2026%2F11%2F25%2C123%2FSNV-VP``)."""
    from axis import status

    svc = services()
    return jsonify(status.history(svc.sessions, current_caller(), unicodedata.normalize("NFC", document_id)))
