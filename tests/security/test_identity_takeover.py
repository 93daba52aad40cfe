"""Item 1 of issue 13, the critical one: a client filed a client-tls request with another
client's name as common_name, it was auto-approved, and login by client certificate mapped
the certificate's CN to a user, so client A logged in as client B. A client certificate now
belongs to the user it was issued to (recorded at issuance), carries that user's name, comes
from the client's own CSR, within a quota per owner; login uses the recorded binding only."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text, update

from ca_admin.models import IssuedCertificate
from kyso.db import transaction
from tests.conftest import make_settings, make_user
from tests.pki import make_csr

pytestmark = pytest.mark.both_databases

AGENCY = "000.00.12.H31"
HEADER = "X-SSL-Client-Cert"
PROXY = {"REMOTE_ADDR": "10.1.1.1"}
QUOTA = 3


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def settings(database: Any, hsm_token: Any) -> Any:
    return make_settings(database, hsm_token,
                         server={"trusted_proxies": ["10.1.1.1"], "client_cert_header": HEADER},
                         profiles={"client-tls": {"max_active_per_owner": QUOTA}})


@pytest.fixture
def world(client: Any, services: Any, ca: Any) -> dict[str, str]:
    keys = {"admin": make_user(services, "admin", "ca-admin"), "ra": make_user(services, "ra", "ra-officer"),
            "a": make_user(services, "client-a", "client"), "b": make_user(services, "client-b", "client")}
    assert client.post("/api/v1/admin/agencies", headers=H(keys["ra"]),
                       json={"code": AGENCY, "name": "SỞ NỘI VỤ", "locality": "Hải Phòng"}).status_code == 201
    for name in ("client-a", "client-b"):
        assert client.post(f"/api/v1/admin/clients/{name}/agencies", headers=H(keys["admin"]),
                           json={"agency_code": AGENCY}).status_code == 201
    return keys


def login(client: Any, pem_text: str) -> Any:
    return client.get("/api/v1/admin/whoami", headers={HEADER: quote(pem_text)}, environ_base=PROXY)


def request_tls(client: Any, key: str, **extra: Any) -> Any:
    return client.post("/api/v1/admin/requests", headers=H(key),
                       json={"profile": "client-tls", "agency_code": AGENCY, "csr": make_csr(), **extra})


def test_client_a_cannot_become_client_b(client: Any, world: dict[str, str]) -> None:
    """The exact attack: A asks for client-tls with B's name, then logs in with it."""
    r = request_tls(client, world["a"], common_name="client-b")
    if r.status_code == 201:  # before the fix: issued at once; it must still not log in as B
        who = login(client, r.get_json()["certificate_pem"])
        assert who.status_code != 200 or who.get_json()["name"] != "client-b", "client A became client B"
    assert r.status_code == 403, r.get_json()
    assert r.get_json()["code"] == "certificate-subject-not-own"
    # Naming B as the owner is refused the same way.
    r = request_tls(client, world["a"], owner="client-b")
    assert r.status_code == 403 and r.get_json()["code"] == "certificate-subject-not-own"


def test_client_gets_a_certificate_in_its_own_name(client: Any, world: dict[str, str]) -> None:
    r = request_tls(client, world["a"])
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["certificate"]["owner"] == "client-a" and body["request"]["owner"] == "client-a"
    assert "Common Name: client-a" in body["certificate"]["subject"]
    who = login(client, body["certificate_pem"])
    assert who.status_code == 200 and who.get_json()["name"] == "client-a"


def test_login_follows_the_recorded_owner_not_the_name(client: Any, services: Any,
                                                       world: dict[str, str]) -> None:
    # Staff issue a certificate for B (it carries B's name) ...
    r = request_tls(client, world["ra"], owner="client-b")
    assert r.status_code == 201, r.get_json()
    pem_text, serial = r.get_json()["certificate_pem"], r.get_json()["certificate"]["serial"]
    assert login(client, pem_text).get_json()["name"] == "client-b"
    # ... bound to A instead, it logs in as A whatever its CN says; unbound, as nobody.
    with transaction(services.sessions) as session:
        a_id = session.execute(text("SELECT id FROM users WHERE name = 'client-a'")).scalar_one()
        session.execute(update(IssuedCertificate).where(IssuedCertificate.serial_hex == serial)
                        .values(owner_user_id=a_id))
    assert login(client, pem_text).get_json()["name"] == "client-a"
    with transaction(services.sessions) as session:
        session.execute(update(IssuedCertificate).where(IssuedCertificate.serial_hex == serial)
                        .values(owner_user_id=None))
    assert login(client, pem_text).status_code == 401


def test_staff_name_an_active_client_owner(client: Any, world: dict[str, str]) -> None:
    for extra in ({}, {"owner": "ra"}, {"owner": "nobody"}, {"owner": "client-b", "common_name": "client-a"}):
        r = request_tls(client, world["ra"], **extra)
        assert r.status_code == 400 and r.get_json()["code"] == "certificate-owner-invalid", (extra, r.get_json())


def test_client_tls_only_from_a_csr(client: Any, world: dict[str, str]) -> None:
    r = client.post("/api/v1/admin/requests", headers=H(world["a"]),
                    json={"profile": "client-tls", "agency_code": AGENCY, "generate_key": True})
    assert r.status_code == 422 and r.get_json()["code"] == "key-source-not-allowed", r.get_json()


def test_quota_per_owner(client: Any, world: dict[str, str]) -> None:
    serials = []
    for _ in range(QUOTA):
        r = request_tls(client, world["a"])
        assert r.status_code == 201, r.get_json()
        serials.append(r.get_json()["certificate"]["serial"])
    r = request_tls(client, world["a"])
    assert r.status_code == 409 and r.get_json()["code"] == "certificate-quota-exceeded"
    # Staff cannot exceed it for the client either; another client has its own quota.
    assert request_tls(client, world["ra"], owner="client-a").status_code == 409
    assert request_tls(client, world["b"]).status_code == 201
    # Renewing is a further certificate; revoking one frees a place.
    assert client.post(f"/api/v1/admin/certificates/{serials[0]}/renew", headers=H(world["a"])).status_code == 409
    assert client.post(f"/api/v1/admin/certificates/{serials[0]}/revoke", headers=H(world["ra"]),
                       json={"reason": "superseded"}).status_code == 200
    assert request_tls(client, world["a"]).status_code == 201


def test_quota_holds_under_concurrent_requests(app: Any, world: dict[str, str]) -> None:
    csrs = [make_csr() for _ in range(4 * QUOTA)]
    codes: list[int] = []
    start = threading.Barrier(len(csrs))

    def one(csr: str) -> None:
        c = app.test_client()
        start.wait()
        r = c.post("/api/v1/admin/requests", headers=H(world["a"]),
                   json={"profile": "client-tls", "agency_code": AGENCY, "csr": csr})
        codes.append(r.status_code)

    threads = [threading.Thread(target=one, args=(csr,)) for csr in csrs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201] * QUOTA + [409] * (len(csrs) - QUOTA)


def test_client_renews_only_its_own(client: Any, world: dict[str, str]) -> None:
    r = request_tls(client, world["b"])
    serial = r.get_json()["certificate"]["serial"]
    r = client.post(f"/api/v1/admin/certificates/{serial}/renew", headers=H(world["a"]))
    assert r.status_code == 403 and r.get_json()["code"] == "certificate-subject-not-own"
    r = client.post(f"/api/v1/admin/certificates/{serial}/renew", headers=H(world["b"]))
    assert r.status_code == 201 and r.get_json()["certificate"]["owner"] == "client-b"
