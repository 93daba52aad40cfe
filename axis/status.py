"""edXML status messages sent and received (issue 8): each recorded on the tracks it moves
(the codes and their order: axis/status_message.py), and each document's status history.

An event is recorded with its audit entry in one transaction, under a lock on the
document's row, so two concurrent messages cannot both move a track from the same state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import unicodedata
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from axis import building, model
from axis.messages import (
    A_RECIPIENT,
    DOCUMENT_SENDER,
    DOCUMENT_UNKNOWN,
    INCOMING_STATUS_UNSIGNED,
    NO_RECIPIENT_FOR_STATUS,
    NO_STATUS_RECORDED,
    NOT_A_RECIPIENT,
    STATUS_FROM_WRONG_PARTY,
    STATUS_MESSAGE_INVALID,
    STATUS_SIGNATURE_NOT_ACCEPTABLE,
    TO_OR_STAFF_INVALID,
)
from axis.status_message import (
    CODES,
    StatusMessage,
    StatusTransitionInvalid,
    allowed_after,
    build,
    check_code,
    check_transition,
    now_timestamp,
    parse,
)
from kyso import audit, policy
from kyso.callers import Caller
from kyso.db import Base, UTCDateTime, transaction, utcnow
from kyso.errors import Conflict, ErrorKind, KysoError, Message, NotFound
from verification.indication import Indication


class StatusDocumentUnknown(KysoError):
    code = "status-document-unknown"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Unknown document"



class StatusWrongParty(Conflict):
    code = "status-wrong-party"



class StatusSignatureInvalid(KysoError):
    code = "status-signature-invalid"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "The status message's signature does not verify"


# -- tables -------------------------------------------------------------------------------------------

class EdxmlDocument(Base):
    """A document that passed through Kyso (signed here, or named by a status message)."""

    __tablename__ = "edxml_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    sender: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    recipients: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON list of OrganIds
    # True when the package was signed here: its To list is then the whole list of recipients
    # (otherwise they are learnt from the status messages that name them).
    recipients_known: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class EdxmlStatusEvent(Base):
    """One status on one recipient's track of a document."""

    __tablename__ = "edxml_status_events"
    __table_args__ = (UniqueConstraint("document_pk", "seq", name="uq_edxml_status_events_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_pk: Mapped[int] = mapped_column(ForeignKey("edxml_documents.id"), nullable=False, index=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    track: Mapped[str] = mapped_column(String(40), nullable=False)  # the recipient agency
    code: Mapped[str] = mapped_column(String(2), nullable=False)
    from_organ: Mapped[str] = mapped_column(String(40), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    staff: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    message_timestamp: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    direction: Mapped[str] = mapped_column(String(10), nullable=False)  # sent (built here) | received
    signature: Mapped[str] = mapped_column(String(60), nullable=False)  # kyso:<id> | <ETSI indication> | none
    message_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    client: Mapped[str] = mapped_column(String(200), nullable=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


def register_document(session: Session, document_id: str, sender: str, recipients: list[str],
                      subject: str = "", known: bool = False) -> EdxmlDocument:
    """The document's row, created or completed with recipients (locked for the transaction).
    Two first messages about one document at once: the one that inserts second finds the
    other's row instead (a savepoint absorbs its failed insert)."""
    from sqlalchemy.exc import IntegrityError

    query = select(EdxmlDocument).where(EdxmlDocument.document_id == document_id).with_for_update()
    doc = session.execute(query).scalar_one_or_none()
    if doc is None:
        try:
            with session.begin_nested():
                doc = EdxmlDocument(document_id=document_id, sender=sender, recipients="[]", subject=subject,
                                    recipients_known=False, created_at=utcnow())
                session.add(doc)
        except IntegrityError:
            doc = session.execute(query).scalar_one()
    listed: list[str] = json.loads(doc.recipients)
    # A package signed here fixes the recipients: its To list replaces whatever status
    # messages had named before (an agency cannot join by reporting on a DocumentId early).
    merged = list(dict.fromkeys(recipients)) if known else listed + [r for r in recipients if r not in listed]
    if merged != listed:
        doc.recipients = json.dumps(merged)
    if subject and not doc.subject:
        doc.subject = subject
    if known:
        doc.recipients_known = True
    return doc


def _tracks(session: Session, doc: EdxmlDocument) -> dict[str, list[str]]:
    tracks: dict[str, list[str]] = {r: [] for r in json.loads(doc.recipients)}
    for track, code in session.execute(select(EdxmlStatusEvent.track, EdxmlStatusEvent.code)
                                       .where(EdxmlStatusEvent.document_pk == doc.id)
                                       .order_by(EdxmlStatusEvent.seq)).all():
        tracks.setdefault(track, []).append(code)
    return tracks


def plan(session: Session, msg: StatusMessage) -> tuple[EdxmlDocument, list[str]]:
    """Lock the document, check the message against it, and return the tracks it moves."""
    info = check_code(msg.code, msg.description)
    named = [r.organ_id for r in msg.recipients]
    query = select(EdxmlDocument).where(EdxmlDocument.document_id == msg.document_id).with_for_update()
    existing = session.execute(query).scalar_one_or_none()
    if info.by_sender != (msg.sender.organ_id == msg.document_sender):
        raise StatusWrongParty(STATUS_FROM_WRONG_PARTY.format(
            code=msg.code, who=DOCUMENT_SENDER if info.by_sender else A_RECIPIENT, sender=msg.sender.organ_id))
    if existing is not None and existing.recipients_known:
        strangers = sorted(set(named if info.by_sender else [msg.sender.organ_id])
                           - set(json.loads(existing.recipients)))
        if strangers:
            raise StatusWrongParty(NOT_A_RECIPIENT.format(strangers=", ".join(strangers)))
    doc = register_document(session, msg.document_id, msg.document_sender,
                            named if info.by_sender else [msg.sender.organ_id])
    tracks = _tracks(session, doc)
    # A retrieval request without To goes to every recipient still able to answer one.
    moved = (named or [t for t, codes in tracks.items() if "13" in allowed_after(codes)]) if info.by_sender \
        else [msg.sender.organ_id]
    if not moved:
        raise StatusTransitionInvalid(NO_RECIPIENT_FOR_STATUS)
    for track in moved:
        check_transition(tracks.get(track, []), msg.code, track)
    return doc, moved


def record(session: Session, caller: Caller, msg: StatusMessage, message: bytes, *, direction: str,
           signature: str, request_id: str = "") -> list[int]:
    """Record the message on each track it moves, with its audit entry (the caller's
    transaction: the caller commits, or nothing is kept)."""
    doc, moved = plan(session, msg)
    seq = session.execute(select(EdxmlStatusEvent.seq).where(EdxmlStatusEvent.document_pk == doc.id)
                          .order_by(EdxmlStatusEvent.seq.desc()).limit(1)).scalar_one_or_none() or 0
    ids = []
    digest = hashlib.sha256(message).hexdigest()
    for track in moved:
        seq += 1
        event = EdxmlStatusEvent(
            document_pk=doc.id, seq=seq, track=track, code=msg.code, from_organ=msg.sender.organ_id,
            description=unicodedata.normalize("NFC", msg.description), staff=json.dumps(msg.staff, ensure_ascii=False),
            message_timestamp=msg.timestamp, direction=direction, signature=signature, message_sha256=digest,
            client=caller.name, recorded_at=utcnow())
        session.add(event)
        session.flush()
        ids.append(event.id)
    audit.record(session, actor=caller.actor, action=f"edxml.status.{direction}",
                 target=f"edxml-document:{msg.document_id[:150]}",
                 details={"code": msg.code, "from": msg.sender.organ_id, "tracks": moved, "signature": signature,
                          "message_sha256": digest}, request_id=request_id)
    return ids


def _bound_codes(session: Session, caller: Caller) -> set[str] | None:
    """Agency codes a client is bound to (None: staff roles, who see every document)."""
    from ca_admin.facade import Agency, client_agency_ids

    if not policy.agency_scoped(caller):
        return None
    ids = client_agency_ids(session, caller.user_id)
    return set(session.execute(select(Agency.code).where(Agency.id.in_(ids))).scalars()) if ids else set()


def history(factory: sessionmaker[Session], caller: Caller, document_id: str) -> dict[str, Any]:
    """The document's status history, for a client bound to its sender or one of its
    recipients (404 otherwise: whether a document exists is not told to others)."""
    with transaction(factory) as session:
        doc = session.execute(select(EdxmlDocument).where(EdxmlDocument.document_id == document_id)
                              ).scalar_one_or_none()
        bound = _bound_codes(session, caller)
        recipients = json.loads(doc.recipients) if doc is not None else []
        if doc is None or (bound is not None and not bound & {doc.sender, *recipients}):
            raise NotFound(NO_STATUS_RECORDED)
        events = session.execute(select(EdxmlStatusEvent).where(EdxmlStatusEvent.document_pk == doc.id)
                                 .order_by(EdxmlStatusEvent.seq)).scalars().all()
        if bound is not None and doc.sender not in bound:
            # A recipient sees its own track only: not what other agencies reported.
            recipients = [r for r in recipients if r in bound]
            events = [e for e in events if e.track in bound]
        entries = [{"seq": e.seq, "recipient": e.track, "code": e.code, "en": CODES[e.code].en,
                    "vi": CODES[e.code].vi, "from": e.from_organ, "description": e.description,
                    "staff": json.loads(e.staff), "timestamp": e.message_timestamp, "direction": e.direction,
                    "signature": e.signature, "message_sha256": e.message_sha256,
                    "recorded_at": e.recorded_at.isoformat()} for e in events]
        tracks: dict[str, list[str]] = {r: [] for r in recipients}
        for e in events:
            tracks.setdefault(e.track, []).append(e.code)
        return {"document_id": doc.document_id, "sender": doc.sender, "subject": doc.subject,
                "recipients": {t: {"current": codes[-1] if codes else None,
                                   "next_allowed": sorted(allowed_after(codes))} for t, codes in tracks.items()},
                "history": entries}


# -- sending and receiving -------------------------------------------------------------------------------

def message_from_json(body: dict[str, Any]) -> StatusMessage:
    """A status message from POST /api/v1/edxml/status's JSON."""
    from kyso.errors import BadRequest

    org = model.organization_from_json
    to = body.get("to") or []
    staff = body.get("staff") or {}
    if not isinstance(to, list) or not isinstance(staff, dict):
        raise BadRequest(TO_OR_STAFF_INVALID)
    msg = StatusMessage(
        sender=org(body.get("from")), document_id=str(body.get("document_id", "")),
        code=str(body.get("status_code", "")), description=str(body.get("description", "")),
        recipients=[org(t) for t in to], response_code=str(body.get("code", "")),
        promulgation_date=str(body.get("promulgation_date", "")),
        staff={t: str(staff.get(t.lower(), staff.get(t, ""))) for t in StatusMessage.STAFF})
    check_code(msg.code, msg.description)
    problems = msg.findings()
    if problems:
        raise model.EdxmlInvalid(STATUS_MESSAGE_INVALID.format(problems=model.joined_message(problems)))
    return msg


def _precheck(factory: sessionmaker[Session], msg: StatusMessage) -> None:
    """Refuse a message that cannot be recorded before anything is signed (rolled back)."""
    with factory() as session:
        try:
            plan(session, msg)
        finally:
            session.rollback()


def send(factory: sessionmaker[Session], keystore: Any, settings: Any, caller: Caller, msg: StatusMessage, *,
         sign: bool, opts: Any = None, request_id: str = "") -> tuple[bytes, str | None]:
    """Build (and on request sign with the From agency's seal) a status message, and record
    it: the message is returned only after its event, audit entry and, when signed, its
    signature record committed together. Returns the message and the signature id."""
    from axis.sign import SignOptions, check_bound, seal_request, seal_tree
    from signer import signing

    check_code(msg.code, msg.description)
    msg.timestamp = msg.timestamp or now_timestamp()
    if not sign:
        check_bound(factory, caller, msg.sender.organ_id, request_id)
        _precheck(factory, msg)
        out = building.to_bytes(build(msg, [model.TraceHeader(msg.sender.organ_id, now_timestamp())]))
        with transaction(factory) as session:
            record(session, caller, msg, out, direction="sent", signature="none", request_id=request_id)
        return out, None
    opts = opts or SignOptions()
    req = seal_request(factory, caller, msg.sender.organ_id, "sign.edxml-status", opts.scheme, request_id)
    authorised = signing.authorise(factory, settings, req)
    _precheck(factory, msg)

    def make(grant: signing.Grant) -> signing.Made[bytes]:
        root = build(msg, [model.TraceHeader(grant.credential.agency_code, now_timestamp())])
        level = seal_tree(factory, keystore, settings, grant, root, opts)
        out = building.to_bytes(root)

        def also(session: Session, sid: str) -> None:
            record(session, caller, msg, out, direction="sent", signature=f"kyso:{sid}", request_id=request_id)

        return signing.Made(out, fmt="edxml-status", level=level, digest_alg=grant.scheme.hash_name,
                            digest=hashlib.new(grant.scheme.hash_name, out).digest(),
                            details={"document_id": msg.document_id, "status_code": msg.code}, also=also)

    done = signing.sign(factory, keystore, settings, req, make, authorised=authorised)
    return done.output, done.signature_id


def receive(factory: sessionmaker[Session], settings: Any, caller: Caller, data: bytes, *, offline: bool = False,
            request_id: str = "") -> dict[str, Any]:
    """Parse, check and record an incoming status message. It must be signed by the agency
    in its From: the signature verifies (TOTAL-PASSED), covers the whole message, sits
    where the axis puts it, and its certificate is one this CA issued to that agency (an
    unsigned message, or one whose signer cannot be tied to From, could be anyone's and
    would move other agencies' tracks). The caller must be bound to an agency the message
    is addressed to."""
    from axis.verify import not_whole, position_problems
    from ca_admin.facade import AgencyScopeDenied
    from verification import xmldsig
    from verification.service import verify

    msg, root = parse(data)
    info = check_code(msg.code, msg.description)
    with transaction(factory) as session:
        doc = session.execute(select(EdxmlDocument).where(EdxmlDocument.document_id == msg.document_id)
                              ).scalar_one_or_none()
        addressed = ({r.organ_id for r in msg.recipients} | set(json.loads(doc.recipients) if doc else [])
                     if info.by_sender else {msg.document_sender})
        bound = _bound_codes(session, caller)
    if bound is not None and not bound & addressed:
        raise AgencyScopeDenied(", ".join(sorted(addressed))[:80])
    if not xmldsig.find_signatures(root):
        raise StatusSignatureInvalid(INCOMING_STATUS_UNSIGNED)
    report = verify(factory, settings, data, offline=offline, bounded=True)
    problems = position_problems(root)
    if not any(s.kind == "xml" and s.coverage.get("covers_whole_document") for s in report.signatures):
        problems.append(not_whole("message", "thông điệp"))
    agencies = {s.agency_code for s in report.signatures}
    if agencies != {msg.sender.organ_id}:
        who = ", ".join(sorted(a or "an unidentified signer" for a in agencies))
        who_vi = ", ".join(sorted(a or "một người ký không xác định" for a in agencies))
        problems.append(model.Finding(f"signed by {who}, not by the From agency {msg.sender.organ_id}",
                                      f"do {who_vi} ký, không phải cơ quan gửi (From) {msg.sender.organ_id}"))
    # Only a signature that passes moves a track: INDETERMINATE (a key revoked after a
    # claimed signing time, SHA-1, an expired or unknown chain, the old un-namespaced form)
    # proves no more than an unsigned message.
    if report.indication != Indication.TOTAL_PASSED or problems:
        why = model.joined_message(problems) if problems else Message(report.summary_en, report.summary_vi)
        raise StatusSignatureInvalid(STATUS_SIGNATURE_NOT_ACCEPTABLE.format(why=why))
    signature = report.indication
    if doc is None:
        # Only documents Kyso has seen (signed here, or named in a status message sent or
        # received here) have tracks: a status about any other would start one at its word.
        raise StatusDocumentUnknown(DOCUMENT_UNKNOWN,
                                    extra={"document_id": msg.document_id[:200]})
    with transaction(factory) as session:
        # The same message twice (a resend, or one this Kyso built and recorded already)
        # is recorded once: checked under the document's lock, so two resends at once are too.
        session.execute(select(EdxmlDocument.id).where(EdxmlDocument.document_id == msg.document_id)
                        .with_for_update()).all()
        seen = session.execute(select(EdxmlStatusEvent.id).join(EdxmlDocument).where(
            EdxmlDocument.document_id == msg.document_id,
            EdxmlStatusEvent.message_sha256 == hashlib.sha256(data).hexdigest())).scalars().all()
        ids = list(seen) or record(session, caller, msg, data, direction="received", signature=signature,
                                   request_id=request_id)
    return {"document_id": msg.document_id, "status_code": msg.code, "en": info.en, "vi": info.vi,
            "from": msg.sender.organ_id, "signature": signature, "events": ids, "already_recorded": bool(seen)}
