"""The trust inputs of a check: the city's roots and CA certificates and the newest CRL of each
Kyso CA (from the database), the trust anchors a CA admin added (verification/anchors.py), the roots
in ``verify.trust_roots``; and the validation context built from them (revocation fetched only
as verification/fetching.py allows)."""

from __future__ import annotations

import datetime as dt
import glob
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import pem, x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ca_admin.facade import CertificateAuthority
from kyso.db import read_transaction
from kyso.settings import Settings
from verification.settings import VerifySettings


def load_certs(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    if pem.detect(data):
        return [x509.Certificate.load(der) for kind, _h, der in pem.unarmor(data, multiple=True)
                if kind == "CERTIFICATE"]
    return [x509.Certificate.load(data)]


_PARSED: dict[tuple[Any, ...], Any] = {}  # parsed CA certificates and CRLs, per process


OWN_CA_NAMES: set[str] = set()  # this CA's subjects (normalised), met by trust()


_FILES: dict[str, tuple[float, list[x509.Certificate]]] = {}


def _parsed(key: tuple[Any, ...], load: Any) -> Any:
    """A CA certificate or a published CRL never changes once stored: parse each once. The
    key holds the CA's random 159-bit serial, so another database's rows never match."""
    if key not in _PARSED:
        if len(_PARSED) > 256:
            _PARSED.clear()
        _PARSED[key] = load()
    return _PARSED[key]


def _trust_file(name: str) -> list[x509.Certificate]:
    mtime = Path(name).stat().st_mtime
    cached = _FILES.get(name)
    if cached is None or cached[0] != mtime:
        cached = _FILES[name] = (mtime, load_certs(Path(name)))
    return cached[1]


def trust(factory: sessionmaker[Session], settings: Settings) -> tuple[list[x509.Certificate],
                                                                         list[x509.Certificate],
                                                                         list[asn1_crl.CertificateList]]:
    """Trust roots, other CA certificates, and the newest CRL of each Kyso CA: one
    read transaction of a few small queries; the DER of a row is read and parsed once per process."""
    from ca_admin.facade import PublishedCrl
    from verification.anchors import TrustAnchor

    roots: list[x509.Certificate] = []
    others: list[x509.Certificate] = []
    crls: list[asn1_crl.CertificateList] = []
    with read_transaction(factory) as session:
        cas = {ca_id: serial for ca_id, serial in session.execute(
            select(CertificateAuthority.id, CertificateAuthority.serial_hex)).all()}
        newest = (select(PublishedCrl.issuer_id, func.max(PublishedCrl.crl_number).label("n"))
                  .group_by(PublishedCrl.issuer_id).subquery())
        crl_rows = session.execute(
            select(PublishedCrl.id, PublishedCrl.issuer_id, PublishedCrl.crl_number, PublishedCrl.this_update)
            .join(newest, (PublishedCrl.issuer_id == newest.c.issuer_id) & (PublishedCrl.crl_number == newest.c.n))
        ).all()
        for ca_id, serial in cas.items():
            cert = _parsed(("ca", serial), lambda i=ca_id: x509.Certificate.load(session.execute(
                select(CertificateAuthority.certificate_der).where(CertificateAuthority.id == i)).scalar_one()))
            OWN_CA_NAMES.add(cert.subject.hashable)
            (roots if cert.self_signed == "maybe" or cert.subject == cert.issuer else others).append(cert)
        for crl_id, issuer_id, number, this_update in crl_rows:
            crls.append(_parsed(("crl", cas[issuer_id], number, this_update), lambda i=crl_id: (
                asn1_crl.CertificateList.load(session.execute(
                    select(PublishedCrl.der).where(PublishedCrl.id == i)).scalar_one()))))
        # Trust anchors a CA admin added (verification/anchors.py), parsed once per process each.
        for (sha256,) in session.execute(select(TrustAnchor.sha256)).all():
            roots.append(_parsed(("anchor", sha256), lambda h=sha256: x509.Certificate.load(session.execute(
                select(TrustAnchor.certificate_der).where(TrustAnchor.sha256 == h)).scalar_one())))
    for pattern in settings.section(VerifySettings).trust_roots:
        for name in sorted(glob.glob(pattern)):
            roots.extend(_trust_file(name))
    return roots, others, crls


def check_context(trusted: tuple[Any, Any, Any], fetch: bool, moment: dt.datetime | None = None) -> Any:
    """``moment``: validate as of that time instead of now (the foreign corpus replays each
    source project's tests at the time they assert, when the test PKI was still valid)."""
    from pyhanko_certvalidator import ValidationContext

    roots, others, crls = trusted
    if not fetch:
        return ValidationContext(trust_roots=roots, other_certs=others, crls=crls, allow_fetching=False,
                                 revocation_mode="soft-fail", moment=moment)
    from kyso.bounded import given
    from verification.fetching import HostPolicy, guarded_fetchers

    # Fetchers built here (requests, no aiohttp session left open): this CA's certificates
    # answered from its CRL, anything else only from verify.fetch_hosts (verification/fetching.py).
    fetchers = guarded_fetchers(HostPolicy(given("fetch_hosts", ())), set(given("own_ca_names", ())), crls)
    return ValidationContext(trust_roots=roots, other_certs=others, crls=crls, allow_fetching=True,
                             revocation_mode="soft-fail", fetchers=fetchers, moment=moment)
