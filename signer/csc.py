"""Cloud Signature Consortium API v1.0.4 under /csc/v1/ (info, credentials/list,
credentials/info, credentials/authorize, signatures/signHash).

Authentication is the caller's Kyso API key as the bearer token (authType "external": keys
are issued out of band). A credential is a Kyso signing credential, named by its
certificate serial. ``credentials/authorize`` checks the official's consent (the PIN or
OTP field; a seal needs none) and returns a SAD: a random token, stored only as its
SHA-256, bound to the credential and the client, good for ``numSignatures`` signatures
(and only for the listed hashes when given) for a few minutes. Errors are problem+json
with the CSC ``error`` and ``error_description`` fields as well.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from typing import Any

from asn1crypto import algos, x509
from flask import Blueprint, Response, jsonify, request

from hsm import SignatureScheme
from kyso import audit
from kyso.db import transaction, utcnow
from kyso.errors import BadRequest
from kyso.policy import Action
from kyso.web import allows, current_caller, json_body, public, request_id, services
from signer import consent, credentials, signing
from signer.activation import InvalidSad, SignatureActivation, sad_digest
from signer.api import decode_hashes
from signer.credentials import Credential
from signer.messages import (
    CERTIFICATES_OPTION_INVALID,
    CREDENTIAL_ID_NOT_A_SERIAL,
    CREDENTIAL_ID_REQUIRED,
    HASH_ALGO_INVALID,
    HASH_COUNT_INVALID,
    NUM_SIGNATURES_INVALID,
    SIGN_ALGO_INVALID,
)
from signer.settings import SigningSettings

csc_bp = Blueprint("csc", __name__, url_prefix="/csc/v1")
SAD_SECONDS = 300
_HASH_OIDS = {algos.DigestAlgorithmId(name).dotted: name for name in ("sha256", "sha384", "sha512")}


def _credential(body: dict[str, Any], action: str) -> Credential:
    ref = body.get("credentialID")
    if not isinstance(ref, str) or not ref:
        raise BadRequest(CREDENTIAL_ID_REQUIRED,
                         extra={"error": "invalid_request", "error_description": "Missing credentialID"})
    if ref.startswith(("agency:", "official:")):  # CSC names credentials by their id only
        raise BadRequest(CREDENTIAL_ID_NOT_A_SERIAL,
                         extra={"error": "invalid_request", "error_description": "Invalid credentialID"})
    svc = services()
    return credentials.resolve(svc.sessions, current_caller(), ref, action=action, request_id=request_id())


def _algo_oids(c: Credential) -> list[str]:
    settings = services().settings
    family = ("ecdsa",) if c.key_algorithm == "ec" else ("rsa-pkcs1", "rsa-pss")
    oids = []
    allowed = settings.section(SigningSettings).allowed_schemes
    for name in allowed:
        if name.rsplit("-", 1)[0] in family:
            oid = SignatureScheme(name).signature_algorithm()["algorithm"].dotted
            if oid not in oids:
                oids.append(oid)
    if c.key_algorithm == "rsa" and any(s.startswith("rsa-pkcs1") for s in allowed):
        oids.append(algos.SignedDigestAlgorithmId("rsassa_pkcs1v15").dotted)  # rsaEncryption + hashAlgo
    return oids


@csc_bp.route("/info", methods=["GET", "POST"])
@public
def info() -> Response:
    return jsonify({
        "specs": "1.0.4.0", "name": "Kyso", "logo": "", "region": "VN", "lang": "vi-VN",
        "description": "Kyso: dịch vụ ký số của thành phố / the city's signing service",
        "authType": ["external"],
        "methods": ["credentials/list", "credentials/info", "credentials/authorize", "signatures/signHash"],
    })


@csc_bp.post("/credentials/list")
@allows(Action.SIGN)
def credentials_list() -> Response:
    svc = services()
    body = json_body() if request.content_length else {}
    limit = body.get("maxResults", 100)
    if not isinstance(limit, int) or limit < 1:
        limit = 100
    ids = [c.credential_id for c in credentials.credentials_for(svc.sessions, current_caller())]
    return jsonify({"credentialIDs": ids[:limit]})


@csc_bp.post("/credentials/info")
@allows(Action.SIGN)
def credentials_info() -> Response:
    svc = services()
    body = json_body()
    c = _credential(body, "csc.info")
    which = str(body.get("certificates", "single"))
    certs = {"none": [], "single": [c.certificate_der], "chain": [c.certificate_der, *c.chain_der]}.get(which)
    if certs is None:
        raise BadRequest(CERTIFICATES_OPTION_INVALID,
                         extra={"error": "invalid_request", "error_description": "Invalid certificates"})
    cert = x509.Certificate.load(c.certificate_der)
    out: dict[str, Any] = {
        "description": f"{c.agency_name}" + (f" - {c.official_name}" if c.official_name else ""),
        "key": {"status": "enabled", "algo": _algo_oids(c), "len": cert.public_key.bit_size},
        "cert": {"status": "valid", "certificates": [base64.b64encode(d).decode() for d in certs]},
        "authMode": "explicit" if c.personal else "implicit",
        "SCAL": c.scal,
        "multisign": svc.settings.section(SigningSettings).max_hashes,
        "lang": "vi-VN",
    }
    if c.key_algorithm == "ec":
        out["key"]["curve"] = cert.public_key["algorithm"]["parameters"].chosen.dotted
    if body.get("certInfo") is True:
        out["cert"].update(issuerDN=cert.issuer.human_friendly, subjectDN=cert.subject.human_friendly,
                           serialNumber=format(cert.serial_number, "x"),
                           validFrom=cert.not_valid_before.strftime("%Y%m%d%H%M%SZ"),
                           validTo=cert.not_valid_after.strftime("%Y%m%d%H%M%SZ"))
    if c.personal:
        with transaction(svc.sessions) as session:
            enrolled = session.get(consent.SigningConsent, c.official_id)
            method = enrolled.method if enrolled else None
        if method == "totp":
            out["OTP"] = {"presence": "true", "type": "offline", "format": "N", "ID": "totp",
                          "label": "Mã TOTP / TOTP code", "description": "RFC 6238"}
        else:
            out["PIN"] = {"presence": "true", "format": "A", "label": "PIN"}
    return jsonify(out)


@csc_bp.post("/credentials/authorize")
@allows(Action.SIGN)
def credentials_authorize() -> Response:
    svc = services()
    body = json_body()
    c = _credential(body, "csc.authorize")
    count = body.get("numSignatures")
    limit = svc.settings.section(SigningSettings).max_hashes
    if not isinstance(count, int) or not 1 <= count <= limit:
        raise BadRequest(NUM_SIGNATURES_INVALID.format(limit=limit),
                         extra={"error": "invalid_request", "error_description": "Invalid numSignatures"})
    pinned = body.get("hash")
    if pinned is not None:
        if not isinstance(pinned, list) or len(pinned) != count:
            raise BadRequest(HASH_COUNT_INVALID,
                             extra={"error": "invalid_request", "error_description": "Invalid hash"})
    presented = body.get("PIN") or body.get("OTP")
    consent.check_consent(svc.sessions, svc.keystore, svc.settings, current_caller(), c,
                              str(presented) if presented is not None else None, request_id=request_id(),
                              purpose="csc.authorize")
    sad = secrets.token_urlsafe(32)
    sad_sha256 = sad_digest(sad)
    expires = utcnow() + dt.timedelta(seconds=SAD_SECONDS)
    with transaction(svc.sessions) as session:
        session.add(SignatureActivation(
            sad_sha256=sad_sha256, certificate_id=c.certificate_id,
            user_id=current_caller().user_id, remaining=count, hashes=json.dumps(pinned) if pinned else None,
            expires_at=expires))
        # A SAD is a grant of up to numSignatures signatures: audited in its own transaction,
        # named by a prefix of its hash (never the SAD itself).
        audit.record(session, actor=current_caller().actor, action="csc.authorize",
                     target=f"credential:{c.serial_hex}",
                     details={"sad_ref": sad_sha256[:16], "num_signatures": count,
                              "hashes_pinned": bool(pinned), "personal": c.personal,
                              "expires_at": expires.isoformat()},
                     request_id=request_id())
    return jsonify({"SAD": sad, "expiresIn": SAD_SECONDS})


def _scheme(c: Credential, hash_oid: Any, sign_oid: Any, params: Any) -> SignatureScheme:
    hash_name = _HASH_OIDS.get(str(hash_oid or ""))
    if hash_name is None:
        raise BadRequest(HASH_ALGO_INVALID,
                         extra={"error": "invalid_request", "error_description": "Invalid hashAlgo"})
    try:
        name = algos.SignedDigestAlgorithmId(str(sign_oid or "")).native
    except ValueError:
        name = ""
    if name in ("rsassa_pkcs1v15", f"{hash_name}_rsa"):
        family = "rsa-pkcs1"
    elif name == f"{hash_name}_ecdsa":
        family = "ecdsa"
    elif name == "rsassa_pss":
        family = "rsa-pss"
        if params:
            try:
                pss = algos.RSASSAPSSParams.load(base64.b64decode(params))
                if pss["hash_algorithm"]["algorithm"].native != hash_name:
                    family = ""
            except ValueError:
                family = ""
    else:
        family = ""
    if not family:
        raise BadRequest(SIGN_ALGO_INVALID,
                         extra={"error": "invalid_request", "error_description": "Invalid signAlgo"})
    return credentials.choose_scheme(services().settings, c, f"{family}-{hash_name}", digest=hash_name)


@csc_bp.post("/signatures/signHash")
@allows(Action.SIGN)
def signatures_sign_hash() -> Response:
    """Sign the listed digests with the SAD's credential, through the signing pipeline: the
    SAD is consumed in the transaction that records the signatures."""
    svc = services()
    body = json_body()
    c = _credential(body, "csc.signHash")
    scheme = _scheme(c, body.get("hashAlgo"), body.get("signAlgo"), body.get("signAlgoParams"))
    values = body.get("hash")
    digests = decode_hashes(values, scheme.hash_name, svc.settings.section(SigningSettings).max_hashes)
    sad = body.get("SAD")
    if not isinstance(sad, str) or not sad:
        raise InvalidSad()
    req = signing.SignRequest(current_caller(), c.serial_hex, "csc.signHash",
                              activation=signing.Activation(sad, tuple(str(v) for v in values or [])),
                              request_id=request_id())

    def make(grant: signing.Grant) -> signing.Made[list[bytes]]:
        return signing.Made(grant.key.sign_digests(digests), fmt="csc", level="raw", digest_alg=scheme.hash_name,
                            digest=signing.batch_digest(scheme.hash_name, digests), count=len(digests))

    done = signing.sign(svc.sessions, svc.keystore, svc.settings, req, make, authorised=(c, scheme))
    return jsonify({"signatures": [base64.b64encode(s).decode() for s in done.output]})
