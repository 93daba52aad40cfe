"""Database rows of the certificate authority."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kyso.db import Base, UTCDateTime, utcnow


class CertificateAuthority(Base):
    """A CA of this service (the root or the issuing CA), its key in the HSM by label."""

    __tablename__ = "certificate_authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(20), nullable=False, index=True)  # root | issuing
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    key_label: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    key_spec: Mapped[str] = mapped_column(String(20), nullable=False)
    signature_scheme: Mapped[str] = mapped_column(String(30), nullable=False)
    serial_hex: Mapped[str] = mapped_column(String(42), nullable=False, unique=True)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("certificate_authorities.id"))
    external_root: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
