"""Callers: users with one role each, and their API keys.

An API key reads ``kyso_<key id>_<secret>``. Only the SHA-256 of the secret is stored (the
secret is 256 random bits, so a slow hash adds nothing); the presented secret is compared
in constant time; the plaintext is shown once, on creation. Deny by default: a view that
declares no role is refused to everyone.

Every grant can be taken back: a key is revoked (at once) or rotated (a new key; the old one
keeps working for ``[auth] rotation_grace_hours``), keys may expire (``[auth]
default_key_days``), and a disabled user's keys and certificates stop working at once.
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
from sqlalchemy.orm import Mapped, Session, joinedload, mapped_column, relationship

from kyso import audit
from kyso.db import Base, UTCDateTime, utcnow
from kyso.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthenticated
from kyso.messages import (
    NO_API_KEY_ID,
    NO_USER,
    UNKNOWN_ROLE_EXPECTED,
    USER_ALREADY_EXISTS,
    USER_DISABLED,
    USER_NAME_MUST_1_200,
    YOU_CANNOT_DISABLE_YOURSELF,
)

KEY_PATTERN = re.compile(r"^kyso_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_DUMMY_HASH = hashlib.sha256(b"kyso-no-such-key").hexdigest()


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


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
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=UserStatus.ACTIVE)
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
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user: Mapped[User] = relationship(back_populates="api_keys")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller, as views and services see it."""

    user_id: int
    name: str
    role: Role
    # The id of the API key this caller presented ("" when it came by client certificate).
    key_id: str = ""

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _clean_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name).strip()
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise BadRequest(USER_NAME_MUST_1_200)
    return name


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise BadRequest(UNKNOWN_ROLE_EXPECTED.format(text=text, roles=", ".join(r.value for r in Role))) from None


def create_user(session: Session, name: str, role: Role, *, actor: str,
                request_id: str = "", key_days: int = 0) -> tuple[User, str]:
    """Create a user with a first API key. Returns the user and the key's only plaintext.
    ``key_days`` > 0: the key expires after that many days."""
    name = _clean_name(name)
    if session.execute(select(User).where(User.name == name)).scalar_one_or_none():
        raise Conflict(USER_ALREADY_EXISTS.format(name=name))
    user = User(name=name, role=role.value)
    session.add(user)
    session.flush()
    plaintext, key = _new_key(session, user, key_days)
    audit.record(session, actor=actor, action="user.create", target=f"user:{name}",
                 details={"role": role.value, "key_id": key.key_id, **_expiry(key)},
                 request_id=request_id)
    return user, plaintext


class UserNotFound(NotFound):
    code = "user-not-found"

    def __init__(self, name: str) -> None:
        super().__init__(NO_USER.format(name=name))


def get_user(session: Session, name: str) -> User:
    user = session.execute(select(User).where(User.name == _clean_name(name))).scalar_one_or_none()
    if user is None:
        raise UserNotFound(name)
    return user


def add_api_key(session: Session, name: str, *, actor: str, request_id: str = "",
                key_days: int = 0) -> str:
    user = get_user(session, name)
    plaintext, key = _new_key(session, user, key_days)
    audit.record(session, actor=actor, action="user.api-key.create", target=f"user:{user.name}",
                 details={"key_id": key.key_id, **_expiry(key)}, request_id=request_id)
    return plaintext


def _new_key(session: Session, user: User, key_days: int = 0) -> tuple[str, ApiKey]:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=key_days) if key_days > 0 else None
    key = ApiKey(key_id=key_id, secret_sha256=_hash_secret(secret), user=user, expires_at=expires)
    session.add(key)
    session.flush()
    return f"kyso_{key_id}_{secret}", key


def _expiry(key: ApiKey) -> dict[str, str]:
    return {"expires_at": key.expires_at.isoformat()} if key.expires_at else {}


def key_usable(key: ApiKey, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return key.revoked_at is None and (key.expires_at is None or now < key.expires_at)


# -- taking grants back ------------------------------------------------------------------

class KeyNotFound(NotFound):
    code = "api-key-not-found"

    def __init__(self, key_id: str) -> None:
        shown = key_id if re.fullmatch(r"[0-9a-f]{1,16}", key_id) else "?"
        super().__init__(NO_API_KEY_ID.format(shown=shown))


def revoke_api_key(session: Session, caller: Caller, key_id: str, *, actor: str = "",
                   request_id: str = "") -> ApiKey:
    """Revoke a key at once. A CA admin may revoke anyone's key; everyone else only their own
    (to anyone else, another user's key does not exist)."""
    key = session.execute(select(ApiKey).where(ApiKey.key_id == key_id)).scalar_one_or_none()
    if key is None or (caller.role != Role.CA_ADMIN and key.user_id != caller.user_id):
        raise KeyNotFound(key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        audit.record(session, actor=actor or caller.actor, action="user.api-key.revoke",
                     target=f"user:{key.user.name}", details={"key_id": key.key_id},
                     request_id=request_id)
    return key


def rotate_keys(session: Session, name: str, *, grace_hours: int, key_days: int, actor: str,
                only_key_id: str = "", request_id: str = "") -> tuple[str, ApiKey]:
    """A new key for ``name``; its current keys (or only ``only_key_id``) stop working after
    ``grace_hours`` (at once with 0). Returns the new key's only plaintext and its row."""
    user = get_user(session, name)
    if user.status != UserStatus.ACTIVE:
        raise UserDisabled(user.name)
    now = utcnow()
    cutoff = now + dt.timedelta(hours=grace_hours)
    retired = []
    for key in user.api_keys:
        if only_key_id and key.key_id != only_key_id:
            continue
        if key_usable(key, now) and (key.expires_at is None or key.expires_at > cutoff):
            key.expires_at = cutoff
            retired.append(key.key_id)
    plaintext, new = _new_key(session, user, key_days)
    audit.record(session, actor=actor, action="user.api-key.rotate", target=f"user:{user.name}",
                 details={"key_id": new.key_id, **_expiry(new), "retired": retired,
                          "retired_at": cutoff.isoformat()}, request_id=request_id)
    return plaintext, new


class UserDisabled(Conflict):
    code = "user-disabled"

    def __init__(self, name: str) -> None:
        super().__init__(USER_DISABLED.format(name=name))


def set_user_status(session: Session, caller: Caller, name: str, status: UserStatus, *,
                    actor: str = "", request_id: str = "") -> User:
    """Disable (every key and client certificate of the user stops at once) or enable."""
    user = get_user(session, name)
    if user.id == caller.user_id and status != UserStatus.ACTIVE:
        raise Forbidden(YOU_CANNOT_DISABLE_YOURSELF)
    if user.status != status.value:
        before = user.status
        user.status = status.value
        session.flush()
        audit.record(session, actor=actor or caller.actor,
                     action="user.disable" if status == UserStatus.DISABLED else "user.enable",
                     target=f"user:{user.name}", details={"from": before, "to": status.value},
                     request_id=request_id)
    return user


@dataclass(frozen=True)
class KeyView:
    key_id: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    usable: bool

    def to_json(self) -> dict[str, object]:
        return {"key_id": self.key_id, "created_at": self.created_at.isoformat(),
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "usable": self.usable}


@dataclass(frozen=True)
class UserView:
    name: str
    role: str
    status: str
    created_at: dt.datetime
    keys: tuple[KeyView, ...]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "role": self.role, "status": self.status,
                "created_at": self.created_at.isoformat(), "keys": [k.to_json() for k in self.keys]}


def user_view(user: User) -> UserView:
    now = utcnow()
    keys = tuple(KeyView(k.key_id, k.created_at, k.expires_at, k.revoked_at, key_usable(k, now))
                 for k in sorted(user.api_keys, key=lambda k: k.id))
    return UserView(user.name, user.role, user.status, user.created_at, keys)


class UnknownApiKey(Unauthenticated):
    """No key of ours was presented (none, malformed, or an id never issued). The caller
    gets the same 401 as for a wrong secret; the web edge only logs and rate-limits these,
    because anyone can make them and the audit trail must not grow at a stranger's will."""


def authenticate(session: Session, presented: str | None) -> Caller:
    """The caller owning ``presented`` (an API key), or ``Unauthenticated``."""
    match = KEY_PATTERN.match(presented or "")
    key_id, secret = match.groups() if match else ("", "")
    row = None
    if key_id:
        row = session.execute(  # the key and its user in one statement
            select(ApiKey).options(joinedload(ApiKey.user)).where(ApiKey.key_id == key_id)
        ).scalar_one_or_none()
    stored = row.secret_sha256 if row is not None else _DUMMY_HASH
    # Always compare, so an unknown key id costs the same as a wrong secret.
    good = hmac.compare_digest(stored, _hash_secret(secret or "x"))
    if row is None:
        raise UnknownApiKey()  # no key, a malformed one, or an id we never issued
    if not (good and key_usable(row) and row.user.status == UserStatus.ACTIVE):
        raise Unauthenticated()
    return Caller(row.user.id, row.user.name, Role(row.user.role), row.key_id)


def key_id_of(presented: str | None) -> str:
    """The non-secret key id of a presented key, for the audit trail (never the secret)."""
    match = KEY_PATTERN.match(presented or "")
    return match.group(1) if match else ""


def list_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.name)).scalars())
