"""The audit trail: append-only, hash-chained, written in the caller's transaction.

Each record carries the SHA-256 of the previous record; a one-row head table holds the
last sequence number and hash, so deleting the newest records is detected too. Appends
lock the head (``FOR UPDATE`` on PostgreSQL; SQLite transactions are ``BEGIN IMMEDIATE``),
so concurrent writers never fork the chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kyso.db import Base, UTCDateTime, utcnow
from kyso.logs import caller_request_id_var

GENESIS = "0" * 64


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


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


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
        details=_canonical(details or {}),
        prev_hash=head.last_hash,
    )
    rec.record_hash = rec.compute_hash()
    session.add(rec)
    head.last_seq = rec.seq
    head.last_hash = rec.record_hash
    session.flush()
    return rec


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.records} records"
        return f"audit chain broken at record {self.first_bad_seq}: {self.problem}"


def verify_chain(session: Session, batch: int = 1000) -> ChainReport:
    """Walk the chain from the start; name the first edited, missing or reordered record.

    The head is read first and the walk stops at the record it names, so appends made while
    the walk runs (each query may see a newer snapshot) are not mistaken for tampering.
    """
    head = session.get(AuditHead, 1)
    last_seq = head.last_seq if head else 0
    last_hash = head.last_hash if head else GENESIS
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    for rec in _iter_records(session, batch, last_seq):
        if rec.seq != expected_seq:
            return ChainReport(False, count, expected_seq, f"record {expected_seq} is missing")
        if rec.prev_hash != expected_prev:
            return ChainReport(False, count, rec.seq, "previous-hash link does not match")
        if rec.compute_hash() != rec.record_hash:
            return ChainReport(False, count, rec.seq, "content does not match its hash (edited)")
        expected_prev = rec.record_hash
        expected_seq += 1
        count += 1
    if last_seq != count:
        return ChainReport(False, count, count + 1, f"record {count + 1} is missing (head says {last_seq})")
    if last_hash != expected_prev:
        return ChainReport(False, count, count, "head hash does not match the last record")
    return ChainReport(True, count)


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


def export(session: Session, since: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """Records (with their hashes) at or after ``since``, in chain order."""
    query = select(AuditRecord).order_by(AuditRecord.seq)
    if since is not None:
        query = query.where(AuditRecord.occurred_at >= since)
    for rec in session.execute(query).scalars():
        yield rec.to_json()
