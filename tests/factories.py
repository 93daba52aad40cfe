"""Factories: the world a test stands on, made through the services (not over HTTP).

Each one calls the service function the matching HTTP view calls, as the given user, so the
rows, the audit trail and the keys in the token are the ones the API would leave; only the
HTTP round trip is skipped. Tests whose subject is that HTTP flow (issuance, approvals,
enrolment, authorization) keep making it over HTTP (tests/signing/conftest.py's helpers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ca_admin.settings import RegistrySettings
from tests.conftest import make_user

# The signing world (tests/signing/conftest.py): an agency with its seal in the HSM, an official
# of it with a personal key in the HSM and a PIN, an eOffice client bound to it, another agency
# with its own client, and one user per staff role.
AGENCY = "000.00.12.H31"
OTHER_AGENCY = "000.00.13.H31"
PIN = "246810"


def caller(services: Any, name: str) -> Any:
    """The user ``name`` as the services see an authenticated caller."""
    from kyso import callers
    from kyso.db import read_transaction

    with read_transaction(services.sessions) as session:
        user = callers.get_user(session, name)
        return callers.Caller(user.id, user.name, callers.Role(user.role))


def agency(services: Any, code: str, name: str, *, by: str = "ra", **fields: Any) -> None:
    from ca_admin import registry
    from kyso.db import transaction

    with transaction(services.sessions) as session:
        registry.create_agency(session, {"code": code, "name": name, **fields}, actor=f"user:{by}",
                               level1_letters=services.settings.section(RegistrySettings).level1_letters)


def official(services: Any, agency_code: str, full_name: str, *, by: str = "ra", **fields: Any) -> int:
    from ca_admin import registry
    from kyso.db import transaction

    with transaction(services.sessions) as session:
        made = registry.create_official(session, {"agency_code": agency_code, "full_name": full_name, **fields},
                                        actor=f"user:{by}")
        return int(made.id)


def bind_client(services: Any, client: str, agency_code: str, *, by: str = "admin") -> None:
    from ca_admin import registry
    from kyso.db import transaction

    with transaction(services.sessions) as session:
        registry.bind_client(session, client, agency_code, actor=f"user:{by}")


@dataclass(frozen=True)
class Issued:
    serial: str
    pem: str
    der: bytes


def issue_in_hsm(services: Any, profile: str, agency_code: str, key_type: str, official_id: int | None = None,
                 *, ra: str = "ra", admin: str = "admin") -> Issued:
    """A certificate whose key the HSM generates: filed by ``ra``, approved by ``admin``."""
    from ca_admin import issuance

    body: dict[str, Any] = {"profile": profile, "agency_code": agency_code, "generate_key": True,
                            "key_type": key_type}
    if official_id is not None:
        body["official_id"] = official_id
    request, _ = issuance.file_request(services.sessions, services.keystore, services.settings,
                                       caller(services, ra), body)
    _, cert = issuance.approve(services.sessions, services.keystore, services.settings,
                               caller(services, admin), request.id)
    assert cert is not None
    return Issued(cert.serial, cert.pem.decode(), cert.certificate_der)


def enrol(services: Any, official_id: int, method: str, pin: str | None = None, *, staff: str = "admin") -> Any:
    """The official's own enrolment by letter: staff start it, the official uses the code."""
    from signer import enrolment

    started = enrolment.start(services.sessions, services.settings, caller(services, staff), official_id, "letter")
    return enrolment.complete(services.sessions, services.keystore, services.settings, started.activation_code,
                              method, pin, address="127.0.0.1")


def signing_world(services: Any) -> dict[str, Any]:
    """What tests/signing/conftest.py's ``signing`` fixture stands on (without its files)."""
    keys = {"ra": make_user(services, "ra", "ra-officer"), "admin": make_user(services, "admin", "ca-admin"),
            "eoffice": make_user(services, "eoffice", "client"), "other": make_user(services, "other", "client"),
            "auditor": make_user(services, "auditor", "auditor")}
    agency(services, AGENCY, "SỞ NỘI VỤ", locality="Hải Phòng")
    agency(services, OTHER_AGENCY, "SỞ TÀI CHÍNH", locality="Hải Phòng")
    official_id = official(services, AGENCY, "Nguyễn Văn An", title="Giám đốc")
    bind_client(services, "eoffice", AGENCY)
    bind_client(services, "other", OTHER_AGENCY)
    seal = issue_in_hsm(services, "agency-seal", AGENCY, "rsa-2048")
    personal = issue_in_hsm(services, "official-signing", AGENCY, "ec-p256", official_id)
    enrol(services, official_id, "pin", PIN)
    return {"keys": keys, "official_id": official_id, "seal": seal.serial, "personal": personal.serial,
            "seal_der": seal.der, "seal_pem": seal.pem, "personal_pem": personal.pem}
