"""Item 9 of issue 13: a dissolved or suspended agency's seal, and an inactive official's
key, still signed. The agency's status and the official's are checked when the signing
credential is resolved (409 agency-not-active / official-not-active) and again when the
signature is recorded; staff set an agency's status over HTTP and the CLI, dissolution is
final, and on dissolution the agency's certificates can be revoked (cessationOfOperation)
in the same transaction."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select

from ca_admin.models import IssuedCertificate
from kyso import audit
from kyso.db import transaction
from tests.conftest import cli_env, run_kyso
from tests.signing.conftest import AGENCY, PIN, H, signing  # noqa: F401 - the signing world fixture


def _sign_hashes(client: Any, key: str, credential: str, consent: str | None = None) -> Any:
    headers = H(key, **({"X-Kyso-Consent": consent} if consent else {}))
    return client.post("/api/v1/sign/hashes", headers=headers, json={
        "credential": credential, "hash_algorithm": "sha256",
        "hashes": [base64.b64encode(hashlib.sha256(b"x").digest()).decode()]})


def _cms(client: Any, key: str, credential: str, consent: str | None = None) -> Any:
    headers = H(key, **{"Content-Type": "application/octet-stream", **({"X-Kyso-Consent": consent} if consent else {})})
    return client.post(f"/api/v1/sign/cms?credential={credential}", data=b"van ban", headers=headers)


def _status(client: Any, key: str, status: str, **extra: Any) -> Any:
    return client.post(f"/api/v1/admin/agencies/{AGENCY}/status", headers=H(key), json={"status": status, **extra})


def _cert_status(services: Any, serial: str) -> tuple[str, str | None]:
    with transaction(services.sessions) as session:
        row = session.execute(select(IssuedCertificate).where(IssuedCertificate.serial_hex == serial)).scalar_one()
        return row.status, row.revocation_reason


def _actions(services: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    with transaction(services.sessions) as session:
        return [(r["action"], r["target"], r["outcome"], r["details"]) for r in audit.export(session, None)]


@pytest.mark.parametrize("status", ["suspended", "dissolved"])
def test_an_agency_not_active_signs_nothing(client: Any, services: Any, signing: dict[str, Any],  # noqa: F811
                                            status: str) -> None:
    eoffice = signing["keys"]["eoffice"]
    assert _sign_hashes(client, eoffice, f"agency:{AGENCY}").status_code == 200
    r = _status(client, signing["keys"]["ra"], status)
    assert r.status_code == 200 and r.get_json()["agency"]["status"] == status
    assert r.get_json()["certificates_still_valid"] == 2 and r.get_json()["revoked"] == []
    attempts = [_sign_hashes(client, eoffice, f"agency:{AGENCY}"), _cms(client, eoffice, signing["seal"]),
                _sign_hashes(client, eoffice, signing["personal"], PIN),
                _cms(client, eoffice, f"official:{signing['official_id']}", PIN)]
    for r in attempts:
        assert r.status_code == 409, r.get_json()
        assert r.get_json()["code"] == "agency-not-active" and r.get_json()["agency_status"] == status
    # Nor are its credentials offered to a CSC client.
    listed = client.post("/csc/v1/credentials/list", headers=H(eoffice), json={}).get_json()
    assert listed["credentialIDs"] == []
    denied = [d for a, _t, o, d in _actions(services) if a.endswith(".denied") and o == "denied"]
    assert [d["reason"] for d in denied].count("agency-not-active") == 4
    change = [d for a, t, _o, d in _actions(services) if a == "agency.status"]
    assert change == [{"from": "active", "to": status, "certificates_revoked": 0, "certificates_still_valid": 2}]
    if status == "suspended":  # a suspension can be lifted
        assert _status(client, signing["keys"]["ra"], "active").status_code == 200
        assert _sign_hashes(client, eoffice, f"agency:{AGENCY}").status_code == 200
        assert _sign_hashes(client, eoffice, signing["personal"], PIN).status_code == 200


def test_dissolution_is_final_and_revokes_on_request(
        client: Any, services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    ra = signing["keys"]["ra"]
    r = _status(client, ra, "suspended", revoke_certificates=True)
    assert r.status_code == 400 and r.get_json()["field"] == "revoke_certificates"
    r = _status(client, ra, "dissolved", revoke_certificates="yes")
    assert r.status_code == 400
    for attacker in ("eoffice", "auditor"):
        assert _status(client, signing["keys"][attacker], "dissolved").status_code == 403
    assert _cert_status(services, signing["seal"]) == ("good", None)
    r = _status(client, ra, "dissolved", revoke_certificates=True)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert sorted(body["revoked"]) == sorted([signing["seal"], signing["personal"]])
    assert body["certificates_still_valid"] == 0 and body["previous_status"] == "active"
    for serial in (signing["seal"], signing["personal"]):
        assert _cert_status(services, serial) == ("revoked", "cessation_of_operation")
        shown = client.get(f"/api/v1/admin/certificates/{serial}", headers=H(ra)).get_json()
        assert shown["status"] == "revoked"
    revokes = [(t, d) for a, t, _o, d in _actions(services) if a == "cert.revoke"]
    assert {t for t, _ in revokes} == {f"cert:{signing['seal']}", f"cert:{signing['personal']}"}
    assert all(d["reason"] == "cessation_of_operation" for _, d in revokes)
    # Dissolution is final, by either route.
    r = _status(client, ra, "active")
    assert r.status_code == 409 and r.get_json()["code"] == "agency-dissolved"
    r = client.patch(f"/api/v1/admin/agencies/{AGENCY}", headers=H(ra), json={"status": "active"})
    assert r.status_code == 409 and r.get_json()["code"] == "agency-dissolved"
    assert client.get(f"/api/v1/admin/agencies/{AGENCY}", headers=H(ra)).get_json()["status"] == "dissolved"


def test_an_inactive_officials_key_does_not_sign(client: Any, services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    eoffice, ra = signing["keys"]["eoffice"], signing["keys"]["ra"]
    assert _sign_hashes(client, eoffice, signing["personal"], PIN).status_code == 200
    r = client.patch(f"/api/v1/admin/officials/{signing['official_id']}", headers=H(ra), json={"status": "inactive"})
    assert r.status_code == 200
    for credential in (signing["personal"], f"official:{signing['official_id']}"):
        r = _sign_hashes(client, eoffice, credential, PIN)
        assert r.status_code == 409 and r.get_json()["code"] == "official-not-active", r.get_json()
    # The agency's seal is not the official's: it still signs.
    assert _sign_hashes(client, eoffice, f"agency:{AGENCY}").status_code == 200
    listed = client.post("/csc/v1/credentials/list", headers=H(eoffice), json={}).get_json()["credentialIDs"]
    assert listed == [signing["seal"]]


def test_suspended_while_signing_is_withheld(client: Any, services: Any, signing: dict[str, Any],  # noqa: F811
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from kyso.callers import Caller, Role
    from signer.credentials import SignatureRecord

    real = services.keystore.sign_digests
    ra = Caller(user_id=0, name="ra", role=Role.RA_OFFICER)

    def suspended_meanwhile(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        from ca_admin import issuance

        issuance.set_agency_status(services.sessions, ra, AGENCY, "suspended")
        return out

    monkeypatch.setattr(services.keystore, "sign_digests", suspended_meanwhile)
    r = _sign_hashes(client, signing["keys"]["eoffice"], f"agency:{AGENCY}")
    assert r.status_code == 409 and r.get_json()["code"] == "agency-not-active" and r.get_json()["withheld"]
    with transaction(services.sessions) as session:
        assert session.execute(select(SignatureRecord)).first() is None
    assert [(a, o) for a, _t, o, _d in _actions(services) if o == "withheld"] == [("sign.hashes", "withheld")]


def test_cli_dissolves_and_revokes(services: Any, signing: dict[str, Any], database: Any,  # noqa: F811
                                   hsm_token: Any) -> None:
    env = {**cli_env(database, hsm_token), "KYSO_OPERATOR": "admin", "KYSO_API_KEY": signing["keys"]["admin"]}
    done = run_kyso(["agencies", "status", AGENCY, "dissolved"], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["certificates_still_valid"] == 2
    assert "--revoke-certificates" in done.stderr  # the revocation is offered
    assert _cert_status(services, signing["seal"]) == ("good", None)
    done = run_kyso(["agencies", "status", AGENCY, "dissolved", "--revoke-certificates"], env)
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["revoked"]) == sorted([signing["seal"], signing["personal"]])
    assert _cert_status(services, signing["personal"]) == ("revoked", "cessation_of_operation")
    again = run_kyso(["agencies", "status", AGENCY, "active"], env)
    assert again.returncode != 0 and "agency-dissolved" in again.stderr
