"""Time-stamping authority (RFC 3161) with ESS signing-certificate-v2 (RFC 5035).

The TSA key is in the HSM; its certificate (profile tsa, critical id-kp-timeStamping) comes
from the CA's public service module and rotates automatically. Serial numbers are unique
and increasing (a database sequence), and so are the times: a clock that went backwards is
refused rather than allowed to date a token before the previous one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass

from asn1crypto import tsp
from sqlalchemy import Integer, String, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from ca_admin.facade import (
    IssuedCertificate,
    ServiceCredential,
    der_sequence,
    forget_service_credentials,
    service_credential,
)
from hsm import KeyStore
from kyso import audit
from kyso.audit import AuditRecord
from kyso.db import Base, UTCDateTime, advisory_lock, transaction, utcnow
from kyso.errors import ErrorKind, KysoError
from kyso.settings import Settings
from signer import cmsbuild
from signer.settings import TsaSettings

log = logging.getLogger("kyso.tsa")
TSA_LOCK = 0x6B79736F3000
ALLOWED_HASHES = {"sha256": 32, "sha384": 48, "sha512": 64}


class TimestampToken(Base):
    """Every token issued: its serial (the primary key), time and imprint."""

    __tablename__ = "timestamp_tokens"

    serial: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gen_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    hash_algorithm: Mapped[str] = mapped_column(String(10), nullable=False)
    imprint_hex: Mapped[str] = mapped_column(String(128), nullable=False)
    policy: Mapped[str] = mapped_column(String(100), nullable=False)


class TsaRefusal(Exception):
    """A TimeStampResp with status rejection and a failInfo (RFC 3161 2.4.2)."""

    def __init__(self, fail_info: str, text: str, http_status: int = 200) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text
        self.http_status = http_status

    def der(self) -> bytes:
        # asn1crypto models timeStampToken as mandatory; RFC 3161 omits it on rejection.
        status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [self.text],
                                    "fail_info": tsp.PKIFailureInfo({self.fail_info})}).dump()
        return der_sequence(status)


@dataclass(frozen=True)
class ParsedRequest:
    hash_algorithm: str
    digest: bytes
    nonce: int | None
    cert_req: bool


def parse_request(body: bytes, settings: Settings) -> ParsedRequest:
    if not body or len(body) > settings.section(TsaSettings).max_request_bytes:
        raise TsaRefusal("bad_data_format", "empty or oversize request")
    try:
        req = tsp.TimeStampReq.load(body, strict=True)
        req.native  # noqa: B018 - parse it all now
    except Exception:  # noqa: BLE001
        raise TsaRefusal("bad_data_format", "not a TimeStampReq") from None
    if req["version"].native != "v1":
        raise TsaRefusal("bad_request", "unsupported version")
    imprint = req["message_imprint"]
    alg = imprint["hash_algorithm"]["algorithm"].native
    digest = bytes(imprint["hashed_message"].native)
    if alg not in ALLOWED_HASHES:
        raise TsaRefusal("bad_alg", f"hash algorithm {alg} is not accepted")
    if len(digest) != ALLOWED_HASHES[alg]:
        raise TsaRefusal("bad_data_format", "the message imprint has the wrong length for its algorithm")
    policy = req["req_policy"].native
    if policy is not None and policy != settings.section(TsaSettings).policy_oid:
        raise TsaRefusal("unaccepted_policy", "unsupported policy")
    for ext in req["extensions"] or []:
        if ext["critical"].native:
            raise TsaRefusal("unaccepted_extension", "unsupported critical extension")
    return ParsedRequest(alg, digest, req["nonce"].native, bool(req["cert_req"].native))


class _CredentialGone(Exception):
    """The TSA certificate was revoked (by another worker) since this process cached it."""


def _next_serial(factory: sessionmaker[Session], parsed: ParsedRequest, settings: Settings,
                 now: dt.datetime | None, credential: ServiceCredential) -> tuple[int, dt.datetime]:
    """A unique, increasing serial and a time never earlier than the previous token's; in
    the same transaction, the TSA certificate is checked to be still good."""
    with transaction(factory) as session:
        advisory_lock(session, TSA_LOCK)
        # Read the clock only once the lock is held: a request that waited for it must not
        # carry a time from before the token issued while it waited.
        now = now or utcnow()
        last, status = session.execute(select(
            select(func.max(TimestampToken.gen_time)).scalar_subquery(),
            select(IssuedCertificate.status).where(IssuedCertificate.id == credential.certificate_id)
            .scalar_subquery())).one()
        if status != "good":
            raise _CredentialGone
        if last is not None and now < last:
            log.error("clock went backwards: now %s is before the last time stamp %s",
                      now.isoformat(), last.isoformat())
            raise TsaRefusal("time_not_available", "the time source is not available", http_status=503)
        _audit_past_periods(session, settings, now)
        serial = session.execute(insert(TimestampToken).values(
            gen_time=now, hash_algorithm=parsed.hash_algorithm, imprint_hex=parsed.digest.hex(),
            policy=settings.section(TsaSettings).policy_oid).returning(TimestampToken.serial)).scalar_one()
        return serial, now


_PERIOD_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# Per database: the period start up to which tokens are known to be audited (a cache that
# saves one query per token; the audit trail itself is the truth).
_AUDITED_UNTIL: dict[str, dt.datetime] = {}


def _audit_past_periods(session: Session, settings: Settings, now: dt.datetime) -> None:
    """One ``tsa.tokens`` audit record for the tokens issued before the current period and
    not yet audited (issue 13, item 17). Runs under the TSA lock, where times only go
    forward, so every token before the period start is committed and none can join later."""
    period = dt.timedelta(minutes=settings.section(TsaSettings).audit_period_minutes)
    start = _PERIOD_EPOCH + ((now - _PERIOD_EPOCH) // period) * period
    db = str(session.get_bind().engine.url)
    if _AUDITED_UNTIL.get(db, _PERIOD_EPOCH) >= start:
        return
    last = session.execute(select(AuditRecord.details).where(AuditRecord.action == "tsa.tokens")
                           .order_by(AuditRecord.seq.desc()).limit(1)).scalar_one_or_none()
    after = 0
    if last is not None:
        try:
            after = int(json.loads(last)["last_serial"])
        except (ValueError, KeyError, TypeError):
            log.error("the last tsa.tokens audit record is unreadable; auditing every token again")
    digest = hashlib.sha256()
    count, first, final, earliest, latest = 0, 0, 0, None, None
    rows = session.execute(select(TimestampToken.serial, TimestampToken.gen_time, TimestampToken.hash_algorithm,
                                  TimestampToken.imprint_hex)
                           .where(TimestampToken.serial > after, TimestampToken.gen_time < start)
                           .order_by(TimestampToken.serial)).yield_per(1000)
    for serial, gen_time, alg, imprint in rows:
        digest.update(f"{serial} {gen_time.astimezone(dt.UTC).isoformat()} {alg} {imprint}\n".encode())
        count += 1
        first = first or serial
        final = serial
        earliest = earliest or gen_time
        latest = gen_time
    if count:
        assert earliest is not None and latest is not None
        audit.record(session, actor="system:tsa", action="tsa.tokens", target="tsa",
                     details={"tokens": count, "first_serial": first, "last_serial": final,
                              "first_time": earliest.isoformat(), "last_time": latest.isoformat(),
                              "until": start.isoformat(), "sha256": digest.hexdigest()})
    _AUDITED_UNTIL[db] = start


def tokens_digest(session: Session, first_serial: int, last_serial: int) -> str:
    """The SHA-256 a ``tsa.tokens`` record holds, recomputed from the token table."""
    digest = hashlib.sha256()
    for serial, gen_time, alg, imprint in session.execute(
            select(TimestampToken.serial, TimestampToken.gen_time, TimestampToken.hash_algorithm,
                   TimestampToken.imprint_hex)
            .where(TimestampToken.serial >= first_serial, TimestampToken.serial <= last_serial)
            .order_by(TimestampToken.serial)):
        digest.update(f"{serial} {gen_time.astimezone(dt.UTC).isoformat()} {alg} {imprint}\n".encode())
    return digest.hexdigest()


def stamp(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, body: bytes,
          now: dt.datetime | None = None) -> bytes:
    """Answer a TimeStampReq with a granted TimeStampResp (or raise TsaRefusal)."""
    parsed = parse_request(body, settings)
    rotate_days = settings.section(TsaSettings).rotate_days
    try:
        try:
            credential = service_credential(factory, keystore, settings, "tsa", "Kyso TSA", rotate_days=rotate_days,
                                            caller_checks_status=True)
            serial, gen_time = _next_serial(factory, parsed, settings, now, credential)
        except _CredentialGone:
            forget_service_credentials()
            credential = service_credential(factory, keystore, settings, "tsa", "Kyso TSA", rotate_days=rotate_days)
            serial, gen_time = _next_serial(factory, parsed, settings, now, credential)
        return _token(keystore, settings, credential, parsed, serial, gen_time)
    except _CredentialGone:
        raise TsaRefusal("system_failure", "the time-stamping service is not available", http_status=503) from None
    except KysoError as exc:
        # RFC 3161 clients expect a TimeStampResp whatever went wrong.
        log.error("time-stamp failed: %s", exc.code)
        raise TsaRefusal("system_failure", "the time-stamping service is not available",
                         http_status=503 if exc.kind is ErrorKind.UNAVAILABLE else 500) from exc


def _token(keystore: KeyStore, settings: Settings, credential: ServiceCredential, parsed: ParsedRequest,
           serial: int, gen_time: dt.datetime) -> bytes:
    """The TimeStampResp (RFC 3161) for one request."""
    info: dict[str, object] = {
        "version": "v1",
        "policy": settings.section(TsaSettings).policy_oid,
        "message_imprint": {"hash_algorithm": {"algorithm": parsed.hash_algorithm},
                            "hashed_message": parsed.digest},
        "serial_number": serial,
        "gen_time": gen_time.astimezone(dt.UTC),
        "accuracy": {"seconds": settings.section(TsaSettings).accuracy_seconds},
        "ordering": False,
    }
    if parsed.nonce is not None:
        info["nonce"] = parsed.nonce
    tst_der = tsp.TSTInfo(info).dump()
    pre = cmsbuild.prefab(credential.certificate_der, credential.chain_der, credential.scheme)
    token = cmsbuild.signed_data(
        pre, lambda attrs: keystore.sign(credential.key_label, attrs, credential.scheme),
        content_type="tst_info", content_digest=hashlib.new(pre.digest_name, tst_der).digest(),
        encapsulated=tst_der, signing_time=gen_time, with_certificates=parsed.cert_req)
    return der_sequence(der_sequence(b"\x02\x01\x00") + token)
