"""Shared by the signing tests: an agency with a seal key and an official with a personal
key, both in the HSM; an eOffice client bound to the agency; the official's PIN enrolled;
the CA certificates on disk for openssl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import factories
from tests.conftest import world_image
from tests.factories import AGENCY, OTHER_AGENCY, PIN

__all__ = ["AGENCY", "OTHER_AGENCY", "PIN", "H", "issue_in_hsm", "enrol", "signing"]


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
    """The world made through the services (tests/factories.py) once per worker, and
    restored in each test's own database; its HTTP flows are the subject of other tests."""
    root, issuing = ca
    d = tmp_path
    (d / "root.pem").write_bytes(root.certificate_pem)
    (d / "issuing.pem").write_bytes(issuing.certificate_pem)
    (d / "chain.pem").write_bytes(issuing.certificate_pem + root.certificate_pem)
    world = world_image(services, "signing", factories.signing_world)
    (d / "seal.pem").write_text(world["seal_pem"])
    (d / "personal.pem").write_text(world["personal_pem"])
    return {"dir": d, "keys": dict(world["keys"]), "official_id": world["official_id"], "seal": world["seal"],
            "personal": world["personal"], "seal_der": world["seal_der"]}
