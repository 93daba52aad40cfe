"""Certificate lifecycle through the admin API: registry, requests, four eyes, issuance,
revocation, hold, renew, rekey, downloads, the expiring report and bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asn1crypto import cms, pem, x509
from sqlalchemy import func, select

from ca_admin.models import CertificateRequest, IssuedCertificate
from kyso import audit
from kyso.db import transaction
from tests.conftest import make_settings, make_user
from tests.pki import make_csr, tamper_csr_signature

pytestmark = pytest.mark.both_databases

SEAL_AGENCY = "000.00.12.H31"


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def settings(database: Any, hsm_token: Any) -> Any:
    # These tests exercise CSRs (what the CA ignores, bad ones, key types): the seal agency
    # may use an external token, the one way settings allow a seal key from a CSR.
    return make_settings(database, hsm_token, profiles={"agency-seal": {"external_token_agencies": [SEAL_AGENCY]}})


@pytest.fixture
def actors(services: Any, ca: Any) -> dict[str, str]:
    keys = {
        "admin": make_user(services, "admin", "ca-admin"),
        "admin2": make_user(services, "admin2", "ca-admin"),
        "ra": make_user(services, "ra", "ra-officer"),
        "auditor": make_user(services, "auditor", "auditor"),
        "eoffice": make_user(services, "eoffice", "client"),
    }
    return keys


@pytest.fixture
def registry_data(client: Any, actors: dict[str, str]) -> dict[str, Any]:
    ra = H(actors["ra"])
    r = client.post("/api/v1/admin/agencies", headers=ra,
                    json={"code": "000.00.00.H31", "name": "UBND THÀNH PHỐ HẢI PHÒNG", "locality": "Hải Phòng"})
    assert r.status_code == 201, r.get_json()
    r = client.post("/api/v1/admin/agencies", headers=ra,
                    json={"code": SEAL_AGENCY, "name": "SỞ NỘI VỤ", "parent_code": "000.00.00.H31",
                          "locality": "Hải Phòng", "tax_code": "0101234567"})
    assert r.status_code == 201, r.get_json()
    r = client.post("/api/v1/admin/agencies", headers=ra,
                    json={"code": "H27.01", "name": "Sở Tài chính Hà Tĩnh", "locality": "Hà Tĩnh"})
    assert r.status_code == 201, r.get_json()
    r = client.post("/api/v1/admin/officials", headers=ra,
                    json={"agency_code": SEAL_AGENCY, "full_name": "Nguyễn Văn An", "title": "Giám đốc",
                          "citizen_id": "001234567890", "email": "an@haiphong.gov.vn"})
    assert r.status_code == 201, r.get_json()
    official_id = r.get_json()["id"]
    r = client.post("/api/v1/admin/clients/eoffice/agencies", headers=H(actors["admin"]),
                    json={"agency_code": SEAL_AGENCY})
    assert r.status_code == 201
    return {"official_id": official_id}


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.content_type == "application/problem+json"
    body = resp.get_json(force=True)
    assert body["code"] == code, body
    assert body["detail"] and body["detail_vi"]
    return body


def _count(services: Any, model: Any) -> int:
    with transaction(services.sessions) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_search_with_and_without_diacritics(client: Any, actors: dict[str, str], registry_data: Any) -> None:
    for q in ("so noi vu", "Sở Nội vụ", "SO NOI VU", "000.00.12"):
        r = client.get(f"/api/v1/admin/agencies?q={q}", headers=H(actors["auditor"]))
        assert [a["code"] for a in r.get_json()["agencies"]] == [SEAL_AGENCY], q
    r = client.get("/api/v1/admin/officials?q=nguyen van an", headers=H(actors["auditor"]))
    assert [o["full_name"] for o in r.get_json()["officials"]] == ["Nguyễn Văn An"]


def test_nfc_storage(client: Any, actors: dict[str, str], ca: Any) -> None:
    decomposed = "So\u031b\u0309 Ta\u0300i chi\u0301nh"  # "Sở Tài chính" in combining marks
    r = client.post("/api/v1/admin/agencies", headers=H(actors["ra"]),
                    json={"code": "000.00.20.H31", "name": decomposed})
    assert r.get_json()["name"] == "Sở Tài chính"


@pytest.mark.parametrize("code", ["000.00.00.h26", "ABC", "000.00.00.X26", "H27..01", "0" * 36,
                                  "000.00.00.H26;", "", "H2.01", "000 00 00 H26"])
def test_malformed_agency_codes(client: Any, actors: dict[str, str], code: str) -> None:
    _problem(client.post("/api/v1/admin/agencies", headers=H(actors["ra"]), json={"code": code, "name": "X"}),
             400, "agency-code-invalid")


def test_duplicate_and_unknown_agency(client: Any, actors: dict[str, str], registry_data: Any) -> None:
    _problem(client.post("/api/v1/admin/agencies", headers=H(actors["ra"]),
                         json={"code": SEAL_AGENCY, "name": "again"}), 409, "conflict")
    _problem(client.get("/api/v1/admin/agencies/000.00.99.H31", headers=H(actors["ra"])), 404, "agency-not-found")
    _problem(client.post("/api/v1/admin/requests", headers=H(actors["ra"]),
                         json={"profile": "agency-seal", "agency_code": "000.00.99.H31", "csr": make_csr()}),
             404, "agency-not-found")


def test_seal_from_csr_needs_a_second_person(client: Any, services: Any, actors: dict[str, str],
                                             registry_data: Any) -> None:
    csr = make_csr("ec-p256", cn="CN from the CSR", ask_ca=True, extra_eku=True)
    r = client.post("/api/v1/admin/requests", headers=H(actors["admin"]),
                    json={"profile": "agency-seal", "agency_code": SEAL_AGENCY, "csr": csr})
    assert r.status_code == 201
    req = r.get_json()["request"]
    assert req["status"] == "pending" and "certificate" not in r.get_json()
    assert "extension:basic_constraints" in req["ignored_csr_fields"]
    # The RA officer may not approve; the requester may not approve their own request.
    _problem(client.post(f"/api/v1/admin/requests/{req['id']}/approve", headers=H(actors["ra"])), 403, "forbidden")
    _problem(client.post(f"/api/v1/admin/requests/{req['id']}/approve", headers=H(actors["admin"])),
             403, "four-eyes")
    assert _count(services, IssuedCertificate) == 0
    r = client.post(f"/api/v1/admin/requests/{req['id']}/approve", headers=H(actors["admin2"]))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    cert = x509.Certificate.load(pem.unarmor(body["certificate_pem"].encode())[2])
    # Subject and extensions from the profile and registry, never from the CSR.
    assert cert.subject.native["common_name"] == "SỞ NỘI VỤ"
    assert cert.subject.native["organization_name"] == "UBND THÀNH PHỐ HẢI PHÒNG"
    assert cert.subject.native["user_id"] == "MST:0101234567"
    assert cert.basic_constraints_value is None or not cert.ca
    assert cert.extended_key_usage_value.native == ["1.3.6.1.5.5.7.3.36", "email_protection"]
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert 0 < cert.serial_number < 2 ** 159
    # Approving again is refused.
    _problem(client.post(f"/api/v1/admin/requests/{req['id']}/approve", headers=H(actors["admin2"])),
             409, "request-not-pending")
    with transaction(services.sessions) as session:
        actions = [r["action"] for r in audit.export(session)]
        assert audit.verify_chain(session).ok
    assert actions.count("cert.issue") == 1 and actions.count("cert.request") == 1


def test_official_with_hsm_key_and_downloads(client: Any, services: Any, actors: dict[str, str],
                                             registry_data: Any) -> None:
    r = client.post("/api/v1/admin/requests", headers=H(actors["ra"]),
                    json={"profile": "official-signing", "agency_code": SEAL_AGENCY,
                          "official_id": registry_data["official_id"], "generate_key": True,
                          "key_type": "ec-p256"})
    rid = r.get_json()["request"]["id"]
    body = client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(actors["admin"])).get_json()
    serial = body["certificate"]["serial"]
    assert body["certificate"]["key_in_hsm"] is True
    cert = x509.Certificate.load(pem.unarmor(body["certificate_pem"].encode())[2])
    names = cert.subject.native
    assert names["common_name"] == "Nguyễn Văn An" and names["title"] == "Giám đốc"
    assert names["organization_name"] == "SỞ NỘI VỤ" and names["user_id"] == "CCCD:001234567890"
    assert cert.subject_alt_name_value.native == ["an@haiphong.gov.vn"]
    with transaction(services.sessions) as session:
        row = session.execute(select(IssuedCertificate)).scalar_one()
        label = row.key_label
    assert label and services.keystore.find(label).public_key_der == cert.public_key.dump()
    der = client.get(f"/api/v1/admin/certificates/{serial}?format=der", headers=H(actors["auditor"]))
    assert der.data == cert.dump()
    p7 = client.get(f"/api/v1/admin/certificates/{serial}?format=p7b", headers=H(actors["auditor"]))
    signed = cms.ContentInfo.load(p7.data)["content"]
    assert len(signed["certificates"]) == 3
    pem_resp = client.get(f"/api/v1/admin/certificates/{serial}?format=pem", headers=H(actors["auditor"]))
    assert pem.unarmor(pem_resp.data)[2] == cert.dump()


def _issue_seal(client: Any, actors: dict[str, str], kind: str = "ec-p256") -> str:
    r = client.post("/api/v1/admin/requests", headers=H(actors["ra"]),
                    json={"profile": "agency-seal", "agency_code": SEAL_AGENCY, "csr": make_csr(kind)})
    rid = r.get_json()["request"]["id"]
    r = client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(actors["admin"]))
    assert r.status_code == 201, r.get_json()
    return str(r.get_json()["certificate"]["serial"])


def test_revoke_hold_release(client: Any, services: Any, actors: dict[str, str], registry_data: Any) -> None:
    serial = _issue_seal(client, actors)
    ra = H(actors["ra"])
    base = f"/api/v1/admin/certificates/{serial}"
    assert client.post(f"{base}/hold", headers=ra, json={}).get_json()["status"] == "on-hold"
    _problem(client.post(f"/api/v1/admin/certificates/{serial}/hold", headers=ra, json={}), 409,
             "certificate-wrong-state")
    assert client.post(f"{base}/release", headers=ra, json={}).get_json()["status"] == "good"
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    r = client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=ra,
                    json={"reason": "key_compromise", "invalidity_date": when})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["revocation_reason"] == "key_compromise" and r.get_json()["invalidity_date"]
    _problem(client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=ra, json={"reason": "superseded"}),
             409, "certificate-already-revoked")
    _problem(client.post("/api/v1/admin/certificates/abcdef123/revoke", headers=ra, json={}), 404,
             "certificate-not-found")
    _problem(client.post(f"/api/v1/admin/certificates/{serial}/release", headers=ra, json={}), 409,
             "certificate-wrong-state")
    serial2 = _issue_seal(client, actors)
    _problem(client.post(f"/api/v1/admin/certificates/{serial2}/revoke", headers=ra, json={"reason": "because"}),
             400, "bad-request")
    found = client.get("/api/v1/admin/certificates?status=revoked", headers=ra).get_json()["certificates"]
    assert [c["serial"] for c in found] == [serial]


def test_renew_keeps_key_and_rekey_supersedes(client: Any, services: Any, actors: dict[str, str],
                                              registry_data: Any) -> None:
    serial = _issue_seal(client, actors)
    old = client.get(f"/api/v1/admin/certificates/{serial}?format=der", headers=H(actors["ra"])).data
    rid = client.post(f"/api/v1/admin/certificates/{serial}/renew", headers=H(actors["ra"])).get_json()["request"]["id"]
    new = client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(actors["admin"])).get_json()
    renewed = x509.Certificate.load(pem.unarmor(new["certificate_pem"].encode())[2])
    assert renewed.public_key.dump() == x509.Certificate.load(old).public_key.dump()
    assert renewed.serial_number != x509.Certificate.load(old).serial_number
    r = client.post(f"/api/v1/admin/certificates/{serial}/rekey", headers=H(actors["ra"]),
                    json={"csr": make_csr("ec-p384")})
    rid = r.get_json()["request"]["id"]
    rekeyed = client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(actors["admin"])).get_json()
    assert rekeyed["certificate"]["serial"] != serial
    old_now = client.get(f"/api/v1/admin/certificates/{serial}", headers=H(actors["ra"])).get_json()
    assert old_now["status"] == "revoked" and old_now["revocation_reason"] == "superseded"


def test_an_auto_approved_rekey_puts_its_predecessor_on_the_crl_at_once(
        client: Any, services: Any, actors: dict[str, str], registry_data: Any) -> None:
    """A rekey that is issued at once (client-tls is auto-approved) revokes the old certificate
    as superseded; the CRL must say so now, as after an approved rekey, not at the next
    scheduled publication."""
    from asn1crypto import crl as asn1_crl

    eo = H(actors["eoffice"])
    issued = client.post("/api/v1/admin/requests", headers=eo,
                         json={"profile": "client-tls", "agency_code": SEAL_AGENCY, "csr": make_csr()})
    assert issued.status_code == 201, issued.get_json()
    old = issued.get_json()["certificate"]["serial"]
    before = asn1_crl.CertificateList.load(client.get("/pki/crl/issuing.crl").data)
    assert before["tbs_cert_list"]["next_update"].native > dt.datetime.now(dt.UTC)  # fresh: not republished on GET
    r = client.post(f"/api/v1/admin/certificates/{old}/rekey", headers=H(actors["ra"]), json={"csr": make_csr()})
    assert r.status_code == 201 and "certificate" in r.get_json(), r.get_json()
    listed = asn1_crl.CertificateList.load(client.get("/pki/crl/issuing.crl").data)
    assert old in {format(e["user_certificate"].native, "x") for e in listed["tbs_cert_list"]["revoked_certificates"]}


def test_reject_needs_reason(client: Any, actors: dict[str, str], registry_data: Any) -> None:
    r = client.post("/api/v1/admin/requests", headers=H(actors["ra"]),
                    json={"profile": "agency-seal", "agency_code": SEAL_AGENCY, "csr": make_csr()})
    rid = r.get_json()["request"]["id"]
    _problem(client.post(f"/api/v1/admin/requests/{rid}/reject", headers=H(actors["admin"]), json={}), 400,
             "bad-request")
    r = client.post(f"/api/v1/admin/requests/{rid}/reject", headers=H(actors["admin"]),
                    json={"reason": "Sai thông tin cơ quan"})
    assert r.get_json()["request"]["status"] == "rejected"


@pytest.mark.parametrize(("csr_factory", "code"), [
    (lambda: "not a csr", "csr-malformed"),
    (lambda: tamper_csr_signature(make_csr("ec-p256")), "csr-signature-invalid"),
    (lambda: make_csr("rsa-1024"), "key-not-allowed"),
    (lambda: make_csr("ec-p192"), "key-not-allowed"),
])
def test_bad_csrs_store_nothing(client: Any, services: Any, actors: dict[str, str], registry_data: Any,
                                csr_factory: Any, code: str) -> None:
    before = _count(services, CertificateRequest)
    _problem(client.post("/api/v1/admin/requests", headers=H(actors["ra"]),
                         json={"profile": "agency-seal", "agency_code": SEAL_AGENCY, "csr": csr_factory()}),
             400, code)
    assert _count(services, CertificateRequest) == before


def test_profile_forbids_key_type(client: Any, actors: dict[str, str], registry_data: Any) -> None:
    # sub-ca accepts rsa-3072, rsa-4096 and ec-p384 only
    _problem(client.post("/api/v1/admin/requests", headers=H(actors["admin"]),
                         json={"profile": "sub-ca", "agency_code": SEAL_AGENCY, "common_name": "Sub CA",
                               "generate_key": True, "key_type": "ec-p256"}), 400, "key-not-allowed")
    _problem(client.post("/api/v1/admin/requests", headers=H(actors["ra"]),
                         json={"profile": "no-such-profile", "agency_code": SEAL_AGENCY, "csr": make_csr()}),
             404, "profile-unknown")


def test_roles_and_agency_scope(client: Any, services: Any, actors: dict[str, str], registry_data: Any) -> None:
    aud = H(actors["auditor"])
    _problem(client.post("/api/v1/admin/agencies", headers=aud, json={"code": "000.00.30.H31", "name": "X"}),
             403, "forbidden")
    _problem(client.post("/api/v1/admin/requests", headers=aud,
                         json={"profile": "agency-seal", "agency_code": SEAL_AGENCY, "csr": make_csr()}),
             403, "forbidden")
    serial = _issue_seal(client, actors)
    _problem(client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=aud, json={}), 403, "forbidden")
    eo = H(actors["eoffice"])
    # A client acts for its own agency (client-tls is auto-approved) and for no other.
    ok = client.post("/api/v1/admin/requests", headers=eo,
                     json={"profile": "client-tls", "agency_code": SEAL_AGENCY, "csr": make_csr()})
    assert ok.status_code == 201 and ok.get_json()["certificate"]["profile"] == "client-tls"
    _problem(client.post("/api/v1/admin/requests", headers=eo,
                         json={"profile": "client-tls", "agency_code": "H27.01", "common_name": "x",
                               "csr": make_csr()}), 403, "agency-not-bound")
    _problem(client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=eo, json={}), 403, "forbidden")
    mine = client.get("/api/v1/admin/certificates", headers=eo).get_json()["certificates"]
    assert {c["agency_code"] for c in mine} == {SEAL_AGENCY}


def test_expiring_report_json_and_csv(client: Any, services: Any, actors: dict[str, str],
                                      registry_data: Any) -> None:
    serial = _issue_seal(client, actors)  # agency-seal: 1095 days
    none = client.get("/api/v1/admin/certificates/expiring?days=30", headers=H(actors["auditor"])).get_json()
    assert none["certificates"] == []
    soon = client.get("/api/v1/admin/certificates/expiring?days=1100", headers=H(actors["auditor"])).get_json()
    assert [c["serial"] for c in soon["certificates"]] == [serial]
    csv_text = client.get("/api/v1/admin/certificates/expiring?days=1100&format=csv",
                          headers=H(actors["auditor"])).get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("serial,profile,agency_code")
    assert serial in csv_text and "SỞ NỘI VỤ" in csv_text


def test_openapi_document(client: Any) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    op = doc["paths"]["/api/v1/admin/requests/{rid}/approve"]["post"]
    assert op["x-kyso-roles"] == ["ca-admin"]
    assert "/api/v1/admin/certificates/{serial}/revoke" in doc["paths"]
