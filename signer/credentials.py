"""Signing credentials and the record of every signature (the official's consent is in
signer.consent).

A credential is an issued certificate whose key is in the HSM: an agency seal
(profile agency-seal) or an official's personal key (official-signing). API clients name one
by its certificate serial (the CSC credentialID), or as ``agency:<code>`` (the agency's
current seal) or ``official:<id>`` (the official's current personal certificate).

- A seal may be used by any client bound to its agency.
- A personal key is used only with the official's consent for that request or batch
  (signer.consent: a PIN or TOTP code the official enrolled themself; the CSC SAD).
- Before signing: the certificate must be good (not revoked, held, expired or not yet
  valid), its agency within the caller's scope, the scheme allowed by the policy.
- Every signature is recorded (``signatures``) with its audit entry in one transaction
  before the signed result is returned; refusals are audited too. That transaction checks
  the certificate again under a share lock on its row: one revoked or held while the
  signature was made has its result withheld (409, audited with outcome ``withheld``).
- A suspended or dissolved agency's keys (its seal, its officials' keys) and an inactive
  official's key do not sign (409 agency-not-active / official-not-active), checked before
  signing and again when recording.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from asn1crypto import x509
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from ca_admin.facade import (
    Agency,
    AgencyStatus,
    CertificateAuthority,
    CertStatus,
    IssuedCertificate,
    Official,
    OfficialStatus,
    ca_chain_der,
    client_agency_ids,
    normalize_serial,
)
from hsm import SignatureScheme
from kyso import audit, policy
from kyso.callers import Caller
from kyso.db import Base, UTCDateTime, read_transaction, transaction, utcnow
from kyso.errors import Conflict, ErrorKind, Forbidden, KysoError, Message, NotFound
from kyso.limits import as_id
from kyso.policy import Action
from kyso.settings import Settings
from signer.messages import (
    AGENCY_MAY_NOT_SIGN,
    CLIENT_NOT_BOUND_TO_AGENCY,
    CREDENTIAL_CERTIFICATE_EXPIRED,
    CREDENTIAL_CERTIFICATE_NOT_YET_VALID,
    CREDENTIAL_CERTIFICATE_ON_HOLD,
    CREDENTIAL_CERTIFICATE_REVOKED,
    CREDENTIAL_NOT_FOUND,
    DIGEST_NOT_ALLOWED,
    NO_ALLOWED_SCHEME_FITS,
    OFFICIAL_MAY_NOT_SIGN,
    ONLY_CLIENTS_SIGN,
    SCHEME_NOT_ALLOWED,
    SIGNATURE_WITHHELD,
    STATUS_WORDS,
)
from signer.settings import SigningSettings

SIGNING_PROFILES = ("agency-seal", "official-signing")


# -- errors ------------------------------------------------------------------------------------------

class CredentialNotFound(NotFound):
    code = "credential-not-found"

    def __init__(self, ref: str) -> None:
        super().__init__(CREDENTIAL_NOT_FOUND.format(ref=ref[:80]))


class CredentialUnusable(Conflict):
    code = "credential-unusable"


class CertificateNotValid(Conflict):
    """Revoked, held, expired or not yet valid: 409."""

    code = "certificate-not-valid"


class AgencyNotActive(Conflict):
    """The agency is suspended or dissolved: neither its seal nor its officials' keys sign."""

    code = "agency-not-active"

    def __init__(self, agency_code: str, status: str) -> None:
        super().__init__(AGENCY_MAY_NOT_SIGN.format(agency_code=agency_code, status=_status(status)),
                         extra={"agency_status": status})


class OfficialNotActive(Conflict):
    """The official was deactivated: their personal key does not sign."""

    code = "official-not-active"

    def __init__(self, official_id: int, status: str) -> None:
        super().__init__(OFFICIAL_MAY_NOT_SIGN.format(official_id=official_id, status=_status(status)),
                         extra={"official_status": status})


def _status(status: str) -> Message:
    """An agency's or official's status in words (its value in English, as before)."""
    return STATUS_WORDS.get(status, Message(str(status), str(status)))


class SchemeNotAllowed(KysoError):
    code = "algorithm-not-allowed"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Algorithm not allowed"


class NotASigner(Forbidden):
    code = "not-a-signing-client"

    def __init__(self) -> None:
        super().__init__(ONLY_CLIENTS_SIGN)


# -- tables -------------------------------------------------------------------------------------------

class SignatureRecord(Base):
    """One signing operation (a document, or a batch of hashes)."""

    __tablename__ = "signatures"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    client: Mapped[str] = mapped_column(String(200), nullable=False)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), nullable=False, index=True)
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), nullable=False)
    format: Mapped[str] = mapped_column(String(20), nullable=False)
    level: Mapped[str] = mapped_column(String(20), nullable=False)
    scheme: Mapped[str] = mapped_column(String(30), nullable=False)
    document_digest: Mapped[str] = mapped_column(String(140), nullable=False)  # "<alg>:<hex>"
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class AppearanceImage(Base):
    """An official's signature image or an agency's seal image (PNG with transparency)."""

    __tablename__ = "appearance_images"
    __table_args__ = (UniqueConstraint("kind", "owner_id", name="uq_appearance_images_owner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # signature | seal
    owner_id: Mapped[int] = mapped_column(Integer, nullable=False)  # official id | agency id
    png: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


# -- credentials ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Credential:
    certificate_id: int
    serial_hex: str
    key_label: str
    certificate_der: bytes
    chain_der: tuple[bytes, ...]  # issuing CA up to the root
    profile: str
    agency_id: int
    agency_code: str
    agency_name: str
    official_id: int | None
    official_name: str
    official_title: str
    key_algorithm: str  # rsa | ec
    not_after: dt.datetime
    # CSC sole control assurance level: "2" when each use of a personal key needs a PIN or
    # TOTP code the official enrolled themself; "1" for seals and consent that staff set.
    scal: str = "1"

    @property
    def personal(self) -> bool:
        return self.official_id is not None

    @property
    def credential_id(self) -> str:
        return self.serial_hex


def _row_for(session: Session, ref: str) -> IssuedCertificate | None:
    ref = (ref or "").strip()
    usable = (IssuedCertificate.profile.in_(SIGNING_PROFILES), IssuedCertificate.key_label.is_not(None))
    newest = ((IssuedCertificate.status == CertStatus.GOOD).desc(), IssuedCertificate.not_after.desc())  # good first
    if ref.startswith("agency:"):
        agency = session.execute(select(Agency).where(Agency.code == ref[7:].strip().upper())).scalar_one_or_none()
        if agency is None:
            return None
        return session.execute(select(IssuedCertificate).where(
            *usable, IssuedCertificate.agency_id == agency.id, IssuedCertificate.profile == "agency-seal")
            .order_by(*newest).limit(1)).scalar_one_or_none()
    if ref.startswith("official:"):
        official_id = as_id(ref[9:])
        if official_id is None:
            return None
        return session.execute(select(IssuedCertificate).where(
            *usable, IssuedCertificate.official_id == official_id, IssuedCertificate.profile == "official-signing")
            .order_by(*newest).limit(1)).scalar_one_or_none()
    serial = normalize_serial(ref)
    if serial is None:
        return None
    return session.execute(select(IssuedCertificate).where(*usable, IssuedCertificate.serial_hex == serial)
                           ).scalar_one_or_none()


def credential_of(session: Session, row: IssuedCertificate) -> Credential:
    assert row.key_label is not None and row.agency_id is not None
    agency = session.get(Agency, row.agency_id)
    official = session.get(Official, row.official_id) if row.official_id else None
    assert agency is not None
    spki = x509.Certificate.load(row.certificate_der).public_key
    chain = ca_chain_der(session, session.get(CertificateAuthority, row.issuer_id))
    return Credential(
        certificate_id=row.id, serial_hex=row.serial_hex, key_label=row.key_label,
        certificate_der=row.certificate_der, chain_der=chain, profile=row.profile,
        agency_id=agency.id, agency_code=agency.code, agency_name=agency.name,
        official_id=official.id if official else None, official_name=official.full_name if official else "",
        official_title=official.title if official else "",
        key_algorithm="ec" if spki.algorithm == "ec" else "rsa", not_after=row.not_after,
        scal=_scal(session, official.id if official else None))


def _scal(session: Session, official_id: int | None) -> str:
    from signer.consent import SigningConsent

    if official_id is None:
        return "1"
    consent = session.get(SigningConsent, official_id)
    return "2" if consent is not None and consent.self_enrolled else "1"


def deny(factory: sessionmaker[Session], caller: Caller, action: str, target: str, reason: str,
         request_id: str = "") -> None:
    """Audit a refused signing attempt (in its own transaction: the refusal stands)."""
    with transaction(factory) as session:
        audit.record(session, actor=caller.actor, action=action, target=target, outcome="denied",
                     details={"reason": reason}, request_id=request_id)


def resolve(factory: sessionmaker[Session], caller: Caller, ref: str, *, now: dt.datetime | None = None,
            action: str = "sign", request_id: str = "") -> Credential:
    """The credential ``ref`` names, after the pre-sign checks; refusals are audited."""
    now = now or utcnow()
    try:
        if not policy.allowed(caller, Action.SIGN):
            raise NotASigner()
        with read_transaction(factory) as session:  # reads only: the record re-checks under locks
            row = _row_for(session, ref)
            if row is None:
                raise CredentialNotFound(ref)
            if row.agency_id not in client_agency_ids(session, caller.user_id):
                agency = session.get(Agency, row.agency_id)
                raise Forbidden(CLIENT_NOT_BOUND_TO_AGENCY.format(agency=agency.code if agency else '?'))
            _check_valid(row, now)
            _check_holders(session.get(Agency, row.agency_id),
                           session.get(Official, row.official_id) if row.official_id else None)
            return credential_of(session, row)
    except KysoError as exc:
        deny(factory, caller, f"{action}.denied", f"credential:{(ref or '')[:80]}", exc.code, request_id)
        raise


def _check_valid(row: IssuedCertificate, now: dt.datetime) -> None:
    if row.status == CertStatus.REVOKED:
        raise CertificateNotValid(CREDENTIAL_CERTIFICATE_REVOKED, extra={"status": "revoked"})
    if row.status == CertStatus.ON_HOLD:
        raise CertificateNotValid(CREDENTIAL_CERTIFICATE_ON_HOLD, extra={"status": "on-hold"})
    if now >= row.not_after:
        raise CertificateNotValid(CREDENTIAL_CERTIFICATE_EXPIRED, extra={"status": "expired"})
    if now < row.not_before:
        raise CertificateNotValid(CREDENTIAL_CERTIFICATE_NOT_YET_VALID, extra={"status": "not-yet-valid"})


def _check_holders(agency: Agency | None, official: Official | None) -> None:
    """The agency is active and, for a personal key, so is the official."""
    if agency is None or agency.status != AgencyStatus.ACTIVE:
        raise AgencyNotActive(agency.code if agency else "?", agency.status if agency else "missing")
    if official is not None and official.status != OfficialStatus.ACTIVE:
        raise OfficialNotActive(official.id, official.status)


def credentials_for(factory: sessionmaker[Session], caller: Caller, now: dt.datetime | None = None) -> list[Credential]:
    """The usable credentials of the agencies a client is bound to (CSC credentials/list)."""
    now = now or utcnow()
    if not policy.allowed(caller, Action.SIGN):
        return []
    with read_transaction(factory) as session:
        agencies = client_agency_ids(session, caller.user_id)
        rows = session.execute(select(IssuedCertificate).where(
            IssuedCertificate.profile.in_(SIGNING_PROFILES), IssuedCertificate.key_label.is_not(None),
            IssuedCertificate.agency_id.in_(agencies), IssuedCertificate.status == CertStatus.GOOD,
            IssuedCertificate.not_after > now).order_by(IssuedCertificate.id)).scalars().all()
        out = []
        for r in rows:
            try:
                _check_holders(session.get(Agency, r.agency_id),
                               session.get(Official, r.official_id) if r.official_id else None)
            except KysoError:
                continue  # a suspended or dissolved agency's keys, an inactive official's
            out.append(credential_of(session, r))
        return out


def choose_scheme(settings: Settings, credential: Credential, requested: str | None = None,
                  digest: str | None = None) -> SignatureScheme:
    """The signature scheme: the one requested if the policy allows it for this key, else
    the first allowed one for the key (and the digest, when one is fixed)."""
    family_ok = ("ecdsa",) if credential.key_algorithm == "ec" else ("rsa-pkcs1", "rsa-pss")
    policy = settings.section(SigningSettings)
    allowed = [s for s in policy.allowed_schemes if s.rsplit("-", 1)[0] in family_ok]
    if digest is not None:
        if digest not in policy.allowed_digests:
            raise SchemeNotAllowed(DIGEST_NOT_ALLOWED.format(digest=digest[:20]))
        allowed = [s for s in allowed if s.endswith("-" + digest)]
    if requested:
        wanted = requested.strip().lower()
        if wanted in ("rsa-pss", "rsa-pkcs1", "ecdsa"):  # a family: its first allowed hash
            allowed = [s for s in allowed if s.rsplit("-", 1)[0] == wanted]
        elif wanted in allowed:
            allowed = [wanted]
        else:
            allowed = []
        if not allowed:
            raise SchemeNotAllowed(SCHEME_NOT_ALLOWED.format(requested=requested[:30]))
    if not allowed:
        raise SchemeNotAllowed(NO_ALLOWED_SCHEME_FITS)
    return SignatureScheme(allowed[0])


def record(factory: sessionmaker[Session], caller: Caller, credential: Credential, *, fmt: str, level: str,
           scheme: SignatureScheme, digest_alg: str, digest: bytes, count: int = 1, request_id: str = "",
           details: dict[str, Any] | None = None, also: Callable[[Session, str], object] | None = None) -> str:
    """Write the signature's record and its audit entry in one transaction; the caller
    returns the signed result only after this committed. Returns the signature id. ``also``
    writes what belongs with the signature in the same transaction (given the session and id)."""
    sig_id = uuid.uuid4().hex
    try:
        with transaction(factory) as session:
            recheck(session, credential)
            if also is not None:
                also(session, sig_id)
            add_record(session, caller, credential, sig_id, fmt=fmt, level=level, scheme=scheme,
                       digest_alg=digest_alg, digest=digest, count=count, request_id=request_id, details=details)
    except (CertificateNotValid, AgencyNotActive, OfficialNotActive) as exc:
        if not exc.extra.get("withheld"):
            raise
        withhold(factory, caller, credential, exc, fmt=fmt, digest_alg=digest_alg, digest=digest,
                 request_id=request_id)
        raise
    return sig_id


class SignatureWithheld(CertificateNotValid):
    """The credential stopped being usable while the signature was made: the signed result
    is withheld (409 certificate-not-valid, as before signing)."""


def recheck(session: Session, credential: Credential, now: dt.datetime | None = None) -> None:
    """In the recording transaction: the credential's certificate is still good, read under a
    share lock on its row. A revocation or hold that committed while the signature was made
    is seen here (PostgreSQL waits for one in progress and reads its result; on SQLite the
    write transaction serialises with it); one that comes later waits for this record to
    commit, and so follows the signature."""
    row = session.execute(
        select(IssuedCertificate).where(IssuedCertificate.id == credential.certificate_id)
        .with_for_update(read=True).execution_options(populate_existing=True)).scalar_one()
    try:
        _check_valid(row, now or utcnow())
    except CertificateNotValid as exc:
        raise SignatureWithheld(SIGNATURE_WITHHELD.format(reason=exc.message),
                                extra={**exc.extra, "withheld": True}) from None
    # The agency suspended or dissolved, or the official deactivated, meanwhile: the same.
    agency = session.execute(select(Agency).where(Agency.id == credential.agency_id)
                             .with_for_update(read=True).execution_options(populate_existing=True)).scalar_one()
    official = None
    if credential.official_id is not None:
        official = session.execute(select(Official).where(Official.id == credential.official_id)
                                   .with_for_update(read=True).execution_options(populate_existing=True)
                                   ).scalar_one()
    try:
        _check_holders(agency, official)
    except KysoError as exc:
        exc.extra["withheld"] = True
        raise


def withhold(factory: sessionmaker[Session], caller: Caller, credential: Credential, exc: KysoError, *, fmt: str,
             digest_alg: str, digest: bytes, request_id: str = "") -> None:
    """Audit a signature that was made but withheld (its own transaction: the refusal stands)."""
    with transaction(factory) as session:
        audit.record(session, actor=caller.actor, action=f"sign.{fmt}", target=f"credential:{credential.serial_hex}",
                     outcome="withheld",
                     details={"reason": exc.code, **(exc.extra or {}), "agency": credential.agency_code,
                              "official_id": credential.official_id, "format": fmt,
                              "document_digest": f"{digest_alg}:{digest.hex()}"},
                     request_id=request_id)


def stream_digest(stream: IO[bytes], name: str = "sha256") -> bytes:
    """The digest of a seekable file, read in pieces; the file is left at its start."""
    h = hashlib.new(name)
    stream.seek(0)
    while chunk := stream.read(1 << 20):
        h.update(chunk)
    stream.seek(0)
    return h.digest()


def add_record(session: Session, caller: Caller, credential: Credential, sig_id: str, *, fmt: str, level: str,
               scheme: SignatureScheme, digest_alg: str, digest: bytes, count: int = 1, request_id: str = "",
               details: dict[str, Any] | None = None) -> None:
    """A signature's record and audit entry, in the caller's transaction."""
    session.add(SignatureRecord(
        id=sig_id, created_at=utcnow(), client=caller.name, agency_id=credential.agency_id,
        official_id=credential.official_id, certificate_id=credential.certificate_id, format=fmt,
        level=level, scheme=scheme.value, document_digest=f"{digest_alg}:{digest.hex()}", count=count))
    audit.record(session, actor=caller.actor, action=f"sign.{fmt}", target=f"signature:{sig_id}",
                 details={"agency": credential.agency_code, "official_id": credential.official_id,
                          "credential": credential.serial_hex, "format": fmt, "level": level,
                          "scheme": scheme.value, "document_digest": f"{digest_alg}:{digest.hex()}",
                          "count": count, **(details or {})},
                 request_id=request_id)


