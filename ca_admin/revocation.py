"""Four eyes on revoking the CA's own service certificates (issue 13, item 15).

One RA officer could revoke the TSA and OCSP responder certificates for keyCompromise, which
turns every earlier B-T/B-LT document INDETERMINATE. For those certificates (and subordinate
CAs) a CA admin files a revocation request; a second, different CA admin approves it, and only
then is the certificate revoked, in the approval's transaction. Every other certificate is
revoked at once by staff, as before. ``issuance.revoke`` refuses the CA's own certificates, so
no path around this exists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ca_admin import issuance
from ca_admin.issuance import CA_INTERNAL_PROFILES, CertificateView
from ca_admin.models import CertStatus, IssuedCertificate, RequestStatus, RevocationRequest
from kyso import audit, policy
from kyso.callers import Caller
from kyso.db import read_transaction, transaction, utcnow
from kyso.errors import BadRequest, Conflict, Forbidden, NotFound
from kyso.policy import Action

PENDING, APPROVED, REJECTED = RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.REJECTED


class RevocationRequestNotFound(NotFound):
    code = "revocation-request-not-found"

    def __init__(self, rid: int) -> None:
        super().__init__(f"no revocation request {rid}", f"không có đề nghị thu hồi {rid}")


class RevocationAlreadyPending(Conflict):
    code = "revocation-already-pending"

    def __init__(self, rid: int) -> None:
        super().__init__(f"a revocation of this certificate is already waiting for approval (request {rid})",
                         f"đã có đề nghị thu hồi chứng thư này đang chờ phê duyệt (đề nghị {rid})",
                         extra={"revocation_request": rid})


class SecondAdminRequired(Forbidden):
    code = "four-eyes"

    def __init__(self) -> None:
        super().__init__("a revocation of a CA service certificate is approved by a CA admin other than "
                         "the one who asked for it",
                         "việc thu hồi chứng thư dịch vụ của CA phải do quản trị viên CA khác với người "
                         "đề nghị phê duyệt")


@dataclass(frozen=True)
class RevocationRequestView:
    id: int
    serial: str
    profile: str
    reason: str
    invalidity_date: dt.datetime | None
    status: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "serial": self.serial, "profile": self.profile, "reason": self.reason,
            "invalidity_date": self.invalidity_date.isoformat() if self.invalidity_date else None,
            "status": self.status, "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(), "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decision_note": self.decision_note,
        }


def _view(session: Session, req: RevocationRequest) -> RevocationRequestView:
    cert = session.get(IssuedCertificate, req.certificate_id)
    assert cert is not None
    return RevocationRequestView(req.id, cert.serial_hex, cert.profile, req.reason, req.invalidity_date,
                                 req.status, req.requested_by, req.requested_at, req.decided_by,
                                 req.decided_at, req.decision_note)


def _require(caller: Caller) -> None:
    policy.require(caller, Action.CERT_REVOKE_CA_INTERNAL,
                   "only CA administrators revoke the CA's own service certificates",
                   "chỉ quản trị viên CA được thu hồi chứng thư dịch vụ của CA")


def is_ca_internal(factory: sessionmaker[Session], serial: str) -> bool:
    with read_transaction(factory) as session:
        text = issuance.normalize_serial(serial)
        profile = session.execute(select(IssuedCertificate.profile)
                                  .where(IssuedCertificate.serial_hex == text)).scalar_one_or_none()
    return profile in CA_INTERNAL_PROFILES


def revoke_or_request(factory: sessionmaker[Session], caller: Caller, serial: str, reason: str,
                      invalidity_date: dt.datetime | None = None, *, request_id: str = "",
                      now: dt.datetime | None = None) -> CertificateView | RevocationRequestView:
    """What 'revoke' means for this certificate: at once, or a request for a second CA admin."""
    if is_ca_internal(factory, serial):
        return request(factory, caller, serial, reason, invalidity_date, request_id=request_id, now=now)
    return issuance.revoke(factory, caller, serial, reason, invalidity_date, request_id=request_id, now=now)


def request(factory: sessionmaker[Session], caller: Caller, serial: str, reason: str,
            invalidity_date: dt.datetime | None = None, *, request_id: str = "",
            now: dt.datetime | None = None) -> RevocationRequestView:
    _require(caller)
    now = now or utcnow()
    reason = issuance.revocation_args(reason, invalidity_date, now)
    with transaction(factory) as session:
        row = issuance.locked_certificate(session, serial)
        if row.profile not in CA_INTERNAL_PROFILES:
            raise BadRequest("this certificate is revoked directly, without a second approval",
                             "chứng thư này được thu hồi trực tiếp, không cần phê duyệt thứ hai")
        if row.status == CertStatus.REVOKED:
            raise issuance.AlreadyRevoked(row.serial_hex)
        pending = session.execute(select(RevocationRequest.id).where(
            RevocationRequest.certificate_id == row.id, RevocationRequest.status == PENDING)).scalar()
        if pending is not None:
            raise RevocationAlreadyPending(pending)
        req = RevocationRequest(certificate_id=row.id, reason=reason, invalidity_date=invalidity_date,
                                status=PENDING, requested_by=caller.name, requested_at=now)
        session.add(req)
        session.flush()
        audit.record(session, actor=caller.actor, action="cert.revoke.request", target=f"cert:{row.serial_hex}",
                     details={"revocation_request": req.id, "reason": reason,
                              "invalidity_date": invalidity_date.isoformat() if invalidity_date else None},
                     request_id=request_id)
        return _view(session, req)


def _pending(session: Session, rid: int) -> RevocationRequest:
    req = session.execute(select(RevocationRequest).where(RevocationRequest.id == rid)
                          .with_for_update()).scalar_one_or_none()
    if req is None:
        raise RevocationRequestNotFound(rid)
    if req.status != PENDING:
        raise issuance.RequestNotPending(req.status)
    return req


def approve(factory: sessionmaker[Session], caller: Caller, rid: int, *, request_id: str = "",
            now: dt.datetime | None = None) -> CertificateView:
    """The second CA admin's approval: the certificate is revoked in this transaction."""
    _require(caller)
    now = now or utcnow()
    with transaction(factory) as session:
        req = _pending(session, rid)
        if caller.name == req.requested_by:
            raise SecondAdminRequired()
        cert = session.execute(select(IssuedCertificate).where(IssuedCertificate.id == req.certificate_id)
                               .with_for_update()).scalar_one()
        if cert.status == CertStatus.REVOKED:
            raise issuance.AlreadyRevoked(cert.serial_hex)
        req.status, req.decided_by, req.decided_at = APPROVED, caller.name, now
        audit.record(session, actor=caller.actor, action="cert.revoke.approve", target=f"cert:{cert.serial_hex}",
                     details={"revocation_request": req.id, "requested_by": req.requested_by},
                     request_id=request_id)
        issuance.set_revoked(session, cert, req.reason, req.invalidity_date, now, caller.actor, request_id)
        return issuance.certificate_view(session, cert)


def reject(factory: sessionmaker[Session], caller: Caller, rid: int, note: str, *, request_id: str = "",
           now: dt.datetime | None = None) -> RevocationRequestView:
    """Turn a revocation request down (or, by its requester, withdraw it), with a note."""
    _require(caller)
    note = (note or "").strip()
    if not note:
        raise BadRequest("a rejection needs a reason", "từ chối phải kèm lý do", extra={"field": "reason"})
    with transaction(factory) as session:
        req = _pending(session, rid)
        req.status, req.decided_by, req.decided_at = REJECTED, caller.name, now or utcnow()
        req.decision_note = note[:1000]
        view = _view(session, req)
        audit.record(session, actor=caller.actor, action="cert.revoke.reject", target=f"cert:{view.serial}",
                     details={"revocation_request": req.id}, request_id=request_id)
        return view


def list_requests(factory: sessionmaker[Session], caller: Caller, status: str = PENDING) -> list[RevocationRequestView]:
    _require(caller)
    if status not in (PENDING, APPROVED, REJECTED, "all"):
        raise BadRequest("status must be pending, approved, rejected or all",
                         "status phải là pending, approved, rejected hoặc all", extra={"field": "status"})
    with read_transaction(factory) as session:
        stmt = select(RevocationRequest).order_by(RevocationRequest.id.desc()).limit(500)
        if status != "all":
            stmt = stmt.where(RevocationRequest.status == status)
        return [_view(session, r) for r in session.execute(stmt).scalars()]
