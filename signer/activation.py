"""CSC signature activation data (SAD): the grant ``credentials/authorize`` hands out after
the official's consent, good for a number of signatures with one credential, by one client,
for a few minutes. Only its SHA-256 is stored."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kyso.db import Base, UTCDateTime
from kyso.errors import ErrorKind, KysoError
from signer.messages import SAD_INVALID


class SignatureActivation(Base):
    """A SAD handed out by credentials/authorize (only its hash is kept)."""

    __tablename__ = "csc_activations"

    sad_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False)
    hashes: Mapped[str | None] = mapped_column(Text)  # JSON list of base64 digests, when pinned
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class InvalidSad(KysoError):
    code = "invalid-sad"
    kind = ErrorKind.INVALID
    title_en = "Invalid SAD"

    def __init__(self) -> None:
        super().__init__(SAD_INVALID,
                         extra={"error": "invalid_request", "error_description": "Invalid SAD"})


def sad_digest(sad: str) -> str:
    return hashlib.sha256(sad.encode()).hexdigest()
