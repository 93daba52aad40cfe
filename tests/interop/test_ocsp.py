"""The OCSP responder judged by `openssl ocsp` against a live server, and by pkilint."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import ocsp as asn1_ocsp

from ca_admin.settings import OcspSettings
from tests.interop.conftest import H, issue_seal

LINT_OCSP = str(Path(sys.executable).parent / "lint_ocsp_response")


def _openssl_ocsp(pki: dict[str, Any], url: str, *target: str, nonce: bool = True, sha256: bool = False,
                  resp_out: Path | None = None) -> subprocess.CompletedProcess[str]:
    d = pki["dir"]
    digest = ["-sha256"] if sha256 else []
    args = ["openssl", "ocsp", "-issuer", str(d / "issuing.pem"), *digest, *target, "-url", f"{url}/ocsp",
            "-CAfile", str(d / "chain.pem"), "-no_nonce" if not nonce else "-nonce"]
    if resp_out is not None:
        args += ["-respout", str(resp_out)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_good_revoked_unknown_with_and_without_nonce(client: Any, pki: dict[str, Any], server: str) -> None:
    d = pki["dir"]
    issue_seal(client, pki, "good")
    bad = issue_seal(client, pki, "bad")
    for nonce in (True, False):
        for sha256 in (False, True):
            r = _openssl_ocsp(pki, server, "-cert", str(d / "good.pem"), nonce=nonce, sha256=sha256)
            assert r.returncode == 0 and "Response verify OK" in r.stderr + r.stdout, r.stdout + r.stderr
            assert f"{d / 'good.pem'}: good" in r.stdout
    r = client.post(f"/api/v1/admin/certificates/{bad}/revoke", headers=H(pki["keys"]["ra"]),
                    json={"reason": "key_compromise"})
    assert r.status_code == 200
    for nonce in (True, False):
        r = _openssl_ocsp(pki, server, "-cert", str(d / "bad.pem"), nonce=nonce)
        assert f"{d / 'bad.pem'}: revoked" in r.stdout and "Reason: keyCompromise" in r.stdout, r.stdout + r.stderr
        assert "Response verify OK" in r.stderr + r.stdout
    r = _openssl_ocsp(pki, server, "-serial", "0x1234567890abcdef")
    assert "unknown" in r.stdout and "Response verify OK" in r.stderr + r.stdout, r.stdout + r.stderr


def test_revocation_is_never_answered_good_from_the_cache(client: Any, services: Any, pki: dict[str, Any],
                                                          server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ca_admin import ocsp

    d = pki["dir"]
    serial = issue_seal(client, pki, "c")
    assert ": good" in _openssl_ocsp(pki, server, "-cert", str(d / "c.pem"), nonce=False).stdout
    # Even if producing the new response after the revocation fails (HSM hiccup), the cached
    # "good" is gone the moment the revocation call returns.
    monkeypatch.setattr(ocsp, "refresh_after_change", lambda *a, **k: None)
    client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=H(pki["keys"]["ra"]), json={})
    assert ": revoked" in _openssl_ocsp(pki, server, "-cert", str(d / "c.pem"), nonce=False).stdout


def test_get_is_cacheable_and_served_without_the_hsm(client: Any, services: Any, pki: dict[str, Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    d = pki["dir"]
    issue_seal(client, pki, "g")
    req = d / "req.der"
    subprocess.run(["openssl", "ocsp", "-issuer", str(d / "issuing.pem"), "-cert", str(d / "g.pem"), "-no_nonce",
                    "-reqout", str(req)], check=True, capture_output=True)
    encoded = base64.b64encode(req.read_bytes()).decode()
    first = client.get(f"/ocsp/{encoded}")
    assert first.status_code == 200 and first.content_type == "application/ocsp-response"
    assert "max-age=" in first.headers["Cache-Control"] and first.headers["ETag"]

    def no_hsm(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("the HSM was called for a cached answer")

    monkeypatch.setattr(services.keystore, "sign", no_hsm)
    again = client.get(f"/ocsp/{encoded}")
    assert again.data == first.data
    posted = client.post("/ocsp", data=req.read_bytes(), content_type="application/ocsp-request")
    assert posted.data == first.data


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x30\x03\x02\x01"])
def test_malformed_requests(client: Any, pki: dict[str, Any], body: bytes) -> None:
    r = client.post("/ocsp", data=body, content_type="application/ocsp-request")
    assert r.status_code == 200
    assert asn1_ocsp.OCSPResponse.load(r.data)["response_status"].native == "malformed_request"


def test_wrong_content_type_and_oversize(client: Any, pki: dict[str, Any]) -> None:
    r = client.post("/ocsp", data=b"x", content_type="text/plain")
    assert asn1_ocsp.OCSPResponse.load(r.data)["response_status"].native == "malformed_request"
    r = client.post("/ocsp", data=b"x" * 5000, content_type="application/ocsp-request")
    assert r.status_code == 413 and r.content_type == "application/problem+json"


def test_other_issuer_is_unauthorized(client: Any, pki: dict[str, Any], tmp_path: Path) -> None:
    d = pki["dir"]
    # Ask about a certificate "issued by" the root: the hashes name another issuer.
    subprocess.run(["openssl", "ocsp", "-issuer", str(d / "root.pem"), "-serial", "0x10", "-no_nonce",
                    "-reqout", str(tmp_path / "other.der")], check=True, capture_output=True)
    r = client.post("/ocsp", data=(tmp_path / "other.der").read_bytes(), content_type="application/ocsp-request")
    assert asn1_ocsp.OCSPResponse.load(r.data)["response_status"].native == "unauthorized"


def test_pkilint_finds_nothing(client: Any, pki: dict[str, Any], server: str) -> None:
    d = pki["dir"]
    issue_seal(client, pki, "p")
    out = d / "resp.der"
    r = _openssl_ocsp(pki, server, "-cert", str(d / "p.pem"), nonce=True, resp_out=out)
    assert r.returncode == 0
    res = subprocess.run([LINT_OCSP, "lint", "-s", "WARNING", str(out)], capture_output=True, text=True)
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr


def test_revoked_responder_rotates(client: Any, services: Any, pki: dict[str, Any], server: str) -> None:
    d = pki["dir"]
    issue_seal(client, pki, "r")
    assert ": good" in _openssl_ocsp(pki, server, "-cert", str(d / "r.pem")).stdout
    listed = client.get("/api/v1/admin/certificates?q=OCSP", headers=H(pki["keys"]["ra"])).get_json()
    responder = [c for c in listed["certificates"] if c["profile"] == "ocsp-responder"]
    assert len(responder) == 1
    # A CA service certificate: one CA admin asks, a second approves (issue 13, item 15).
    from tests.conftest import make_user

    r = client.post(f"/api/v1/admin/certificates/{responder[0]['serial']}/revoke", headers=H(pki["keys"]["admin"]),
                    json={"reason": "key_compromise"})
    assert r.status_code == 202, r.get_json()
    second = make_user(services, "admin-two", "ca-admin")
    r = client.post(f"/api/v1/admin/revocations/{r.get_json()['revocation_request']['id']}/approve",
                    headers=H(second))
    assert r.status_code == 200, r.get_json()
    res = _openssl_ocsp(pki, server, "-cert", str(d / "r.pem"), nonce=False)
    assert ": good" in res.stdout and "Response verify OK" in res.stderr + res.stdout
    listed = client.get("/api/v1/admin/certificates?q=OCSP&status=good", headers=H(pki["keys"]["ra"])).get_json()
    new = [c for c in listed["certificates"] if c["profile"] == "ocsp-responder"]
    assert len(new) == 1 and new[0]["serial"] != responder[0]["serial"]


def test_a_good_answer_made_before_a_revocation_is_never_cached_after_it(client: Any, services: Any,
                                                                         pki: dict[str, Any]) -> None:
    """Race: a response produced from the old status must not be stored once the
    revocation committed (it would answer 'good' from the cache)."""
    from sqlalchemy import select

    from ca_admin import ocsp
    from ca_admin.models import IssuedCertificate, OcspResponse
    from kyso.db import transaction

    serial = issue_seal(client, pki, "race")
    ocsp.refresh(services.sessions, services.keystore, services.settings)
    responder = ocsp.current_responder(services.sessions, services.keystore, services.settings)
    with transaction(services.sessions) as session:
        cert = session.execute(select(IssuedCertificate).where(IssuedCertificate.serial_hex == serial)).scalar_one()
        cert_pk = cert.id
        old = session.execute(select(OcspResponse).where(OcspResponse.certificate_id == cert_pk)).scalars().first()
        assert old is not None
        good = ocsp.Answer(old.der, old.this_update, old.next_update, True, responder.certificate_id)
    from ca_admin import issuance
    from kyso.callers import Caller, Role

    issuance.revoke(services.sessions, Caller(1, "ra", Role.RA_OFFICER), serial, "key_compromise")
    ocsp._store(services.sessions, cert_pk, "sha1", good, ("good", None, None))
    ocsp._store_many(services.sessions, [(cert_pk, "sha256", good, ("good", None, None))])
    with transaction(services.sessions) as session:
        assert session.execute(select(OcspResponse).where(OcspResponse.certificate_id == cert_pk)).first() is None


def test_responses_of_a_responder_revoked_elsewhere_are_not_cached(client: Any, services: Any,
                                                                   pki: dict[str, Any]) -> None:
    """A worker still holding a responder another worker revoked must not cache what it signed."""
    from sqlalchemy import select

    from ca_admin import ocsp
    from ca_admin.models import IssuedCertificate, OcspResponse
    from kyso.callers import Caller, Role
    from kyso.db import transaction

    serial = issue_seal(client, pki, "w")
    responder = ocsp.current_responder(services.sessions, services.keystore, services.settings)
    with transaction(services.sessions) as session:
        cert_pk = session.execute(select(IssuedCertificate.id)
                                  .where(IssuedCertificate.serial_hex == serial)).scalar_one()
        rserial = session.get(IssuedCertificate, responder.certificate_id).serial_hex
    # The responder is a CA service certificate: one CA admin asks, another approves (item 15).
    from ca_admin import revocation

    pending = revocation.request(services.sessions, Caller(1, "admin-a", Role.CA_ADMIN), rserial, "key_compromise")
    revocation.approve(services.sessions, Caller(2, "admin-b", Role.CA_ADMIN), pending.id)
    ans = ocsp.Answer(b"0\x03\n\x01\x00", ocsp.utcnow(), ocsp.utcnow(), True, responder.certificate_id)
    ocsp._store(services.sessions, cert_pk, "sha1", ans, ("good", None, None))
    with transaction(services.sessions) as session:
        assert session.execute(select(OcspResponse).where(OcspResponse.certificate_id == cert_pk)).first() is None
    # And the next credential lookup, even from the cache, is a new responder.
    assert ocsp.current_responder(services.sessions, services.keystore, services.settings).certificate_id != \
        responder.certificate_id


def test_fresh_signatures_are_rate_limited_cached_answers_are_not(client: Any, services: Any, pki: dict[str, Any],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Random serials or nonces must not tie up the HSM: beyond the budget, tryLater."""
    import dataclasses

    from ca_admin import ocsp

    d = pki["dir"]
    issue_seal(client, pki, "rl")
    ocsp.refresh(services.sessions, services.keystore, services.settings)
    tight = services.settings.with_sections(dataclasses.replace(services.settings.section(OcspSettings),
                                                                max_signatures_per_second=1))
    monkeypatch.setattr(ocsp, "_BUDGET", ocsp._SigningBudget())
    for name, extra in (("n1", ["-nonce"]), ("n2", ["-nonce"]), ("c", ["-no_nonce"])):
        subprocess.run(["openssl", "ocsp", "-issuer", str(d / "issuing.pem"), "-cert", str(d / "rl.pem"), *extra,
                        "-reqout", str(d / f"{name}.der")], check=True, capture_output=True)
    statuses = [asn1_ocsp.OCSPResponse.load(ocsp_answer_der(services, tight, (d / f"{n}.der").read_bytes()))
                ["response_status"].native for n in ("n1", "n2", "c", "c")]
    assert statuses == ["successful", "try_later", "successful", "successful"]


def ocsp_answer_der(services: Any, settings: Any, body: bytes) -> bytes:
    from ca_admin import ocsp

    try:
        return ocsp.answer(services.sessions, services.keystore, settings, body).der
    except ocsp.OcspRefusal as refusal:
        return refusal.der()
