"""Callers: users with one role each, and their API keys.

An API key reads ``kyso_<key id>_<secret>``. Only the SHA-256 of the secret is stored (the
secret is 256 random bits, so a slow hash adds nothing); the presented secret is compared
in constant time; the plaintext is shown once, on creation. Deny by default: a view that
declares no role is refused to everyone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from kyso import audit
from kyso.db import Base, UTCDateTime, utcnow
from kyso.errors import BadRequest, Conflict, Unauthenticated

KEY_PATTERN = re.compile(r"^kyso_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_DUMMY_HASH = hashlib.sha256(b"kyso-no-such-key").hexdigest()


class Role(StrEnum):
    CA_ADMIN = "ca-admin"
    RA_OFFICER = "ra-officer"
    AUDITOR = "auditor"
    CLIENT = "client"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user: Mapped[User] = relationship(back_populates="api_keys")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller, as views and services see it."""

    user_id: int
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _clean_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name).strip()
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise BadRequest("user name must be 1-200 printable characters",
                         "tên người dùng phải có 1-200 ký tự in được")
    return name


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise BadRequest(
            f"unknown role '{text}'; expected one of {', '.join(r.value for r in Role)}",
            f"vai trò không hợp lệ '{text}'; phải là một trong {', '.join(r.value for r in Role)}",
        ) from None


def create_user(session: Session, name: str, role: Role, *, actor: str,
                request_id: str = "") -> tuple[User, str]:
    """Create a user with a first API key. Returns the user and the key's only plaintext."""
    name = _clean_name(name)
    if session.execute(select(User).where(User.name == name)).scalar_one_or_none():
        raise Conflict(f"user '{name}' already exists", f"người dùng '{name}' đã tồn tại")
    user = User(name=name, role=role.value)
    session.add(user)
    session.flush()
    plaintext = _new_key(session, user)
    audit.record(session, actor=actor, action="user.create", target=f"user:{name}",
                 details={"role": role.value}, request_id=request_id)
    return user, plaintext


def add_api_key(session: Session, name: str, *, actor: str, request_id: str = "") -> str:
    user = session.execute(select(User).where(User.name == _clean_name(name))).scalar_one_or_none()
    if user is None:
        raise BadRequest(f"no user '{name}'", f"không có người dùng '{name}'")
    plaintext = _new_key(session, user)
    audit.record(session, actor=actor, action="user.api-key.create", target=f"user:{user.name}",
                 request_id=request_id)
    return plaintext


def _new_key(session: Session, user: User) -> str:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    session.add(ApiKey(key_id=key_id, secret_sha256=_hash_secret(secret), user_id=user.id))
    session.flush()
    return f"kyso_{key_id}_{secret}"


def authenticate(session: Session, presented: str | None) -> Caller:
    """The caller owning ``presented`` (an API key), or ``Unauthenticated``."""
    match = KEY_PATTERN.match(presented or "")
    key_id, secret = match.groups() if match else ("", "")
    row = None
    if key_id:
        row = session.execute(
            select(ApiKey).where(ApiKey.key_id == key_id)
        ).scalar_one_or_none()
    stored = row.secret_sha256 if row is not None else _DUMMY_HASH
    # Always compare, so an unknown key id costs the same as a wrong secret.
    good = hmac.compare_digest(stored, _hash_secret(secret or "x"))
    if not (good and row is not None and row.revoked_at is None and row.user.status == "active"):
        raise Unauthenticated()
    return Caller(row.user.id, row.user.name, Role(row.user.role))


def key_id_of(presented: str | None) -> str:
    """The non-secret key id of a presented key, for the audit trail (never the secret)."""
    match = KEY_PATTERN.match(presented or "")
    return match.group(1) if match else ""


def list_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.name)).scalars())
