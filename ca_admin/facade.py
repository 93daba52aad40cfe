"""What the other domains may use of the certificate authority, and nothing else.

Signing, verification and the axis connector import this module only (an import-linter
contract in ``make lint`` holds them to it): the registry's agencies and officials, the
certificate rows a signing credential is read from, the CA's chain and service credentials,
and the revocation data a B-LT signature embeds. Models are still exposed as such; the
service layer (issue 15, item 2) narrows them to typed results.
"""

from __future__ import annotations

from pathlib import Path

from asn1crypto import x509
from sqlalchemy.orm import Session, sessionmaker

from ca_admin import crl as _crl
from ca_admin import ocsp as _ocsp
from ca_admin.issuance import normalize_serial
from ca_admin.models import CaRole, CertificateAuthority, CertStatus, IssuedCertificate, PublishedCrl, RequestStatus
from ca_admin.ocsp_files import SESSION_KEY, StaticResponses, issuer_hashes, request_forms
from ca_admin.registry import Agency, AgencyScopeDenied, AgencyStatus, Official, OfficialStatus, client_agency_ids
from ca_admin.service import (
    ServiceCredential,
    active_ca_row,
    ca_chain_der,
    forget_service_credentials,
    service_credential,
)
from ca_admin.settings import OcspSettings
from ca_admin.x509build import der_length, der_sequence
from hsm import KeyStore
from kyso.db import transaction
from kyso.settings import Settings


def session_info(settings: Settings) -> dict[str, object]:
    """What the CA keeps in every database session's info: the store of pre-signed OCSP
    answers, when ``[ocsp] static_dir`` is set."""
    static_dir = settings.section(OcspSettings).static_dir
    if not static_dir:
        return {}
    return {SESSION_KEY: StaticResponses(Path(static_dir))}


def ocsp_response_der(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings,
                      cert_der: bytes) -> bytes | None:
    """Kyso's own OCSP answer for a certificate of the issuing CA (None for another issuer)."""
    cert = x509.Certificate.load(cert_der)
    with transaction(factory) as session:
        issuing = active_ca_row(session, CaRole.ISSUING)
        if cert.issuer.dump() != x509.Certificate.load(issuing.certificate_der).subject.dump():
            return None
        name_hash, key_hash = issuer_hashes(issuing)["sha1"]
    body = request_forms("sha1", name_hash, key_hash, cert.serial_number)[0]
    return _ocsp.answer(factory, keystore, settings, body).der


def current_crl_der(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings,
                    role: str) -> bytes:
    """The latest CRL of the CA with ``role`` ("issuing", "root"); published first when the CA
    has none yet (a new CA signs before its first scheduled CRL)."""
    try:
        return _crl.latest(factory, role).der
    except _crl.CrlNotFound:
        return _crl.publish(factory, keystore, settings, role).der


__all__ = [
    "Agency", "AgencyScopeDenied", "AgencyStatus", "CaRole", "CertStatus", "CertificateAuthority",
    "IssuedCertificate", "Official", "OfficialStatus", "PublishedCrl", "RequestStatus", "ServiceCredential",
    "active_ca_row", "ca_chain_der", "client_agency_ids", "current_crl_der", "der_length", "der_sequence",
    "forget_service_credentials", "normalize_serial", "ocsp_response_der", "service_credential",
    "session_info",
]
