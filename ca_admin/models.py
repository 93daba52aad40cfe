"""Database rows of the certificate authority."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kyso.db import Base, UTCDateTime, utcnow


class CertStatus(StrEnum):
    """An issued certificate's status (IssuedCertificate.status); OCSP and CRLs follow it."""

    GOOD = "good"
    ON_HOLD = "on-hold"  # certificateHold: listed on the CRL, and may be released
    REVOKED = "revoked"  # for good


LIVE = (CertStatus.GOOD, CertStatus.ON_HOLD)  # not revoked for good
ON_CRL = (CertStatus.REVOKED, CertStatus.ON_HOLD)  # listed on the CRL


class RequestStatus(StrEnum):
    """A certificate or revocation request's status (CertificateRequest, RevocationRequest)."""

    PENDING = "pending"
    APPROVED = "approved"  # revocation requests
    ISSUED = "issued"  # certificate requests
    REJECTED = "rejected"


class CaRole(StrEnum):
    """A CA's place in the hierarchy (CertificateAuthority.role)."""

    ROOT = "root"
    ISSUING = "issuing"
    INTERMEDIATE = "intermediate"  # an external CA between an external root and ours


class CaStatus(StrEnum):
    ACTIVE = "active"


class CertificateAuthority(Base):
    """A CA of this service (the root or the issuing CA), its key in the HSM by label."""

    __tablename__ = "certificate_authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # root | issuing | intermediate (an external CA between an external root and ours)
    role: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=CaStatus.ACTIVE)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    key_label: Mapped[str | None] = mapped_column(String(100), unique=True)  # None: external CA
    key_spec: Mapped[str] = mapped_column(String(20), nullable=False)
    signature_scheme: Mapped[str] = mapped_column(String(30), nullable=False)
    serial_hex: Mapped[str] = mapped_column(String(42), nullable=False, unique=True)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("certificate_authorities.id"))
    external_root: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class HsmKeyIntent(Base):
    """A key about to be generated in the HSM, recorded (and committed) before it exists.

    The token may be shared (a network HSM serving several deployments, or several test
    databases), so only keys this database announced are ever swept after a crash.
    """

    __tablename__ = "hsm_key_intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    purpose: Mapped[str] = mapped_column(String(50), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class CertificateRequest(Base):
    """A request for a certificate, from a CSR or for a key generated in the HSM."""

    __tablename__ = "certificate_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False, default="new")  # new|renew|rekey
    profile: Mapped[str] = mapped_column(String(50), nullable=False)
    # None for the CA's own service certificates (the OCSP responder)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"))
    common_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    key_source: Mapped[str] = mapped_column(String(10), nullable=False)  # csr | hsm | existing
    csr_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    spki_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_spec: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    key_label: Mapped[str | None] = mapped_column(String(100))
    # The hash of the key itself (profiles.key_sha256), once the key is known.
    key_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    # The user the certificate will belong to (a client-tls certificate logs in as this user).
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=RequestStatus.PENDING, index=True)
    requested_by: Mapped[str] = mapped_column(String(200), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IssuedCertificate(Base):
    """Every certificate the issuing CA signed. No certificate exists without its row."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial_hex: Mapped[str] = mapped_column(String(42), nullable=False, unique=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"), nullable=False)
    profile: Mapped[str] = mapped_column(String(50), nullable=False, index=True)
    # None for the CA's own service certificates (the OCSP responder)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"), index=True)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    spki_sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    # The hash of the key itself, whatever its encoding (profiles.key_sha256): a key revoked
    # for keyCompromise, or certified for another subject, is found by it.
    key_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    key_label: Mapped[str | None] = mapped_column(String(100))
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=CertStatus.GOOD, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(40))
    invalidity_date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    request_id: Mapped[int | None] = mapped_column(Integer)
    # The user this certificate belongs to, bound at issuance: login by client certificate
    # maps the certificate to this user, never its common name.
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The DER of this certificate's CRL entry, made when it is revoked or held, so that a
    # CRL of 100,000 entries is a concatenation rather than 100,000 encodings.
    crl_entry_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class PublishedCrl(Base):
    """A CRL as published. crlNumber strictly increases per issuer."""

    __tablename__ = "crls"
    __table_args__ = (UniqueConstraint("issuer_id", "crl_number", name="uq_crls_issuer_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"), nullable=False)
    crl_number: Mapped[int] = mapped_column(Integer, nullable=False)
    this_update: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    next_update: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    entries: Mapped[int] = mapped_column(Integer, nullable=False)
    der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class OcspResponse(Base):
    """A pre-produced OCSP response for one certificate and one CertID hash algorithm.
    Deleted in the same transaction as any status change of the certificate."""

    __tablename__ = "ocsp_responses"
    __table_args__ = (UniqueConstraint("certificate_id", "hash_algorithm", name="uq_ocsp_responses_cert_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), nullable=False)
    hash_algorithm: Mapped[str] = mapped_column(String(10), nullable=False)
    this_update: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    next_update: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


# Every table the CA's rows refer to must be known to the metadata whichever module a
# command imports first (a CLI command that imports only crl.py flushed certificates whose
# agency_id names the agencies table).
import ca_admin.registry  # noqa: E402,F401
import kyso.callers  # noqa: E402,F401  (users, the owners of certificates)


class RevocationRequest(Base):
    """A revocation of one of the CA's own service certificates (OCSP responder, TSA, a
    subordinate CA), asked by one CA admin and carried out only when a second approves:
    revoking them turns every earlier B-T/B-LT document INDETERMINATE (issue 13, item 15)."""

    __tablename__ = "revocation_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(String(40), nullable=False)
    invalidity_date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=RequestStatus.PENDING)
    requested_by: Mapped[str] = mapped_column(String(200), nullable=False)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
