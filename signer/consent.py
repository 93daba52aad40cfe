"""The official's consent to each use of a personal key (sole control): a PIN or a TOTP code
(RFC 6238) that the official enrolled themself (signer.enrolment: staff never see either).

Failures are counted in their own committed transaction; after
``signing.consent_max_failures`` in a row the credential locks until an administrator
unlocks it, and wrong attempts are limited per minute (right ones are not: an official may
sign as often as the work needs). TOTP seeds live in the HSM as non-extractable HMAC
secrets; PINs are stored as scrypt hashes. The signing pipeline (signer.signing) takes the
consent before the key is used; a CSC SAD (signer.activation) carries one given at
credentials/authorize.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import struct
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from hsm import KeyStore
from kyso import audit, policy
from kyso.callers import Caller
from kyso.db import Base, UTCDateTime, transaction, utcnow
from kyso.errors import ErrorKind, KysoError, NotFound
from kyso.policy import Action
from kyso.settings import Settings
from signer.messages import (
    CONSENT_LOCKED,
    CONSENT_NOT_ENROLLED,
    CONSENT_RATE_LIMITED,
    CONSENT_REQUIRED,
    CONSENT_SET_BY_STAFF,
    CONSENT_WRONG,
    CONSENT_WRONG_NOW_LOCKED,
    NO_CONSENT_METHOD,
)
from signer.settings import SigningSettings

# The request header an official's consent (PIN or TOTP code) comes in, on every signing API.
HEADER = "X-Kyso-Consent"

if TYPE_CHECKING:
    from signer.credentials import Credential


class ConsentRequired(KysoError):
    code = "consent-required"
    kind = ErrorKind.UNAUTHENTICATED
    title_en = "Consent required"


class ConsentFailed(KysoError):
    code = "consent-failed"
    kind = ErrorKind.UNAUTHENTICATED
    title_en = "Consent not given"


class ConsentLocked(KysoError):
    code = "consent-locked"
    kind = ErrorKind.UNAUTHENTICATED
    title_en = "Credential locked"


class ConsentRateLimited(KysoError):
    code = "consent-rate-limited"
    kind = ErrorKind.RATE_LIMITED
    title_en = "Too many attempts"



class SigningConsent(Base):
    """How an official consents to each use of the personal key, and its failure count."""

    __tablename__ = "signing_consents"

    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id"), primary_key=True)
    method: Mapped[str] = mapped_column(String(10), nullable=False)  # pin | totp
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    totp_label: Mapped[str | None] = mapped_column(String(100))
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_totp_step: Mapped[int | None] = mapped_column(Integer)  # the highest step accepted
    # Every step accepted that is still inside the drift window (JSON list): a code is good
    # once, and accepting the next step's code does not use up the current one.
    used_totp_steps: Mapped[str | None] = mapped_column(String(200))
    # Set by the official on the enrolment page (signer.enrolment); false for a PIN or seed
    # that staff set before that existed: such consent is not the official's sole control.
    self_enrolled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    window_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    window_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)



# -- consent -----------------------------------------------------------------------------------------

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def pin_matches(pin: str, stored: str) -> bool:
    try:
        _tag, salt_b64, digest_b64 = stored.split("$")
        expected = base64.b64decode(digest_b64)
        got = hashlib.scrypt(pin.encode("utf-8"), salt=base64.b64decode(salt_b64), dklen=32, **_SCRYPT)
    except ValueError:
        return False
    return hmac.compare_digest(expected, got)


def _totp_code(mac: bytes, digits: int) -> str:
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % (10 ** digits)).zfill(digits)


def unlock(factory: sessionmaker[Session], caller: Caller, official_id: int, request_id: str = "") -> None:
    """Clear the failure lock of an official's consent: a CA admin's decision alone."""
    policy.require(caller, Action.CONSENT_UNLOCK)
    with transaction(factory) as session:
        row = session.get(SigningConsent, official_id, with_for_update=True)
        if row is None:
            raise NotFound(NO_CONSENT_METHOD.format(official_id=official_id))
        row.failures, row.locked_at, row.updated_at = 0, None, utcnow()
        audit.record(session, actor=caller.actor, action="consent.unlock", target=f"official:{official_id}",
                     request_id=request_id)


def check_consent(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller,
                  credential: Credential, presented: str | None, *, now: dt.datetime | None = None,
                  request_id: str = "", purpose: str = "") -> None:
    """For a personal credential: the official's PIN or current TOTP code, or a refusal.
    The outcome, given (``consent.given``, for ``purpose``) or refused, is audited and
    committed before this returns or raises; never the PIN or code."""
    if not credential.personal:
        return
    now = now or utcnow()
    g = settings.section(SigningSettings)
    official_id = credential.official_id
    error: KysoError | None = None
    with transaction(factory) as session:
        row = session.get(SigningConsent, official_id, with_for_update=True)
        target = f"official:{official_id}"
        if row is None:
            error = ConsentRequired(CONSENT_NOT_ENROLLED)
        elif not row.self_enrolled and g.require_self_enrolment:
            # Set by staff before the official could enrol themself: staff may know it.
            error = ConsentRequired(CONSENT_SET_BY_STAFF,
                                    extra={"reason": "re-enrolment-required"})
        elif row.locked_at is not None:
            error = ConsentLocked(CONSENT_LOCKED)
        elif not presented:
            error = ConsentRequired(CONSENT_REQUIRED)
        else:
            # Only failures count towards the per-minute limit: a right PIN or code is never
            # throttled (an official may sign more than ten times a minute).
            if row.window_start is None or now - row.window_start >= dt.timedelta(minutes=1):
                row.window_start, row.window_attempts = now, 0
            if row.window_attempts >= g.consent_attempts_per_minute:
                error = ConsentRateLimited(CONSENT_RATE_LIMITED)
            else:
                ok, step = _verify(keystore, settings, row, presented, now)
                if ok:
                    row.failures = 0
                    if step is not None:
                        _mark_step_used(settings, row, step, now)
                    # The official's consent is a grant: audited with what it was for.
                    audit.record(session, actor=caller.actor, action="consent.given", target=target,
                                 details={"method": row.method, "credential": credential.serial_hex,
                                          "for": purpose or "sign"}, request_id=request_id)
                else:
                    error = count_failure(session, settings, row, now, actor=caller.actor, request_id=request_id)
            row.updated_at = now
        if error is not None:
            audit.record(session, actor=caller.actor, action="consent.denied", target=target, outcome="denied",
                         details={"reason": error.code}, request_id=request_id)
    if error is not None:
        raise error


def count_failure(session: Session, settings: Settings, row: SigningConsent, now: dt.datetime, *, actor: str,
                  request_id: str = "") -> KysoError:
    """A wrong PIN or code: counted against the per-minute limit and the lock (in the
    caller's transaction, which must commit); the error to raise."""
    g = settings.section(SigningSettings)
    if row.window_start is None or now - row.window_start >= dt.timedelta(minutes=1):
        row.window_start, row.window_attempts = now, 0
    row.window_attempts += 1
    row.failures += 1
    row.updated_at = now
    if row.failures >= g.consent_max_failures:
        row.locked_at = now
        audit.record(session, actor=actor, action="consent.locked", target=f"official:{row.official_id}",
                     outcome="denied", details={"failures": row.failures}, request_id=request_id)
        return ConsentLocked(CONSENT_WRONG_NOW_LOCKED)
    return ConsentFailed(CONSENT_WRONG,
                         extra={"attempts_left": g.consent_max_failures - row.failures})


def _verify(keystore: KeyStore, settings: Settings, row: SigningConsent, presented: str,
            now: dt.datetime) -> tuple[bool, int | None]:
    if row.method == "pin":
        return (row.pin_hash is not None and pin_matches(presented, row.pin_hash)), None
    g = settings.section(SigningSettings)
    code = presented.strip()
    if row.totp_label is None or len(code) != g.totp_digits or not code.isdigit():
        return False, None
    current = int(now.timestamp()) // g.totp_period
    used = _used_steps(row)
    # Each step is good once. A step further back than the drift from the newest step used
    # is not good at all; the newest step used does not use up the ones just before it (a
    # phone a little ahead of the server). Rows from before used_totp_steps existed know only
    # the newest step, and everything up to it counts as used.
    lowest = current - g.totp_drift_steps
    if row.last_totp_step is not None:
        lowest = max(lowest, row.last_totp_step - g.totp_drift_steps if row.used_totp_steps is not None
                     else row.last_totp_step + 1)
    steps = [s for s in range(lowest, current + g.totp_drift_steps + 1) if s not in used]
    if not steps:
        return False, None
    macs = keystore.hmac_sha1(row.totp_label, [struct.pack(">Q", s) for s in steps])
    matched = None
    for step, mac in zip(steps, macs, strict=True):
        if hmac.compare_digest(_totp_code(mac, g.totp_digits), code) and matched is None:
            matched = step  # the oldest step the code fits
    return matched is not None, matched


def _used_steps(row: SigningConsent) -> set[int]:
    try:
        return {int(s) for s in json.loads(row.used_totp_steps or "[]")}
    except (ValueError, TypeError):
        return set()


def _mark_step_used(settings: Settings, row: SigningConsent, step: int, now: dt.datetime) -> None:
    """Remember ``step`` as used, with the other used steps a code could still match; steps
    that have left the drift window can never match again and are dropped."""
    g = settings.section(SigningSettings)
    oldest = int(now.timestamp()) // g.totp_period - g.totp_drift_steps
    used = sorted(s for s in _used_steps(row) | {step} if s >= oldest)
    row.used_totp_steps = json.dumps(used)
    row.last_totp_step = max(step, row.last_totp_step or step)
