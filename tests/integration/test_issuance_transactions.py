"""What an issuance costs the database (issue 15 item 1): the HSM key is generated after its
intent commits and before the certificate's short write transaction, never while a write
transaction (on SQLite, the database's write lock) is open; an approval with a generated key
costs at most two write transactions, the intent's and the certificate's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from ca_admin.models import HsmKeyIntent
from kyso.db import read_transaction
from tests.conftest import make_settings, make_user

pytestmark = pytest.mark.both_databases

AGENCY = "000.00.12.H31"


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def settings(database: Any, hsm_token: Any) -> Any:
    # A second profile that takes HSM keys and issues at once: a request filed with
    # generate_key issues in the filing request itself.
    return make_settings(database, hsm_token, profiles={"official-signing": {"auto_approve": True}})


@contextmanager
def watched(services: Any) -> Iterator[dict[str, Any]]:
    """Transactions begun on the engine meanwhile (read and write), and the write
    transactions open at each moment."""
    seen: dict[str, Any] = {"read": 0, "write": 0, "open": set()}

    def begin(conn: Any) -> None:
        if conn.get_execution_options().get("kyso_readonly"):
            seen["read"] += 1
        else:
            seen["write"] += 1
            seen["open"].add(id(conn))

    def end(conn: Any) -> None:
        seen["open"].discard(id(conn))

    listeners = (("begin", begin), ("commit", end), ("rollback", end))
    for name, fn in listeners:
        event.listen(services.engine, name, fn)
    try:
        yield seen
    finally:
        for name, fn in listeners:
            event.remove(services.engine, name, fn)


@pytest.fixture
def world(client: Any, services: Any, ca: Any) -> dict[str, Any]:
    keys = {"ra": make_user(services, "ra", "ra-officer"), "admin": make_user(services, "admin", "ca-admin")}
    assert client.post("/api/v1/admin/agencies", headers=H(keys["ra"]),
                       json={"code": AGENCY, "name": "SỞ NỘI VỤ"}).status_code == 201
    r = client.post("/api/v1/admin/officials", headers=H(keys["ra"]),
                    json={"agency_code": AGENCY, "full_name": "Nguyễn Văn An", "title": "Giám đốc"})
    return {"keys": keys, "official_id": r.get_json()["id"]}


def spy_keygen(services: Any, monkeypatch: pytest.MonkeyPatch, seen: dict[str, Any]) -> list[int]:
    """For each HSM key generation from now on, how many write transactions were open."""
    open_at_keygen: list[int] = []
    generate = services.keystore.generate_key_pair

    def spy(label: str, spec: Any) -> Any:
        open_at_keygen.append(len(seen["open"]))
        return generate(label, spec)

    monkeypatch.setattr(services.keystore, "generate_key_pair", spy)
    return open_at_keygen


def _file(client: Any, world: dict[str, Any]) -> int:
    r = client.post("/api/v1/admin/requests", headers=H(world["keys"]["ra"]),
                    json={"profile": "agency-seal", "agency_code": AGENCY, "generate_key": True,
                          "key_type": "ec-p256"})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["request"]["id"])


def _intents(services: Any) -> int:
    with read_transaction(services.sessions) as session:
        return int(session.execute(select(func.count()).select_from(HsmKeyIntent)).scalar_one())


def test_an_approval_with_a_generated_key_costs_two_write_transactions(
        client: Any, services: Any, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The RA officer files, a CA admin approves: the approval writes the key's intent, then
    the certificate (row, request, intent cleared, audit) in one transaction; the rest is read."""
    _file(client, world)  # warms the caches (the CA's parts, the caller)
    rid = _file(client, world)
    with watched(services) as seen:
        open_at_keygen = spy_keygen(services, monkeypatch, seen)
        r = client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(world["keys"]["admin"]))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["certificate"]["key_in_hsm"] is True
    assert open_at_keygen == [0], "the key was generated while a write transaction was open"
    assert seen["write"] <= 2, seen
    assert _intents(services) == 0


def test_an_auto_approved_request_with_a_generated_key_costs_two_write_transactions(
        client: Any, services: Any, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"profile": "official-signing", "agency_code": AGENCY, "generate_key": True,
            "key_type": "ec-p256", "official_id": world["official_id"]}
    assert client.post("/api/v1/admin/requests", headers=H(world["keys"]["ra"]), json=body).status_code == 201
    with watched(services) as seen:
        open_at_keygen = spy_keygen(services, monkeypatch, seen)
        r = client.post("/api/v1/admin/requests", headers=H(world["keys"]["ra"]), json=body)
    assert r.status_code == 201, r.get_json()
    assert "certificate" in r.get_json()
    assert open_at_keygen == [0], "the key was generated while a write transaction was open"
    assert seen["write"] <= 2, seen
    assert _intents(services) == 0


def test_a_rekey_with_a_generated_key_does_not_generate_under_a_write_transaction(
        client: Any, services: Any, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    rid = _file(client, world)
    old = client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(world["keys"]["admin"])).get_json()
    serial = old["certificate"]["serial"]
    r = client.post(f"/api/v1/admin/certificates/{serial}/rekey", headers=H(world["keys"]["ra"]), json={})
    assert r.status_code in (200, 201), r.get_json()
    new_rid = r.get_json()["request"]["id"]
    with watched(services) as seen:
        open_at_keygen = spy_keygen(services, monkeypatch, seen)
        r = client.post(f"/api/v1/admin/requests/{new_rid}/approve", headers=H(world["keys"]["admin"]))
    assert r.status_code == 201, r.get_json()
    # The new certificate's key, and the OCSP responder's if the republication needs one.
    assert open_at_keygen and set(open_at_keygen) == {0}, open_at_keygen
    assert client.get(f"/api/v1/admin/certificates/{serial}",
                      headers=H(world["keys"]["admin"])).get_json()["status"] == "revoked"


def test_a_refused_approval_destroys_the_generated_key(
        client: Any, services: Any, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is generated before the certificate's transaction; when that transaction
    aborts (here the signature of the certificate fails), the key is destroyed and its intent
    cleared."""
    from ca_admin import issuance

    rid = _file(client, world)
    labels: list[str] = []
    generate = services.keystore.generate_key_pair

    def spy(label: str, spec: Any) -> Any:
        labels.append(label)
        return generate(label, spec)

    def fail(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("the HSM went away while signing")

    monkeypatch.setattr(services.keystore, "generate_key_pair", spy)
    monkeypatch.setattr(issuance, "sign_certificate", fail)
    r = client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(world["keys"]["admin"]))
    assert r.status_code == 500
    assert len(labels) == 1
    from hsm import KeyNotFound

    with pytest.raises(KeyNotFound):
        services.keystore.find(labels[0])
    assert _intents(services) == 0
    monkeypatch.undo()
    listed = client.get("/api/v1/admin/requests?status=pending", headers=H(world["keys"]["admin"])).get_json()
    assert rid in [q["id"] for q in listed["requests"]]


def test_reading_certificates_and_requests_writes_nothing(client: Any, services: Any, world: dict[str, Any]) -> None:
    """Read-only requests read in read transactions: they take no write lock (on SQLite, the
    database's) and no row lock."""
    rid = _file(client, world)
    serial = client.post(f"/api/v1/admin/requests/{rid}/approve",
                         headers=H(world["keys"]["admin"])).get_json()["certificate"]["serial"]
    admin = H(world["keys"]["admin"])
    with watched(services) as seen:
        for url in (f"/api/v1/admin/certificates/{serial}", f"/api/v1/admin/certificates/{serial}?format=p7b",
                    f"/api/v1/admin/certificates?agency={AGENCY}", "/api/v1/admin/certificates/expiring?days=3650",
                    "/api/v1/admin/requests"):
            assert client.get(url, headers=admin).status_code == 200, url
    assert seen["write"] == 0, seen
    assert seen["read"] >= 5
