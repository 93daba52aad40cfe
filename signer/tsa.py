"""Time-stamping authority (RFC 3161) with ESS signing-certificate-v2 (RFC 5035).

The TSA key is in the HSM; its certificate (profile tsa, critical id-kp-timeStamping) comes
from the CA's public service module and rotates automatically. Serial numbers are unique
and increasing (a database sequence), and so are the times: a clock that went backwards is
refused rather than allowed to date a token before the previous one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp, x509
from sqlalchemy import Integer, String, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from ca_admin.models import IssuedCertificate
from ca_admin.service import ServiceCredential, forget_service_credentials, service_credential
from ca_admin.x509build import der_length, der_sequence
from hsm import KeyStore
from kyso.db import Base, UTCDateTime, advisory_lock, transaction, utcnow
from kyso.errors import KysoError
from kyso.settings import Settings

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
        return b"\x30" + der_length(len(status)) + status


@dataclass(frozen=True)
class ParsedRequest:
    hash_algorithm: str
    digest: bytes
    nonce: int | None
    cert_req: bool


def parse_request(body: bytes, settings: Settings) -> ParsedRequest:
    if not body or len(body) > settings.tsa.max_request_bytes:
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
    if policy is not None and policy != settings.tsa.policy_oid:
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
        serial = session.execute(insert(TimestampToken).values(
            gen_time=now, hash_algorithm=parsed.hash_algorithm, imprint_hex=parsed.digest.hex(),
            policy=settings.tsa.policy_oid).returning(TimestampToken.serial)).scalar_one()
        return serial, now


def stamp(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, body: bytes,
          now: dt.datetime | None = None) -> bytes:
    """Answer a TimeStampReq with a granted TimeStampResp (or raise TsaRefusal)."""
    parsed = parse_request(body, settings)
    try:
        try:
            credential = service_credential(factory, keystore, settings, "tsa", "Kyso TSA",
                                            caller_checks_status=True)
            serial, gen_time = _next_serial(factory, parsed, settings, now, credential)
        except _CredentialGone:
            forget_service_credentials()
            credential = service_credential(factory, keystore, settings, "tsa", "Kyso TSA")
            serial, gen_time = _next_serial(factory, parsed, settings, now, credential)
        return _token(keystore, settings, credential, parsed, serial, gen_time)
    except _CredentialGone:
        raise TsaRefusal("system_failure", "the time-stamping service is not available", http_status=503) from None
    except KysoError as exc:
        # RFC 3161 clients expect a TimeStampResp whatever went wrong.
        log.error("time-stamp failed: %s", exc.code)
        raise TsaRefusal("system_failure", "the time-stamping service is not available",
                         http_status=503 if exc.status == 503 else 500) from exc


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + der_length(len(body)) + body


_OID_TST_INFO = core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()
_OID_SIGNED_DATA = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()


@dataclass(frozen=True)
class _Prefab:
    """What every token of one TSA credential shares, DER-encoded once: building these with
    asn1crypto per request cost most of a time stamp (re-encoding the certificates)."""

    digest_name: str
    digest_algorithm: bytes
    signature_algorithm: bytes
    sid: bytes
    content_type_attr: bytes
    signing_certificate_attr: bytes
    certificates: bytes  # [0] IMPLICIT SET OF Certificate, for certReq


_PREFABS: dict[tuple[bytes, tuple[bytes, ...], str], _Prefab] = {}


def _prefab(credential: ServiceCredential) -> _Prefab:
    key = (credential.certificate_der, credential.chain_der, credential.scheme.value)
    prefab = _PREFABS.get(key)
    if prefab is None:
        cert = x509.Certificate.load(credential.certificate_der)
        digest_name = credential.scheme.hash_name  # the SignerInfo digest must be the signature's hash
        signing_certificate = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{
            "certs": [{"cert_hash": hashlib.sha256(credential.certificate_der).digest(),
                       "issuer_serial": {"issuer": [x509.GeneralName(name="directory_name", value=cert.issuer)],
                                         "serial_number": cert.serial_number}}]}]})
        prefab = _Prefab(
            digest_name=digest_name,
            digest_algorithm=algos.DigestAlgorithm({"algorithm": digest_name}).dump(),
            signature_algorithm=_signer_algorithm(credential.scheme.value).dump(),
            sid=cms.IssuerAndSerialNumber({"issuer": cert.issuer, "serial_number": cert.serial_number}).dump(),
            content_type_attr=cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump(),
            signing_certificate_attr=signing_certificate.dump(),
            certificates=_tlv(0xA0, credential.certificate_der + b"".join(credential.chain_der)),
        )
        if len(_PREFABS) > 16:
            _PREFABS.clear()
        _PREFABS[key] = prefab
    return prefab


def _token(keystore: KeyStore, settings: Settings, credential: ServiceCredential, parsed: ParsedRequest,
           serial: int, gen_time: dt.datetime) -> bytes:
    """The TimeStampResp, assembled from DER parts (RFC 3161, RFC 5652, RFC 5035)."""
    info: dict[str, object] = {
        "version": "v1",
        "policy": settings.tsa.policy_oid,
        "message_imprint": {"hash_algorithm": {"algorithm": parsed.hash_algorithm},
                            "hashed_message": parsed.digest},
        "serial_number": serial,
        "gen_time": gen_time.astimezone(dt.UTC),
        "accuracy": {"seconds": settings.tsa.accuracy_seconds},
        "ordering": False,
    }
    if parsed.nonce is not None:
        info["nonce"] = parsed.nonce
    tst_der = tsp.TSTInfo(info).dump()
    pre = _prefab(credential)
    signing_time = cms.CMSAttribute({"type": "signing_time",
                                     "values": [cms.Time({"utc_time": gen_time.replace(microsecond=0)})]}).dump()
    message_digest = cms.CMSAttribute({"type": "message_digest",
                                       "values": [hashlib.new(pre.digest_name, tst_der).digest()]}).dump()
    # DER: a SET OF is sorted by the encodings of its elements.
    attrs = b"".join(sorted((pre.content_type_attr, signing_time, message_digest, pre.signing_certificate_attr)))
    signature = keystore.sign(credential.key_label, _tlv(0x31, attrs), credential.scheme)
    signer_info = der_sequence(b"\x02\x01\x01" + pre.sid + pre.digest_algorithm + _tlv(0xA0, attrs)
                               + pre.signature_algorithm + _tlv(0x04, signature))
    encap = der_sequence(_OID_TST_INFO + _tlv(0xA0, _tlv(0x04, tst_der)))
    signed_data = der_sequence(b"\x02\x01\x03" + _tlv(0x31, pre.digest_algorithm) + encap
                               + (pre.certificates if parsed.cert_req else b"") + _tlv(0x31, signer_info))
    token = der_sequence(_OID_SIGNED_DATA + _tlv(0xA0, signed_data))
    return der_sequence(der_sequence(b"\x02\x01\x00") + token)


def _signer_algorithm(scheme: str) -> cms.SignedDigestAlgorithm:
    from hsm import SignatureScheme

    s = SignatureScheme(scheme)
    if s.family == "rsa-pkcs1":  # in CMS the signature algorithm is plain rsaEncryption
        return cms.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"})
    return cms.SignedDigestAlgorithm(s.signature_algorithm().native)
