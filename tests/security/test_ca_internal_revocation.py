"""Items 15 and 8 of issue 13.

15: one RA officer alone revoked the TSA and OCSP responder certificates for keyCompromise,
which turns every earlier B-T/B-LT document INDETERMINATE. The CA's own service certificates
are for CA admins only, and a revocation needs a second CA admin.
8: a certificate on hold was renewed and rekeyed, answering the hold behind the staff's back.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ca_admin import issuance, ocsp, revocation
from ca_admin.models import IssuedCertificate
from kyso import audit
from kyso.callers import Caller, Role
from kyso.db import transaction
from kyso.errors import KysoError
from kyso.problems import http_status
from tests.conftest import make_user
from tests.signing.conftest import H, signing  # noqa: F401 - the signing world fixture

pytestmark = pytest.mark.both_databases


def _responder_serial(services: Any) -> str:
    responder = ocsp.current_responder(services.sessions, services.keystore, services.settings)
    with transaction(services.sessions) as session:
        row = session.get(IssuedCertificate, responder.certificate_id)
        assert row is not None and row.profile == "ocsp-responder"
        return row.serial_hex


def _status(services: Any, serial: str) -> str:
    with transaction(services.sessions) as session:
        return str(session.execute(select(IssuedCertificate.status)
                                   .where(IssuedCertificate.serial_hex == serial)).scalar_one())


def test_ra_officer_cannot_revoke_or_hold_the_responder(client: Any, services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    serial = _responder_serial(services)
    ra = H(signing["keys"]["ra"])
    for verb, body in (("revoke", {"reason": "key_compromise"}), ("hold", {})):
        r = client.post(f"/api/v1/admin/certificates/{serial}/{verb}", headers=ra, json=body)
        assert r.status_code == 403, r.get_json()
        assert r.get_json()["action"] == "certificate.revoke-ca-internal"
    assert _status(services, serial) == "good"


def test_one_admin_asks_a_second_approves(client: Any, services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    serial = _responder_serial(services)
    first = H(signing["keys"]["admin"])
    second = H(make_user(services, "admin2", "ca-admin"))
    r = client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=first,
                    json={"reason": "key_compromise"})
    assert r.status_code == 202, r.get_json()
    rid = r.get_json()["revocation_request"]["id"]
    assert _status(services, serial) == "good"
    # Asking again while one waits, and approving one's own request, are refused.
    again = client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=second, json={})
    assert again.status_code == 409 and again.get_json()["code"] == "revocation-already-pending"
    own = client.post(f"/api/v1/admin/revocations/{rid}/approve", headers=first)
    assert own.status_code == 403 and own.get_json()["code"] == "four-eyes"
    ra = client.post(f"/api/v1/admin/revocations/{rid}/approve", headers=H(signing["keys"]["ra"]))
    assert ra.status_code == 403
    assert _status(services, serial) == "good"
    listed = client.get("/api/v1/admin/revocations", headers=second).get_json()["revocation_requests"]
    assert [x["id"] for x in listed] == [rid]
    done = client.post(f"/api/v1/admin/revocations/{rid}/approve", headers=second)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "revoked" and done.get_json()["revocation_reason"] == "key_compromise"
    assert _status(services, serial) == "revoked"
    twice = client.post(f"/api/v1/admin/revocations/{rid}/approve", headers=second)
    assert twice.status_code == 409
    with transaction(services.sessions) as session:
        actions = [(r["action"], r["actor"]) for r in audit.export(session, None)]
    assert ("cert.revoke.request", "user:admin") in actions
    assert ("cert.revoke.approve", "user:admin2") in actions


def test_a_request_can_be_rejected(client: Any, services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    serial = _responder_serial(services)
    first = H(signing["keys"]["admin"])
    rid = client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=first,
                      json={"reason": "superseded"}).get_json()["revocation_request"]["id"]
    assert client.post(f"/api/v1/admin/revocations/{rid}/reject", headers=first, json={}).status_code == 400
    r = client.post(f"/api/v1/admin/revocations/{rid}/reject", headers=first, json={"reason": "asked in error"})
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    assert _status(services, serial) == "good"


def test_no_direct_path_around_the_second_admin(services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    serial = _responder_serial(services)
    with pytest.raises(KysoError) as info:
        issuance.revoke(services.sessions, Caller(1, "admin", Role.CA_ADMIN), serial, "key_compromise")
    assert info.value.code == "revocation-needs-second-admin"
    with pytest.raises(KysoError) as info:
        revocation.request(services.sessions, Caller(1, "ra", Role.RA_OFFICER), serial, "key_compromise")
    assert http_status(info.value) == 403
    assert _status(services, serial) == "good"


def test_an_ordinary_certificate_is_still_revoked_at_once(client: Any, services: Any,
                                                          signing: dict[str, Any]) -> None:  # noqa: F811
    r = client.post(f"/api/v1/admin/certificates/{signing['seal']}/revoke", headers=H(signing["keys"]["ra"]),
                    json={"reason": "superseded"})
    assert r.status_code == 200 and r.get_json()["status"] == "revoked"


@pytest.mark.parametrize("kind", ["renew", "rekey"])
def test_a_held_certificate_is_not_renewed_or_rekeyed(client: Any, services: Any, signing: dict[str, Any],  # noqa: F811
                                                      kind: str) -> None:
    ra = H(signing["keys"]["ra"])
    serial = signing["seal"]
    assert client.post(f"/api/v1/admin/certificates/{serial}/hold", headers=ra).status_code == 200
    r = client.post(f"/api/v1/admin/certificates/{serial}/{kind}", headers=ra, json={})
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["code"] == "certificate-on-hold"
    assert client.post(f"/api/v1/admin/certificates/{serial}/release", headers=ra).status_code == 200
    after = client.post(f"/api/v1/admin/certificates/{serial}/{kind}", headers=ra, json={})
    assert after.status_code in (200, 201, 202), after.get_json()
