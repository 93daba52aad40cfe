"""Full CRLs for the issuing CA and the root (ARL), signed in the HSM.

Each revoked certificate's CRL entry is encoded once, when it is revoked or held, and kept
with the certificate; publishing concatenates the kept entries into the TBSCertList, so a
list of 100,000 entries costs one query, one concatenation and one HSM signature.
crlNumber strictly increases per issuer (publication holds a per-issuer lock).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from asn1crypto import core, crl, x509
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from ca_admin.models import ON_CRL, CaRole, CertStatus, IssuedCertificate, PublishedCrl
from ca_admin.service import active_ca_row, require_root_token
from ca_admin.settings import CaSettings, CrlSettings
from ca_admin.x509build import bit_string, der_length, der_sequence, key_identifier, scheme_for, x509_time
from hsm import KeyStore
from hsm.keystore import verify_signature
from hsm.settings import HsmSettings
from kyso import audit
from kyso.db import advisory_lock, read_transaction, transaction, utcnow
from kyso.errors import NotFound
from kyso.settings import Settings

log = logging.getLogger("kyso.crl")
CRL_LOCK_BASE = 0x6B79736F1000
KEEP_CRLS = 10


class CrlNotFound(NotFound):
    code = "crl-not-published"

    def __init__(self) -> None:
        super().__init__("no CRL has been published yet", "chưa công bố danh sách thu hồi")


def entry_der(serial: int, revoked_at: dt.datetime, reason: str, invalidity: dt.datetime | None) -> bytes:
    """The DER of one revokedCertificates entry (RFC 5280 5.1.2.6, 5.3)."""
    exts: list[dict[str, object]] = []
    if reason and reason != "unspecified":  # RFC 5280: unspecified SHOULD be absent
        exts.append({"extn_id": "crl_reason", "critical": False, "extn_value": reason})
    if invalidity is not None:
        exts.append({"extn_id": "invalidity_date", "critical": False,
                     "extn_value": core.GeneralizedTime(invalidity.astimezone(dt.UTC).replace(microsecond=0))})
    value: dict[str, object] = {"user_certificate": serial, "revocation_date": x509_time(revoked_at)}
    if exts:
        value["crl_entry_extensions"] = exts
    return bytes(crl.RevokedCertificate(value).dump())


@dataclass(frozen=True)
class CrlInfo:
    role: str
    crl_number: int
    this_update: dt.datetime
    next_update: dt.datetime
    entries: int
    der: bytes


def _info(role: str, row: PublishedCrl) -> CrlInfo:
    return CrlInfo(role, row.crl_number, row.this_update, row.next_update, row.entries, row.der)


def publish(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, role: str = CaRole.ISSUING, *,
            actor: str = "system:crl", now: dt.datetime | None = None, only_if_stale: bool = False) -> CrlInfo:
    """Make, sign and store the next full CRL of the active ``role`` CA (issuing or root).
    With ``only_if_stale``, a CRL another process published meanwhile is returned instead
    (requests finding a stale CRL must not each sign a new one)."""
    now = (now or utcnow()).replace(microsecond=0)
    if role == CaRole.ROOT and settings.section(HsmSettings).separate_root:
        # With the root in its own token, its CRL is a ceremony: ``keystore`` is that token's.
        with read_transaction(factory) as session:
            root_label = active_ca_row(session, CaRole.ROOT).key_label
        require_root_token(keystore, settings, root_label)
    with transaction(factory) as session:
        ca = active_ca_row(session, role)
        if ca.key_label is None:
            raise CrlNotFound()  # an external root publishes its own CRL
        advisory_lock(session, CRL_LOCK_BASE + ca.id)
        if only_if_stale:
            current = session.execute(select(PublishedCrl).where(PublishedCrl.issuer_id == ca.id)
                                      .order_by(PublishedCrl.crl_number.desc()).limit(1)).scalar_one_or_none()
            if current is not None and current.next_update > now:
                return _info(role, current)
        last = session.execute(select(PublishedCrl.crl_number).where(PublishedCrl.issuer_id == ca.id)
                               .order_by(PublishedCrl.crl_number.desc()).limit(1)).scalar_one_or_none()
        number = (last or 0) + 1
        if role == CaRole.ISSUING:
            # Certificates revoked before entries were kept (or by hand) get theirs now.
            for missing in session.execute(
                    select(IssuedCertificate).where(IssuedCertificate.issuer_id == ca.id,
                                                    IssuedCertificate.status.in_(ON_CRL),
                                                    IssuedCertificate.crl_entry_der.is_(None))).scalars():
                missing.crl_entry_der = entry_der(
                    int(missing.serial_hex, 16), missing.revoked_at or now,
                    ("certificate_hold" if missing.status == CertStatus.ON_HOLD
                     else (missing.revocation_reason or "unspecified")),
                    missing.invalidity_date)
            session.flush()
            entries = list(session.execute(
                select(IssuedCertificate.crl_entry_der)
                .where(IssuedCertificate.issuer_id == ca.id,
                       IssuedCertificate.status.in_(ON_CRL),
                       IssuedCertificate.crl_entry_der.is_not(None))
                .order_by(IssuedCertificate.id)).scalars())
            next_update = now + dt.timedelta(hours=settings.section(CrlSettings).issuing_validity_hours)
        else:
            entries = []  # the root has certified only our issuing CA, which is not revoked
            next_update = now + dt.timedelta(days=settings.section(CrlSettings).root_validity_days)
        ca_cert = x509.Certificate.load(ca.certificate_der)
        spki = ca_cert.public_key.dump()
        ca_settings = settings.section(CaSettings)
        key_cfg = ca_settings.root_key if role == CaRole.ROOT else ca_settings.issuing_key
        scheme = scheme_for(spki, key_cfg.signature_scheme, key_cfg.hash)
        sig_alg = scheme.signature_algorithm().dump()
        extensions = crl.TBSCertListExtensions([
            {"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": {"key_identifier": key_identifier(spki)}},
            {"extn_id": "crl_number", "critical": False, "extn_value": number},
        ]).dump()
        revoked = der_sequence(b"".join(e for e in entries if e)) if entries else b""
        tbs = der_sequence(
            b"\x02\x01\x01"  # version v2
            + sig_alg
            + ca_cert.subject.dump()
            + x509_time(now).dump()
            + x509_time(next_update).dump()
            + revoked
            + b"\xa0" + der_length(len(extensions)) + extensions
        )
        signature = keystore.sign(ca.key_label, tbs, scheme)
        verify_signature(spki, tbs, signature, scheme)
        der = der_sequence(tbs + sig_alg + bit_string(signature))
        row = PublishedCrl(issuer_id=ca.id, crl_number=number, this_update=now, next_update=next_update,
                           entries=len(entries), der=der)
        session.add(row)
        session.flush()
        # Keep the last few CRLs only: each is a full list (megabytes at 100,000 entries).
        session.execute(delete(PublishedCrl).where(PublishedCrl.issuer_id == ca.id,
                                                   PublishedCrl.crl_number <= number - KEEP_CRLS))
        audit.record(session, actor=actor, action="crl.publish", target=f"crl:{role}",
                     details={"crl_number": number, "entries": len(entries),
                              "next_update": next_update.isoformat()})
        # Each CRL also pins the audit chain: its head is signed once this commits.
        audit.request_checkpoint(session, "crl")
        return _info(role, row)


def latest(factory: sessionmaker[Session], role: str) -> CrlInfo:
    with transaction(factory) as session:
        ca = active_ca_row(session, role)
        row = session.execute(select(PublishedCrl).where(PublishedCrl.issuer_id == ca.id)
                              .order_by(PublishedCrl.crl_number.desc()).limit(1)).scalar_one_or_none()
        if row is None:
            raise CrlNotFound()
        return _info(role, row)


def publish_after_change(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings) -> None:
    """After a revocation, hold or release has committed: publish at once. A failure (HSM
    down) is logged; the change stands and the scheduled publication catches up."""
    try:
        publish(factory, keystore, settings, CaRole.ISSUING)
    except Exception:  # noqa: BLE001 - the revocation is committed; report and move on
        log.exception("CRL publication after a revocation failed; the next scheduled run will publish")
