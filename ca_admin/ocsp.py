"""OCSP responder (RFC 6960, lightweight profile RFC 5019) with a delegated responder.

Responses are pre-produced per certificate and CertID hash (SHA-1, SHA-256) and served
from the database without an HSM call. A status change deletes the certificate's cached
responses in its own transaction, so once a revocation call returns no request can be
answered "good" from the cache; a new response is produced at once after the commit (and by
any request that finds none). Requests carrying a nonce get a freshly signed response.
The responder certificate (profile ocsp-responder: id-kp-OCSPSigning, ocsp-nocheck, short
life, key in the HSM) is issued and rotated automatically.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

from asn1crypto import core, ocsp, x509
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ca_admin.models import CaRole, CertificateAuthority, CertStatus, IssuedCertificate, OcspResponse
from ca_admin.ocsp_files import HASHES, issuer_hashes, static_of
from ca_admin.service import ServiceCredential, active_ca_row, service_credential
from ca_admin.settings import OcspSettings
from ca_admin.x509build import key_identifier
from hsm import KeyStore
from kyso.db import transaction, utcnow
from kyso.settings import Settings

log = logging.getLogger("kyso.ocsp")


class OcspRefusal(Exception):
    """An OCSP error status (unsigned response), e.g. malformedRequest or unauthorized."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status

    def der(self) -> bytes:
        return bytes(ocsp.OCSPResponse({"response_status": self.status}).dump())


@dataclass(frozen=True)
class Answer:
    der: bytes
    this_update: dt.datetime
    next_update: dt.datetime
    cacheable: bool  # no nonce: the same bytes answer everyone until nextUpdate
    responder_id: int | None = None  # the responder certificate that signed it


# -- the responder certificate ------------------------------------------------------------------

def current_responder(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings,
                      now: dt.datetime | None = None) -> ServiceCredential:
    """The delegated responder; a new one is issued when none is good for long enough."""
    return service_credential(factory, keystore, settings, "ocsp-responder", "Kyso OCSP responder", now,
                              rotate_days=settings.section(OcspSettings).responder_rotate_days)


def _issuing(session: Session) -> CertificateAuthority:
    return active_ca_row(session, CaRole.ISSUING)


# -- answering -------------------------------------------------------------------------------------

def parse_request(body: bytes, max_bytes: int) -> tuple[ocsp.CertId, bytes | None]:
    """The single CertID asked about and the nonce, if any. Raises OcspRefusal."""
    if not body or len(body) > max_bytes:
        raise OcspRefusal("malformed_request")
    try:
        req = ocsp.OCSPRequest.load(body, strict=True)
        tbs = req["tbs_request"]
        requests = list(tbs["request_list"])
        if len(requests) != 1:  # RFC 5019: one certificate per request
            raise OcspRefusal("malformed_request")
        cert_id = requests[0]["req_cert"]
        cert_id.native  # noqa: B018 - parse it all now
        nonce = None
        for ext in tbs["request_extensions"] or []:
            if ext["extn_id"].native == "nonce":
                nonce = bytes(ext["extn_value"].parsed.native)
                if not 1 <= len(nonce) <= 32:  # RFC 8954
                    raise OcspRefusal("malformed_request")
            elif ext["critical"].native:
                raise OcspRefusal("malformed_request")
        return cert_id, nonce
    except OcspRefusal:
        raise
    except Exception:  # noqa: BLE001 - anything unparseable is malformed
        raise OcspRefusal("malformed_request") from None


def answer(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, body: bytes,
           now: dt.datetime | None = None) -> Answer:
    now = (now or utcnow()).replace(microsecond=0)
    cert_id, nonce = parse_request(body, settings.section(OcspSettings).max_request_bytes)
    alg = cert_id["hash_algorithm"]["algorithm"].native
    if alg not in HASHES:
        raise OcspRefusal("unauthorized")
    with transaction(factory) as session:
        issuing = _issuing(session)
        name_hash, key_hash = issuer_hashes(issuing)[alg]
        if cert_id["issuer_name_hash"].native != name_hash or cert_id["issuer_key_hash"].native != key_hash:
            raise OcspRefusal("unauthorized")  # not a certificate of our issuing CA
        serial_hex = format(cert_id["serial_number"].native, "x")
        row = session.execute(select(IssuedCertificate).where(
            IssuedCertificate.serial_hex == serial_hex, IssuedCertificate.issuer_id == issuing.id)
        ).scalar_one_or_none()
        if row is not None and nonce is None:
            cached = session.execute(select(OcspResponse).where(
                OcspResponse.certificate_id == row.id, OcspResponse.hash_algorithm == alg)).scalar_one_or_none()
            refresh_before = dt.timedelta(hours=settings.section(OcspSettings).refresh_before_hours)
            if cached is not None and cached.next_update - now > refresh_before:
                return Answer(cached.der, cached.this_update, cached.next_update, True)
            if cached is not None and cached.next_update > now:
                stale_ok = Answer(cached.der, cached.this_update, cached.next_update, True)
            else:
                stale_ok = None
        else:
            stale_ok = None
        status = _status(row)
        cert_id_copy = ocsp.CertId.load(cert_id.dump())
    try:
        produced = _produce(factory, keystore, settings, cert_id_copy, status, nonce, now, limited=True)
        if row is not None:
            # The status was read before signing: if it changed meanwhile (a revocation
            # committed), answer with the new one rather than a stale "good".
            latest = _current_status(factory, row.id)
            if latest is not None and latest != status:
                status = latest
                produced = _produce(factory, keystore, settings, cert_id_copy, status, nonce, now)
    except Exception:
        if stale_ok is not None:  # HSM down: keep serving the cached answer until it expires
            log.warning("OCSP refresh failed; serving the cached response until its nextUpdate")
            return stale_ok
        raise
    if row is not None and nonce is None:
        _store(factory, row.id, alg, produced, status)
    return produced


def _status(row: IssuedCertificate | None) -> tuple[str, dt.datetime | None, str | None]:
    if row is None:
        return ("unknown", None, None)
    if row.status == CertStatus.REVOKED:
        return ("revoked", row.revoked_at, row.revocation_reason)
    if row.status == CertStatus.ON_HOLD:
        return ("revoked", row.revoked_at, "certificate_hold")
    return ("good", None, None)


class _SigningBudget:
    """A token bucket per process for answers that need the HSM."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: float | None = None  # full on first use
        self._stamp = time.monotonic()

    def take(self, rate: int) -> bool:
        with self._lock:
            now = time.monotonic()
            tokens = float(rate) if self._tokens is None else self._tokens
            self._tokens = min(float(rate), tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


_BUDGET = _SigningBudget()


def _produce(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, cert_id: ocsp.CertId,
             status: tuple[str, dt.datetime | None, str | None], nonce: bytes | None, now: dt.datetime,
             *, limited: bool = False, responder: ServiceCredential | None = None) -> Answer:
    if limited and not _BUDGET.take(settings.section(OcspSettings).max_signatures_per_second):
        raise OcspRefusal("try_later")
    responder = responder or current_responder(factory, keystore, settings, now)
    kind, revoked_at, reason = status
    if kind == "good":
        cert_status = ocsp.CertStatus(name="good", value=core.Null())
    elif kind == "unknown":
        cert_status = ocsp.CertStatus(name="unknown", value=core.Null())
    else:
        info: dict[str, object] = {"revocation_time": (revoked_at or now).replace(microsecond=0)}
        if reason and reason != "unspecified":
            info["revocation_reason"] = reason
        cert_status = ocsp.CertStatus(name="revoked", value=ocsp.RevokedInfo(info))
    next_update = now + dt.timedelta(hours=settings.section(OcspSettings).validity_hours)
    single = ocsp.SingleResponse({"cert_id": cert_id, "cert_status": cert_status,
                                  "this_update": now, "next_update": next_update})
    data: dict[str, object] = {
        "responder_id": ocsp.ResponderId(name="by_key", value=key_identifier(responder.spki_der)),
        "produced_at": now,
        "responses": [single],
    }
    if nonce is not None:
        data["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    tbs = ocsp.ResponseData(data)
    scheme = responder.scheme
    tbs_der = tbs.dump()
    signature = keystore.sign(responder.key_label, tbs_der, scheme)
    basic = ocsp.BasicOCSPResponse({
        "tbs_response_data": tbs,
        "signature_algorithm": scheme.signature_algorithm(),
        "signature": signature,
        "certs": [x509.Certificate.load(responder.certificate_der)],
    })
    der = ocsp.OCSPResponse({"response_status": "successful",
                             "response_bytes": {"response_type": "basic_ocsp_response", "response": basic}}).dump()
    return Answer(bytes(der), now, next_update, nonce is None, responder.certificate_id)


Status = tuple[str, dt.datetime | None, str | None]


def _current_status(factory: sessionmaker[Session], certificate_id: int) -> Status | None:
    with transaction(factory) as session:
        cert = session.get(IssuedCertificate, certificate_id)
        return _status(cert) if cert is not None else None


def _responder_good(session: Session, responder_id: int | None) -> bool:
    """Share-lock the responder's row (a revocation takes it exclusively) and check it is
    still good: a response signed by a responder revoked meanwhile is never cached."""
    if responder_id is None:
        return False
    status = session.execute(select(IssuedCertificate.status).where(IssuedCertificate.id == responder_id)
                             .with_for_update(read=True)).scalar_one_or_none()
    return status == "good"


def _unchanged(session: Session, certificate_id: int, status: Status) -> bool:
    """Lock the certificate row (as a revocation does) and check its status is still the
    one the response says: a revocation that committed meanwhile must not be undone by a
    cached 'good'."""
    cert = session.execute(select(IssuedCertificate).where(IssuedCertificate.id == certificate_id)
                           .with_for_update()).scalar_one_or_none()
    return cert is not None and _status(cert) == status


def _store(factory: sessionmaker[Session], certificate_id: int, alg: str, produced: Answer, status: Status) -> None:
    try:
        with transaction(factory) as session:
            if not _responder_good(session, produced.responder_id) or not _unchanged(session, certificate_id, status):
                return
            row = session.execute(select(OcspResponse).where(
                OcspResponse.certificate_id == certificate_id, OcspResponse.hash_algorithm == alg)
            ).scalar_one_or_none()
            if row is None:
                session.add(OcspResponse(certificate_id=certificate_id, hash_algorithm=alg, der=produced.der,
                                         this_update=produced.this_update, next_update=produced.next_update))
            else:
                row.der, row.this_update, row.next_update = produced.der, produced.this_update, produced.next_update
            _write_file(session, certificate_id, alg, produced)
    except IntegrityError:
        pass  # another worker stored one at the same moment: either is right


def _write_file(session: Session, certificate_id: int, alg: str, produced: Answer,
                cert: IssuedCertificate | None = None, *, only_missing: bool = False) -> int:
    """Write the response file too, inside the storing transaction (the certificate row is
    locked and its status checked), so that it can never outlive a status change."""
    store = static_of(session)
    if store is None:
        return 0
    cert = cert or session.get(IssuedCertificate, certificate_id)
    ca = session.get(CertificateAuthority, cert.issuer_id) if cert is not None else None
    if cert is None or ca is None:
        return 0
    return store.write(ca, int(cert.serial_hex, 16), alg, produced.der, only_missing=only_missing)


def refresh(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, *, serials: list[str] | None = None,
            now: dt.datetime | None = None) -> int:
    """Pre-produce responses (SHA-1 and SHA-256 CertIDs) for certificates whose cached
    response is missing or due. Returns how many were produced."""
    now = (now or utcnow()).replace(microsecond=0)
    due = now + dt.timedelta(hours=settings.section(OcspSettings).refresh_before_hours)
    with transaction(factory) as session:
        issuing = _issuing(session)
        stmt = select(IssuedCertificate).where(IssuedCertificate.issuer_id == issuing.id,
                                               IssuedCertificate.not_after > now)
        if serials is not None:
            stmt = stmt.where(IssuedCertificate.serial_hex.in_(serials))
        rows = list(session.execute(stmt).scalars())
        fresh_stmt = select(OcspResponse.certificate_id, OcspResponse.hash_algorithm).where(
            OcspResponse.next_update > due)
        if serials is not None:  # one certificate after a status change: not the whole table
            fresh_stmt = fresh_stmt.where(OcspResponse.certificate_id.in_([r.id for r in rows]))
        fresh = {(cert_id, alg) for cert_id, alg in session.execute(fresh_stmt)}
        work = [(r.id, int(r.serial_hex, 16), _status(r)) for r in rows]
    made = 0
    responder: ServiceCredential | None = None  # looked up once, on first need
    batch: list[tuple[int, str, Answer, Status]] = []
    hashes = issuer_hashes(issuing)
    for cert_pk, serial, status in work:
        for alg, (name_hash, key_hash) in hashes.items():
            if (cert_pk, alg) in fresh:
                continue
            cert_id = ocsp.CertId({"hash_algorithm": {"algorithm": alg}, "issuer_name_hash": name_hash,
                                   "issuer_key_hash": key_hash, "serial_number": serial})
            responder = responder or current_responder(factory, keystore, settings, now)
            answer_ = _produce(factory, keystore, settings, cert_id, status, None, now, responder=responder)
            batch.append((cert_pk, alg, answer_, status))
            made += 1
            if len(batch) >= 500:
                _store_many(factory, batch)
                batch = []
    _store_many(factory, batch)
    if serials is None:
        write_files(factory, now)
    return made


def write_files(factory: sessionmaker[Session], now: dt.datetime | None = None, batch: int = 500) -> int:
    """Write the missing files of unexpired cached responses (when response files are on),
    for instance after turning them on or moving them; returns how many were written. Each
    batch locks its certificate rows, so a status change cannot slip between reading a
    response and writing its file."""
    now = now or utcnow()
    written = 0
    last_id = 0
    while True:
        with transaction(factory) as session:
            if static_of(session) is None:
                return 0
            certs = list(session.execute(select(IssuedCertificate).where(IssuedCertificate.id > last_id)
                                         .order_by(IssuedCertificate.id).limit(batch).with_for_update()).scalars())
            if not certs:
                return written
            last_id = certs[-1].id
            by_id = {c.id: c for c in certs}
            for row in session.execute(select(OcspResponse).where(
                    OcspResponse.certificate_id.in_(list(by_id)), OcspResponse.next_update > now)).scalars():
                cert = by_id[row.certificate_id]
                if cert.not_after > now:
                    written += _write_file(session, cert.id, row.hash_algorithm,
                                           Answer(row.der, row.this_update, row.next_update, True), cert,
                                           only_missing=True)


def _store_many(factory: sessionmaker[Session], batch: list[tuple[int, str, Answer, Status]]) -> None:
    """Store pre-produced responses in one transaction (replacing older ones), each only if
    its certificate's status is still the one it states."""
    if not batch:
        return
    try:
        with transaction(factory) as session:
            responders = {a.responder_id for _c, _alg, a, _s in batch}
            good_responders = {r for r in responders if _responder_good(session, r)}
            ids = sorted({cert_pk for cert_pk, _alg, _a, _s in batch})
            certs = {c.id: c for c in session.execute(select(IssuedCertificate).where(
                IssuedCertificate.id.in_(ids)).order_by(IssuedCertificate.id).with_for_update()).scalars()}
            existing = {(r.certificate_id, r.hash_algorithm): r for r in session.execute(
                select(OcspResponse).where(OcspResponse.certificate_id.in_(ids))).scalars()}
            for cert_pk, alg, ans, status in batch:
                cert = certs.get(cert_pk)
                if cert is None or _status(cert) != status or ans.responder_id not in good_responders:
                    continue
                row = existing.get((cert_pk, alg))
                if row is None:
                    session.add(OcspResponse(certificate_id=cert_pk, hash_algorithm=alg, der=ans.der,
                                             this_update=ans.this_update, next_update=ans.next_update))
                else:
                    row.der, row.this_update, row.next_update = ans.der, ans.this_update, ans.next_update
                _write_file(session, cert_pk, alg, ans, cert)
    except IntegrityError:
        for cert_pk, alg, ans, status in batch:  # a request stored some meanwhile: one by one
            _store(factory, cert_pk, alg, ans, status)


def refresh_after_change(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings,
                         serial_hex: str, profile: str) -> None:
    """After a status change committed: produce the certificate's responses again at once
    (a revoked responder certificate means a new responder and every response again)."""
    try:
        if profile == "ocsp-responder":
            with transaction(factory) as session:
                session.execute(delete(OcspResponse))
            current_responder(factory, keystore, settings)
        refresh(factory, keystore, settings, serials=[serial_hex])
    except Exception:  # noqa: BLE001 - the change stands; requests produce what is missing
        log.exception("OCSP refresh after a status change failed")
