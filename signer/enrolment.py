"""The official enrols their own consent (PIN or TOTP): sole control of the personal key.

Staff never choose, see or reset an official's PIN or TOTP seed. After checking the
official's identity, a staff member *starts* an enrolment; the official receives a one-time
activation code by a second channel and, on the public enrolment page (or its JSON API),
authenticated by that code alone, sets a PIN or scans a TOTP QR code shown only there.

- Channels: ``email`` (to the address in the registry, through [mail]); the staff member who
  registered or last changed that address may not be the one who sends the code to it (four
  eyes). ``letter`` (``signing.enrolment_by_letter``): the code is returned once, to the
  staff member who started the enrolment, to print and seal; this is audited, and the
  official is told by e-mail when the enrolment is completed (when mail is on). A
  deployment that wants no single person able to enrol an official turns letters off.
- An activation code is ``<reference>-<secret>`` in Crockford base32 groups; only a hash of
  the secret is stored. It is good once, for ``signing.enrolment_code_hours``, and for
  ``signing.enrolment_code_attempts`` wrong tries; starting a new enrolment voids the last.
- Re-enrolment takes the same path and keeps an existing lock (a CA admin unlocks). Every
  step is audited; the audit never holds a code, a PIN or a seed.
- The official changes the PIN with the old one; a wrong old PIN counts as a failed consent.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from ca_admin.facade import Agency, Official, OfficialStatus
from hsm import KeyStore
from kyso import audit, mail, policy
from kyso.audit import AuditRecord
from kyso.callers import Caller
from kyso.db import Base, UTCDateTime, transaction, utcnow
from kyso.errors import BadRequest, Conflict, ErrorKind, KysoError, NotFound
from kyso.policy import Action
from kyso.settings import Settings
from signer.consent import ConsentLocked, ConsentRateLimited, SigningConsent, count_failure, hash_pin, pin_matches
from signer.messages import (
    ACTIVATION_CODE_INVALID,
    CHANNEL_INVALID,
    CONSENT_RATE_LIMITED,
    EMAIL_SET_BY_SAME_STAFF,
    ENROLMENT_BY_LETTER_OFF,
    METHOD_INVALID,
    NEW_PIN_IS_OLD,
    NO_PIN_TO_CHANGE,
    OFFICIAL_HAS_NO_EMAIL,
    OFFICIAL_NOT_ACTIVE,
    OFFICIAL_NOT_FOUND,
    PIN_CHANGE_FIELDS_REQUIRED,
    PIN_LOCKED,
)
from signer.settings import SigningSettings

log = logging.getLogger("kyso.consent")
CHANNELS = ("email", "letter")
METHODS = ("pin", "totp")
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_REF_LEN, _SECRET_LEN = 8, 12
VN = ZoneInfo("Asia/Ho_Chi_Minh")


# -- errors ---------------------------------------------------------------------------------------

class ActivationCodeInvalid(KysoError):
    """Wrong, used, expired or void: one answer for all, so that a guess learns nothing."""

    code = "activation-code-invalid"
    kind = ErrorKind.UNAUTHENTICATED
    title_en = "Activation code not valid"

    def __init__(self, attempts_left: int | None = None) -> None:
        super().__init__(ACTIVATION_CODE_INVALID,
                         extra={"attempts_left": attempts_left} if attempts_left is not None else None)


class WeakPin(KysoError):
    code = "pin-too-weak"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "PIN too weak"


class EnrolmentRefused(Conflict):
    code = "enrolment-refused"


# -- tables ---------------------------------------------------------------------------------------

class ConsentEnrolment(Base):
    """An enrolment started by staff, waiting for the official's activation code."""

    __tablename__ = "consent_enrolments"

    reference: Mapped[str] = mapped_column(String(16), primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id"), nullable=False, index=True)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)  # email | letter
    secret_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")  # pending|completed|void
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# -- activation codes -----------------------------------------------------------------------------

def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def _secret_hash(reference: str, secret: str) -> str:
    return hashlib.sha256(f"kyso-enrolment:{reference}:{secret}".encode()).hexdigest()


def format_code(reference: str, secret: str) -> str:
    text = reference + secret
    return "-".join(text[i:i + 4] for i in range(0, len(text), 4))


def parse_code(value: Any) -> tuple[str, str] | None:
    """(reference, secret) of a typed code: case, spaces and dashes do not matter, and O, I
    and L read as 0, 1 and 1."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = "".join(value.split()).replace("-", "").upper().translate(str.maketrans("OIL", "011"))
    if len(text) != _REF_LEN + _SECRET_LEN or any(c not in _ALPHABET for c in text):
        return None
    return text[:_REF_LEN], text[_REF_LEN:]


# -- PIN rules ----------------------------------------------------------------------------------------

def pin_problem(pin: Any, min_length: int, citizen_id: str = "") -> tuple[str, str] | None:
    """Why ``pin`` may not be used (English, Vietnamese), or None."""
    if not isinstance(pin, str) or not min_length <= len(pin) <= 64 or any(ord(c) < 32 for c in pin):
        return (f"a PIN has {min_length} to 64 printable characters",
                f"mã PIN gồm từ {min_length} đến 64 ký tự in được")
    if len(set(pin)) == 1:
        return "a PIN may not repeat one character", "mã PIN không được lặp lại một ký tự"
    if pin.isdigit():
        steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
        if steps in ({1}, {9}):
            return "a PIN may not be digits in a row (123456, 987654)", "mã PIN không được là dãy số liên tiếp"
    if citizen_id and pin in citizen_id:
        return "a PIN may not be taken from the CCCD number", "mã PIN không được lấy từ số CCCD"
    return None


# -- staff: start ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Started:
    reference: str
    official_id: int
    channel: str
    expires_at: dt.datetime
    sent_to: str | None = None  # the e-mail address, masked
    activation_code: str | None = None  # letter only, shown this once
    letter_text: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reference": self.reference, "official_id": self.official_id,
                               "channel": self.channel, "expires_at": self.expires_at.isoformat()}
        if self.sent_to:
            out["sent_to"] = self.sent_to
        if self.activation_code:
            out.update(activation_code=self.activation_code, letter_text=self.letter_text)
        return out


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _email_set_by(session: Session, official_id: int) -> str | None:
    """The actor who registered or last changed the official's e-mail address."""
    rows = session.execute(select(AuditRecord).where(
        AuditRecord.target == f"official:{official_id}",
        AuditRecord.action.in_(("official.create", "official.update"))).order_by(AuditRecord.seq.desc())).scalars()
    for rec in rows:
        if rec.action == "official.create" or '"email"' in rec.details:
            return rec.actor
    return None


def enrol_url(settings: Settings) -> str:
    return settings.server.public_base_url.rstrip("/") + "/consent/enrol"


def _message(settings: Settings, official: Official, agency: Agency | None, code: str,
             expires_at: dt.datetime, *, letter: bool) -> str:
    until = expires_at.astimezone(VN).strftime("%H:%M %d/%m/%Y")
    head = (f"{official.full_name}\n{official.title}\n{agency.name if agency else ''}\n\n" if letter else
            f"Kính gửi {official.full_name},\n\n")
    return (
        f"{head}"
        "Mã kích hoạt để tự đăng ký mã PIN hoặc TOTP dùng khi ký số bằng khóa cá nhân của ông/bà:\n"
        f"Activation code to enrol your own PIN or TOTP for signing with your personal key:\n\n"
        f"    {code}\n\n"
        f"Trang đăng ký / enrolment page: {enrol_url(settings)}\n"
        f"Hết hạn / expires: {until} (giờ Việt Nam)\n\n"
        "Chỉ ông/bà được dùng mã này; không ai, kể cả cán bộ Sở, sẽ hỏi ông/bà mã này hay mã PIN.\n"
        "Only you may use this code; nobody, IT Department staff included, will ask for it or for your PIN.\n"
        "Nếu ông/bà không yêu cầu đăng ký, hãy báo ngay cho Sở Thông tin và Truyền thông.\n"
        "If you did not ask to enrol, tell the IT Department at once.\n")


def letter_pdf(started: Started) -> bytes:
    """The letter (A4, Vietnamese font embedded) to print and seal."""
    import textwrap

    from signer.report_pdf import text_pdf

    lines: list[str] = []
    for line in (started.letter_text or "").splitlines():
        lines.extend(textwrap.wrap(line, 85, drop_whitespace=False) or [""])
    return text_pdf([lines], font_size=12, leading=17)


def start(factory: sessionmaker[Session], settings: Settings, caller: Caller, official_id: int, channel: str,
          request_id: str = "") -> Started:
    """Start an enrolment (or re-enrolment) for an official whose identity the caller checked."""
    policy.require(caller, Action.CONSENT_ENROL)
    g = settings.section(SigningSettings)
    if channel not in CHANNELS:
        raise BadRequest(CHANNEL_INVALID)
    if channel == "letter" and not g.enrolment_by_letter:
        raise EnrolmentRefused(ENROLMENT_BY_LETTER_OFF)
    if channel == "email" and not settings.mail.enabled:
        raise mail.MailDisabled()
    now = utcnow()
    reference, secret = _random(_REF_LEN), _random(_SECRET_LEN)
    expires_at = now + dt.timedelta(hours=g.enrolment_code_hours)
    with transaction(factory) as session:
        official = session.get(Official, official_id)
        if official is None:
            raise NotFound(OFFICIAL_NOT_FOUND.format(official_id=official_id))
        if official.status != OfficialStatus.ACTIVE:
            raise EnrolmentRefused(OFFICIAL_NOT_ACTIVE)
        if channel == "email":
            if not official.email:
                raise EnrolmentRefused(OFFICIAL_HAS_NO_EMAIL)
            if _email_set_by(session, official_id) == caller.actor:
                raise EnrolmentRefused(
                    EMAIL_SET_BY_SAME_STAFF)
        agency = session.get(Agency, official.agency_id)
        earlier = session.execute(select(ConsentEnrolment).where(
            ConsentEnrolment.official_id == official_id, ConsentEnrolment.status == "pending")
            .with_for_update()).scalars().all()
        for old in earlier:  # one code at a time: a new enrolment voids the last
            old.status, old.finished_at = "void", now
        voided = [old.reference for old in earlier]
        session.add(ConsentEnrolment(reference=reference, official_id=official_id, channel=channel,
                                     secret_sha256=_secret_hash(reference, secret), status="pending",
                                     attempts=0, started_by=caller.actor, created_at=now, expires_at=expires_at))
        enrolled = session.get(SigningConsent, official_id) is not None
        audit.record(session, actor=caller.actor, action="consent.enrolment.start", target=f"official:{official_id}",
                     details={"reference": reference, "channel": channel, "expires_at": expires_at.isoformat(),
                              "re_enrolment": enrolled, "voided_earlier": voided,
                              **({"code_shown_to": caller.actor} if channel == "letter" else {})},
                     request_id=request_id)
        code = format_code(reference, secret)
        text = _message(settings, official, agency, code, expires_at, letter=channel == "letter")
        email = official.email
    if channel == "letter":
        return Started(reference, official_id, channel, expires_at, activation_code=code, letter_text=text)
    try:
        mail.send(settings.mail, email, "Kyso: mã kích hoạt đăng ký ký số / activation code", text,
                  reference=f"enrolment {reference} (official {official_id})")
    except KysoError:
        with transaction(factory) as session:
            row = session.get(ConsentEnrolment, reference, with_for_update=True)
            if row is not None and row.status == "pending":
                row.status, row.finished_at = "void", utcnow()
            audit.record(session, actor=caller.actor, action="consent.enrolment.void",
                         target=f"official:{official_id}", outcome="failure",
                         details={"reference": reference, "reason": "mail-unavailable"}, request_id=request_id)
        raise
    return Started(reference, official_id, channel, expires_at, sent_to=_mask(email))


# -- the official: complete -----------------------------------------------------------------------

@dataclass(frozen=True)
class Completed:
    official_id: int
    official_name: str
    method: str
    locked: bool
    otpauth_uri: str | None = None
    secret_base32: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"official_id": self.official_id, "method": self.method, "locked": self.locked}
        if self.otpauth_uri:
            out.update(otpauth_uri=self.otpauth_uri, secret_base32=self.secret_base32)
        return out


def _fail(factory: sessionmaker[Session], settings: Settings, reference: str, address: str,
          request_id: str) -> ActivationCodeInvalid:
    """Count a wrong secret against its enrolment (committed); void it at the limit."""
    with transaction(factory) as session:
        row = session.get(ConsentEnrolment, reference, with_for_update=True)
        if row is None or row.status != "pending":
            return ActivationCodeInvalid()
        row.attempts += 1
        left = settings.section(SigningSettings).enrolment_code_attempts - row.attempts
        if left <= 0:
            row.status, row.finished_at = "void", utcnow()
        audit.record(session, actor="anonymous", action="consent.enrolment.denied",
                     target=f"official:{row.official_id}", outcome="denied",
                     details={"reference": reference, "attempts": row.attempts, "void": left <= 0,
                              "address": address}, request_id=request_id)
        return ActivationCodeInvalid(max(left, 0))


def _pending(session: Session, reference: str, secret: str, now: dt.datetime) -> ConsentEnrolment | None:
    """The pending enrolment the code opens, locked for update; None when the secret is wrong.
    Raises ActivationCodeInvalid for an unknown, used, void or expired reference."""
    row = session.get(ConsentEnrolment, reference, with_for_update=True)
    if row is None or row.status != "pending" or now >= row.expires_at:
        raise ActivationCodeInvalid()
    if not hmac.compare_digest(row.secret_sha256, _secret_hash(reference, secret)):
        return None
    return row


def complete(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, code: Any, method: str,
             pin: Any = None, *, address: str = "", request_id: str = "") -> Completed:
    """The official, holding the activation code, sets a PIN or enrols TOTP."""
    if method not in METHODS:
        raise BadRequest(METHOD_INVALID)
    parsed = parse_code(code)
    if parsed is None:
        log.info("malformed activation code from %s", address)
        raise ActivationCodeInvalid()
    reference, secret = parsed
    now = utcnow()
    with transaction(factory) as session:
        row = _pending(session, reference, secret, now)
        if row is not None:
            official = session.get(Official, row.official_id)
            assert official is not None
            citizen_id, official_id, name = official.citizen_id, official.id, official.full_name
            agency = session.get(Agency, official.agency_id)
            agency_code = agency.code if agency else ""
            active = official.status == OfficialStatus.ACTIVE
    if row is None:
        raise _fail(factory, settings, reference, address, request_id)
    if not active:  # deactivated after the enrolment was started
        raise EnrolmentRefused(OFFICIAL_NOT_ACTIVE)
    if method == "pin":
        problem = pin_problem(pin, settings.section(SigningSettings).consent_pin_min_length, citizen_id)
        if problem:
            raise WeakPin(*problem)  # the code stays good: it was right
    label = seed = None
    if method == "totp":
        seed = secrets.token_bytes(20)
        label = f"totp-{official_id}-{secrets.token_hex(4)}"
        keystore.import_hmac_secret(label, seed)  # slow HSM work before the short transaction
    old_label = None
    try:
        with transaction(factory) as session:
            row = _pending(session, reference, secret, utcnow())
            if row is None:  # pragma: no cover - the secret was right a moment ago
                raise ActivationCodeInvalid()
            row.status, row.finished_at = "completed", utcnow()
            consent = session.get(SigningConsent, official_id, with_for_update=True)
            re_enrolment = consent is not None
            if consent is None:
                consent = SigningConsent(official_id=official_id, method=method, failures=0, window_attempts=0)
                session.add(consent)
            old_label = consent.totp_label
            # A lock stays: only a CA admin clears it (consent.unlock).
            consent.method, consent.self_enrolled, consent.updated_at = method, True, utcnow()
            consent.pin_hash = hash_pin(pin) if method == "pin" else None
            consent.totp_label = label
            consent.last_totp_step = consent.used_totp_steps = None
            locked = consent.locked_at is not None
            audit.record(session, actor=f"official:{official_id}", action="consent.enrol",
                         target=f"official:{official_id}",
                         details={"method": method, "reference": reference, "channel": row.channel,
                                  "started_by": row.started_by, "re_enrolment": re_enrolment, "locked": locked,
                                  "address": address}, request_id=request_id)
            email, channel = official_email(session, official_id), row.channel
    except BaseException:
        if label:
            keystore.delete_secret(label)
        raise
    if old_label:
        keystore.delete_secret(old_label)
    if channel == "letter" and email and settings.mail.enabled:
        _tell_official(settings, email, name, official_id)
    if seed is None:
        return Completed(official_id, name, method, locked)
    secret32 = base64.b32encode(seed).decode().rstrip("=")
    issuer = f"Kyso {agency_code}".strip()
    totp = settings.section(SigningSettings)
    uri = (f"otpauth://totp/{quote(issuer)}:{quote(name)}?secret={secret32}&issuer={quote(issuer)}"
           f"&algorithm=SHA1&digits={totp.totp_digits}&period={totp.totp_period}")
    return Completed(official_id, name, method, locked, uri, secret32)


def official_email(session: Session, official_id: int) -> str:
    official = session.get(Official, official_id)
    return official.email if official else ""


def _tell_official(settings: Settings, email: str, name: str, official_id: int) -> None:
    """After a letter enrolment: the official hears of it by a channel the letter's printer
    does not hold. A failure to send (logged) does not undo the enrolment, which is audited."""
    text = (f"Kính gửi {name},\n\nMã PIN hoặc TOTP ký số của ông/bà vừa được đăng ký trên Kyso.\n"
            "Your signing PIN or TOTP has just been enrolled on Kyso.\n\n"
            "Nếu không phải ông/bà thực hiện, hãy báo ngay cho Sở Thông tin và Truyền thông.\n"
            "If this was not you, tell the IT Department at once.\n")
    try:
        mail.send(settings.mail, email, "Kyso: đã đăng ký xác nhận ký số / consent enrolled", text,
                  reference=f"enrolment notice (official {official_id})")
    except KysoError:
        pass  # logged by mail.send


# -- the official: change the PIN -------------------------------------------------------------------

def change_pin(factory: sessionmaker[Session], settings: Settings, official_id: Any, old_pin: Any, new_pin: Any,
               *, address: str = "", request_id: str = "") -> None:
    """A new PIN, given the old one. A wrong old PIN counts as a failed consent (and locks
    at the limit, like signing); a locked credential cannot change its PIN."""
    if not isinstance(official_id, int) or isinstance(official_id, bool) or not isinstance(old_pin, str):
        raise BadRequest(PIN_CHANGE_FIELDS_REQUIRED)
    now = utcnow()
    target = f"official:{official_id}"
    error: KysoError | None = None
    with transaction(factory) as session:
        consent = session.get(SigningConsent, official_id, with_for_update=True)
        official = session.get(Official, official_id)
        if consent is None or consent.method != "pin" or consent.pin_hash is None or official is None:
            error = BadRequest(NO_PIN_TO_CHANGE)
        elif consent.locked_at is not None:
            error = ConsentLocked(PIN_LOCKED)
        elif consent.window_start is not None and now - consent.window_start < dt.timedelta(minutes=1) \
                and consent.window_attempts >= settings.section(SigningSettings).consent_attempts_per_minute:
            error = ConsentRateLimited(CONSENT_RATE_LIMITED)
        elif not pin_matches(old_pin, consent.pin_hash):
            error = count_failure(session, settings, consent, now, actor=target, request_id=request_id)
        else:
            min_length = settings.section(SigningSettings).consent_pin_min_length
            problem = pin_problem(new_pin, min_length, official.citizen_id)
            if problem:
                error = WeakPin(*problem)
            elif new_pin == old_pin:
                error = WeakPin(NEW_PIN_IS_OLD)
            else:
                consent.failures, consent.updated_at = 0, now
                consent.pin_hash = hash_pin(str(new_pin))
                audit.record(session, actor=target, action="consent.pin.change", target=target,
                             details={"address": address}, request_id=request_id)
        if error is not None and not isinstance(error, BadRequest | WeakPin):
            audit.record(session, actor=target, action="consent.pin.change", target=target, outcome="denied",
                         details={"reason": error.code, "address": address}, request_id=request_id)
    if error is not None:
        raise error


# -- status (staff) -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConsentStatus:
    official_id: int
    method: str | None
    self_enrolled: bool
    locked: bool
    pending_enrolment: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def status(factory: sessionmaker[Session], caller: Caller, official_id: int) -> ConsentStatus:
    """What staff may know: the method, lock and pending enrolment; never a PIN or seed."""
    policy.require(caller, Action.CONSENT_READ)
    now = utcnow()
    with transaction(factory) as session:
        if session.get(Official, official_id) is None:
            raise NotFound(OFFICIAL_NOT_FOUND.format(official_id=official_id))
        consent = session.get(SigningConsent, official_id)
        pending = session.execute(select(ConsentEnrolment).where(
            ConsentEnrolment.official_id == official_id, ConsentEnrolment.status == "pending",
            ConsentEnrolment.expires_at > now)).scalars().first()
        return ConsentStatus(
            official_id, consent.method if consent else None, bool(consent and consent.self_enrolled),
            bool(consent and consent.locked_at is not None),
            {"reference": pending.reference, "channel": pending.channel, "started_by": pending.started_by,
             "expires_at": pending.expires_at.isoformat()} if pending else None)
