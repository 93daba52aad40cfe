"""Signing API for eOffice and the axis connectors: /api/v1/sign/...

Callers are API clients (role client) acting for the agencies they are bound to. Options
come in the query string (the document is the raw body) or, for multipart requests, as a
JSON part named ``options`` next to the ``file`` part. An official's consent (PIN or TOTP)
comes in the ``X-Kyso-Consent`` header. Each response carries the signature id and the
document digest in headers, and is sent only after the signature's record and audit entry
committed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
from typing import IO, Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.wsgi import wrap_file

from kyso.errors import BadRequest, PayloadTooLarge
from kyso.limits import bool_option, parse_json
from kyso.policy import Action
from kyso.web import allows, body_limit, current_caller, json_body, request_id, services
from signer import cades, consent, credentials, images, signing
from signer.credentials import Credential
from signer.messages import (
    CMS_LEVEL_INVALID,
    CREDENTIAL_REQUIRED,
    DOCUMENT_EMPTY,
    DOCUMENT_TOO_LARGE,
    HASH_ALGORITHM_INVALID,
    HASH_NOT_A_DIGEST,
    HASHES_REQUIRED,
    MULTIPART_NEEDS_FILE,
    OPTIONS_NOT_AN_OBJECT,
    OPTIONS_NOT_JSON,
    TOO_MANY_HASHES,
)
from signer.settings import SigningSettings

sign_bp = Blueprint("sign_api", __name__, url_prefix="/api/v1/sign")
consent_bp = Blueprint("sign_admin", __name__, url_prefix="/api/v1/admin")


def document_stream_and_options() -> tuple[IO[bytes], int, dict[str, Any]]:
    """The document as a seekable file (spooled to disk, never whole in memory) and the
    options: raw body + query, or multipart ``file`` + ``options``."""
    options: dict[str, Any] = {k: v for k, v in request.args.items()}
    limit = services().settings.section(SigningSettings).max_document_bytes
    stream: IO[bytes]
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest(MULTIPART_NEEDS_FILE)
        stream = upload.stream  # werkzeug spools large parts to a temporary file
        raw = request.form.get("options") or (request.files["options"].read().decode("utf-8", "replace")
                                              if "options" in request.files else "")
        if raw:
            try:
                parsed = parse_json(raw)
            except ValueError:
                raise BadRequest(OPTIONS_NOT_JSON) from None
            if not isinstance(parsed, dict):
                raise BadRequest(OPTIONS_NOT_AN_OBJECT)
            options.update(parsed)
        stream.seek(0, 2)
        size = stream.tell()
    else:
        stream = tempfile.TemporaryFile()
        size = 0
        while chunk := request.stream.read(1 << 20):
            size += len(chunk)
            if size > limit:
                break
            stream.write(chunk)
    if size > limit:
        raise PayloadTooLarge(DOCUMENT_TOO_LARGE.format(limit=limit),
                              extra={"limit_bytes": limit})
    if size == 0:
        raise BadRequest(DOCUMENT_EMPTY)
    stream.seek(0)
    return stream, size, options


def document_and_options() -> tuple[bytes, dict[str, Any]]:
    stream, _size, options = document_stream_and_options()
    with stream:
        return stream.read(), options


def sign_request(options: dict[str, Any], purpose: str, digest: str | None = None) -> signing.SignRequest:
    """The signing pipeline's request from a view's options: the credential named there,
    the official's consent from the X-Kyso-Consent header, the requested scheme."""
    ref = options.get("credential")
    if not isinstance(ref, str) or not ref.strip():
        raise BadRequest(CREDENTIAL_REQUIRED)
    scheme = options.get("scheme")
    return signing.SignRequest(current_caller(), ref, purpose, consent=request.headers.get(consent.HEADER),
                               scheme=str(scheme) if scheme else None, digest=digest, request_id=request_id())


def _headers(sig_id: str, alg: str, digest: bytes) -> dict[str, str]:
    return {"X-Kyso-Signature-Id": sig_id,
            "X-Kyso-Document-Digest": f"{alg}={base64.b64encode(digest).decode()}"}


# -- CMS / CAdES ---------------------------------------------------------------------------------------

@sign_bp.post("/cms")
@allows(Action.SIGN)
@body_limit(signing.document_limit)
def sign_cms() -> Response:
    """Any file: detached (default) or attached CAdES, B-B or B-T."""
    svc = services()
    data, options = document_and_options()
    level = str(options.get("level") or "B-B").upper()
    if level not in cades.CMS_LEVELS:
        raise BadRequest(CMS_LEVEL_INVALID)
    attached = bool_option(options, "attached")

    def make(grant: signing.Grant) -> signing.Made[bytes]:
        signed = cades.sign(svc.sessions, svc.keystore, svc.settings, grant, data, attached=attached, level=level)
        return signing.Made(signed, fmt="cms", level=level, digest_alg=grant.scheme.hash_name,
                            digest=hashlib.new(grant.scheme.hash_name, data).digest(),
                            details={"attached": attached, "bytes": len(data)})

    done = signing.sign(svc.sessions, svc.keystore, svc.settings, sign_request(options, "sign.cms"), make)
    signed, sig_id, digest = done.output, done.signature_id, done.digest
    mimetype = "application/pkcs7-mime" if attached else "application/pkcs7-signature"
    name = "signed.p7m" if attached else "signature.p7s"
    return Response(signed, mimetype=mimetype, headers={
        **_headers(sig_id, done.digest_alg, digest), "Content-Disposition": f'attachment; filename="{name}"'})


# -- PDF / PAdES -------------------------------------------------------------------------------------

@sign_bp.post("/pdf")
@allows(Action.SIGN)
@body_limit(signing.document_limit)
def sign_pdf() -> Response:
    """PAdES B-B, B-T, B-LT (default) or B-LTA, with a Decree 30 appearance."""
    from kyso.db import utcnow
    from signer import pades

    svc = services()
    source, size, options = document_stream_and_options()
    with source:
        opts = pades.parse_options(options, svc.settings)
        digest = credentials.stream_digest(source)

        def make(grant: signing.Grant) -> signing.Made[tuple[IO[bytes], str]]:
            signed, field = pades.sign(svc.sessions, svc.keystore, svc.settings, grant, source, opts, utcnow())
            return signing.Made((signed, field), fmt="pdf", level=opts.level, digest_alg="sha256", digest=digest,
                                details={"appearance": opts.profile, "field": field, "bytes": size,
                                         "certify": opts.certify}, discard=signed.close)

        done = signing.sign(svc.sessions, svc.keystore, svc.settings, sign_request(options, "sign.pdf"), make)
    (signed, field), sig_id = done.output, done.signature_id
    length = signed.seek(0, 2)
    signed.seek(0)
    resp = Response(wrap_file(request.environ, signed), mimetype="application/pdf", direct_passthrough=True,
                    headers={**_headers(sig_id, "sha256", digest), "X-Kyso-Signature-Field": field,
                             "Content-Disposition": 'attachment; filename="signed.pdf"'})
    resp.content_length = length
    return resp


# -- hash batches --------------------------------------------------------------------------------------

_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def decode_hashes(values: Any, hash_algorithm: str, limit: int) -> list[bytes]:
    if not isinstance(values, list) or not values:
        raise BadRequest(HASHES_REQUIRED)
    if len(values) > limit:
        raise BadRequest(TOO_MANY_HASHES.format(limit=limit),
                         extra={"limit": limit})
    size = _DIGEST_SIZES[hash_algorithm]
    out = []
    for i, value in enumerate(values):
        try:
            digest = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) != size:
            raise BadRequest(HASH_NOT_A_DIGEST.format(i=i, hash_algorithm=hash_algorithm, size=size),
                             extra={"index": i})
        out.append(digest)
    return out


@sign_bp.post("/hashes")
@allows(Action.SIGN)
def sign_hashes() -> Response:
    """Up to signing.max_hashes digests, signed in order; one consent for the batch."""
    svc = services()
    body = json_body()
    alg = str(body.get("hash_algorithm") or "sha256").lower()
    if alg not in _DIGEST_SIZES or alg not in svc.settings.section(SigningSettings).allowed_digests:
        raise BadRequest(HASH_ALGORITHM_INVALID)
    digests = decode_hashes(body.get("hashes"), alg, svc.settings.section(SigningSettings).max_hashes)
    batch_digest = signing.batch_digest(alg, digests)

    def make(grant: signing.Grant) -> signing.Made[list[bytes]]:
        return signing.Made(grant.key.sign_digests(digests), fmt="hashes", level="raw", digest_alg=alg,
                            digest=batch_digest, count=len(digests))

    done = signing.sign(svc.sessions, svc.keystore, svc.settings, sign_request(body, "sign.hashes", digest=alg),
                        make)
    signatures, sig_id, credential, scheme = done.output, done.signature_id, done.credential, done.scheme
    resp = jsonify({
        "signature_id": sig_id, "credential": credential.credential_id, "scheme": scheme.value,
        "signature_algorithm": scheme.signature_algorithm()["algorithm"].dotted,
        "signatures": [base64.b64encode(s).decode() for s in signatures],
        "certificate": base64.b64encode(credential.certificate_der).decode(),
        "chain": [base64.b64encode(c).decode() for c in credential.chain_der],
    })
    resp.headers.update(_headers(sig_id, alg, batch_digest))
    return resp


# -- credentials a client may use -------------------------------------------------------------------

def credential_json(c: Credential) -> dict[str, Any]:
    return {"credential": c.credential_id, "kind": "seal" if not c.personal else "personal",
            "profile": c.profile, "agency_code": c.agency_code, "agency_name": c.agency_name,
            "official_id": c.official_id, "official_name": c.official_name or None,
            "key_algorithm": c.key_algorithm, "not_after": c.not_after.isoformat(),
            "consent_required": c.personal, "scal": c.scal}


@sign_bp.get("/credentials")
@allows(Action.SIGN)
def list_credentials() -> Response:
    svc = services()
    return jsonify({"credentials": [credential_json(c) for c in
                                    credentials.credentials_for(svc.sessions, current_caller())]})


# -- admin: consent enrolment (started by staff, done by the official), unlock, images ------------

@consent_bp.post("/officials/<int:official_id>/consent/enrolments")
@allows(Action.CONSENT_ENROL)
def start_consent_enrolment(official_id: int) -> Response:
    """Start the official's own enrolment of a PIN or TOTP, after checking their identity:
    {"channel": "email"} sends a one-time activation code to the address in the registry;
    {"channel": "letter"} returns it this once, to print and seal (``?format=pdf``: the letter
    as a PDF). Staff never see a PIN or seed."""
    from signer import enrolment

    svc = services()
    body = json_body()
    started = enrolment.start(svc.sessions, svc.settings, current_caller(), official_id,
                              str(body.get("channel", "")), request_id=request_id())
    if started.activation_code and request.args.get("format") == "pdf":  # the letter, to print
        resp = Response(enrolment.letter_pdf(started), status=201, mimetype="application/pdf", headers={
            "X-Kyso-Enrolment-Reference": started.reference,
            "Content-Disposition": f'attachment; filename="thu-kich-hoat-{started.reference}.pdf"'})
    else:
        resp = jsonify(started.to_json())
        resp.status_code = 201
    resp.headers["Cache-Control"] = "no-store"
    return resp


@consent_bp.get("/officials/<int:official_id>/consent")
@allows(Action.CONSENT_READ)
def consent_status(official_id: int) -> Response:
    """The official's consent method, lock and pending enrolment (no PIN, no seed)."""
    from signer import enrolment

    return jsonify(enrolment.status(services().sessions, current_caller(), official_id).to_json())


@consent_bp.post("/officials/<int:official_id>/consent/unlock")
@allows(Action.CONSENT_UNLOCK)
def unlock_consent(official_id: int) -> Response:
    svc = services()
    consent.unlock(svc.sessions, current_caller(), official_id, request_id=request_id())
    return jsonify({"official_id": official_id, "locked": False})


def _image_body() -> bytes:
    return request.get_data(cache=False)


@consent_bp.put("/officials/<int:official_id>/signature-image")
@allows(Action.IMAGES_WRITE)
def put_signature_image(official_id: int) -> Response:
    svc = services()
    info = images.store(svc.sessions, svc.settings, current_caller(), "signature", str(official_id), _image_body(),
                        request_id=request_id())
    return jsonify(info.to_json())


@consent_bp.put("/agencies/<code>/seal-image")
@allows(Action.IMAGES_WRITE)
def put_seal_image(code: str) -> Response:
    svc = services()
    info = images.store(svc.sessions, svc.settings, current_caller(), "seal", code, _image_body(),
                        request_id=request_id())
    return jsonify(info.to_json())
