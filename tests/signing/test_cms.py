"""CMS/CAdES signing judged by `openssl cms -verify`, and the checks before signing."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from sqlalchemy import select

from kyso.db import transaction
from signer.settings import SigningSettings
from tests.signing.conftest import AGENCY, PIN, H

LETTER = "Công văn số 123/SNV-VP về việc triển khai ký số.\n".encode() * 50


def _openssl_verify(d: Path, signature: Path, content: Path | None, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature), "-CAfile",
            str(d / "chain.pem"), "-purpose", "any", "-out", str(d / "out.bin")]
    if content is not None:
        args += ["-content", str(content)]
    return subprocess.run([*args, *extra], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("attached", [False, True])
def test_seal_cms_verifies_with_openssl(client: Any, signing: dict[str, Any], attached: bool) -> None:
    d = signing["dir"]
    r = client.post(f"/api/v1/sign/cms?credential=agency:{AGENCY}&attached={str(attached).lower()}",
                    data=LETTER, headers=H(signing["keys"]["eoffice"], **{"Content-Type": "application/octet-stream"}))
    assert r.status_code == 200, r.get_json()
    assert r.headers["X-Kyso-Signature-Id"] and r.headers["X-Kyso-Document-Digest"].startswith("sha256=")
    (d / "doc.txt").write_bytes(LETTER)
    (d / "sig.p7").write_bytes(r.data)
    v = _openssl_verify(d, d / "sig.p7", None if attached else d / "doc.txt")
    assert v.returncode == 0 and "Verification successful" in v.stderr, v.stderr
    assert (d / "out.bin").read_bytes() == LETTER
    signer = cms.ContentInfo.load(r.data)["content"]["signer_infos"][0]
    kinds = {a["type"].native for a in signer["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_time", "signing_certificate_v2"} <= kinds
    # A changed document no longer verifies.
    (d / "doc.txt").write_bytes(LETTER + b"x")
    if not attached:
        assert _openssl_verify(d, d / "sig.p7", d / "doc.txt").returncode != 0


def test_personal_b_t_with_pss_and_consent(client: Any, services: Any, signing: dict[str, Any]) -> None:
    d = signing["dir"]
    eoffice = signing["keys"]["eoffice"]
    url = f"/api/v1/sign/cms?credential=official:{signing['official_id']}&level=B-T"
    r = client.post(url, data=LETTER, headers=H(eoffice))
    assert r.status_code == 401 and r.get_json()["code"] == "consent-required"
    r = client.post(url, data=LETTER, headers=H(eoffice, **{"X-Kyso-Consent": PIN}))
    assert r.status_code == 200, r.get_json()
    (d / "doc.txt").write_bytes(LETTER)
    (d / "sig.p7").write_bytes(r.data)
    v = _openssl_verify(d, d / "sig.p7", d / "doc.txt")
    assert v.returncode == 0, v.stderr
    signer = cms.ContentInfo.load(r.data)["content"]["signer_infos"][0]
    (stamp,) = [a for a in signer["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token"]
    token = stamp["values"][0]
    info = token["content"]["encap_content_info"]["content"].parsed
    import hashlib

    assert info["message_imprint"]["hashed_message"].native == hashlib.sha256(signer["signature"].native).digest()
    (d / "token.der").write_bytes(token.dump())
    (d / "sigvalue.bin").write_bytes(signer["signature"].native)
    ts = subprocess.run(["openssl", "ts", "-verify", "-token_in", "-in", str(d / "token.der"), "-data",
                         str(d / "sigvalue.bin"), "-CAfile", str(d / "chain.pem")],
                        capture_output=True, text=True, timeout=60)
    assert "Verification: OK" in ts.stdout, ts.stdout + ts.stderr
    # A seal key is RSA here: PSS on request, verified by openssl too.
    r = client.post(f"/api/v1/sign/cms?credential={signing['seal']}&scheme=rsa-pss-sha256", data=LETTER,
                    headers=H(eoffice))
    assert r.status_code == 200, r.get_json()
    assert cms.ContentInfo.load(r.data)["content"]["signer_infos"][0]["signature_algorithm"]["algorithm"].native \
        == "rsassa_pss"
    (d / "pss.p7").write_bytes(r.data)
    assert _openssl_verify(d, d / "pss.p7", d / "doc.txt").returncode == 0


def test_every_signature_is_recorded_and_audited(client: Any, services: Any, signing: dict[str, Any]) -> None:
    from kyso.audit import AuditRecord
    from signer.credentials import SignatureRecord

    r = client.post(f"/api/v1/sign/cms?credential=agency:{AGENCY}", data=LETTER, headers=H(signing["keys"]["eoffice"]))
    sig_id = r.headers["X-Kyso-Signature-Id"]
    with transaction(services.sessions) as session:
        rec = session.get(SignatureRecord, sig_id)
        assert rec is not None and rec.format == "cms" and rec.client == "eoffice" and rec.level == "B-B"
        entry = session.execute(select(AuditRecord).where(AuditRecord.target == f"signature:{sig_id}")).scalar_one()
        assert entry.action == "sign.cms"
    assert LETTER.decode()[:20] not in str(entry.details)  # the content is never logged


def test_refusals(client: Any, services: Any, signing: dict[str, Any]) -> None:
    keys = signing["keys"]
    url = f"/api/v1/sign/cms?credential=agency:{AGENCY}"
    r = client.post(url, data=LETTER, headers=H(keys["other"]))  # bound to another agency
    assert r.status_code == 403
    r = client.post(url, data=LETTER, headers=H(keys["ra"]))  # staff do not sign documents
    assert r.status_code == 403
    r = client.post("/api/v1/sign/cms?credential=agency:000.00.99.H31", data=LETTER, headers=H(keys["eoffice"]))
    assert r.status_code == 404 and r.get_json()["code"] == "credential-not-found"
    r = client.post(url + "&scheme=ecdsa-sha256", data=LETTER, headers=H(keys["eoffice"]))
    assert r.status_code == 422 and r.get_json()["code"] == "algorithm-not-allowed"
    r = client.post(url + "&level=B-LTA", data=LETTER, headers=H(keys["eoffice"]))
    assert r.status_code == 400
    r = client.post(url, data=b"", headers=H(keys["eoffice"]))
    assert r.status_code == 400
    # Held, then revoked: 409, and nothing recorded.
    from signer.credentials import SignatureRecord

    client.post(f"/api/v1/admin/certificates/{signing['seal']}/hold", headers=H(keys["ra"]), json={})
    r = client.post(url, data=LETTER, headers=H(keys["eoffice"]))
    assert r.status_code == 409 and r.get_json()["status"] == "on-hold", r.get_json()
    client.post(f"/api/v1/admin/certificates/{signing['seal']}/release", headers=H(keys["ra"]), json={})
    client.post(f"/api/v1/admin/certificates/{signing['seal']}/revoke", headers=H(keys["ra"]), json={})
    r = client.post(url, data=LETTER, headers=H(keys["eoffice"]))
    assert r.status_code == 409 and r.get_json()["code"] == "certificate-not-valid"
    with transaction(services.sessions) as session:
        assert session.execute(select(SignatureRecord)).first() is None
        from kyso.audit import AuditRecord

        denied = session.execute(select(AuditRecord).where(AuditRecord.action == "sign.cms.denied")).scalars().all()
        assert len(denied) >= 4


def test_oversize_document_is_413(client: Any, services: Any, signing: dict[str, Any]) -> None:
    limit = services.settings.section(SigningSettings).max_document_bytes
    r = client.post(f"/api/v1/sign/cms?credential=agency:{AGENCY}", data=b"x" * (limit + 2 * 1024 * 1024),
                    headers=H(signing["keys"]["eoffice"]))
    assert r.status_code == 413 and r.get_json()["code"] == "payload-too-large"
