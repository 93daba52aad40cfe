"""Signature and seal images for PDF appearances: PNG with transparency, validated before
they are stored (parsed by Pillow with a pixel limit, never trusted by name or type)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ca_admin.facade import Agency, Official
from kyso import audit
from kyso.callers import Caller
from kyso.db import transaction, utcnow
from kyso.errors import ErrorKind, KysoError, NotFound, PayloadTooLarge
from kyso.settings import Settings
from signer.credentials import AppearanceImage
from signer.messages import (
    AGENCY_NOT_FOUND,
    IMAGE_NOT_PNG,
    IMAGE_NOT_TRANSPARENT,
    IMAGE_SIZE_INVALID,
    IMAGE_TOO_LARGE,
    OFFICIAL_OWNER_NOT_FOUND,
    PNG_DAMAGED,
)
from signer.settings import SigningSettings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class InvalidImage(KysoError):
    code = "invalid-image"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Invalid image"


@dataclass(frozen=True)
class ImageInfo:
    kind: str
    owner: str
    width: int
    height: int
    sha256: str

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def validate_png(data: bytes, settings: Settings) -> tuple[int, int]:
    g = settings.section(SigningSettings)
    if len(data) > g.max_image_bytes:
        raise PayloadTooLarge(IMAGE_TOO_LARGE.format(limit=g.max_image_bytes), extra={"limit_bytes": g.max_image_bytes})
    if not data.startswith(PNG_MAGIC):
        raise InvalidImage(IMAGE_NOT_PNG)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            width, height = img.size
            if width > g.max_image_side or height > g.max_image_side or width < 16 or height < 16:
                raise InvalidImage(IMAGE_SIZE_INVALID.format(limit=g.max_image_side))
            transparent = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
            if not transparent:
                raise InvalidImage(IMAGE_NOT_TRANSPARENT)
            img.load()  # decode it all: a truncated or corrupt file fails here
    except InvalidImage:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise InvalidImage(PNG_DAMAGED, log_detail=type(exc).__name__) from None
    return width, height


def store(factory: sessionmaker[Session], settings: Settings, caller: Caller, kind: str, owner: str, data: bytes,
          request_id: str = "") -> ImageInfo:
    """Store an official's signature image (owner: official id) or an agency's seal image
    (owner: agency code), replacing the previous one."""
    width, height = validate_png(data, settings)
    digest = hashlib.sha256(data).hexdigest()
    with transaction(factory) as session:
        owner_id = _owner_id(session, kind, owner)
        row = session.execute(select(AppearanceImage).where(
            AppearanceImage.kind == kind, AppearanceImage.owner_id == owner_id)).scalar_one_or_none()
        if row is None:
            row = AppearanceImage(kind=kind, owner_id=owner_id)
            session.add(row)
        row.png, row.width, row.height, row.sha256, row.updated_at = data, width, height, digest, utcnow()
        audit.record(session, actor=caller.actor, action=f"image.{kind}", target=f"{kind}:{owner}",
                     details={"sha256": digest, "width": width, "height": height}, request_id=request_id)
    return ImageInfo(kind, owner, width, height, digest)


def _owner_id(session: Session, kind: str, owner: str) -> int:
    if kind == "signature":
        official = session.get(Official, int(owner)) if owner.isdigit() else None
        if official is None:
            raise NotFound(OFFICIAL_OWNER_NOT_FOUND.format(owner=owner[:20]))
        return official.id
    agency = session.execute(select(Agency).where(Agency.code == owner.upper())).scalar_one_or_none()
    if agency is None:
        raise NotFound(AGENCY_NOT_FOUND.format(owner=owner[:20]))
    return agency.id


def load(session: Session, kind: str, owner_id: int) -> bytes | None:
    return session.execute(select(AppearanceImage.png).where(
        AppearanceImage.kind == kind, AppearanceImage.owner_id == owner_id)).scalar_one_or_none()
