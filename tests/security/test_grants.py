"""Item 5 of issue 13: nothing could be taken back. The database had the columns but
nothing set them. Every grant here is taken back, audited, and authentication refuses what
was taken: revoked, rotated-out and expired keys, disabled users, unbound clients, inactive
officials' edits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from kyso import audit
from kyso.callers import ApiKey
from kyso.db import transaction
from tests.conftest import cli_env, cli_users, make_settings, make_user, run_kyso
from tests.pki import make_csr

AGENCY = "000.00.12.H31"


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_id(key: str) -> str:
    return key.split("_")[1]


@pytest.fixture
def auth_settings() -> dict[str, Any]:
    return {}  # a test parametrizes this to change [auth]


@pytest.fixture
def settings(auth_settings: dict[str, Any], database: Any, hsm_token: Any) -> Any:
    return make_settings(database, hsm_token, auth=auth_settings)


@pytest.fixture
def keys(services: Any) -> dict[str, str]:
    return {"admin": make_user(services, "admin", "ca-admin"),
            "ra": make_user(services, "ra", "ra-officer"),
            "auditor": make_user(services, "auditor", "auditor"),
            "eoffice": make_user(services, "eoffice", "client"),
            "other": make_user(services, "other", "client")}


def whoami(client: Any, key: str) -> int:
    return int(client.get("/api/v1/admin/whoami", headers=H(key)).status_code)


def actions(services: Any) -> list[tuple[str, str, dict[str, Any]]]:
    with transaction(services.sessions) as session:
        return [(r["action"], r["target"], r["details"]) for r in audit.export(session, None)]


def test_revoked_key_stops_at_once(client: Any, services: Any, keys: dict[str, str]) -> None:
    assert whoami(client, keys["eoffice"]) == 200
    r = client.post(f"/api/v1/admin/keys/{key_id(keys['eoffice'])}/revoke", headers=H(keys["admin"]))
    assert r.status_code == 200 and r.get_json()["user"] == "eoffice"
    assert whoami(client, keys["eoffice"]) == 401
    assert ("user.api-key.revoke", "user:eoffice", {"key_id": key_id(keys["eoffice"])}) in actions(services)


def test_only_an_admin_revokes_someone_elses_key(client: Any, keys: dict[str, str]) -> None:
    # A client (or an RA officer) trying to cut off another caller: that key does not exist to it.
    for attacker in ("other", "ra"):
        r = client.post(f"/api/v1/admin/keys/{key_id(keys['eoffice'])}/revoke", headers=H(keys[attacker]))
        assert r.status_code == 404 and r.get_json()["code"] == "api-key-not-found"
    assert whoami(client, keys["eoffice"]) == 200
    # Its own key it may revoke (a leaked key is cut off by its holder).
    r = client.post(f"/api/v1/admin/keys/{key_id(keys['other'])}/revoke", headers=H(keys["other"]))
    assert r.status_code == 200 and whoami(client, keys["other"]) == 401


def test_disabled_user_is_refused_and_can_be_enabled(client: Any, services: Any, keys: dict[str, str]) -> None:
    for attacker in ("ra", "auditor", "eoffice"):
        r = client.post("/api/v1/admin/users/other/disable", headers=H(keys[attacker]))
        assert r.status_code == 403
    r = client.post("/api/v1/admin/users/eoffice/disable", headers=H(keys["admin"]))
    assert r.status_code == 200 and r.get_json()["status"] == "disabled"
    assert whoami(client, keys["eoffice"]) == 401
    # A disabled user gets no fresh key by rotation either.
    r = client.post("/api/v1/admin/users/eoffice/rotate-key", headers=H(keys["admin"]))
    assert r.status_code == 409 and r.get_json()["code"] == "user-disabled"
    r = client.post("/api/v1/admin/users/eoffice/enable", headers=H(keys["admin"]))
    assert r.status_code == 200 and whoami(client, keys["eoffice"]) == 200
    done = [a for a, t, _ in actions(services) if t == "user:eoffice"]
    assert done[-2:] == ["user.disable", "user.enable"]
    # An admin cannot lock themself out.
    r = client.post("/api/v1/admin/users/admin/disable", headers=H(keys["admin"]))
    assert r.status_code == 403 and whoami(client, keys["admin"]) == 200


def test_rotation_keeps_the_old_key_for_the_grace_period(client: Any, services: Any, keys: dict[str, str]) -> None:
    r = client.post("/api/v1/admin/me/rotate-key", headers=H(keys["eoffice"]))
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    new = r.get_json()["api_key"]
    assert new != keys["eoffice"] and whoami(client, new) == 200
    assert whoami(client, keys["eoffice"]) == 200  # within the default 24 h
    with transaction(services.sessions) as session:
        old = session.execute(select(ApiKey).where(ApiKey.key_id == key_id(keys["eoffice"]))).scalar_one()
        assert old.expires_at is not None
        left = old.expires_at - dt.datetime.now(dt.UTC)
        assert dt.timedelta(hours=23) < left <= dt.timedelta(hours=24)
        old.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)  # the grace is over
    assert whoami(client, keys["eoffice"]) == 401 and whoami(client, new) == 200
    listed = client.get("/api/v1/admin/users", headers=H(keys["auditor"])).get_json()["users"]
    eoffice = next(u for u in listed if u["name"] == "eoffice")
    assert [k["usable"] for k in eoffice["keys"]] == [False, True]
    assert "api_key" not in repr(listed) and new.split("_", 2)[2] not in repr(listed)


@pytest.mark.parametrize("auth_settings", [{"rotation_grace_hours": 0}])
def test_rotation_without_grace_stops_the_old_key_at_once(client: Any, keys: dict[str, str]) -> None:
    r = client.post("/api/v1/admin/users/eoffice/rotate-key", headers=H(keys["admin"]))
    assert r.status_code == 201
    assert whoami(client, keys["eoffice"]) == 401 and whoami(client, r.get_json()["api_key"]) == 200
    # Only CA admins rotate someone else's keys.
    assert client.post("/api/v1/admin/users/other/rotate-key", headers=H(keys["ra"])).status_code == 403
    assert whoami(client, keys["other"]) == 200


@pytest.mark.parametrize("auth_settings", [{"default_key_days": 30}])
def test_keys_expire(client: Any, services: Any, keys: dict[str, str]) -> None:
    new = client.post("/api/v1/admin/me/rotate-key", headers=H(keys["eoffice"])).get_json()["api_key"]
    assert whoami(client, new) == 200
    with transaction(services.sessions) as session:
        row = session.execute(select(ApiKey).where(ApiKey.key_id == key_id(new))).scalar_one()
        assert row.expires_at is not None
        assert dt.timedelta(days=29) < row.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert whoami(client, new) == 401


def test_unbound_client_no_longer_acts_for_the_agency(client: Any, services: Any, keys: dict[str, str]) -> None:
    assert client.post("/api/v1/admin/agencies", headers=H(keys["ra"]),
                       json={"code": AGENCY, "name": "Sở Nội vụ"}).status_code == 201
    assert client.post("/api/v1/admin/clients/eoffice/agencies", headers=H(keys["admin"]),
                       json={"agency_code": AGENCY}).status_code == 201
    assert [a["code"] for a in client.get("/api/v1/admin/agencies", headers=H(keys["eoffice"])
                                          ).get_json()["agencies"]] == [AGENCY]
    assert client.delete(f"/api/v1/admin/clients/eoffice/agencies/{AGENCY}",
                         headers=H(keys["ra"])).status_code == 403
    r = client.delete(f"/api/v1/admin/clients/eoffice/agencies/{AGENCY}", headers=H(keys["admin"]))
    assert r.status_code == 200 and r.get_json()["unbound"] is True
    assert client.get("/api/v1/admin/agencies", headers=H(keys["eoffice"])).get_json()["agencies"] == []
    # (client-tls: the profile a client may request; the agency scope is what refuses it)
    r = client.post("/api/v1/admin/requests", headers=H(keys["eoffice"]),
                    json={"profile": "client-tls", "agency_code": AGENCY, "csr": make_csr()})
    assert r.status_code == 403 and r.get_json()["code"] == "agency-not-bound"
    assert ("client.unbind", "user:eoffice", {"agency": AGENCY}) in actions(services)


def test_official_edited_and_deactivated_without_personal_data_in_the_audit(
        client: Any, services: Any, keys: dict[str, str]) -> None:
    assert client.post("/api/v1/admin/agencies", headers=H(keys["ra"]),
                       json={"code": AGENCY, "name": "Sở Nội vụ"}).status_code == 201
    r = client.post("/api/v1/admin/officials", headers=H(keys["ra"]),
                    json={"agency_code": AGENCY, "full_name": "Nguyễn Văn An", "citizen_id": "001234567890"})
    oid = r.get_json()["id"]
    for attacker in ("eoffice", "auditor"):
        assert client.patch(f"/api/v1/admin/officials/{oid}", headers=H(keys[attacker]),
                            json={"status": "inactive"}).status_code == 403
    r = client.patch(f"/api/v1/admin/officials/{oid}", headers=H(keys["ra"]),
                     json={"title": "Phó Giám đốc", "citizen_id": "001234567891", "status": "inactive"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "inactive" and r.get_json()["citizen_id"] == "001234567891"
    r = client.patch(f"/api/v1/admin/officials/{oid}", headers=H(keys["ra"]), json={"agency_id": 7})
    assert r.status_code == 400
    entry = [d for a, _t, d in actions(services) if a == "official.update"]
    assert entry == [{"title": "Phó Giám đốc", "citizen_id": "changed",
                      "status": {"from": "active", "to": "inactive"}}]
    assert "001234567891" not in repr(actions(services))


def test_cli_takes_grants_back(database: Any, hsm_token: Any, tmp_path: Any) -> None:
    env = cli_env(database, hsm_token)
    assert run_kyso(["db", "upgrade"], env).returncode == 0
    op = cli_users(env, ("admin", "ca-admin"), ("eoffice", "client"))
    made = run_kyso(["users", "add-key", "eoffice"], op["admin"])
    kid = made.stdout.strip().split("_")[1]
    as_admin = {**op["admin"], "KYSO_OPERATOR": "admin"}
    as_client = {**op["eoffice"], "KYSO_OPERATOR": "eoffice"}
    denied = run_kyso(["users", "disable", "admin"], as_client)
    assert denied.returncode != 0 and "forbidden" in denied.stderr
    assert run_kyso(["users", "revoke-key", kid], as_admin).returncode == 0
    shown = run_kyso(["users", "show", "eoffice"], as_admin)
    assert shown.returncode == 0 and '"usable": false' in shown.stdout
    assert run_kyso(["users", "disable", "eoffice"], as_admin).returncode == 0
    listed = run_kyso(["users", "list"], env).stdout
    assert "eoffice\tclient\tdisabled" in listed
