"""Trust anchors as admin data: roots (or CA certificates) a recipient's verification trusts
beside this CA's own, such as the MIC root for public CAs and the Government Cipher
Committee's root for the government CA.

A CA admin adds one certificate at a time, naming the SHA-256 fingerprint they compared
against the one the publisher announces: a file that does not match is refused, so a root
is never trusted by name or by where it was downloaded from. Only CA certificates are
accepted (basicConstraints cA, and keyCertSign when keyUsage is present). Every addition
and removal is audited, and each anchor keeps who added it and when. ``verify.trust_roots``
(files named in settings) still works beside these.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from asn1crypto import pem, x509
from sqlalchemy import Integer, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from kyso import audit, policy
from kyso.callers import Caller
from kyso.db import Base, UTCDateTime, transaction, utcnow
from kyso.errors import Conflict, ErrorKind, KysoError, NotFound
from kyso.policy import Action
from verification.messages import (
    ANCHOR_EXISTS,
    ANCHOR_FILE_NOT_ONE_CERTIFICATE,
    ANCHOR_FILE_UNREADABLE,
    ANCHOR_MAY_NOT_SIGN_CERTIFICATES,
    ANCHOR_NEEDS_ONE_CERTIFICATE,
    ANCHOR_NOT_A_CA,
    ANCHOR_NOT_FOUND,
    FINGERPRINT_MISMATCH,
    FINGERPRINT_REQUIRED,
)

MAX_CERTIFICATE_BYTES = 64 * 1024


class TrustAnchor(Base):
    __tablename__ = "trust_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    subject: Mapped[str] = mapped_column(String(1000), nullable=False)
    issuer: Mapped[str] = mapped_column(String(1000), nullable=False)
    serial_hex: Mapped[str] = mapped_column(String(80), nullable=False)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    added_by: Mapped[str] = mapped_column(String(200), nullable=False)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class InvalidCertificate(KysoError):
    code = "invalid-certificate"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Invalid certificate"


class NotACACertificate(KysoError):
    code = "not-a-ca-certificate"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Not a CA certificate"


class FingerprintMismatch(KysoError):
    code = "fingerprint-mismatch"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Fingerprint mismatch"


@dataclass(frozen=True)
class AnchorInfo:
    sha256: str
    subject: str
    issuer: str
    serial_hex: str
    not_before: str
    not_after: str
    self_signed: bool
    note: str
    added_by: str
    added_at: str

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Candidate:
    """A certificate read from a file or a request, before anyone trusts it."""

    certificate: x509.Certificate
    sha256: str

    @property
    def subject(self) -> str:
        return self.certificate.subject.human_friendly

    @property
    def spaced_sha256(self) -> str:
        return ":".join(self.sha256[i:i + 2] for i in range(0, 64, 2)).upper()


def normalize_fingerprint(text: str) -> str:
    """'AB:CD ...', 'ab cd ...' or 'abcd...' -> 64 lower-case hex digits, or ''."""
    hexed = re.sub(r"[\s:\-]", "", text or "").lower()
    return hexed if re.fullmatch(r"[0-9a-f]{64}", hexed) else ""


def read_certificate(data: bytes) -> Candidate:
    """One X.509 certificate, PEM or DER; a CA certificate or a refusal."""
    if not data or len(data) > MAX_CERTIFICATE_BYTES:
        raise InvalidCertificate(ANCHOR_NEEDS_ONE_CERTIFICATE)
    try:
        if pem.detect(data):
            ders = [der for kind, _h, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
        else:
            ders = [data]
        if len(ders) != 1:
            raise InvalidCertificate(ANCHOR_FILE_NOT_ONE_CERTIFICATE)
        cert = x509.Certificate.load(ders[0], strict=True)
        cert.native  # parse it all: a damaged certificate fails here  # noqa: B018
        basic = cert.basic_constraints_value
        usage = cert.key_usage_value
    except InvalidCertificate:
        raise
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise InvalidCertificate(ANCHOR_FILE_UNREADABLE,
                                 log_detail=type(exc).__name__) from None
    if basic is None or not basic["ca"].native:
        raise NotACACertificate(ANCHOR_NOT_A_CA)
    if usage is not None and "key_cert_sign" not in usage.native:
        raise NotACACertificate(ANCHOR_MAY_NOT_SIGN_CERTIFICATES)
    return Candidate(cert, hashlib.sha256(cert.dump()).hexdigest())


def _info(row: TrustAnchor) -> AnchorInfo:
    cert = x509.Certificate.load(row.certificate_der)
    return AnchorInfo(row.sha256, row.subject, row.issuer, row.serial_hex, row.not_before.isoformat(),
                      row.not_after.isoformat(), cert.subject == cert.issuer, row.note, row.added_by,
                      row.added_at.isoformat())


def add(factory: sessionmaker[Session], caller: Caller, data: bytes, expected_sha256: str, note: str = "",
        request_id: str = "") -> AnchorInfo:
    """Trust the CA certificate in ``data`` once its SHA-256 fingerprint equals
    ``expected_sha256`` (the one its publisher announces)."""
    policy.require(caller, Action.TRUST_WRITE)
    candidate = read_certificate(data)
    expected = normalize_fingerprint(expected_sha256)
    if not expected:
        raise FingerprintMismatch(
            FINGERPRINT_REQUIRED.format(fingerprint=candidate.spaced_sha256),
            extra={"sha256": candidate.sha256},
        )
    if expected != candidate.sha256:
        raise FingerprintMismatch(
            FINGERPRINT_MISMATCH.format(fingerprint=candidate.spaced_sha256),
            extra={"sha256": candidate.sha256},
        )
    cert = candidate.certificate
    tbs = cert["tbs_certificate"]
    with transaction(factory) as session:
        if session.execute(select(TrustAnchor.id).where(TrustAnchor.sha256 == candidate.sha256)).first():
            raise Conflict(ANCHOR_EXISTS,
                           extra={"sha256": candidate.sha256})
        row = TrustAnchor(sha256=candidate.sha256, subject=candidate.subject[:1000],
                          issuer=cert.issuer.human_friendly[:1000], serial_hex=format(cert.serial_number, "x")[:80],
                          not_before=tbs["validity"]["not_before"].native,
                          not_after=tbs["validity"]["not_after"].native, certificate_der=cert.dump(),
                          note=(note or "")[:500], added_by=caller.actor[:200], added_at=utcnow())
        session.add(row)
        session.flush()
        audit.record(session, actor=caller.actor, action="trust.add", target=f"trust-anchor:{candidate.sha256}",
                     details={"subject": row.subject, "not_after": row.not_after.isoformat(), "note": row.note},
                     request_id=request_id)
        return _info(row)


def list_anchors(factory: sessionmaker[Session], caller: Caller) -> list[AnchorInfo]:
    policy.require(caller, Action.TRUST_READ)
    with transaction(factory) as session:
        return [_info(r) for r in session.execute(select(TrustAnchor).order_by(TrustAnchor.id)).scalars()]


def remove(factory: sessionmaker[Session], caller: Caller, sha256: str, request_id: str = "") -> AnchorInfo:
    policy.require(caller, Action.TRUST_WRITE)
    fingerprint = normalize_fingerprint(sha256)
    with transaction(factory) as session:
        row = session.execute(select(TrustAnchor).where(TrustAnchor.sha256 == fingerprint)
                              .with_for_update()).scalar_one_or_none() if fingerprint else None
        if row is None:
            raise NotFound(ANCHOR_NOT_FOUND)
        info = _info(row)
        session.delete(row)
        audit.record(session, actor=caller.actor, action="trust.remove", target=f"trust-anchor:{row.sha256}",
                     details={"subject": row.subject, "added_by": row.added_by}, request_id=request_id)
        return info
