"""Item 2 of issue 13: every role could request every profile. A client filed sub-ca,
ocsp-responder, tsa or official-signing requests with its own CSR, and one admin approval
gave it a CA certificate (although the issuing CA has pathLen 0), a delegated OCSP responder
on its own key, or an official's certificate on a key outside the HSM. Which role may request
which profile, and where its key may come from, is now policy in settings, checked when the
request is filed and again when it is approved; the issuance core never issues a CA
certificate its issuer's path length forbids."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import update

from ca_admin import issuance
from ca_admin.settings import ProfilesSettings
from kyso.callers import Caller, Role, User
from kyso.db import transaction
from kyso.errors import KysoError
from tests.conftest import make_settings, make_user
from tests.pki import make_csr

AGENCY = "000.00.12.H31"
TOKEN_AGENCY = "000.00.13.H31"  # its seal may live on an external token


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def settings(database: Any, hsm_token: Any) -> Any:
    return make_settings(database, hsm_token,
                         profiles={"agency-seal": {"external_token_agencies": [TOKEN_AGENCY]}})


@pytest.fixture
def world(client: Any, services: Any, ca: Any) -> dict[str, Any]:
    keys = {"admin": make_user(services, "admin", "ca-admin"), "admin2": make_user(services, "admin2", "ca-admin"),
            "ra": make_user(services, "ra", "ra-officer"), "eoffice": make_user(services, "eoffice", "client")}
    for code, name in ((AGENCY, "SỞ NỘI VỤ"), (TOKEN_AGENCY, "SỞ TÀI CHÍNH")):
        assert client.post("/api/v1/admin/agencies", headers=H(keys["ra"]),
                           json={"code": code, "name": name, "locality": "Hải Phòng"}).status_code == 201
        assert client.post("/api/v1/admin/clients/eoffice/agencies", headers=H(keys["admin"]),
                           json={"agency_code": code}).status_code == 201
    r = client.post("/api/v1/admin/officials", headers=H(keys["ra"]),
                    json={"agency_code": AGENCY, "full_name": "Nguyễn Văn An", "title": "Giám đốc"})
    return {"keys": keys, "official_id": r.get_json()["id"]}


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status and r.get_json()["code"] == code, (r.status_code, r.get_json())


@pytest.mark.parametrize(("profile", "extra"), [
    ("sub-ca", {"common_name": "Evil Sub CA"}),
    ("ocsp-responder", {"common_name": "Evil OCSP"}),
    ("tsa", {"common_name": "Evil TSA"}),
    ("report-seal", {"common_name": "Evil report seal"}),
    ("official-signing", {"official": True}),
    ("agency-seal", {}),
])
def test_client_cannot_request_ca_service_or_personal_profiles(client: Any, world: dict[str, Any],
                                                               profile: str, extra: dict[str, Any]) -> None:
    body: dict[str, Any] = {"profile": profile, "agency_code": AGENCY,
                            "csr": make_csr("rsa-3072" if profile == "sub-ca" else "ec-p256"),
                            "common_name": extra.get("common_name", "")}
    if extra.get("official"):
        body["official_id"] = world["official_id"]
    _problem(client.post("/api/v1/admin/requests", headers=H(world["keys"]["eoffice"]), json=body),
             403, "profile-not-allowed")
    # Nothing was filed for an admin to approve by mistake.
    assert client.get("/api/v1/admin/requests?status=pending",
                      headers=H(world["keys"]["admin"])).get_json()["requests"] == []


def test_service_and_ca_profiles_only_for_ca_admins_with_hsm_keys(client: Any, world: dict[str, Any]) -> None:
    keys = world["keys"]
    for profile in ("sub-ca", "ocsp-responder", "tsa", "report-seal"):
        _problem(client.post("/api/v1/admin/requests", headers=H(keys["ra"]),
                             json={"profile": profile, "agency_code": AGENCY, "common_name": "X",
                                   "generate_key": True}), 403, "profile-not-allowed")
        _problem(client.post("/api/v1/admin/requests", headers=H(keys["admin"]),
                             json={"profile": profile, "agency_code": AGENCY, "common_name": "X",
                                   "csr": make_csr("rsa-3072")}), 422, "key-source-not-allowed")
    r = client.post("/api/v1/admin/requests", headers=H(keys["admin"]),
                    json={"profile": "tsa", "agency_code": AGENCY, "common_name": "Kyso TSA 2",
                          "generate_key": True, "key_type": "ec-p256"})
    assert r.status_code == 201 and r.get_json()["request"]["status"] == "pending"


def test_seal_and_personal_keys_in_the_hsm_unless_an_external_token_is_allowed(client: Any,
                                                                              world: dict[str, Any]) -> None:
    ra = H(world["keys"]["ra"])
    _problem(client.post("/api/v1/admin/requests", headers=ra,
                         json={"profile": "agency-seal", "agency_code": AGENCY, "csr": make_csr()}),
             422, "key-source-not-allowed")
    _problem(client.post("/api/v1/admin/requests", headers=ra,
                         json={"profile": "official-signing", "agency_code": AGENCY,
                               "official_id": world["official_id"], "csr": make_csr()}),
             422, "key-source-not-allowed")
    r = client.post("/api/v1/admin/requests", headers=ra,
                    json={"profile": "agency-seal", "agency_code": TOKEN_AGENCY, "csr": make_csr()})
    assert r.status_code == 201 and r.get_json()["request"]["key_source"] == "csr"
    r = client.post("/api/v1/admin/requests", headers=ra,
                    json={"profile": "agency-seal", "agency_code": AGENCY, "generate_key": True})
    assert r.status_code == 201 and r.get_json()["request"]["key_source"] == "hsm"


def test_sub_ca_under_path_length_0_refused_even_for_admins(client: Any, world: dict[str, Any]) -> None:
    keys = world["keys"]
    r = client.post("/api/v1/admin/requests", headers=H(keys["admin"]),
                    json={"profile": "sub-ca", "agency_code": AGENCY, "common_name": "Kyso Sub CA",
                          "generate_key": True})
    assert r.status_code == 201, r.get_json()
    rid = r.get_json()["request"]["id"]
    _problem(client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(keys["admin2"])),
             409, "path-length-exceeded")
    certs = client.get("/api/v1/admin/certificates", headers=H(keys["admin"])).get_json()["certificates"]
    assert all(c["profile"] != "sub-ca" for c in certs)
    # The request stays pending (nothing half done) and a second try fails the same way.
    _problem(client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(keys["admin2"])),
             409, "path-length-exceeded")


def test_policy_checked_again_at_approval(client: Any, services: Any, world: dict[str, Any]) -> None:
    keys = world["keys"]
    ra = H(keys["ra"])
    external = client.post("/api/v1/admin/requests", headers=ra,
                           json={"profile": "agency-seal", "agency_code": TOKEN_AGENCY, "csr": make_csr()})
    assert external.status_code == 201
    # Settings changed since: the agency may no longer use an external token.
    profiles = services.settings.section(ProfilesSettings).by_name
    strict = services.settings.with_sections(ProfilesSettings({
        **profiles,
        "agency-seal": dataclasses.replace(profiles["agency-seal"], external_token_agencies=()),
    }))
    admin2 = Caller(0, "admin2", Role.CA_ADMIN)
    with pytest.raises(KysoError) as err:
        issuance.approve(services.sessions, services.keystore, strict, admin2, external.get_json()["request"]["id"])
    assert err.value.code == "key-source-not-allowed"
    # The requester's role changed since: its request no longer passes.
    hsm = client.post("/api/v1/admin/requests", headers=ra,
                      json={"profile": "agency-seal", "agency_code": AGENCY, "generate_key": True})
    with transaction(services.sessions) as session:
        session.execute(update(User).where(User.name == "ra").values(role="client"))
    _problem(client.post(f"/api/v1/admin/requests/{hsm.get_json()['request']['id']}/approve",
                         headers=H(keys["admin2"])), 403, "profile-not-allowed")


def test_settings_cannot_open_ca_or_service_profiles(database: Any, hsm_token: Any) -> None:
    for profile, change in (("sub-ca", {"requesters": ["ca-admin", "client"]}),
                            ("ocsp-responder", {"key_sources": ["hsm", "csr"]}),
                            ("tsa", {"requesters": ["ra-officer"]}),
                            ("report-seal", {"requesters": ["ca-admin", "client"]}),
                            ("report-seal", {"key_sources": ["hsm", "csr"]}),
                            ("agency-seal", {"key_sources": ["hsm", "csr"]}),
                            ("official-signing", {"key_sources": ["csr"]})):
        with pytest.raises(KysoError) as err:
            make_settings(database, hsm_token, profiles={profile: change})
        assert err.value.code == "config-invalid"
