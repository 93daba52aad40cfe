"""Shared by the signing tests: an agency with a seal key and an official with a personal
key, both in the HSM; an eOffice client bound to the agency; the official's PIN enrolled;
the CA certificates on disk for openssl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem

from tests.conftest import make_user

AGENCY = "000.00.12.H31"
OTHER_AGENCY = "000.00.13.H31"
PIN = "246810"


def H(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def issue_in_hsm(client: Any, keys: dict[str, str], profile: str, agency: str, key_type: str,
                 official_id: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"profile": profile, "agency_code": agency, "generate_key": True, "key_type": key_type}
    if official_id is not None:
        body["official_id"] = official_id
    r = client.post("/api/v1/admin/requests", headers=H(keys["ra"]), json=body)
    assert r.status_code in (200, 201), r.get_json()
    rid = r.get_json()["request"]["id"]
    out = client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(keys["admin"])).get_json()
    assert "certificate" in out, out
    return out


def enrol(client: Any, keys: dict[str, str], official_id: int, method: str, pin: str | None = None,
          staff: str = "admin") -> dict[str, Any]:
    """The official's own enrolment: staff start it by letter, the official uses the code."""
    r = client.post(f"/api/v1/admin/officials/{official_id}/consent/enrolments", headers=H(keys[staff]),
                    json={"channel": "letter"})
    assert r.status_code == 201, r.get_json()
    body: dict[str, Any] = {"activation_code": r.get_json()["activation_code"], "method": method}
    if pin is not None:
        body["pin"] = pin
    r = client.post("/api/v1/consent/enrol", json=body)
    assert r.status_code == 200, r.get_json()
    out: dict[str, Any] = r.get_json()
    return out


@pytest.fixture
def signing(client: Any, services: Any, ca: Any, tmp_path: Path) -> dict[str, Any]:
    root, issuing = ca
    d = tmp_path
    (d / "root.pem").write_bytes(root.certificate_pem)
    (d / "issuing.pem").write_bytes(issuing.certificate_pem)
    (d / "chain.pem").write_bytes(issuing.certificate_pem + root.certificate_pem)
    keys = {"ra": make_user(services, "ra", "ra-officer"), "admin": make_user(services, "admin", "ca-admin"),
            "eoffice": make_user(services, "eoffice", "client"), "other": make_user(services, "other", "client"),
            "auditor": make_user(services, "auditor", "auditor")}
    for code, name in ((AGENCY, "SỞ NỘI VỤ"), (OTHER_AGENCY, "SỞ TÀI CHÍNH")):
        assert client.post("/api/v1/admin/agencies", headers=H(keys["ra"]),
                           json={"code": code, "name": name, "locality": "Hải Phòng"}).status_code == 201
    r = client.post("/api/v1/admin/officials", headers=H(keys["ra"]),
                    json={"agency_code": AGENCY, "full_name": "Nguyễn Văn An", "title": "Giám đốc"})
    official_id = r.get_json()["id"]
    for client_name, code in (("eoffice", AGENCY), ("other", OTHER_AGENCY)):
        assert client.post(f"/api/v1/admin/clients/{client_name}/agencies", headers=H(keys["admin"]),
                           json={"agency_code": code}).status_code == 201
    seal = issue_in_hsm(client, keys, "agency-seal", AGENCY, "rsa-2048")
    personal = issue_in_hsm(client, keys, "official-signing", AGENCY, "ec-p256", official_id)
    (d / "seal.pem").write_text(seal["certificate_pem"])
    (d / "personal.pem").write_text(personal["certificate_pem"])
    enrol(client, keys, official_id, "pin", PIN)
    return {"dir": d, "keys": keys, "official_id": official_id, "seal": seal["certificate"]["serial"],
            "personal": personal["certificate"]["serial"],
            "seal_der": pem.unarmor(seal["certificate_pem"].encode())[2]}
