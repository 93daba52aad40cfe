"""Requests, approval, issuance and the certificate lifecycle.

Four eyes: a request is approved by a CA admin other than its requester, unless its profile
is marked auto-approve (machine clients). Issuance signs the TBSCertificate in the HSM and
writes the certificate row and its audit record in one transaction; the certificate is
returned only after that commit. A key the HSM makes for a certificate is announced (an
intent commits) and generated before that transaction, which is short and never waits for
the HSM's key generation; a key no committed certificate took is destroyed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from asn1crypto import cms, pem, x509
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ca_admin import profiles as prof
from ca_admin.crl import entry_der as crl_entry
from ca_admin.csr import parse_csr
from ca_admin.models import (
    LIVE,
    CertificateAuthority,
    CertificateRequest,
    CertStatus,
    HsmKeyIntent,
    IssuedCertificate,
    OcspResponse,
    RequestStatus,
)
from ca_admin.ocsp_files import forget_certificate
from ca_admin.registry import (
    AGENCY_STATUSES,
    Agency,
    AgencyDissolved,
    AgencyView,
    Official,
    agency_view,
    fold,
    get_agency,
    get_official,
    nfc,
    require_agency_scope,
)
from ca_admin.service import active_ca_row, ca_chain_der
from ca_admin.settings import CaSettings, RegistrySettings
from ca_admin.x509build import random_serial, scheme_for, sign_certificate
from hsm import KeyNotFound, KeyStore
from kyso import audit, policy
from kyso.callers import Caller, Role, User, UserStatus
from kyso.db import advisory_lock, after_commit, read_transaction, transaction, utcnow
from kyso.errors import BadRequest, Conflict, Forbidden, KysoError, NotFound
from kyso.policy import Action
from kyso.settings import Settings

log = logging.getLogger("kyso.ca.issuance")
T = TypeVar("T")

REVOCATION_REASONS = (
    "unspecified", "key_compromise", "ca_compromise", "affiliation_changed", "superseded",
    "cessation_of_operation", "privilege_withdrawn", "aa_compromise",
)


# -- errors ---------------------------------------------------------------------------

class RequestNotFound(NotFound):
    code = "request-not-found"

    def __init__(self, rid: Any) -> None:
        super().__init__(f"no certificate request {rid}", f"không có yêu cầu chứng thư {rid}")


class CertificateNotFound(NotFound):
    code = "certificate-not-found"

    def __init__(self, serial: str) -> None:
        super().__init__(f"no certificate with serial {serial}", f"không có chứng thư số hiệu {serial}")


class FourEyes(Forbidden):
    code = "four-eyes"

    def __init__(self) -> None:
        super().__init__("a request must be approved by someone other than its requester",
                         "yêu cầu phải được phê duyệt bởi người khác với người đề nghị")


class CertificateOnHold(Conflict):
    code = "certificate-on-hold"

    def __init__(self, serial: str) -> None:
        super().__init__(f"certificate {serial} is on hold: release it before renewing or rekeying",
                         f"chứng thư {serial} đang bị tạm dừng: hãy bỏ tạm dừng trước khi gia hạn hoặc đổi khóa")


class RevocationNeedsSecondAdmin(Conflict):
    code = "revocation-needs-second-admin"

    def __init__(self, serial: str) -> None:
        super().__init__(f"certificate {serial} is one of the CA's own service certificates: its revocation "
                         "is requested by one CA admin and approved by another",
                         f"chứng thư {serial} là chứng thư dịch vụ của CA: việc thu hồi do một quản trị viên CA "
                         "đề nghị và một quản trị viên khác phê duyệt")


class RequestNotPending(Conflict):
    code = "request-not-pending"

    def __init__(self, status: str) -> None:
        super().__init__(f"the request is {status}, not pending",
                         f"yêu cầu đang ở trạng thái {status}, không chờ duyệt")


class RequestChanged(Conflict):
    code = "request-changed"

    def __init__(self) -> None:
        super().__init__("the request changed while it was being decided; try again",
                         "yêu cầu đã thay đổi trong lúc xét duyệt; hãy thử lại")


class AlreadyRevoked(Conflict):
    code = "certificate-already-revoked"

    def __init__(self, serial: str) -> None:
        super().__init__(f"certificate {serial} is already revoked", f"chứng thư {serial} đã bị thu hồi")


class WrongState(Conflict):
    code = "certificate-wrong-state"


class SubjectNotOwn(Forbidden):
    code = "certificate-subject-not-own"

    def __init__(self) -> None:
        super().__init__("a client certificate is issued only to the client asking for it, "
                         "in its own name",
                         "chứng thư máy khách chỉ được cấp cho chính ứng dụng yêu cầu, mang tên của nó")


class OwnerInvalid(BadRequest):
    code = "certificate-owner-invalid"


class QuotaExceeded(Conflict):
    code = "certificate-quota-exceeded"

    def __init__(self, profile: str, limit: int) -> None:
        super().__init__(f"the owner already holds {limit} active '{profile}' certificates or requests "
                         "(the most allowed); revoke one first",
                         f"chủ sở hữu đã có {limit} chứng thư/yêu cầu '{profile}' còn hiệu lực "
                         "(mức tối đa); hãy thu hồi bớt trước", extra={"limit": limit})


# -- views --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CertificateView:
    serial: str
    profile: str
    agency_code: str | None
    official_id: int | None
    subject: str
    status: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_in_hsm: bool
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    invalidity_date: dt.datetime | None
    certificate_der: bytes
    owner: str | None = None

    def expiry_status(self, now: dt.datetime) -> str:
        if self.status == CertStatus.REVOKED:
            return "revoked"
        if now > self.not_after:
            return "expired"
        if now < self.not_before:
            return "not-yet-valid"
        return "on-hold" if self.status == CertStatus.ON_HOLD else "valid"

    def to_json(self, now: dt.datetime | None = None) -> dict[str, Any]:
        now = now or utcnow()
        return {
            "serial": self.serial,
            "profile": self.profile,
            "agency_code": self.agency_code,
            "official_id": self.official_id,
            "subject": self.subject,
            "status": self.status,
            "validity": self.expiry_status(now),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_left": max((self.not_after - now).days, 0),
            "key_in_hsm": self.key_in_hsm,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revocation_reason": self.revocation_reason,
            "invalidity_date": self.invalidity_date.isoformat() if self.invalidity_date else None,
            "owner": self.owner,
        }

    @property
    def pem(self) -> bytes:
        return bytes(pem.armor("CERTIFICATE", self.certificate_der))


def _owner_name(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id else None
    return user.name if user else None


def _cert_view(session: Session, row: IssuedCertificate) -> CertificateView:
    agency = session.get(Agency, row.agency_id) if row.agency_id else None
    return CertificateView(row.serial_hex, row.profile, agency.code if agency else None, row.official_id, row.subject,
                           row.status, row.not_before, row.not_after, row.key_label is not None,
                           row.revoked_at, row.revocation_reason, row.invalidity_date,
                           row.certificate_der, _owner_name(session, row.owner_user_id))


@dataclass(frozen=True)
class RequestView:
    id: int
    kind: str
    profile: str
    agency_code: str | None
    official_id: int | None
    key_source: str
    status: str
    requested_by: str
    decided_by: str
    reason: str
    certificate_serial: str | None
    ignored_csr_fields: tuple[str, ...] = ()
    owner: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["ignored_csr_fields"] = list(self.ignored_csr_fields)
        return out


def _request_view(session: Session, req: CertificateRequest,
                  ignored: tuple[str, ...] = ()) -> RequestView:
    agency = session.get(Agency, req.agency_id) if req.agency_id else None
    serial = None
    if req.certificate_id:
        cert = session.get(IssuedCertificate, req.certificate_id)
        serial = cert.serial_hex if cert else None
    return RequestView(req.id, req.kind, req.profile, agency.code if agency else None, req.official_id, req.key_source,
                       req.status, req.requested_by, req.decided_by, req.reason, serial, ignored,
                       _owner_name(session, req.owner_user_id))


# -- filing requests --------------------------------------------------------------------------

def _require_staff_or_client(caller: Caller) -> None:
    policy.require(caller, Action.REQUEST_FILE)


def file_request(
    factory: sessionmaker[Session],
    keystore: KeyStore,
    settings: Settings,
    caller: Caller,
    data: dict[str, Any],
    *,
    request_id: str = "",
    now: dt.datetime | None = None,
) -> tuple[RequestView, CertificateView | None]:
    """File a request; a profile marked auto-approve issues at once."""
    _require_staff_or_client(caller)
    profile = prof.get_profile(settings, str(data.get("profile") or ""))
    policy.require_profile(caller.role.value, profile.name, profile.settings.requesters)
    csr_text = data.get("csr")
    generate = bool(data.get("generate_key"))
    if bool(csr_text) == generate:
        raise BadRequest("give either 'csr' (PKCS#10, PEM) or 'generate_key': true",
                         "cần 'csr' (PKCS#10, PEM) hoặc 'generate_key': true, không cả hai")
    parsed = None
    spki_der = None
    key_spec = profile.settings.hsm_key_type
    if csr_text:
        if not isinstance(csr_text, str | bytes):
            raise BadRequest("'csr' must be PEM text", "'csr' phải là văn bản PEM")
        parsed = parse_csr(csr_text)
        spki_der = parsed.spki_der
        key_spec = str(profile.check_key(spki_der))
    else:
        requested = str(data.get("key_type") or profile.settings.hsm_key_type)
        if requested not in profile.settings.key_types:
            raise prof.KeyNotAllowed(
                f"key type {requested} is not allowed by profile '{profile.name}'",
                f"loại khóa {requested} không được hồ sơ '{profile.name}' cho phép")
        key_spec = requested

    ignored = parsed.ignored if parsed else ()
    now = now or utcnow()
    if not (generate and profile.settings.auto_approve):
        with transaction(factory) as session:
            return _file_in(session, keystore, settings, caller, data, profile, parsed, spki_der, key_spec,
                            request_id, now, ignored)
    # Issued at once with a key made in the HSM: checked first (a read), the key generated
    # outside any transaction, then filed and issued in one short transaction that checks
    # again under its locks.
    with read_transaction(factory) as session:
        _filing_checks(session, caller, data, profile, parsed, now)
    with fresh_key(factory, keystore, key_spec) as key:
        with transaction(factory) as session:
            return _file_in(session, keystore, settings, caller, data, profile, parsed, spki_der, key_spec,
                            request_id, now, ignored, key)


def _filing_checks(session: Session, caller: Caller, data: dict[str, Any], profile: prof.Profile, parsed: Any,
                   now: dt.datetime) -> tuple[Agency, int | None, str, int | None]:
    """The agency (in the caller's scope, active), the key's source, the holder (official,
    common name, owning user) and the owner's quota of a new request."""
    agency = get_agency(session, str(data.get("agency_code") or ""))
    require_agency_scope(session, caller, agency)
    if agency.status != "active":
        raise Conflict(f"agency '{agency.code}' is {agency.status}",
                       f"cơ quan '{agency.code}' đang ở trạng thái {agency.status}")
    profile.check_key_source("csr" if parsed else "hsm", agency.code)
    official_id, common_name, owner_id = _holder(session, caller, profile, agency, data)
    if owner_id is not None:
        _check_quota(session, profile, owner_id, now)
    return agency, official_id, common_name, owner_id


def _file_in(session: Session, keystore: KeyStore, settings: Settings, caller: Caller, data: dict[str, Any],
             profile: prof.Profile, parsed: Any, spki_der: bytes | None, key_spec: str, request_id: str,
             now: dt.datetime, ignored: tuple[str, ...], key: FreshKey | None = None,
             ) -> tuple[RequestView, CertificateView | None]:
    """Record the request; with an auto-approve profile, issue in the same transaction
    (with ``key`` when the HSM made it)."""
    agency, official_id, common_name, owner_id = _filing_checks(session, caller, data, profile, parsed, now)
    req = CertificateRequest(
        kind="new", profile=profile.name, agency_id=agency.id, official_id=official_id,
        owner_user_id=owner_id, common_name=common_name, key_source="csr" if parsed else "hsm",
        csr_der=parsed.der if parsed else None, spki_der=spki_der, key_spec=key_spec,
        status=RequestStatus.PENDING, requested_by=caller.name,
    )
    if spki_der is not None:
        req.key_sha256 = prof.key_sha256(spki_der)
    session.add(req)
    session.flush()
    if req.key_sha256 is not None:
        _check_key_history(session, settings, req, req.key_sha256)

    def audit_request() -> None:
        audit.record(session, actor=caller.actor, action="cert.request", target=f"request:{req.id}",
                     details={"profile": profile.name, "agency": agency.code,
                              "official_id": official_id, "owner": _owner_name(session, owner_id),
                              "key_source": req.key_source,
                              "key_spec": key_spec,
                              "ignored_csr_fields": list(parsed.ignored) if parsed else []},
                     request_id=request_id)

    if not profile.settings.auto_approve:
        audit_request()
        return _request_view(session, req, ignored), None
    req.decided_by, req.decided_at = "auto-approve", now
    # The audit trail's head is locked from the first record to the commit: write the records
    # after the HSM signature, so that concurrent issuances sign in parallel.
    cert = _issue(session, keystore, settings, req, "system:auto-approve", now, key, request_id,
                  before_audit=audit_request)
    req.status, req.certificate_id = RequestStatus.ISSUED, cert.id
    return _request_view(session, req, ignored), _cert_view(session, cert)


def _holder(session: Session, caller: Caller, profile: prof.Profile, agency: Agency,
            data: dict[str, Any]) -> tuple[int | None, str, int | None]:
    """The official, common name and owning user of a new certificate's subject."""
    kind = profile.settings.subject
    if kind == "client":
        owner = _client_owner(session, caller, agency, data)
        return None, owner.name, owner.id
    if kind == "official":
        official = get_official(session, data.get("official_id"))
        if official.agency_id != agency.id:
            raise BadRequest("the official does not belong to that agency",
                             "cán bộ không thuộc cơ quan này")
        if official.status != "active":
            raise Conflict("the official is not active", "cán bộ không còn hoạt động")
        return official.id, "", None
    if kind in ("service", "ca"):
        cn = nfc(str(data.get("common_name") or ""))
        if not cn or len(cn) > 64:
            raise BadRequest(f"profile '{profile.name}' needs a 'common_name' of 1-64 characters",
                             f"hồ sơ '{profile.name}' cần 'common_name' dài 1-64 ký tự")
        return None, cn, None
    return None, "", None


def _lock_user(session: Session, stmt_filter: Any) -> User | None:
    """The user row, locked until commit: concurrent requests for one owner queue here, so
    that none of them counts the owner's certificates before another's are written."""
    return session.execute(select(User).where(stmt_filter).with_for_update()).scalar_one_or_none()


def _client_owner(session: Session, caller: Caller, agency: Agency, data: dict[str, Any]) -> User:
    """Who a client certificate belongs to, and so whose name it carries and whom it logs in
    as. A client asks only for itself; staff name the client user (``owner``)."""
    asked_cn = nfc(str(data.get("common_name") or ""))
    if caller.role == Role.CLIENT:
        asked_owner = nfc(str(data.get("owner") or ""))
        if (asked_cn and asked_cn != caller.name) or (asked_owner and asked_owner != caller.name):
            raise SubjectNotOwn()
        user = _lock_user(session, User.id == caller.user_id)
        assert user is not None  # the caller was authenticated in this request
        return user
    owner_name = nfc(str(data.get("owner") or ""))
    if not owner_name:
        raise OwnerInvalid("a client certificate needs 'owner': the client user it is for",
                           "chứng thư máy khách cần 'owner': người dùng (ứng dụng) sở hữu nó")
    user = _lock_user(session, User.name == owner_name)
    if user is None or user.role != Role.CLIENT.value or user.status != UserStatus.ACTIVE.value:
        raise OwnerInvalid(f"'{owner_name}' is not an active client user",
                           f"'{owner_name}' không phải người dùng ứng dụng đang hoạt động")
    if asked_cn and asked_cn != user.name:
        raise OwnerInvalid("a client certificate carries its owner's name; leave 'common_name' out",
                           "chứng thư máy khách mang tên chủ sở hữu; bỏ trống 'common_name'")
    from ca_admin.registry import client_agency_ids

    if agency.id not in client_agency_ids(session, user.id):
        raise OwnerInvalid(f"client '{user.name}' is not bound to agency '{agency.code}'",
                           f"ứng dụng '{user.name}' không gắn với cơ quan '{agency.code}'")
    return user


def _check_quota(session: Session, profile: prof.Profile, owner_id: int, now: dt.datetime) -> None:
    """At most ``max_active_per_owner`` live certificates and pending requests per owner.
    The caller holds the owner's row lock (``_lock_user``)."""
    limit = profile.settings.max_active_per_owner
    if limit <= 0:
        return
    certs = session.execute(
        select(func.count()).select_from(IssuedCertificate).where(
            IssuedCertificate.owner_user_id == owner_id, IssuedCertificate.profile == profile.name,
            IssuedCertificate.status.in_(LIVE), IssuedCertificate.not_after > now)
    ).scalar_one()
    pending = session.execute(
        select(func.count()).select_from(CertificateRequest).where(
            CertificateRequest.owner_user_id == owner_id, CertificateRequest.profile == profile.name,
            CertificateRequest.status == RequestStatus.PENDING)
    ).scalar_one()
    if certs + pending >= limit:
        raise QuotaExceeded(profile.name, limit)


# -- approval and issuance ------------------------------------------------------------------

def approve(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller,
            rid: int, *, request_id: str = "", now: dt.datetime | None = None,
            ) -> tuple[RequestView, CertificateView | None]:
    policy.require(caller, Action.REQUEST_DECIDE, "only a CA administrator approves requests",
                   "chỉ quản trị viên CA được phê duyệt yêu cầu")
    return _decide(factory, keystore, settings, rid, caller.name, approve=True, caller=caller,
                   request_id=request_id, now=now)


def reject(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller,
           rid: int, reason: str, *, request_id: str = "") -> RequestView:
    policy.require(caller, Action.REQUEST_DECIDE, "only a CA administrator rejects requests",
                   "chỉ quản trị viên CA được từ chối yêu cầu")
    reason = nfc(reason or "")
    if not reason:
        raise BadRequest("a rejection needs a reason", "từ chối phải kèm lý do")
    view, _ = _decide(factory, keystore, settings, rid, caller.name, approve=False, caller=caller,
                      reason=reason, request_id=request_id)
    return view


def _decide(
    factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, rid: int, decider: str,
    *, approve: bool, caller: Caller | None = None, reason: str = "", request_id: str = "",
    now: dt.datetime | None = None, ignored: tuple[str, ...] = (),
) -> tuple[RequestView, CertificateView | None]:
    now = now or utcnow()
    key_spec = None
    if approve:
        # Checked first (a read): the HSM makes no key for an approval that would be refused.
        with read_transaction(factory) as session:
            req = _decidable(session, settings, rid, caller, approve=True)
            if _needs_key(req):
                key_spec = req.key_spec
    if key_spec is None:
        with transaction(factory) as session:
            return _decide_in(session, keystore, settings, rid, decider, approve=approve, caller=caller,
                              reason=reason, request_id=request_id, now=now, ignored=ignored)
    # The key is made outside any transaction; the approval's own is short and checks again.
    with fresh_key(factory, keystore, key_spec, str(rid)) as key:
        with transaction(factory) as session:
            return _decide_in(session, keystore, settings, rid, decider, approve=True, caller=caller,
                              reason=reason, request_id=request_id, now=now, ignored=ignored, key=key)


def _needs_key(req: CertificateRequest) -> bool:
    return req.key_source == "hsm" and req.spki_der is None


def _decidable(session: Session, settings: Settings, rid: int, caller: Caller | None, *,
               approve: bool, lock: bool = False) -> CertificateRequest:
    """The request, still pending, decided by someone other than its requester; for an
    approval, still allowed by the profile policy as it stands now."""
    stmt = select(CertificateRequest).where(CertificateRequest.id == rid)
    req = session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if req is None:
        raise RequestNotFound(rid)
    if req.status != RequestStatus.PENDING:
        raise RequestNotPending(req.status)
    if caller is not None and caller.name == req.requested_by:
        raise FourEyes()
    if approve:
        _recheck_policy(session, settings, req)
    return req


def _decide_in(
    session: Session, keystore: KeyStore, settings: Settings, rid: int, decider: str,
    *, approve: bool, caller: Caller | None, reason: str, request_id: str,
    now: dt.datetime, ignored: tuple[str, ...], key: FreshKey | None = None,
) -> tuple[RequestView, CertificateView | None]:
    req = _decidable(session, settings, rid, caller, approve=approve, lock=True)
    actor = caller.actor if caller else f"system:{decider}"
    req.decided_by = decider
    req.decided_at = now
    if not approve:
        req.status = RequestStatus.REJECTED
        req.reason = reason
        audit.record(session, actor=actor, action="cert.reject", target=f"request:{rid}",
                     details={"reason": reason}, request_id=request_id)
        return _request_view(session, req), None
    cert = _issue(session, keystore, settings, req, actor, now, key, request_id)
    req.status = RequestStatus.ISSUED
    req.certificate_id = cert.id
    return _request_view(session, req, ignored), _cert_view(session, cert)


def _recheck_policy(session: Session, settings: Settings, req: CertificateRequest) -> None:
    """At approval, the profile policy as it stands now: the requester's current role may
    still request the profile, and the key still comes from where the profile takes keys."""
    profile = prof.get_profile(settings, req.profile)
    requester = session.execute(select(User).where(User.name == req.requested_by)).scalar_one_or_none()
    if requester is None or requester.status != UserStatus.ACTIVE.value:
        raise policy.ProfileNotAllowed(profile.name, "(no active requester)")
    policy.require_profile(requester.role, profile.name, profile.settings.requesters)
    agency = session.get(Agency, req.agency_id) if req.agency_id else None
    source = req.key_source
    if source == "existing":  # a renewal: the key is where the certificate's key was
        source = "hsm" if req.key_label else "csr"
    profile.check_key_source(source, agency.code if agency else None)


def issue_in_session(session: Session, keystore: KeyStore, settings: Settings, req: CertificateRequest,
                     actor: str, now: dt.datetime, key: FreshKey | None = None) -> IssuedCertificate:
    """Issue for a request of the CA's own (the OCSP responder) inside the caller's transaction,
    with ``key`` when the HSM made it (``fresh_key``)."""
    req.decided_by, req.decided_at = actor, now
    row = _issue(session, keystore, settings, req, actor, now, key, "")
    req.status, req.certificate_id = RequestStatus.ISSUED, row.id
    return row


ISSUANCE_INTENT = "issuance"


@dataclass
class KeyIntent:
    """An end-entity key announced (committed) before it is generated in the HSM, so that a
    process killed between key generation and the certificate's commit leaves a key that
    ``sweep_orphan_keys`` can find (issue 13, item 21). The certificate's transaction deletes
    the intent (``claim_key``); ``done`` is set once that committed."""

    label: str
    done: bool = False


@contextmanager
def announced_key(factory: sessionmaker[Session], keystore: KeyStore, prefix: str = "new") -> Iterator[KeyIntent]:
    """Commit an intent for a key about to be generated, and clear it when nothing came of
    it. A key left in the token (its destruction failed) keeps its intent for the sweep."""
    intent = KeyIntent(f"ee-{prefix}-{secrets.token_hex(4)}")
    with transaction(factory) as session:
        session.add(HsmKeyIntent(label=intent.label, purpose=ISSUANCE_INTENT))
    try:
        yield intent
    finally:
        if not intent.done:
            try:
                keystore.find(intent.label)
                kept = True
            except KeyNotFound:
                kept = False
            except Exception:  # noqa: BLE001 - HSM unreachable: keep the intent for the sweep
                kept = True
            if not kept:
                try:
                    with transaction(factory) as session:
                        session.execute(delete(HsmKeyIntent).where(HsmKeyIntent.label == intent.label))
                except Exception:  # noqa: BLE001 - a stale intent without a key is harmless
                    log.exception("could not clear the HSM key intent %s", intent.label)


@dataclass
class FreshKey:
    """An end-entity key the HSM made for one certificate before the certificate's
    transaction began; ``claimed`` once a transaction that took it (``claim_key``) committed."""

    label: str
    spki_der: bytes
    claimed: bool = False


@contextmanager
def fresh_key(factory: sessionmaker[Session], keystore: KeyStore, spec: str,
              prefix: str = "new") -> Iterator[FreshKey]:
    """Announce a key (its intent commits first), generate it in the HSM outside any
    transaction, so that no writer waits for the key generation (340 ms for RSA-3072), and
    hand it to the certificate's short transaction, which claims it. A key that no committed
    transaction claimed (refused, aborted, not needed after all) is destroyed when the block
    exits, and its intent cleared."""
    with announced_key(factory, keystore, prefix) as intent:
        info = keystore.generate_key_pair(intent.label, spec)
        key = FreshKey(intent.label, info.public_key_der)
        try:
            yield key
        finally:
            if key.claimed:
                intent.done = True
            else:
                destroy_keys(keystore, [key.label])


def claim_key(session: Session, key: FreshKey) -> None:
    """In the certificate's transaction: the key belongs to the certificate from the commit
    on, and its intent goes with that commit."""
    session.execute(delete(HsmKeyIntent).where(HsmKeyIntent.label == key.label))

    def claimed() -> None:
        key.claimed = True

    after_commit(session, claimed)


@dataclass(frozen=True)
class OrphanKey:
    """An end-entity key announced for an issuance that never committed."""

    label: str
    announced_at: dt.datetime
    in_token: bool
    destroyed: bool


def sweep_orphan_keys(factory: sessionmaker[Session], keystore: KeyStore, caller: Caller, *,
                      older_than: dt.timedelta, destroy: bool = False, request_id: str = "",
                      now: dt.datetime | None = None) -> list[OrphanKey]:
    """Keys announced for an issuance longer than ``older_than`` ago whose certificate never
    committed (a process killed between key generation and commit): listed, and with
    ``destroy`` deleted from the token, their intents cleared and an audit record written in
    the same transaction. A key a certificate holds is never touched (its stale intent is
    only cleared), and only keys this database announced are looked at: the token may be
    shared. CA administrators only."""
    policy.require(caller, Action.CA_OPERATE, "only a CA administrator sweeps HSM keys",
                   "chỉ quản trị viên CA được dọn khóa trong HSM")
    now = now or utcnow()
    found: list[OrphanKey] = []
    with transaction(factory) as session:
        intents = list(session.execute(
            select(HsmKeyIntent).where(HsmKeyIntent.purpose == ISSUANCE_INTENT,
                                       HsmKeyIntent.created_at < now - older_than)
            .order_by(HsmKeyIntent.id).with_for_update()).scalars())
        for intent in intents:
            held = session.execute(select(IssuedCertificate.id).where(
                IssuedCertificate.key_label == intent.label).limit(1)).first() is not None
            if held:
                if destroy:
                    session.delete(intent)
                continue
            try:
                keystore.find(intent.label)
                in_token = True
            except KeyNotFound:
                in_token = False
            if destroy:
                if in_token:
                    keystore.delete_key(intent.label)
                session.delete(intent)
            found.append(OrphanKey(intent.label, intent.created_at, in_token, destroy and in_token))
        if destroy and found:
            audit.record(session, actor=caller.actor, action="hsm.sweep", target="hsm:orphan-keys",
                         details={"destroyed": [k.label for k in found if k.destroyed],
                                  "intents_cleared": [k.label for k in found],
                                  "older_than_minutes": int(older_than.total_seconds() // 60)},
                         request_id=request_id)
    return found


def destroy_keys(keystore: KeyStore, labels: list[str]) -> None:
    for label in labels:
        try:
            keystore.delete_key(label)
            log.warning("destroyed HSM key %s of a certificate that was not committed", label)
        except Exception:  # noqa: BLE001 - report; keep the original error
            log.exception("could not destroy HSM key %s", label)


_ISSUER_PARTS: dict[tuple[int, str], tuple[bytes, bytes]] = {}


def _issuer_parts(ca: CertificateAuthority) -> tuple[bytes, bytes]:
    """The issuing CA's subject and public key (DER), parsed once per process."""
    key = (ca.id, ca.serial_hex)
    parts = _ISSUER_PARTS.get(key)
    if parts is None:
        cert = x509.Certificate.load(ca.certificate_der)
        parts = _ISSUER_PARTS[key] = (cert.subject.dump(), cert.public_key.dump())
    return parts


def _subject_identity(profile: str, agency_id: int | None, official_id: int | None,
                      owner_user_id: int | None, service_name: str) -> tuple[Any, ...]:
    """Whom a certificate certifies, for 'one key, one subject': the profile and the
    registry's holder (agency, official, owning client); for CA and service certificates,
    which have no holder in the registry, also their name."""
    return (profile, agency_id, official_id, owner_user_id, service_name)


_CA_KEY_HASHES: dict[tuple[int, str], str] = {}


def _check_key_history(session: Session, settings: Settings, req: CertificateRequest, key_hash: str) -> None:
    """Refuse a key of any certificate revoked for keyCompromise (409 key-compromised), and a
    key certified for another subject or profile, or a CA's own key (409 key-in-use)."""
    # One transaction at a time per key, until commit: two approvals of one key for two
    # subjects cannot both find it unused (PostgreSQL; SQLite transactions here are serial).
    advisory_lock(session, int(key_hash[:15], 16))
    kind = prof.get_profile(settings, req.profile).settings.subject
    service = kind in ("service", "ca")
    wanted = _subject_identity(req.profile, req.agency_id, req.official_id, req.owner_user_id,
                               req.common_name if service else "")
    rows = session.execute(
        select(IssuedCertificate.status, IssuedCertificate.revocation_reason, IssuedCertificate.profile,
               IssuedCertificate.agency_id, IssuedCertificate.official_id, IssuedCertificate.owner_user_id,
               IssuedCertificate.request_id)
        .where(IssuedCertificate.key_sha256 == key_hash)).all()
    if any(r.status == CertStatus.REVOKED and r.revocation_reason == "key_compromise" for r in rows):
        raise prof.KeyCompromised()
    for r in rows:
        name = ""
        if service:
            earlier = session.get(CertificateRequest, r.request_id) if r.request_id else None
            name = earlier.common_name if earlier else "?"
        if _subject_identity(r.profile, r.agency_id, r.official_id, r.owner_user_id, name) != wanted:
            raise prof.KeyInUse()
    for ca in session.execute(select(CertificateAuthority)).scalars():
        ca_hash = _CA_KEY_HASHES.get((ca.id, ca.serial_hex))
        if ca_hash is None:
            ca_hash = _CA_KEY_HASHES[(ca.id, ca.serial_hex)] = prof.key_sha256(
                x509.Certificate.load(ca.certificate_der).public_key.dump())
        if ca_hash == key_hash:
            raise prof.KeyInUse()


def _check_path_length(ca: CertificateAuthority, profile: prof.Profile) -> None:
    """Never issue a CA certificate that the issuer's pathLenConstraint forbids (RFC 5280
    4.2.1.9): below a CA with pathLen n, a CA certificate needs pathLen < n, so none below 0."""
    if not profile.settings.ca:
        return
    constraints = x509.Certificate.load(ca.certificate_der).basic_constraints_value
    limit = constraints["path_len_constraint"].native if constraints is not None else None
    if constraints is None or not constraints["ca"].native or (
            limit is not None and profile.settings.path_length >= limit):
        raise prof.PathLengthExceeded()


def _subject_data(session: Session, settings: Settings, req: CertificateRequest) -> prof.SubjectData:
    profile = prof.get_profile(settings, req.profile)
    kind = profile.settings.subject
    agency = session.get(Agency, req.agency_id) if req.agency_id else None
    city = settings.section(RegistrySettings)
    if agency is None:  # the CA's own service certificates
        return prof.SubjectData(kind, req.common_name, city.organization, city.locality)
    locality = agency.locality or city.locality
    if kind == "agency":
        parent = session.get(Agency, agency.parent_id) if agency.parent_id else None
        uids = (f"MST:{agency.tax_code}",) if agency.tax_code else ()
        return prof.SubjectData("agency", agency.name, parent.name if parent else city.organization,
                                locality, uids=uids,
                                organization_identifier=city.organization_identifier_prefix + agency.code)
    if kind == "official":
        official = session.get(Official, req.official_id)
        assert official is not None
        uids = (f"CCCD:{official.citizen_id}",) if official.citizen_id else ()
        surname, given_name = prof.split_vietnamese_name(official.full_name)
        return prof.SubjectData("official", official.full_name, agency.name, locality,
                                title=official.title, uids=uids, email=official.email,
                                given_name=given_name, surname=surname)
    return prof.SubjectData(kind, req.common_name, agency.name, locality)


def _issue(session: Session, keystore: KeyStore, settings: Settings, req: CertificateRequest,
           actor: str, now: dt.datetime, key: FreshKey | None, request_id: str,
           before_audit: Callable[[], None] | None = None) -> IssuedCertificate:
    """Issue for ``req`` in the caller's transaction; a request for an HSM key takes ``key``,
    made before this transaction began (``fresh_key``): never generated under its locks."""
    profile = prof.get_profile(settings, req.profile)
    ca = active_ca_row(session, "issuing")
    assert ca.key_label is not None  # the issuing CA's key is always ours
    issuer_name, issuer_spki = _issuer_parts(ca)
    _check_path_length(ca, profile)
    key_label = req.key_label
    spki_der = req.spki_der
    if _needs_key(req):
        if key is None:  # the request changed since it was read; nothing is written
            raise RequestChanged()
        key_label, spki_der = key.label, key.spki_der
        req.key_label, req.spki_der = key_label, spki_der
        claim_key(session, key)
    assert spki_der is not None
    key_hash = prof.key_sha256(spki_der)
    req.key_sha256 = key_hash
    _check_key_history(session, settings, req, key_hash)
    subject = _subject_data(session, settings, req)
    name = prof.subject_name(subject)
    not_before = now.replace(microsecond=0) - dt.timedelta(minutes=5)
    not_after = min(not_before + dt.timedelta(days=profile.settings.validity_days), ca.not_after)
    issuing_key = settings.section(CaSettings).issuing_key
    scheme = scheme_for(issuer_spki, issuing_key.signature_scheme, issuing_key.hash)
    cert = sign_certificate(
        keystore, ca.key_label, scheme,
        subject=name, subject_spki_der=spki_der, issuer=x509.Name.load(issuer_name),
        issuer_spki_der=issuer_spki,
        not_before=not_before, not_after=not_after,
        extensions=prof.build_extensions(profile, settings, subject_spki_der=spki_der,
                                         issuer_spki_der=issuer_spki, subject=subject),
        serial=random_serial(),
    )
    row = IssuedCertificate(
        serial_hex=format(cert.serial_number, "x"), issuer_id=ca.id, profile=profile.name,
        agency_id=req.agency_id, official_id=req.official_id, subject=cert.subject.human_friendly,
        spki_sha256=prof.spki_fingerprint(spki_der), key_sha256=key_hash, key_label=key_label,
        not_before=not_before, not_after=not_after, certificate_der=cert.dump(), status=CertStatus.GOOD,
        request_id=req.id, owner_user_id=req.owner_user_id,
    )
    session.add(row)
    session.flush()  # the unique serial constraint speaks here, before anything is returned
    if before_audit is not None:
        before_audit()
    audit.record(session, actor=actor, action="cert.issue", target=f"cert:{row.serial_hex}",
                 details={"request": req.id, "profile": profile.name, "subject": row.subject,
                          "owner": _owner_name(session, row.owner_user_id),
                          "not_after": not_after.isoformat(), "key_in_hsm": key_label is not None},
                 request_id=request_id)
    if req.kind == "rekey" and req.previous_id:
        prev = session.get(IssuedCertificate, req.previous_id)
        if prev is not None and prev.status != CertStatus.REVOKED:
            _set_revoked(session, prev, "superseded", None, now, actor, request_id)
    return row


# -- renewal and rekey ---------------------------------------------------------------------------

def renew_or_rekey(
    factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller,
    serial: str, kind: str, data: dict[str, Any], *, request_id: str = "",
    now: dt.datetime | None = None,
) -> tuple[RequestView, CertificateView | None]:
    """Renew (same key) or rekey (new key: a CSR or a fresh HSM key) a certificate.
    Goes through the same approval as a new request; a rekeyed certificate's predecessor
    is revoked as superseded when the new one is issued."""
    _require_staff_or_client(caller)
    assert kind in ("renew", "rekey")
    parsed = None
    if kind == "rekey" and data.get("csr"):
        parsed = parse_csr(str(data["csr"]))
    with transaction(factory) as session:
        old = _get_cert(session, serial)
        agency = session.get(Agency, old.agency_id) if old.agency_id else None
        if agency is None:
            if policy.agency_scoped(caller):
                raise Forbidden()
        else:
            require_agency_scope(session, caller, agency)
        if old.status == CertStatus.REVOKED:
            raise AlreadyRevoked(old.serial_hex)
        if old.status == CertStatus.ON_HOLD:
            # A hold is a question still open (lost token, an inquiry): a new certificate on
            # the same key, or a successor, would answer it behind the staff's back.
            raise CertificateOnHold(old.serial_hex)
        profile = prof.get_profile(settings, old.profile)
        policy.require_profile(caller.role.value, profile.name, profile.settings.requesters)
        if profile.settings.subject == "client":
            _renewing_owner(session, caller, old)
            if kind == "renew":
                assert old.owner_user_id is not None
                _check_quota(session, profile, old.owner_user_id, now or utcnow())
        old_cert = x509.Certificate.load(old.certificate_der)
        req = CertificateRequest(kind=kind, profile=old.profile, agency_id=old.agency_id,
                                 official_id=old.official_id, previous_id=old.id,
                                 owner_user_id=old.owner_user_id,
                                 requested_by=caller.name, status=RequestStatus.PENDING)
        req.common_name = old_cert.subject.native.get("common_name", "") if profile.settings.subject in (
            "client", "service", "ca") else ""
        if kind == "renew":
            req.key_source = "existing"
            req.spki_der = old_cert.public_key.dump()
            req.key_label = old.key_label
            req.key_spec = str(profile.check_key(req.spki_der))
        elif parsed is not None:
            profile.check_key_source("csr", agency.code if agency else None)
            req.key_source, req.csr_der, req.spki_der = "csr", parsed.der, parsed.spki_der
            if prof.spki_fingerprint(parsed.spki_der) == old.spki_sha256:
                raise BadRequest("a rekey needs a new key", "đổi khóa cần một khóa mới")
            req.key_spec = str(profile.check_key(parsed.spki_der))
        else:
            profile.check_key_source("hsm", agency.code if agency else None)
            req.key_source, req.key_spec = "hsm", profile.settings.hsm_key_type
        session.add(req)
        session.flush()
        audit.record(session, actor=caller.actor, action=f"cert.{kind}.request", target=f"request:{req.id}",
                     details={"previous": old.serial_hex}, request_id=request_id)
        rid = req.id
    if profile.settings.auto_approve:
        return _decide(factory, keystore, settings, rid, "auto-approve", approve=True,
                       request_id=request_id, now=now)
    with read_transaction(factory) as session:
        r = session.get(CertificateRequest, rid)
        assert r is not None
        return _request_view(session, r), None


def _renewing_owner(session: Session, caller: Caller, old: IssuedCertificate) -> None:
    """A client certificate is renewed or rekeyed for its owner: by the owner, or by staff.
    One without an owner (from before owners were recorded) is reissued, not renewed."""
    if old.owner_user_id is None:
        raise WrongState("this client certificate has no recorded owner: request a new one",
                         "chứng thư máy khách này chưa ghi chủ sở hữu: hãy yêu cầu chứng thư mới")
    if caller.role == Role.CLIENT and old.owner_user_id != caller.user_id:
        raise SubjectNotOwn()
    owner = _lock_user(session, User.id == old.owner_user_id)
    if owner is None or owner.status != UserStatus.ACTIVE.value:
        raise OwnerInvalid("the certificate's owner is not an active user",
                           "chủ sở hữu chứng thư không còn hoạt động")


# -- revocation, hold, release --------------------------------------------------------------

def normalize_serial(serial: str) -> str | None:
    """A serial as stored (lower-case hex, no leading zeros), from what people paste:
    colons, 0x, upper case, leading zeros. None when it cannot be a serial of ours."""
    text = (serial or "").strip().lower().replace(":", "").removeprefix("0x").lstrip("0") or "0"
    if not all(c in "0123456789abcdef" for c in text) or len(text) > 42:
        return None
    return text


def _get_cert(session: Session, serial: str, *, lock: bool = True) -> IssuedCertificate:
    """The certificate, locked until commit unless ``lock`` is false (reading only)."""
    text = normalize_serial(serial)
    if text is None:
        raise CertificateNotFound(serial[:50])
    stmt = select(IssuedCertificate).where(IssuedCertificate.serial_hex == text)
    row = session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if row is None:
        raise CertificateNotFound(text)
    return row


def _set_revoked(session: Session, row: IssuedCertificate, reason: str,
                 invalidity: dt.datetime | None, now: dt.datetime, actor: str, request_id: str) -> None:
    row.status = CertStatus.REVOKED
    row.revoked_at = now
    row.revocation_reason = reason
    row.invalidity_date = invalidity
    row.crl_entry_der = crl_entry(int(row.serial_hex, 16), now, reason, invalidity)
    _forget_ocsp(session, row)
    audit.record(session, actor=actor, action="cert.revoke", target=f"cert:{row.serial_hex}",
                 details={"reason": reason,
                          "invalidity_date": invalidity.isoformat() if invalidity else None},
                 request_id=request_id)


def _forget_ocsp(session: Session, row: IssuedCertificate) -> None:
    """In the status change's own transaction: once it commits, no cached 'good' remains.
    A responder certificate's change voids every response it signed.

    The response rows go with the change. The response files are deleted before the commit,
    not after it: a process that dies between its commit and an after-commit deletion would
    leave nginx answering 'good' for a revoked certificate, while a file deleted for a change
    that then aborts is only produced again. The process's cached service credentials are
    dropped after the commit: dropped before it, another thread could cache the credential
    again, still good, until the commit."""
    if row.profile in ("ocsp-responder", "tsa", "report-seal"):
        from ca_admin.service import forget_service_credentials

        after_commit(session, forget_service_credentials)
    if row.profile == "ocsp-responder":
        session.execute(delete(OcspResponse))
    else:
        session.execute(delete(OcspResponse).where(OcspResponse.certificate_id == row.id))
    forget_certificate(session, row.issuer_id, row.serial_hex, everything=row.profile == "ocsp-responder")


def _staff(caller: Caller, action: Action = Action.CERT_REVOKE) -> None:
    policy.require(caller, action)


# The CA's own service certificates. Revoking or holding one (for keyCompromise above all)
# turns every earlier B-T/B-LT document or OCSP answer it vouched for INDETERMINATE: CA admins
# only, and a revocation needs a second CA admin (ca_admin.revocation).
CA_INTERNAL_PROFILES = frozenset({"ocsp-responder", "tsa", "report-seal", "sub-ca"})


def _require_internal(caller: Caller, row: IssuedCertificate) -> None:
    if row.profile in CA_INTERNAL_PROFILES:
        policy.require(caller, Action.CERT_REVOKE_CA_INTERNAL,
                       "only a CA administrator changes the status of the CA's own service certificates",
                       "chỉ quản trị viên CA được thay đổi trạng thái chứng thư dịch vụ của CA")


def revocation_args(reason: str, invalidity_date: dt.datetime | None, now: dt.datetime) -> str:
    """The RFC 5280 reason, normalised, after checking it and the invalidity date."""
    reason = (reason or "unspecified").strip().lower().replace("-", "_")
    if reason not in REVOCATION_REASONS:
        raise BadRequest(f"reason must be one of {', '.join(REVOCATION_REASONS)}",
                         f"lý do phải là một trong {', '.join(REVOCATION_REASONS)}",
                         extra={"field": "reason"})
    if invalidity_date is not None and invalidity_date > now:
        raise BadRequest("the invalidity date cannot be in the future",
                         "ngày mất hiệu lực không thể ở tương lai")
    return reason


def set_revoked(session: Session, row: IssuedCertificate, reason: str, invalidity: dt.datetime | None,
                now: dt.datetime, actor: str, request_id: str) -> None:
    """Revoke ``row`` in the caller's transaction (for ca_admin.revocation's approval)."""
    _set_revoked(session, row, reason, invalidity, now, actor, request_id)


def locked_certificate(session: Session, serial: str) -> IssuedCertificate:
    return _get_cert(session, serial)


def certificate_view(session: Session, row: IssuedCertificate) -> CertificateView:
    return _cert_view(session, row)


OnChange = Callable[[Session, IssuedCertificate], None]


def revoke(factory: sessionmaker[Session], caller: Caller, serial: str, reason: str,
           invalidity_date: dt.datetime | None = None, *, request_id: str = "",
           now: dt.datetime | None = None, on_change: OnChange | None = None) -> CertificateView:
    """Revoke with an RFC 5280 reason (certificateHold has its own verb: hold). The CA's own
    service certificates are not revoked here: see ca_admin.revocation (four eyes)."""
    _staff(caller)
    now = now or utcnow()
    reason = revocation_args(reason, invalidity_date, now)
    with transaction(factory) as session:
        row = _get_cert(session, serial)
        _require_internal(caller, row)
        if row.status == CertStatus.REVOKED:
            raise AlreadyRevoked(row.serial_hex)
        if row.profile in CA_INTERNAL_PROFILES:
            raise RevocationNeedsSecondAdmin(row.serial_hex)
        _set_revoked(session, row, reason, invalidity_date, now, caller.actor, request_id)
        if on_change:
            on_change(session, row)
        return _cert_view(session, row)


def hold(factory: sessionmaker[Session], caller: Caller, serial: str, *, request_id: str = "",
         now: dt.datetime | None = None, on_change: OnChange | None = None) -> CertificateView:
    _staff(caller, Action.CERT_HOLD)
    now = now or utcnow()
    with transaction(factory) as session:
        row = _get_cert(session, serial)
        _require_internal(caller, row)
        if row.status != CertStatus.GOOD:
            raise WrongState(f"only a good certificate can be put on hold (it is {row.status})",
                             f"chỉ chứng thư còn hiệu lực mới tạm dừng được (hiện: {row.status})")
        row.status, row.revoked_at, row.revocation_reason = CertStatus.ON_HOLD, now, "certificate_hold"
        row.crl_entry_der = crl_entry(int(row.serial_hex, 16), now, "certificate_hold", None)
        _forget_ocsp(session, row)
        audit.record(session, actor=caller.actor, action="cert.hold", target=f"cert:{row.serial_hex}",
                     request_id=request_id)
        if on_change:
            on_change(session, row)
        return _cert_view(session, row)


@dataclass(frozen=True)
class AgencyStatusChange:
    agency: AgencyView
    previous: str
    revoked: tuple[CertificateView, ...]  # revoked with it (cessationOfOperation), to republish
    still_valid: int  # the agency's certificates left good or on hold


def set_agency_status(factory: sessionmaker[Session], caller: Caller, code: str, status: str, *,
                      revoke_certificates: bool = False, request_id: str = "",
                      now: dt.datetime | None = None) -> AgencyStatusChange:
    """Activate, suspend or dissolve an agency (a suspended or dissolved agency's keys and
    its officials' keys do not sign). On dissolution, ``revoke_certificates`` revokes every
    certificate of the agency still good or on hold with reason cessationOfOperation, in the
    same transaction; without it the change says how many are left."""
    _staff(caller, Action.REGISTRY_WRITE)
    if revoke_certificates:
        _staff(caller, Action.CERT_REVOKE)
    status = (status or "").strip().lower()
    if status not in AGENCY_STATUSES:
        raise BadRequest(f"'status' must be one of {', '.join(AGENCY_STATUSES)}",
                         f"'status' phải là một trong {', '.join(AGENCY_STATUSES)}", extra={"field": "status"})
    if revoke_certificates and status != "dissolved":
        raise BadRequest("certificates are revoked (cessationOfOperation) only when an agency is dissolved",
                         "chỉ thu hồi chứng thư (cessationOfOperation) khi cơ quan giải thể",
                         extra={"field": "revoke_certificates"})
    now = now or utcnow()
    with transaction(factory) as session:
        agency = get_agency(session, code)
        previous = agency.status
        if previous == "dissolved" and status != "dissolved":
            raise AgencyDissolved(agency.code)
        live = (IssuedCertificate.agency_id == agency.id, IssuedCertificate.status.in_(LIVE))
        revoked: list[IssuedCertificate] = []
        if revoke_certificates:
            # The certificate rows first, as signing's re-check takes them (then the agency's).
            revoked = list(session.execute(select(IssuedCertificate).where(*live).order_by(IssuedCertificate.id)
                                           .with_for_update()).scalars())
            for row in revoked:
                _set_revoked(session, row, "cessation_of_operation", None, now, caller.actor, request_id)
        agency.status = status
        session.flush()
        still = len(session.execute(select(IssuedCertificate.id).where(*live)).all())
        audit.record(session, actor=caller.actor, action="agency.status", target=f"agency:{agency.code}",
                     details={"from": previous, "to": status, "certificates_revoked": len(revoked),
                              "certificates_still_valid": still}, request_id=request_id)
        return AgencyStatusChange(agency_view(session, agency), previous,
                                  tuple(_cert_view(session, r) for r in revoked), still)


def release(factory: sessionmaker[Session], caller: Caller, serial: str, *, request_id: str = "",
            on_change: OnChange | None = None) -> CertificateView:
    _staff(caller, Action.CERT_HOLD)
    with transaction(factory) as session:
        row = _get_cert(session, serial)
        _require_internal(caller, row)
        if row.status != CertStatus.ON_HOLD:
            raise WrongState(f"only a held certificate can be released (it is {row.status})",
                             f"chỉ chứng thư đang tạm dừng mới khôi phục được (hiện: {row.status})")
        row.status, row.revoked_at, row.revocation_reason = CertStatus.GOOD, None, None
        row.crl_entry_der = None
        _forget_ocsp(session, row)
        audit.record(session, actor=caller.actor, action="cert.release", target=f"cert:{row.serial_hex}",
                     request_id=request_id)
        if on_change:
            on_change(session, row)
        return _cert_view(session, row)


# -- reading ---------------------------------------------------------------------------------------

def _visible_agency_ids(session: Session, caller: Caller) -> set[int] | None:
    if policy.agency_scoped(caller):
        from ca_admin.registry import client_agency_ids

        return client_agency_ids(session, caller.user_id)
    return None


def get_certificate(factory: sessionmaker[Session], caller: Caller, serial: str) -> CertificateView:
    with read_transaction(factory) as session:
        row = _get_cert(session, serial, lock=False)
        visible = _visible_agency_ids(session, caller)
        if visible is not None and row.agency_id not in visible:
            raise CertificateNotFound(serial)
        return _cert_view(session, row)


def search_certificates(factory: sessionmaker[Session], caller: Caller, *, agency_code: str = "",
                        official_id: int | None = None, serial: str = "", status: str = "",
                        subject: str = "", limit: int = 100) -> list[CertificateView]:
    with read_transaction(factory) as session:
        stmt = select(IssuedCertificate).order_by(IssuedCertificate.id.desc()).limit(min(max(limit, 1), 1000))
        if agency_code:
            stmt = stmt.where(IssuedCertificate.agency_id == get_agency(session, agency_code).id)
        if official_id is not None:
            stmt = stmt.where(IssuedCertificate.official_id == official_id)
        if serial:
            stmt = stmt.where(IssuedCertificate.serial_hex == (normalize_serial(serial) or "-"))
        if status:
            stmt = stmt.where(IssuedCertificate.status == status)
        visible = _visible_agency_ids(session, caller)
        if visible is not None:
            stmt = stmt.where(IssuedCertificate.agency_id.in_(visible or {-1}))
        rows = list(session.execute(stmt).scalars())
        if subject:
            needle = fold(subject)
            rows = [r for r in rows if needle in fold(r.subject)]
        return [_cert_view(session, r) for r in rows]


def expiring(factory: sessionmaker[Session], caller: Caller, days: int,
             now: dt.datetime | None = None) -> list[CertificateView]:
    """Good or held certificates whose validity ends within ``days`` days."""
    now = now or utcnow()
    if not 0 <= days <= 3650:
        raise BadRequest("'days' must be between 0 and 3650", "'days' phải từ 0 đến 3650")
    with read_transaction(factory) as session:
        stmt = (select(IssuedCertificate)
                .where(IssuedCertificate.status.in_(LIVE),
                       IssuedCertificate.not_after >= now,
                       IssuedCertificate.not_after <= now + dt.timedelta(days=days))
                .order_by(IssuedCertificate.not_after))
        visible = _visible_agency_ids(session, caller)
        if visible is not None:
            stmt = stmt.where(IssuedCertificate.agency_id.in_(visible or {-1}))
        return [_cert_view(session, r) for r in session.execute(stmt).scalars()]


def expiring_csv(views: list[CertificateView], now: dt.datetime | None = None) -> str:
    now = now or utcnow()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["serial", "profile", "agency_code", "subject", "not_after", "days_left", "status"])
    for v in views:
        writer.writerow([v.serial, v.profile, v.agency_code, v.subject, v.not_after.isoformat(),
                         max((v.not_after - now).days, 0), v.status])
    return out.getvalue()


def list_requests(factory: sessionmaker[Session], caller: Caller, status: str = "") -> list[RequestView]:
    with read_transaction(factory) as session:
        stmt = select(CertificateRequest).order_by(CertificateRequest.id)
        if status:
            stmt = stmt.where(CertificateRequest.status == status)
        visible = _visible_agency_ids(session, caller)
        if visible is not None:
            stmt = stmt.where(CertificateRequest.agency_id.in_(visible or {-1}))
        return [_request_view(session, r) for r in session.execute(stmt).scalars()]


def chain_p7b(factory: sessionmaker[Session], view: CertificateView) -> bytes:
    """The certificate with the issuing and root CA certificates, as a degenerate PKCS#7."""
    with read_transaction(factory) as session:
        chain = ca_chain_der(session, active_ca_row(session, "issuing"))
    certs = [x509.Certificate.load(der) for der in (view.certificate_der, *chain)]
    signed = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [],
        "encap_content_info": {"content_type": "data"},
        "certificates": [cms.CertificateChoices(name="certificate", value=c) for c in certs],
        "signer_infos": [],
    })
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def with_retry_on_serial_clash(fn: Callable[[], T], attempts: int = 3) -> T:
    """A serial clash (159 random bits) is astronomically rare; retry rather than fail."""
    for attempt in range(attempts):
        try:
            return fn()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


__all__ = ["KysoError"]
