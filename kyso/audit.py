"""The audit trail: append-only, hash-chained, written in the caller's transaction.

Each record carries the SHA-256 of the previous record; a one-row head table holds the
last sequence number and hash, so deleting the newest records is detected too. Appends
lock the head (``FOR UPDATE`` on PostgreSQL; SQLite transactions are ``BEGIN IMMEDIATE``),
so concurrent writers never fork the chain.

A hash chain alone does not stop someone with full database access: they can re-chain
edited records with the same public recipe and fix the head. So the head is checkpointed:
(number, seq, record hash, record count, previous checkpoint) signed by the audit key in the
HSM (label ``kyso-audit-checkpoint``, non-extractable), every N records, every M minutes
while records are written and with every CRL. Checkpoints are stored in ``audit_checkpoints``
and written to the log as one line each, for copies outside the database; ``verify_chain``
checks every signature and that the chain matches each checkpoint, and can be given
checkpoints kept elsewhere (``kyso audit verify --against FILE``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Integer, String, Text, event, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from kyso.db import Base, UTCDateTime, advisory_lock, read_transaction, transaction, utcnow
from kyso.errors import ErrorKind, KysoError, NotFound
from kyso.logs import caller_request_id_var, origin_var
from kyso.messages import AUDIT_KEY_NOT_HSM_TOKEN

GENESIS = "0" * 64
# The audit key's label in the token: reserved, never used for anything else.
AUDIT_KEY_LABEL = "kyso-audit-checkpoint"
CHECKPOINT_LOCK = 0x6B79736F2000
CHECKPOINT_LOG_PREFIX = "audit checkpoint "
log = logging.getLogger("kyso.audit")


class AuditRecord(Base):
    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    outcome: Mapped[str] = mapped_column(String(20), nullable=False, default="success")
    # Our own id of the request (never the caller's), and the X-Request-Id the caller sent.
    request_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    caller_request_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    details: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    record_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)

    def payload(self) -> dict[str, Any]:
        payload = {
            "seq": self.seq,
            "occurred_at": _iso(self.occurred_at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "details": self.details,  # the stored text, exactly: any edit breaks the hash
            "prev_hash": self.prev_hash,
        }
        # Added later (issue 13): covered by the hash when present, absent from the hashes
        # of records written before it existed, so those still verify.
        if self.caller_request_id:
            payload["caller_request_id"] = self.caller_request_id
        return payload

    def compute_hash(self) -> str:
        return _digest(self.payload())

    def to_json(self) -> dict[str, Any]:
        out = {**self.payload(), "caller_request_id": self.caller_request_id,
               "record_hash": self.record_hash}
        try:
            out["details"] = json.loads(self.details)
        except ValueError:
            pass  # an edited, unparseable value is exported as stored; verify names it
        return out


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditCheckpoint(Base):
    """A signed statement of the chain's head: record ``seq`` has ``record_hash`` and the
    chain holds ``records`` records up to it. Numbered, each naming its predecessor."""

    __tablename__ = "audit_checkpoints"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    record_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    records: Mapped[int] = mapped_column(Integer, nullable=False)
    prev_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(20), nullable=False)
    key_label: Mapped[str] = mapped_column(String(100), nullable=False)
    key_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    scheme: Mapped[str] = mapped_column(String(30), nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)  # base64

    def signed_payload(self) -> dict[str, Any]:
        return checkpoint_payload(self.to_json())

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": self.number, "created_at": _iso(self.created_at), "seq": self.seq,
                "record_hash": self.record_hash, "records": self.records,
                "prev_digest": self.prev_digest, "reason": self.reason,
                "key_label": self.key_label, "key_sha256": self.key_sha256,
                "scheme": self.scheme, "signature": self.signature}


_SIGNED_FIELDS = ("checkpoint", "created_at", "seq", "record_hash", "records", "prev_digest",
                  "reason", "key_label", "key_sha256", "scheme")


def checkpoint_payload(cp: dict[str, Any]) -> dict[str, Any]:
    """What the audit key signs: every field but the signature, and a type tag."""
    return {"type": "kyso-audit-checkpoint", "v": 1, **{k: cp[k] for k in _SIGNED_FIELDS}}


def checkpoint_digest(cp: dict[str, Any]) -> str:
    """What the next checkpoint names as its predecessor (covers the signature too)."""
    return _digest({**checkpoint_payload(cp), "signature": cp["signature"]})


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


def _with_origin(details: dict[str, Any] | None) -> dict[str, Any]:
    origin = origin_var.get()
    if not origin:
        return details or {}
    return {**(details or {}), "origin": origin}


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    outcome: str = "success",
    details: dict[str, Any] | None = None,
    request_id: str = "",
    caller_request_id: str | None = None,
    now: dt.datetime | None = None,
) -> AuditRecord:
    """Append one record in ``session``'s transaction (the caller commits).

    ``request_id`` is ours; ``caller_request_id`` (by default the one of the request being
    served) is what the caller sent, kept beside it."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:  # the migration creates it; its absence means tampering
        raise RuntimeError("audit head row missing: run 'kyso audit verify'")
    occurred = now or utcnow()
    rec = AuditRecord(
        seq=head.last_seq + 1,
        occurred_at=occurred,
        actor=actor[:200],
        action=action[:100],
        target=target[:300],
        outcome=outcome[:20],
        request_id=request_id[:64],
        caller_request_id=(caller_request_id if caller_request_id is not None
                           else caller_request_id_var.get())[:64],
        details=_canonical(_with_origin(details)),
        prev_hash=head.last_hash,
    )
    rec.record_hash = rec.compute_hash()
    session.add(rec)
    head.last_seq = rec.seq
    head.last_hash = rec.record_hash
    session.flush()
    # For the after-commit checkpoint trigger (see install_checkpoints).
    pending = session.info.setdefault(_PENDING, [0, 0, ""])
    pending[0] = pending[0] or rec.seq
    pending[1] = rec.seq
    return rec


_PENDING = "kyso_audit_appended"  # session.info: [first seq, last seq, forced reason]


def request_checkpoint(session: Session, reason: str) -> None:
    """Make a checkpoint once this session's transaction has committed (e.g. with a CRL)."""
    pending = session.info.setdefault(_PENDING, [0, 0, ""])
    pending[2] = reason


# -- checkpoints: the head signed by the audit key in the HSM ------------------------------

class CheckpointSigner(Protocol):
    """What checkpoints need of the key store (hsm.KeyStore is one)."""

    def sign(self, label: str, data: bytes, scheme: str) -> bytes: ...

    def public_key(self, label: str) -> bytes: ...

    def generate_key_pair(self, label: str, spec: str) -> Any: ...


class AuditKeyMissing(NotFound):
    code = "audit-key-missing"

    def __init__(self) -> None:
        super().__init__(AUDIT_KEY_NOT_HSM_TOKEN.format(audit_key_label=AUDIT_KEY_LABEL))


def audit_public_key(signer: CheckpointSigner) -> bytes:
    """The audit key's SubjectPublicKeyInfo (DER), or ``AuditKeyMissing``."""
    try:
        return signer.public_key(AUDIT_KEY_LABEL)
    except KysoError as exc:
        if exc.kind is not ErrorKind.NOT_FOUND:
            raise
        raise AuditKeyMissing() from exc


def ensure_audit_key(factory: sessionmaker[Session], signer: CheckpointSigner,
                     key_type: str = "ec-p256") -> bytes:
    """The audit key's public key, made in the token (sensitive, non-extractable) when absent.
    Serialised with checkpoints, so two processes never make two keys under one label."""
    with transaction(factory) as session:
        advisory_lock(session, CHECKPOINT_LOCK)
        try:
            return signer.public_key(AUDIT_KEY_LABEL)
        except KysoError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND:
                raise
        info = signer.generate_key_pair(AUDIT_KEY_LABEL, key_type)
        log.info("audit key %s (%s) made in the HSM", AUDIT_KEY_LABEL, key_type)
        return bytes(info.public_key_der)


def _scheme_for(spki_der: bytes) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_der_public_key(spki_der)
    return "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePublicKey) else "rsa-pkcs1-sha256"


def _signature_valid(spki_der: bytes, data: bytes, signature: bytes, scheme: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    if scheme not in ("ecdsa-sha256", "rsa-pkcs1-sha256"):
        return False
    key = serialization.load_der_public_key(spki_der)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and scheme == "ecdsa-sha256":
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey) and scheme == "rsa-pkcs1-sha256":
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def make_checkpoint(factory: sessionmaker[Session], signer: CheckpointSigner, reason: str, *,
                    now: dt.datetime | None = None, force: bool = False) -> AuditCheckpoint | None:
    """Sign the committed head with the audit key and store the checkpoint; log it as one
    line. None when the newest checkpoint already covers the head (unless ``force``).

    Committed records never change, so the head read here is final; the checkpoint lock
    keeps numbers and predecessor links in one line across processes. One ECDSA signature
    is the only HSM work done under it."""
    with transaction(factory) as session:
        advisory_lock(session, CHECKPOINT_LOCK)
        head = session.get(AuditHead, 1)
        if head is None:
            raise RuntimeError("audit head row missing: run 'kyso audit verify'")
        last = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.number.desc())
                               .limit(1)).scalar_one_or_none()
        if last is not None and last.seq >= head.last_seq and not force:
            return None
        spki = audit_public_key(signer)
        count = session.execute(select(func.count()).select_from(AuditRecord)
                                .where(AuditRecord.seq <= head.last_seq)).scalar_one()
        cp = AuditCheckpoint(
            number=(last.number + 1) if last else 1,
            created_at=(now or utcnow()), seq=head.last_seq, record_hash=head.last_hash,
            records=int(count), prev_digest=checkpoint_digest(last.to_json()) if last else GENESIS,
            reason=reason[:20], key_label=AUDIT_KEY_LABEL,
            key_sha256=hashlib.sha256(spki).hexdigest(), scheme=_scheme_for(spki), signature="",
        )
        data = _canonical(cp.signed_payload()).encode("utf-8")
        cp.signature = base64.b64encode(signer.sign(AUDIT_KEY_LABEL, data, cp.scheme)).decode("ascii")
        session.add(cp)
        session.flush()
        line = CHECKPOINT_LOG_PREFIX + _canonical(cp.to_json())
    # After the commit: a line in the log (syslog, journald) is the copy outside the database.
    log.info("%s", line)
    return cp


def list_checkpoints(session: Session) -> list[AuditCheckpoint]:
    return list(session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.number)).scalars())


def parse_checkpoint_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Checkpoints from a file kept outside the database: JSON lines as ``kyso audit
    checkpoints`` writes them, or log lines (plain or JSON) holding 'audit checkpoint {...}'.
    Other lines are skipped; a checkpoint line that does not parse is an error."""
    out: list[dict[str, Any]] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        text = line
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and "signature" in obj and "checkpoint" in obj:
                out.append(obj)
                continue
            if isinstance(obj, dict) and isinstance(obj.get("msg"), str):
                text = obj["msg"]
        at = text.find(CHECKPOINT_LOG_PREFIX + "{")
        if at < 0:
            continue
        body = text[at + len(CHECKPOINT_LOG_PREFIX):]
        try:
            obj = json.loads(body[: body.rindex("}") + 1])
        except ValueError:
            raise ValueError(f"unreadable checkpoint line: {line[:80]}") from None
        if not isinstance(obj, dict) or not all(k in obj for k in (*_SIGNED_FIELDS, "signature")):
            raise ValueError(f"incomplete checkpoint line: {line[:80]}")
        out.append(obj)
    return out


class _Checkpointer:
    """After a commit that appended records: a checkpoint when the chain crossed a multiple
    of N records, when M minutes passed since this process last made or saw one, or when the
    transaction asked for one (a CRL). Never fails the committed work: errors are logged."""

    def __init__(self, factory: sessionmaker[Session], signer: Callable[[], CheckpointSigner],
                 every_records: int, every_minutes: int) -> None:
        self.factory = factory
        self.signer = signer
        self.every_records = every_records
        self.every_seconds = every_minutes * 60
        self.last_made = time.monotonic()
        self.lock = threading.Lock()
        self.key_warned = False

    def after_commit(self, session: Session) -> None:
        pending = session.info.pop(_PENDING, None)
        if not pending or not pending[1] and not pending[2]:
            return
        first, last, forced = pending
        reason = forced
        n = self.every_records
        if not reason and n > 0 and first and (first - 1) // n != last // n:
            reason = "records"
        if not reason and self.every_seconds > 0 and time.monotonic() - self.last_made >= self.every_seconds:
            reason = "time"
        if not reason:
            return
        if not self.lock.acquire(blocking=False):
            return  # another thread of this process is making one now
        try:
            make_checkpoint(self.factory, self.signer(), reason)
            self.last_made = time.monotonic()
        except AuditKeyMissing:
            if not self.key_warned:
                log.error("no audit checkpoint: the audit key is missing from the HSM "
                          "(run 'kyso ca init --if-absent')")
                self.key_warned = True
        except Exception:  # noqa: BLE001 - the audited change is committed; report and go on
            log.exception("audit checkpoint failed (the next trigger tries again)")
        finally:
            self.lock.release()

    @staticmethod
    def after_rollback(session: Session) -> None:
        session.info.pop(_PENDING, None)


def install_checkpoints(factory: sessionmaker[Session], signer: Callable[[], CheckpointSigner],
                        *, every_records: int, every_minutes: int) -> None:
    """Make checkpoints after commits of sessions from ``factory`` (the composition root
    wires this with the key store)."""
    cp = _Checkpointer(factory, signer, every_records, every_minutes)
    event.listen(factory, "after_commit", cp.after_commit)
    event.listen(factory, "after_rollback", cp.after_rollback)


# -- verification ------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainReport:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    problem: str | None = None
    checkpoints: int = 0
    external_checkpoints: int = 0
    signatures_checked: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        if self.ok:
            text = f"audit chain intact: {self.records} records"
            if self.checkpoints or self.external_checkpoints:
                text += f", {self.checkpoints} signed checkpoints"
                if self.external_checkpoints:
                    text += f" (+{self.external_checkpoints} checked from outside the database)"
                if not self.signatures_checked:
                    text += " (signatures NOT checked: no audit key)"
            elif self.records:
                text += " (no signed checkpoint yet)"
            return text
        where = f" at record {self.first_bad_seq}" if self.first_bad_seq is not None else ""
        return f"audit chain broken{where}: {self.problem}"


def _bad(count: int, seq: int | None, problem: str, **kw: Any) -> ChainReport:
    return ChainReport(False, count, seq, problem, **kw)


def _check_checkpoints(cps: list[dict[str, Any]], audit_key: bytes | None,
                       source: str) -> str | None:
    """Signatures and the numbered predecessor links; a problem or None."""
    key_sha = hashlib.sha256(audit_key).hexdigest() if audit_key else None
    prev = GENESIS
    prev_seq = 0
    for i, cp in enumerate(cps, start=1):
        name = f"checkpoint {cp.get('checkpoint')} ({source})"
        if cp.get("checkpoint") != i and source == "database":
            return f"checkpoint {i} is missing from the database"
        if source == "database" and cp["prev_digest"] != prev:
            return f"{name} does not follow checkpoint {i - 1} (deleted or replaced)"
        if cp["seq"] < prev_seq:
            return f"{name} goes back in the chain"
        if audit_key is not None:
            if cp["key_sha256"] != key_sha:
                return f"{name} is not signed by the audit key in the HSM"
            try:
                sig = base64.b64decode(cp["signature"], validate=True)
            except ValueError:
                return f"{name} has an unreadable signature"
            data = _canonical(checkpoint_payload(cp)).encode("utf-8")
            if not _signature_valid(audit_key, data, sig, cp["scheme"]):
                return f"{name}: signature does not verify (forged or edited)"
        prev = checkpoint_digest(cp)
        prev_seq = cp["seq"]
    return None


def verify_chain(session: Session, batch: int = 1000, *, audit_key: bytes | None = None,
                 external: Iterable[dict[str, Any]] = (), every_records: int = 0) -> ChainReport:
    """Walk the chain from the start; name the first edited, missing or reordered record.

    The head must exist and the records must add up to it; every checkpoint in the database
    (and every one in ``external``, kept outside it) must carry a good signature of the audit
    key (``audit_key``: its SPKI, from the HSM; without it signatures are not checked) and
    match the chain: record ``seq`` has the hash signed and ``records`` records lead to it.
    The head is read first and the walk stops at the record it names, so appends made while
    the walk runs are not mistaken for tampering. With ``every_records`` (the checkpoint
    interval), far more records than that after the newest checkpoint give a warning: the
    newest checkpoints may have been deleted (only a copy kept outside can tell).
    """
    head = session.get(AuditHead, 1)
    if head is None:
        return _bad(0, None, "the audit head row is missing (records were deleted or hidden)")
    last_seq, last_hash = head.last_seq, head.last_hash
    stored = [c.to_json() for c in list_checkpoints(session)]
    ext = sorted(external, key=lambda c: (c.get("checkpoint", 0), c.get("seq", 0)))
    signed = audit_key is not None
    kw: dict[str, Any] = {"checkpoints": len(stored), "external_checkpoints": len(ext),
                          "signatures_checked": signed}
    for cps, source in ((stored, "database"), (ext, "outside the database")):
        problem = _check_checkpoints(cps, audit_key, source)
        if problem:
            return _bad(0, None, problem, **kw)
    stored_by_no = {c["checkpoint"]: c for c in stored}
    for cp in ext:
        mine = stored_by_no.get(cp["checkpoint"])
        if mine is None:
            if cp["seq"] <= last_seq:
                return _bad(0, None, f"checkpoint {cp['checkpoint']} kept outside the database "
                                     "is missing from it (deleted)", **kw)
        elif checkpoint_digest(mine) != checkpoint_digest(cp):
            return _bad(0, None, f"checkpoint {cp['checkpoint']} in the database differs from "
                                 "the copy kept outside it", **kw)
    expected: dict[int, list[dict[str, Any]]] = {}
    for cp in stored + ext:
        if cp["seq"] > last_seq:
            return _bad(0, last_seq + 1,
                        f"checkpoint {cp['checkpoint']} covers {cp['seq']} records but the chain "
                        f"ends at {last_seq} (records deleted at the end)", **kw)
        expected.setdefault(cp["seq"], []).append(cp)
    for cp in expected.get(0, []):
        if cp["records"] != 0 or cp["record_hash"] != GENESIS:
            return _bad(0, 1, f"checkpoint {cp['checkpoint']} does not match the chain", **kw)
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    for rec in _iter_records(session, batch, last_seq):
        if rec.seq != expected_seq:
            return _bad(count, expected_seq, f"record {expected_seq} is missing", **kw)
        if rec.prev_hash != expected_prev:
            return _bad(count, rec.seq, "previous-hash link does not match", **kw)
        if rec.compute_hash() != rec.record_hash:
            return _bad(count, rec.seq, "content does not match its hash (edited)", **kw)
        expected_prev = rec.record_hash
        expected_seq += 1
        count += 1
        for cp in expected.get(rec.seq, ()):
            if cp["record_hash"] != rec.record_hash or cp["records"] != count:
                return _bad(count, rec.seq,
                            f"the chain does not match signed checkpoint {cp['checkpoint']} "
                            "(records before it were rewritten)", **kw)
    if last_seq != count:
        return _bad(count, count + 1, f"record {count + 1} is missing (head says {last_seq})", **kw)
    if last_hash != expected_prev:
        return _bad(count, count, "head hash does not match the last record", **kw)
    # Records beyond the head: hidden from the walk by moving the head back. Read the
    # largest seq first, then the head again: a record committed meanwhile moved the head.
    top = session.execute(select(func.max(AuditRecord.seq))).scalar_one_or_none() or 0
    session.expire_all()
    again = session.get(AuditHead, 1)
    if again is None:
        return _bad(count, None, "the audit head row is missing", **kw)
    if top > again.last_seq:
        return _bad(count, again.last_seq + 1,
                    f"records up to {top} exist beyond the head ({again.last_seq})", **kw)
    covered = max((cp["seq"] for cp in stored + ext), default=0)
    warnings = []
    if every_records and count - covered > 2 * every_records:
        warnings.append(f"{count - covered} records after the newest checkpoint (one is made every "
                        f"{every_records}): checkpoints may have been deleted or the audit key was "
                        "unavailable; check against a copy kept outside (--against)")
    return ChainReport(True, count, warnings=tuple(warnings), **kw)


def _iter_records(session: Session, batch: int, upto: int) -> Iterator[AuditRecord]:
    last = 0
    while True:
        rows = session.execute(
            select(AuditRecord).where(AuditRecord.seq > last, AuditRecord.seq <= upto)
            .order_by(AuditRecord.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        for row in rows:
            session.expunge(row)


def page(session: Session, *, after_seq: int = 0, limit: int = 1000,
         since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """At most ``limit`` records after ``after_seq`` (keyset paging), at or after ``since``,
    in chain order, with their hashes."""
    query = (select(AuditRecord).where(AuditRecord.seq > after_seq)
             .order_by(AuditRecord.seq).limit(limit))
    if since is not None:
        query = query.where(AuditRecord.occurred_at >= since)
    out = []
    for rec in session.execute(query).scalars().all():
        out.append(rec.to_json())
        session.expunge(rec)  # memory stays bounded by one page
    return out


def export(session: Session, since: dt.datetime | None = None, *, after_seq: int = 0,
           batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Records (with their hashes) at or after ``since``, in chain order, read a page at a
    time in ``session``."""
    last = after_seq
    while True:
        rows = page(session, after_seq=last, limit=batch, since=since)
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1]["seq"]


def stream(factory: sessionmaker[Session], *, since: dt.datetime | None = None,
           after_seq: int = 0, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Like ``export``, each page in its own short read transaction (records never change
    once committed), so a long or slow export holds no lock and no snapshot."""
    last = after_seq
    while True:
        with read_transaction(factory) as session:
            rows = page(session, after_seq=last, limit=batch, since=since)
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1]["seq"]
