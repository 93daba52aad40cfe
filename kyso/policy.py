"""The one authorization policy: who may do what.

Every closed HTTP route, every CLI command that acts for someone and every service that
checks a caller asks this table, by action, instead of listing roles of its own. The
resource rules that come on top of the role (a client acts only for the agencies it is bound
to; personal data only for the staff who register officials; who may request which profile,
from settings) are asked here too, so that HTTP, CLI and services cannot drift apart.

tests/security/test_policy_matrix.py walks every route of the OpenAPI document against this
table for every kind of caller.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from kyso.callers import Caller, Role
from kyso.errors import Forbidden
from kyso.messages import ROLE_MAY_NOT_REQUEST_PROFILE


class Action(StrEnum):
    WHOAMI = "whoami"
    KEY_ROTATE_OWN = "key.rotate-own"
    KEY_REVOKE = "key.revoke"  # own keys; a CA admin any key (checked by the service)
    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    REGISTRY_READ = "registry.read"
    REGISTRY_WRITE = "registry.write"
    PERSONAL_DATA_READ = "registry.personal-data"
    CLIENTS_BIND = "clients.bind"
    REQUEST_FILE = "request.file"
    REQUEST_READ = "request.read"
    REQUEST_DECIDE = "request.decide"
    CERT_READ = "certificate.read"
    CERT_REVOKE = "certificate.revoke"
    CERT_REVOKE_CA_INTERNAL = "certificate.revoke-ca-internal"
    CERT_HOLD = "certificate.hold"
    CERT_RENEW = "certificate.renew"
    CA_OPERATE = "ca.operate"
    SIGN = "sign"
    VERIFY = "verify"
    AXIS_STATUS_READ = "axis.status-read"
    CONSENT_READ = "consent.read"
    CONSENT_ENROL = "consent.enrol"
    CONSENT_UNLOCK = "consent.unlock"
    IMAGES_WRITE = "images.write"
    TRUST_READ = "trust.read"
    TRUST_WRITE = "trust.write"


ALL = frozenset(Role)
STAFF = frozenset({Role.CA_ADMIN, Role.RA_OFFICER})
ADMIN = frozenset({Role.CA_ADMIN})
CLIENT = frozenset({Role.CLIENT})
READERS = frozenset({Role.CA_ADMIN, Role.RA_OFFICER, Role.AUDITOR, Role.CLIENT})

POLICY: dict[Action, frozenset[Role]] = {
    Action.WHOAMI: ALL,
    Action.KEY_ROTATE_OWN: ALL,
    Action.KEY_REVOKE: ALL,
    Action.USERS_READ: frozenset({Role.CA_ADMIN, Role.AUDITOR}),
    Action.USERS_MANAGE: ADMIN,
    Action.AUDIT_READ: frozenset({Role.CA_ADMIN, Role.AUDITOR}),
    Action.REGISTRY_READ: READERS,
    Action.REGISTRY_WRITE: STAFF,
    # The CCCD and e-mail of officials: only for the staff who register them.
    Action.PERSONAL_DATA_READ: STAFF,
    Action.CLIENTS_BIND: ADMIN,
    Action.REQUEST_FILE: frozenset({Role.CA_ADMIN, Role.RA_OFFICER, Role.CLIENT}),
    Action.REQUEST_READ: READERS,
    Action.REQUEST_DECIDE: ADMIN,
    Action.CERT_READ: READERS,
    Action.CERT_REVOKE: STAFF,
    # The CA's own service certificates (TSA, OCSP responder, issuing CA): CA admins only.
    Action.CERT_REVOKE_CA_INTERNAL: ADMIN,
    Action.CERT_HOLD: STAFF,
    Action.CERT_RENEW: frozenset({Role.CA_ADMIN, Role.RA_OFFICER, Role.CLIENT}),
    Action.CA_OPERATE: ADMIN,
    Action.SIGN: CLIENT,
    Action.VERIFY: READERS,
    Action.AXIS_STATUS_READ: READERS,
    Action.CONSENT_READ: STAFF,
    # Staff start an enrolment after checking identity; the official alone sets PIN or seed.
    Action.CONSENT_ENROL: STAFF,
    # Clearing the failure lock of an official's consent is a CA admin's decision alone.
    Action.CONSENT_UNLOCK: ADMIN,
    Action.IMAGES_WRITE: STAFF,
    Action.TRUST_READ: frozenset({Role.CA_ADMIN, Role.RA_OFFICER, Role.AUDITOR}),
    # Which roots a recipient's verification trusts: a CA admin's decision alone.
    Action.TRUST_WRITE: ADMIN,
}


def roles_for(action: Action) -> frozenset[Role]:
    return POLICY[action]


def allowed(caller: Caller, action: Action) -> bool:
    return caller.role in POLICY[action]


def require(caller: Caller, action: Action, message_en: str | None = None,
            message_vi: str | None = None) -> None:
    """Raise Forbidden (403, naming the action) unless ``caller`` may do ``action``."""
    if allowed(caller, action):
        return
    if message_en is None or message_vi is None:
        raise Forbidden(action=action.value)
    raise Forbidden(message_en, message_vi, action=action.value)


def agency_scoped(caller: Caller) -> bool:
    """Whether the caller acts only for the agencies it is bound to (clients), rather than
    for every agency (staff and auditors)."""
    return caller.role == Role.CLIENT


def sees_personal_data(caller: Caller) -> bool:
    return allowed(caller, Action.PERSONAL_DATA_READ)


class ProfileNotAllowed(Forbidden):
    code = "profile-not-allowed"

    def __init__(self, profile: str, role: str) -> None:
        super().__init__(ROLE_MAY_NOT_REQUEST_PROFILE.format(role=role, profile=profile),
                         action=Action.REQUEST_FILE.value)


def may_request_profile(role: str, requesters: Collection[str]) -> bool:
    """Which role may request which certificate profile: the profile's requesters ([profiles.NAME]
    in the CA's settings; start-up refuses settings that open CA or service profiles beyond CA
    admins)."""
    return role in requesters


def require_profile(role: str, profile: str, requesters: Collection[str]) -> None:
    """Raise ProfileNotAllowed (403 profile-not-allowed) unless ``role`` is among the
    ``requesters`` of ``profile``; asked when a request is filed and again, with the
    requester's current role, at approval."""
    if not may_request_profile(role, requesters):
        raise ProfileNotAllowed(profile, role)
