"""CRLs judged by openssl (crl -verify, verify -crl_check) and pkilint (lint_crl)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl

from ca_admin import crl
from ca_admin.settings import CrlSettings
from tests.interop.conftest import H, issue_seal

pytestmark = pytest.mark.both_databases

LINT_CRL = str(Path(sys.executable).parent / "lint_crl")


def _fetch(client: Any, pki: dict[str, Any], role: str) -> Path:
    resp = client.get(f"/pki/crl/{role}.crl")
    assert resp.status_code == 200 and resp.content_type == "application/pkix-crl"
    path = pki["dir"] / f"{role}.crl"
    path.write_bytes(resp.data)
    return path


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True)


def test_revocation_shows_in_the_crl_and_openssl_agrees(client: Any, services: Any, pki: dict[str, Any]) -> None:
    d = pki["dir"]
    good = issue_seal(client, pki, "good")
    bad = issue_seal(client, pki, "bad")
    held = issue_seal(client, pki, "held")
    ra = H(pki["keys"]["ra"])
    r = client.post(f"/api/v1/admin/certificates/{bad}/revoke", headers=ra,
                    json={"reason": "key_compromise", "invalidity_date": "2026-01-02T03:04:05Z"})
    assert r.status_code == 200
    assert client.post(f"/api/v1/admin/certificates/{held}/hold", headers=ra, json={}).status_code == 200
    issuing_crl, root_crl = _fetch(client, pki, "issuing"), _fetch(client, pki, "root")

    parsed = asn1_crl.CertificateList.load(issuing_crl.read_bytes())
    entries = {format(e["user_certificate"].native, "x"): e for e in parsed["tbs_cert_list"]["revoked_certificates"]}
    assert set(entries) == {bad, held}
    assert entries[bad].crl_reason_value.native == "key_compromise"
    assert entries[bad].invalidity_date_value.native.year == 2026
    assert entries[held].crl_reason_value.native == "certificate_hold"
    assert parsed.authority_key_identifier is not None and parsed.crl_number_value.native >= 2

    assert _openssl("crl", "-in", str(issuing_crl), "-inform", "DER", "-noout", "-CAfile",
                    str(d / "issuing.pem")).returncode == 0
    assert "verify OK" in _openssl("crl", "-in", str(issuing_crl), "-inform", "DER", "-noout", "-CAfile",
                                   str(d / "issuing.pem")).stderr
    assert "verify OK" in _openssl("crl", "-in", str(root_crl), "-inform", "DER", "-noout", "-CAfile",
                                   str(d / "root.pem")).stderr
    crls = d / "crls.pem"
    crls.write_text(_openssl("crl", "-in", str(issuing_crl), "-inform", "DER").stdout
                    + _openssl("crl", "-in", str(root_crl), "-inform", "DER").stdout)
    chain = d / "chain.pem"
    chain.write_bytes((d / "root.pem").read_bytes() + (d / "issuing.pem").read_bytes())
    ok = _openssl("verify", "-crl_check_all", "-CAfile", str(chain), "-CRLfile", str(crls), str(d / "good.pem"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for name in ("bad", "held"):
        res = _openssl("verify", "-crl_check_all", "-CAfile", str(chain), "-CRLfile", str(crls), str(d / f"{name}.pem"))
        assert res.returncode != 0 and "certificate revoked" in (res.stdout + res.stderr)

    # Release: the held certificate leaves the next CRL, and the number goes up.
    number = parsed.crl_number_value.native
    assert client.post(f"/api/v1/admin/certificates/{held}/release", headers=ra, json={}).status_code == 200
    again = asn1_crl.CertificateList.load(_fetch(client, pki, "issuing").read_bytes())
    assert again.crl_number_value.native > number
    assert {format(e["user_certificate"].native, "x") for e in again["tbs_cert_list"]["revoked_certificates"]} == {bad}
    assert good not in entries


def test_pkilint_finds_nothing_in_crl_and_arl(client: Any, services: Any, pki: dict[str, Any]) -> None:
    serial = issue_seal(client, pki, "x")
    client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=H(pki["keys"]["ra"]),
                json={"reason": "superseded", "invalidity_date": "2026-01-02T03:04:05Z"})
    for role, kind in (("issuing", "CRL"), ("root", "ARL")):
        path = _fetch(client, pki, role)
        res = subprocess.run([LINT_CRL, "lint", "-t", kind, "-p", "PKIX", "-s", "WARNING", str(path)],
                             capture_output=True, text=True)
        assert res.returncode == 0 and not res.stdout.strip(), f"{role}: {res.stdout}{res.stderr}"


def test_http_caching_headers(client: Any, services: Any, pki: dict[str, Any]) -> None:
    first = client.get("/pki/crl/issuing.crl")
    assert first.headers["ETag"] and first.headers["Last-Modified"] and first.headers["Expires"]
    max_age = int(first.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert 0 < max_age <= services.settings.section(CrlSettings).issuing_validity_hours * 3600
    assert client.get("/pki/crl/issuing.crl", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


def test_crl_numbers_strictly_increase(services: Any, ca: Any) -> None:
    numbers = [crl.publish(services.sessions, services.keystore, services.settings).crl_number for _ in range(3)]
    assert numbers == sorted(set(numbers)) and len(numbers) == 3


def test_revocations_without_a_kept_entry_still_reach_the_crl(client: Any, services: Any, pki: dict[str, Any]) -> None:
    """Regression: certificates revoked before entries were kept were missing from the CRL."""
    from sqlalchemy import update

    from ca_admin.models import IssuedCertificate

    serial = issue_seal(client, pki, "old")
    client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=H(pki["keys"]["ra"]),
                json={"reason": "superseded"})
    with services.engine.begin() as conn:
        conn.execute(update(IssuedCertificate).values(crl_entry_der=None))
    info = crl.publish(services.sessions, services.keystore, services.settings)
    parsed = asn1_crl.CertificateList.load(info.der)
    entries = list(parsed["tbs_cert_list"]["revoked_certificates"])
    assert [format(e["user_certificate"].native, "x") for e in entries] == [serial]
    assert entries[0].crl_reason_value.native == "superseded"


def test_stale_crl_is_published_once(services: Any, ca: Any) -> None:
    first = crl.publish(services.sessions, services.keystore, services.settings)
    again = crl.publish(services.sessions, services.keystore, services.settings, only_if_stale=True)
    assert again.crl_number == first.crl_number  # another request already published a fresh one
