"""Hash batches (signatures checked with cryptography against the certificate's key) and
the official's consent: PIN, TOTP, lock after repeated failures, unlock."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import struct
from typing import Any
from urllib.parse import parse_qs, urlparse

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signer.settings import SigningSettings
from tests.signing.conftest import AGENCY, PIN, H, enrol


def _verify(cert_der: bytes, signature: bytes, digest: bytes, scheme: str) -> None:
    key = cx509.load_der_x509_certificate(cert_der).public_key()
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    alg = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[scheme.rsplit("-", 1)[1]]
    if isinstance(key, rsa.RSAPublicKey):
        pad = (padding.PSS(mgf=padding.MGF1(alg), salt_length=alg.digest_size) if "pss" in scheme
               else padding.PKCS1v15())
        key.verify(signature, digest, pad, Prehashed(alg))
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signature, digest, ec.ECDSA(Prehashed(alg)))


def test_batch_of_hashes_signed_in_order(client: Any, signing: dict[str, Any]) -> None:
    digests = [hashlib.sha256(f"văn bản {i}".encode()).digest() for i in range(50)]
    for scheme in (None, "rsa-pss-sha256"):
        body: dict[str, Any] = {"credential": f"agency:{AGENCY}", "hash_algorithm": "sha256",
                                "hashes": [base64.b64encode(d).decode() for d in digests]}
        if scheme:
            body["scheme"] = scheme
        r = client.post("/api/v1/sign/hashes", headers=H(signing["keys"]["eoffice"]), json=body)
        assert r.status_code == 200, r.get_json()
        out = r.get_json()
        assert len(out["signatures"]) == 50 and len(out["chain"]) == 2
        cert = base64.b64decode(out["certificate"])
        for d, s in zip(digests, out["signatures"], strict=True):
            _verify(cert, base64.b64decode(s), d, out["scheme"])
        assert out["scheme"] == (scheme or "rsa-pkcs1-sha256")


def test_batch_limits_and_bad_digests(client: Any, services: Any, signing: dict[str, Any]) -> None:
    eoffice = H(signing["keys"]["eoffice"])
    base = {"credential": f"agency:{AGENCY}", "hash_algorithm": "sha256"}
    limit = services.settings.section(SigningSettings).max_hashes
    one = base64.b64encode(b"\x01" * 32).decode()
    r = client.post("/api/v1/sign/hashes", headers=eoffice, json={**base, "hashes": [one] * (limit + 1)})
    assert r.status_code == 400 and r.get_json()["limit"] == limit
    r = client.post("/api/v1/sign/hashes", headers=eoffice, json={**base, "hashes": [one, "not base64!"]})
    assert r.status_code == 400 and r.get_json()["index"] == 1
    r = client.post("/api/v1/sign/hashes", headers=eoffice,
                    json={**base, "hash_algorithm": "md5", "hashes": [one]})
    assert r.status_code == 400
    r = client.post("/api/v1/sign/hashes", headers=eoffice, json={**base, "hashes": []})
    assert r.status_code == 400


def test_one_pin_for_a_batch_and_lock_after_five_failures(client: Any, services: Any,
                                                           signing: dict[str, Any]) -> None:
    eoffice = signing["keys"]["eoffice"]
    body = {"credential": f"official:{signing['official_id']}", "hash_algorithm": "sha256",
            "hashes": [base64.b64encode(hashlib.sha256(bytes([i])).digest()).decode() for i in range(10)]}
    r = client.post("/api/v1/sign/hashes", headers=H(eoffice, **{"X-Kyso-Consent": PIN}), json=body)
    assert r.status_code == 200 and r.get_json()["scheme"] == "ecdsa-sha256"
    for attempt in range(1, 5):
        r = client.post("/api/v1/sign/hashes", headers=H(eoffice, **{"X-Kyso-Consent": "000000"}), json=body)
        assert r.status_code == 401 and r.get_json()["code"] == "consent-failed"
        assert r.get_json()["attempts_left"] == 5 - attempt
    r = client.post("/api/v1/sign/hashes", headers=H(eoffice, **{"X-Kyso-Consent": "000000"}), json=body)
    assert r.status_code == 401 and r.get_json()["code"] == "consent-locked"
    # Locked: even the right PIN is refused until a CA admin unlocks.
    r = client.post("/api/v1/sign/hashes", headers=H(eoffice, **{"X-Kyso-Consent": PIN}), json=body)
    assert r.status_code == 401 and r.get_json()["code"] == "consent-locked"
    oid = signing["official_id"]
    assert client.post(f"/api/v1/admin/officials/{oid}/consent/unlock",
                       headers=H(signing["keys"]["ra"])).status_code == 403
    assert client.post(f"/api/v1/admin/officials/{oid}/consent/unlock",
                       headers=H(signing["keys"]["admin"])).status_code == 200
    r = client.post("/api/v1/sign/hashes", headers=H(eoffice, **{"X-Kyso-Consent": PIN}), json=body)
    assert r.status_code == 200


def _totp(secret32: str, at: dt.datetime, digits: int = 6, period: int = 30) -> str:
    key = base64.b32decode(secret32 + "=" * (-len(secret32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at.timestamp()) // period), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return str((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**digits).zfill(digits)


def test_totp_consent_from_the_hsm_and_no_replay(client: Any, services: Any, signing: dict[str, Any]) -> None:
    oid = signing["official_id"]
    out = enrol(client, signing["keys"], oid, "totp")
    assert out["method"] == "totp" and out["otpauth_uri"].startswith("otpauth://totp/")
    assert parse_qs(urlparse(out["otpauth_uri"]).query)["secret"] == [out["secret_base32"]]
    code = _totp(out["secret_base32"], dt.datetime.now(dt.UTC))
    body = {"credential": f"official:{oid}", "hash_algorithm": "sha256",
            "hashes": [base64.b64encode(b"\x07" * 32).decode()]}
    eoffice = signing["keys"]["eoffice"]
    r = client.post("/api/v1/sign/hashes", headers=H(eoffice, **{"X-Kyso-Consent": code}), json=body)
    assert r.status_code == 200, r.get_json()
    r = client.post("/api/v1/sign/hashes", headers=H(eoffice, **{"X-Kyso-Consent": code}), json=body)
    assert r.status_code == 401, "a TOTP code is good once"
    r = client.post("/api/v1/sign/hashes", headers=H(eoffice, **{"X-Kyso-Consent": PIN}), json=body)
    assert r.status_code == 401, "the old PIN no longer works"
    # The seed is in the HSM, not in the database.
    from sqlalchemy import select

    from kyso.db import transaction
    from signer.consent import SigningConsent

    with transaction(services.sessions) as session:
        row = session.execute(select(SigningConsent)).scalar_one()
        assert row.pin_hash is None and out["secret_base32"] not in str(vars(row))


def test_credentials_listed_for_the_client_only(client: Any, signing: dict[str, Any]) -> None:
    mine = client.get("/api/v1/sign/credentials", headers=H(signing["keys"]["eoffice"])).get_json()["credentials"]
    assert {c["kind"] for c in mine} == {"seal", "personal"}
    assert client.get("/api/v1/sign/credentials", headers=H(signing["keys"]["other"])).get_json()["credentials"] == []
