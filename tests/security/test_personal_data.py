"""Item 16 of issue 13: a client read every official's CCCD and e-mail, across agencies.

Clients see only the agencies they are bound to and those agencies' officials, and never
personal data (citizen_id, email); only the staff roles that register officials see it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_user

OURS, THEIRS = "000.00.12.H31", "H27.01"


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def world(client: Any, services: Any) -> dict[str, Any]:
    keys = {role: make_user(services, role, role) for role in ("ca-admin", "ra-officer", "auditor")}
    keys["client"] = make_user(services, "eoffice", "client")
    staff = H(keys["ra-officer"])
    ids = {}
    for code, name, cccd, mail in ((OURS, "Sở Nội vụ", "001234567890", "an@haiphong.gov.vn"),
                                   (THEIRS, "Sở Tài chính", "042987654321", "binh@hatinh.gov.vn")):
        assert client.post("/api/v1/admin/agencies", headers=staff,
                           json={"code": code, "name": name}).status_code == 201
        r = client.post("/api/v1/admin/officials", headers=staff,
                        json={"agency_code": code, "full_name": f"Cán bộ {code}", "citizen_id": cccd,
                              "email": mail})
        assert r.status_code == 201, r.get_json()
        ids[code] = r.get_json()["id"]
    assert client.post("/api/v1/admin/clients/eoffice/agencies", headers=H(keys["ca-admin"]),
                       json={"agency_code": OURS}).status_code == 201
    return {"keys": keys, "ids": ids}


def _has_personal(obj: Any) -> bool:
    text = repr(obj)
    return any(s in text for s in ("001234567890", "042987654321", "@haiphong", "@hatinh",
                                   "citizen_id", "email"))


def test_client_lists_only_its_agencies_without_personal_data(client: Any, world: dict[str, Any]) -> None:
    key = H(world["keys"]["client"])
    agencies = client.get("/api/v1/admin/agencies", headers=key).get_json()["agencies"]
    assert [a["code"] for a in agencies] == [OURS]
    officials = client.get("/api/v1/admin/officials", headers=key).get_json()["officials"]
    assert [o["agency_code"] for o in officials] == [OURS]
    assert not _has_personal(officials)
    # Naming the other agency does not help.
    r = client.get(f"/api/v1/admin/officials?agency={THEIRS}", headers=key)
    assert r.status_code == 403 and r.get_json()["code"] == "agency-not-bound"
    r = client.get(f"/api/v1/admin/agencies/{THEIRS}", headers=key)
    assert r.status_code == 403 and r.get_json()["code"] == "agency-not-bound"


def test_client_reads_one_official(client: Any, world: dict[str, Any]) -> None:
    key = H(world["keys"]["client"])
    r = client.get(f"/api/v1/admin/officials/{world['ids'][OURS]}", headers=key)
    assert r.status_code == 200 and not _has_personal(r.get_json())
    # Another agency's official does not exist for this client.
    r = client.get(f"/api/v1/admin/officials/{world['ids'][THEIRS]}", headers=key)
    assert r.status_code == 404 and r.get_json()["code"] == "official-not-found"
    assert not _has_personal(r.get_json())


def test_auditor_sees_everyone_but_no_personal_data(client: Any, world: dict[str, Any]) -> None:
    key = H(world["keys"]["auditor"])
    officials = client.get("/api/v1/admin/officials", headers=key).get_json()["officials"]
    assert len(officials) == 2 and not _has_personal(officials)
    r = client.get(f"/api/v1/admin/officials/{world['ids'][THEIRS]}", headers=key)
    assert r.status_code == 200 and not _has_personal(r.get_json())


@pytest.mark.parametrize("role", ["ca-admin", "ra-officer"])
def test_registry_staff_see_personal_data(client: Any, world: dict[str, Any], role: str) -> None:
    key = H(world["keys"][role])
    officials = client.get("/api/v1/admin/officials", headers=key).get_json()["officials"]
    assert {o["citizen_id"] for o in officials} == {"001234567890", "042987654321"}
    assert {o["email"] for o in officials} == {"an@haiphong.gov.vn", "binh@hatinh.gov.vn"}
    assert len(client.get("/api/v1/admin/agencies", headers=key).get_json()["agencies"]) == 2
