"""Item 23 of issue 13: a key revoked for keyCompromise was certified again, and one key was
certified for four agencies. A key is known by the hash of the key itself; a key of any
certificate revoked for keyCompromise is refused (409 key-compromised) and a key certified
for one subject is refused for another (409 key-in-use), when filing and again in the
issuance core at approval."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import make_settings, make_user
from tests.pki import make_csr, software_key

pytestmark = pytest.mark.both_databases

AGENCIES = ("000.00.12.H31", "000.00.13.H31", "000.00.14.H31")


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def settings(database: Any, hsm_token: Any) -> Any:
    # Seals from CSRs: these agencies keep their seals on external tokens.
    return make_settings(database, hsm_token, profiles={"agency-seal": {"external_token_agencies": list(AGENCIES)}})


@pytest.fixture
def keys(client: Any, services: Any, ca: Any) -> dict[str, str]:
    keys = {"admin": make_user(services, "admin", "ca-admin"), "ra": make_user(services, "ra", "ra-officer"),
            "eoffice": make_user(services, "eoffice", "client")}
    for i, code in enumerate(AGENCIES):
        assert client.post("/api/v1/admin/agencies", headers=H(keys["ra"]),
                           json={"code": code, "name": f"SỞ SỐ {i}", "locality": "Hải Phòng"}).status_code == 201
    assert client.post("/api/v1/admin/clients/eoffice/agencies", headers=H(keys["admin"]),
                       json={"agency_code": AGENCIES[0]}).status_code == 201
    return keys


def _file(client: Any, keys: dict[str, str], agency: str, csr: str) -> Any:
    return client.post("/api/v1/admin/requests", headers=H(keys["ra"]),
                       json={"profile": "agency-seal", "agency_code": agency, "csr": csr})


def _seal(client: Any, keys: dict[str, str], agency: str, csr: str) -> str:
    r = _file(client, keys, agency, csr)
    assert r.status_code == 201, r.get_json()
    r = client.post(f"/api/v1/admin/requests/{r.get_json()['request']['id']}/approve", headers=H(keys["admin"]))
    assert r.status_code == 201, r.get_json()
    return str(r.get_json()["certificate"]["serial"])


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status and r.get_json()["code"] == code, (r.status_code, r.get_json())


def test_compromised_key_is_never_certified_again(client: Any, keys: dict[str, str]) -> None:
    key = software_key("ec-p256")
    serial = _seal(client, keys, AGENCIES[0], make_csr(key=key))
    # A request filed before the revocation, approved after it: refused in the issuance core.
    late = _file(client, keys, AGENCIES[0], make_csr(key=key))
    assert late.status_code == 201
    assert client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=H(keys["ra"]),
                       json={"reason": "key_compromise"}).status_code == 200
    _problem(client.post(f"/api/v1/admin/requests/{late.get_json()['request']['id']}/approve",
                         headers=H(keys["admin"])), 409, "key-compromised")
    for agency in AGENCIES[:2]:
        _problem(_file(client, keys, agency, make_csr(key=key)), 409, "key-compromised")
    # Not for a client certificate either.
    _problem(client.post("/api/v1/admin/requests", headers=H(keys["eoffice"]),
                         json={"profile": "client-tls", "agency_code": AGENCIES[0], "csr": make_csr(key=key)}),
             409, "key-compromised")
    # A new key is fine.
    _seal(client, keys, AGENCIES[0], make_csr())


def test_one_key_one_subject(client: Any, keys: dict[str, str]) -> None:
    key = software_key("ec-p256")
    serial = _seal(client, keys, AGENCIES[0], make_csr(key=key))
    for agency in AGENCIES[1:]:
        _problem(_file(client, keys, agency, make_csr(key=key)), 409, "key-in-use")
    _problem(client.post("/api/v1/admin/requests", headers=H(keys["eoffice"]),
                         json={"profile": "client-tls", "agency_code": AGENCIES[0], "csr": make_csr(key=key)}),
             409, "key-in-use")
    # Filed for two agencies before either was issued: the second approval is refused.
    key2 = software_key("ec-p256")
    first, second = (_file(client, keys, a, make_csr(key=key2)) for a in AGENCIES[1:])
    assert first.status_code == second.status_code == 201
    assert client.post(f"/api/v1/admin/requests/{first.get_json()['request']['id']}/approve",
                       headers=H(keys["admin"])).status_code == 201
    _problem(client.post(f"/api/v1/admin/requests/{second.get_json()['request']['id']}/approve",
                         headers=H(keys["admin"])), 409, "key-in-use")
    # The same subject may certify its key again: a renewal, or a second request.
    rid = client.post(f"/api/v1/admin/certificates/{serial}/renew", headers=H(keys["ra"])).get_json()["request"]["id"]
    assert client.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(keys["admin"])).status_code == 201
    _seal(client, keys, AGENCIES[0], make_csr(key=key))


def test_another_encoding_of_the_key_is_the_same_key(client: Any, keys: dict[str, str]) -> None:
    """The same EC key with its point compressed is the same key."""
    from asn1crypto import keys as asn1_keys

    from tests.pki import csr_with_spki

    key = software_key("ec-p256")
    _seal(client, keys, AGENCIES[0], make_csr(key=key))
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    compressed = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    other = asn1_keys.PublicKeyInfo({"algorithm": asn1_keys.PublicKeyInfo.load(der)["algorithm"],
                                     "public_key": compressed}).dump()
    assert other != der
    _problem(_file(client, keys, AGENCIES[1], csr_with_spki(key, other)), 409, "key-in-use")


def test_concurrent_approvals_of_one_key_for_two_subjects(app: Any, client: Any, keys: dict[str, str]) -> None:
    import threading

    key = software_key("ec-p256")
    rids = [_file(client, keys, agency, make_csr(key=key)).get_json()["request"]["id"] for agency in AGENCIES]
    codes: list[int] = []
    start = threading.Barrier(len(rids))

    def approve(rid: int) -> None:
        c = app.test_client()
        start.wait()
        codes.append(c.post(f"/api/v1/admin/requests/{rid}/approve", headers=H(keys["admin"])).status_code)

    threads = [threading.Thread(target=approve, args=(rid,)) for rid in rids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201] + [409] * (len(rids) - 1)
