"""The CA's public service module: what other packages and the web layer may call.

``signer`` and ``kyso`` reach the CA only through these functions, never its models.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass

from asn1crypto import csr as asn1_csr
from asn1crypto import keys, pem, x509
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from ca_admin.models import CaRole, CaStatus, CertificateAuthority, CertStatus, HsmKeyIntent, RequestStatus
from ca_admin.settings import CaKeySettings, CaNameSettings, CaSettings, ProfilesSettings
from ca_admin.x509build import CaCertificateRequest, build_ca_certificate, build_name, scheme_for
from hsm import (
    HsmPinIncorrect,
    HsmUnavailable,
    KeyNotFound,
    KeySpec,
    KeyStore,
    RootTokenUnavailable,
    SignatureScheme,
)
from hsm.settings import HsmSettings
from kyso import audit
from kyso.db import advisory_lock, read_transaction, transaction, utcnow
from kyso.errors import BadRequest, Conflict, NotFound
from kyso.settings import Settings

log = logging.getLogger("kyso.ca")

ROLES = (CaRole.ROOT, CaRole.ISSUING)
CA_INIT_LOCK = 0x6B79736F01  # pg advisory lock key for CA initialisation ("kyso" 01)


class CaAlreadyInitialised(Conflict):
    code = "ca-already-initialised"

    def __init__(self) -> None:
        super().__init__(
            "the certificate authority is already initialised; nothing was changed",
            "tổ chức chứng thực đã được khởi tạo; không có gì thay đổi",
        )


class CaNotInitialised(NotFound):
    code = "ca-not-initialised"

    def __init__(self) -> None:
        super().__init__(
            "the certificate authority is not initialised yet: run 'kyso ca init'",
            "tổ chức chứng thực chưa được khởi tạo: chạy 'kyso ca init'",
        )


@dataclass(frozen=True)
class CaCertificate:
    role: str
    subject: str
    key_label: str | None
    key_spec: str
    signature_scheme: str
    serial_hex: str
    not_before: dt.datetime
    not_after: dt.datetime
    certificate_der: bytes

    @property
    def certificate_pem(self) -> bytes:
        return bytes(pem.armor("CERTIFICATE", self.certificate_der))

    @property
    def certificate(self) -> x509.Certificate:
        return x509.Certificate.load(self.certificate_der)


def _public(row: CertificateAuthority) -> CaCertificate:
    return CaCertificate(
        role=row.role, subject=row.subject, key_label=row.key_label, key_spec=row.key_spec,
        signature_scheme=row.signature_scheme, serial_hex=row.serial_hex,
        not_before=row.not_before, not_after=row.not_after,
        certificate_der=row.certificate_der,
    )


def ca_chain_der(session: Session, ca: CertificateAuthority | None) -> tuple[bytes, ...]:
    """DER certificates from ``ca`` up its stored issuer links to the root (issuing, any
    external intermediates, root)."""
    chain = []
    while ca is not None:
        chain.append(ca.certificate_der)
        ca = session.get(CertificateAuthority, ca.issuer_id) if ca.issuer_id else None
    return tuple(chain)


def active_ca_row(session: Session, role: str) -> CertificateAuthority:
    """The row of the active root or issuing CA, or ``CaNotInitialised`` (for this package)."""
    row = session.execute(
        select(CertificateAuthority)
        .where(CertificateAuthority.role == role, CertificateAuthority.status == CaStatus.ACTIVE)
        .order_by(CertificateAuthority.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        raise CaNotInitialised()
    return row


def active_ca(session: Session, role: str) -> CaCertificate:
    """The active root or issuing CA, or ``CaNotInitialised``."""
    return _public(active_ca_row(session, role))


def is_initialised(session: Session) -> bool:
    return session.execute(select(CertificateAuthority.id).limit(1)).first() is not None


def _name(n: CaNameSettings, fallback_cn: str) -> x509.Name:
    return build_name(
        common_name=n.common_name or fallback_cn,
        organization=n.organization,
        organizational_unit=n.organizational_unit,
        locality=n.locality,
        country=n.country,
    )


def _validity(now: dt.datetime, key: CaKeySettings) -> tuple[dt.datetime, dt.datetime]:
    # Back-date a little so that relying parties with a slow clock accept the certificate.
    start = now.replace(microsecond=0) - dt.timedelta(minutes=5)
    return start, start + dt.timedelta(days=key.validity_days)


def require_root_token(root_keystore: KeyStore, settings: Settings, probe_label: str | None = None) -> None:
    """With the root in a token of its own ([hsm.root]), check it is connected (and, with
    ``probe_label``, that the root key signs) before a ceremony starts:
    ``RootTokenUnavailable`` (503, a clear message) otherwise."""
    if not settings.section(HsmSettings).separate_root:
        return
    try:
        root_keystore.check_present(probe_label)
    except HsmPinIncorrect:
        raise
    except HsmUnavailable as exc:
        raise RootTokenUnavailable(settings.section(HsmSettings).root.token_label, log_detail=exc.code) from exc


def init_ca(
    factory: sessionmaker[Session],
    keystore: KeyStore,
    settings: Settings,
    *,
    actor: str,
    request_id: str = "",
    now: dt.datetime | None = None,
    root_keystore: KeyStore | None = None,
) -> tuple[CaCertificate, CaCertificate]:
    """Create the root and issuing CAs: keys in the token, certificates signed there.

    The root key goes to ``root_keystore`` ([hsm.root]'s own token in production, which
    must be connected for this ceremony), the issuing key to ``keystore``.
    Refuses when a CA exists. A key whose certificate row was not committed is destroyed,
    so a failure at any step leaves neither keys nor rows behind.
    """
    now = now or utcnow()
    ca = settings.section(CaSettings)
    root_store = root_keystore if root_keystore is not None else keystore
    if settings.section(HsmSettings).separate_root and root_store is keystore:
        raise AssertionError("[hsm.root] is set: give init_ca the root token's key store")
    with read_transaction(factory) as session:
        if is_initialised(session):
            raise CaAlreadyInitialised()
    require_root_token(root_store, settings)
    # The key that signs the audit trail's checkpoints is made with the CA (issue 13, item 6).
    audit.ensure_audit_key(factory, keystore, settings.audit.key_type)
    suffix = secrets.token_hex(4)
    root_label, issuing_label = f"ca-root-{suffix}", f"ca-issuing-{suffix}"
    made: list[tuple[KeyStore, str]] = []
    # Announce the keys (committed) before they exist, so that a crash is explained later.
    with transaction(factory) as session:
        for label in (root_label, issuing_label):
            session.add(HsmKeyIntent(label=label, purpose="ca"))
    try:
        # One transaction, holding the CA initialisation lock from the check to the commit,
        # so that two processes (replicas starting together) cannot both make a CA, and the
        # orphan sweep never touches keys another process is still working with.
        with transaction(factory) as session:
            advisory_lock(session, CA_INIT_LOCK)
            if is_initialised(session):
                raise CaAlreadyInitialised()
            _remove_orphan_ca_keys(session, (keystore, root_store), {root_label, issuing_label})
            root_spec = KeySpec.parse(ca.root_key.key_type)
            issuing_spec = KeySpec.parse(ca.issuing_key.key_type)

            root_key = root_store.generate_key_pair(root_label, root_spec)
            made.append((root_store, root_label))
            root_scheme = scheme_for(root_key.public_key_der, ca.root_key.signature_scheme, ca.root_key.hash)
            root_name = _name(ca.root_name, "Kyso Root CA")
            nb, na = _validity(now, ca.root_key)
            root_cert = build_ca_certificate(
                root_store, root_label, root_scheme,
                CaCertificateRequest(subject=root_name, subject_spki_der=root_key.public_key_der,
                                     not_before=nb, not_after=na, path_length=None),
            )

            issuing_key = keystore.generate_key_pair(issuing_label, issuing_spec)
            made.append((keystore, issuing_label))
            nb_i, na_i = _validity(now, ca.issuing_key)
            na_i = min(na_i, na)  # never outlive the root
            base = settings.server.public_base_url.rstrip("/")
            issuing_cert = build_ca_certificate(
                root_store, root_label, root_scheme,
                CaCertificateRequest(
                    subject=_name(ca.issuing_name, "Kyso Issuing CA"),
                    subject_spki_der=issuing_key.public_key_der,
                    not_before=nb_i, not_after=na_i, path_length=ca.issuing_path_length,
                    issuer=root_name, issuer_spki_der=root_key.public_key_der,
                    crl_urls=(f"{base}/pki/crl/root.crl",),
                    ca_issuer_urls=(f"{base}/pki/ca/root.crt",),
                ),
            )
            root_row = _row(CaRole.ROOT, root_cert, root_label, root_spec, root_scheme, None)
            session.add(root_row)
            session.flush()
            issuing_row = _row(CaRole.ISSUING, issuing_cert, issuing_label, issuing_spec,
                               root_scheme, root_row.id)
            session.add(issuing_row)
            session.flush()
            for row in (root_row, issuing_row):
                audit.record(
                    session, actor=actor, action="ca.create", target=f"ca:{row.role}",
                    details={"subject": row.subject, "serial": row.serial_hex,
                             "key_label": row.key_label, "key_spec": row.key_spec,
                             "not_after": row.not_after.isoformat()},
                    request_id=request_id,
                )
            result = (_public(root_row), _public(issuing_row))
        made.clear()  # committed: the keys belong to the stored CAs
        return result
    finally:
        for store, label in made:
            try:
                store.delete_key(label)
                log.warning("removed key %s of an unfinished CA initialisation", label)
            except Exception:  # noqa: BLE001 - report, keep the original error
                log.exception("could not remove key %s of an unfinished CA initialisation", label)
        try:
            with transaction(factory) as session:
                session.execute(delete(HsmKeyIntent).where(HsmKeyIntent.label.in_((root_label, issuing_label))))
        except Exception:  # noqa: BLE001 - a stale intent is swept by the next init
            log.exception("could not clear HSM key intents")


def _remove_orphan_ca_keys(session: Session, stores: tuple[KeyStore, ...], ours: set[str]) -> None:
    """Keys this database announced for an initialisation that never committed (a killed
    process): no CA row names them. Only announced keys are touched: the token may be shared.
    A root key may be in the root's own token: every store given is cleaned."""
    known = set(session.execute(select(CertificateAuthority.key_label)).scalars())
    for intent in list(session.execute(select(HsmKeyIntent).where(HsmKeyIntent.purpose == "ca")).scalars()):
        if intent.label in ours:
            continue
        if intent.label not in known:
            for store in dict.fromkeys(stores):
                try:
                    store.delete_key(intent.label)
                    log.warning("removed key %s left by an interrupted CA initialisation", intent.label)
                except KeyNotFound:
                    pass
        session.delete(intent)


def _row(role: str, cert: x509.Certificate, label: str | None, spec: KeySpec,
         signed_with: SignatureScheme, issuer_id: int | None, *, external: bool = False) -> CertificateAuthority:
    validity = cert["tbs_certificate"]["validity"]
    return CertificateAuthority(
        role=role,
        subject=cert.subject.human_friendly,
        key_label=label,
        key_spec=str(spec),
        signature_scheme=signed_with.value,
        serial_hex=format(cert.serial_number, "x"),
        certificate_der=cert.dump(),
        not_before=validity["not_before"].native,
        not_after=validity["not_after"].native,
        issuer_id=issuer_id,
        external_root=external,
    )


# -- the CA's own service certificates (OCSP responder, TSA) -------------------------------------

SERVICE_LOCK = 0x6B79736F2000
SERVICE_CACHE_SECONDS = 5.0
_SERVICE_CACHE: dict[tuple[str, str], tuple[float, ServiceCredential]] = {}


def forget_service_credentials() -> None:
    """Drop this process's cached service credentials (after one was revoked)."""
    _SERVICE_CACHE.clear()


@dataclass(frozen=True)
class ServiceCredential:
    """A key in the HSM with its certificate from the issuing CA, for one of the CA's services."""

    key_label: str
    certificate_der: bytes
    spki_der: bytes
    chain_der: tuple[bytes, ...]  # issuing CA, then up to the root
    scheme: SignatureScheme
    certificate_id: int


def service_credential(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, profile: str,
                       common_name: str, now: dt.datetime | None = None, *, rotate_days: int,
                       caller_checks_status: bool = False) -> ServiceCredential:
    """The current credential for ``profile`` (ocsp-responder, tsa or report-seal); a new key and
    certificate are made when none stays good for ``rotate_days`` more days (a setting of the
    service that uses it: ocsp.responder_rotate_days, tsa.rotate_days) or the current one was revoked.

    A credential cached in this process is re-read from the database unless the caller
    checks its certificate's status itself, in a transaction it makes anyway (the TSA does,
    in the one that takes its serial)."""
    from ca_admin import issuance
    from ca_admin.models import CertificateRequest, IssuedCertificate

    now = now or utcnow()
    horizon = now + dt.timedelta(days=rotate_days)
    cache_key = (str(factory.kw["bind"].url), profile)
    cached = _SERVICE_CACHE.get(cache_key)
    if cached is not None and time.monotonic() < cached[0] and caller_checks_status:
        return cached[1]
    if cached is not None and time.monotonic() < cached[0]:
        # Another worker may have revoked it: one indexed read keeps every worker honest.
        with transaction(factory) as session:
            still = session.execute(select(IssuedCertificate.status).where(
                IssuedCertificate.id == cached[1].certificate_id)).scalar_one_or_none()
        if still == "good":
            return cached[1]
        _SERVICE_CACHE.pop(cache_key, None)

    def usable(session: Session) -> IssuedCertificate | None:
        issuing = active_ca_row(session, CaRole.ISSUING)
        return session.execute(
            select(IssuedCertificate)
            .where(IssuedCertificate.profile == profile, IssuedCertificate.status == CertStatus.GOOD,
                   IssuedCertificate.issuer_id == issuing.id, IssuedCertificate.key_label.is_not(None),
                   IssuedCertificate.not_after > horizon)
            .order_by(IssuedCertificate.not_after.desc()).limit(1)).scalar_one_or_none()

    def credential(session: Session, row: IssuedCertificate) -> ServiceCredential:
        assert row.key_label is not None
        chain = ca_chain_der(session, active_ca_row(session, CaRole.ISSUING))
        spki = x509.Certificate.load(row.certificate_der).public_key.dump()
        key = settings.section(CaSettings).issuing_key
        return ServiceCredential(row.key_label, row.certificate_der, spki, chain,
                                 scheme_for(spki, key.signature_scheme, key.hash), row.id)

    with transaction(factory) as session:
        row = usable(session)
        if row is not None:
            found = credential(session, row)
            # Kept a few seconds per process: a revoked or rotated credential is replaced
            # everywhere within that time (and at once in the process that revoked it).
            _SERVICE_CACHE[cache_key] = (time.monotonic() + SERVICE_CACHE_SECONDS, found)
            return found
    # The key is announced and made first, outside any transaction (issue 13 item 21, issue 15
    # item 1); destroyed unused when another process made a credential meanwhile.
    key_spec = settings.section(ProfilesSettings).by_name[profile].hsm_key_type
    with issuance.fresh_key(factory, keystore, key_spec, profile) as key:
        with transaction(factory) as session:
            advisory_lock(session, SERVICE_LOCK)
            row = usable(session)
            if row is None:
                req = CertificateRequest(kind="new", profile=profile, agency_id=None, common_name=common_name,
                                         key_source="hsm", key_spec=key_spec,
                                         status=RequestStatus.PENDING, requested_by=f"system:{profile}")
                session.add(req)
                session.flush()
                row = issuance.issue_in_session(session, keystore, settings, req, f"system:{profile}", now, key)
                audit.record(session, actor=f"system:{profile}", action="service-certificate.rotate",
                             target=f"cert:{row.serial_hex}",
                             details={"profile": profile, "not_after": row.not_after.isoformat()})
            return credential(session, row)


# -- an issuing CA under an external root (e.g. the national government CA) -------------------

EXTERNAL_ISSUING = "external-issuing"


class ImportRefused(BadRequest):
    code = "ca-import-refused"


def create_issuing_csr(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, *,
                       actor: str, request_id: str = "") -> bytes:
    """Generate the issuing CA key in the HSM (once) and return a PKCS#10 CSR (PEM) for it,
    signed in the HSM, to be certified by an external root. Asked again, it returns a CSR for
    the same waiting key."""
    ca = settings.section(CaSettings)
    audit.ensure_audit_key(factory, keystore, settings.audit.key_type)
    with transaction(factory) as session:
        advisory_lock(session, CA_INIT_LOCK)
        if is_initialised(session):
            raise CaAlreadyInitialised()
        pending = _waiting_issuing_key(session)
        label = pending.label if pending else f"ca-issuing-{secrets.token_hex(4)}"
        if pending is None:
            session.add(HsmKeyIntent(label=label, purpose=EXTERNAL_ISSUING))
    try:
        info = keystore.find(label)
    except KeyNotFound:
        info = keystore.generate_key_pair(label, KeySpec.parse(ca.issuing_key.key_type))
    scheme = scheme_for(info.public_key_der, ca.issuing_key.signature_scheme, ca.issuing_key.hash)
    cri = asn1_csr.CertificationRequestInfo({
        "version": "v1",
        "subject": _name(ca.issuing_name, "Kyso Issuing CA"),
        "subject_pk_info": keys.PublicKeyInfo.load(info.public_key_der),
        "attributes": [],
    })
    signature = keystore.sign(label, cri.dump(), scheme)
    req = asn1_csr.CertificationRequest({
        "certification_request_info": cri,
        "signature_algorithm": scheme.signature_algorithm(),
        "signature": signature,
    })
    with transaction(factory) as session:
        audit.record(session, actor=actor, action="ca.issuing-csr", target=f"key:{label}",
                     details={"subject": cri["subject"].human_friendly}, request_id=request_id)
    return bytes(pem.armor("CERTIFICATE REQUEST", req.dump()))


def import_issuing(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings,
                   cert_data: bytes, chain_data: bytes, *, actor: str, request_id: str = "",
                   now: dt.datetime | None = None) -> tuple[CaCertificate, CaCertificate]:
    """Install the issuing CA certificate signed by an external root, after checking that it
    certifies the key waiting in the HSM, that it is a CA certificate, and that the chain
    (intermediates, then the root) verifies up to a self-signed root."""
    from cryptography import x509 as cx509

    now = now or utcnow()
    certs = _load_certs(cert_data)
    chain = _load_certs(chain_data)
    if len(certs) != 1 or not chain:
        raise ImportRefused("give one issuing CA certificate and a chain ending at the root",
                            "cần một chứng thư CA cấp phát và chuỗi kết thúc ở CA gốc")
    issuing = certs[0]
    with transaction(factory) as session:
        advisory_lock(session, CA_INIT_LOCK)
        if is_initialised(session):
            raise CaAlreadyInitialised()
        pending = _waiting_issuing_key(session)
        if pending is None:
            raise ImportRefused("no issuing CA key is waiting: run 'kyso ca init --issuing-csr FILE' first",
                                "không có khóa CA cấp phát đang chờ: chạy 'kyso ca init --issuing-csr FILE' trước")
        info = keystore.find(pending.label)
        if issuing.public_key.dump() != info.public_key_der:
            raise ImportRefused("the certificate is not for the issuing CA key in the HSM",
                                "chứng thư không ứng với khóa CA cấp phát trong HSM")
        if not issuing.ca or "key_cert_sign" not in (issuing.key_usage_value.native if issuing.key_usage_value else {
                "key_cert_sign"}):
            raise ImportRefused("the certificate is not a CA certificate allowed to sign certificates",
                                "chứng thư không phải chứng thư CA được phép ký chứng thư")
        path = [issuing, *chain]
        try:
            for child, parent in zip(path, path[1:], strict=False):
                cx509.load_der_x509_certificate(child.dump()).verify_directly_issued_by(
                    cx509.load_der_x509_certificate(parent.dump()))
            root_c = cx509.load_der_x509_certificate(chain[-1].dump())
            root_c.verify_directly_issued_by(root_c)
        except Exception:  # noqa: BLE001 - any failure is the same refusal
            raise ImportRefused("the chain does not verify up to a self-signed root",
                                "chuỗi chứng thư không xác thực được tới CA gốc tự ký") from None
        for c in path:
            if c.not_valid_after < now:
                raise ImportRefused("a certificate of the chain has expired", "một chứng thư trong chuỗi đã hết hạn")
        spec = KeySpec.parse(str(_spec_text(info.public_key_der)))
        scheme_root = SignatureScheme.RSA_PKCS1_SHA256  # informational for external rows
        root_row = _row(CaRole.ROOT, chain[-1], None, _ext_spec(chain[-1]), scheme_root, None, external=True)
        session.add(root_row)
        session.flush()
        parent_id = root_row.id
        for inter in reversed(chain[:-1]):
            row = _row("intermediate", inter, None, _ext_spec(inter), scheme_root, parent_id, external=True)
            session.add(row)
            session.flush()
            parent_id = row.id
        issuing_row = _row(CaRole.ISSUING, issuing, pending.label, spec, scheme_root, parent_id)
        session.add(issuing_row)
        session.delete(pending)
        session.flush()
        audit.record(session, actor=actor, action="ca.import-issuing", target="ca:issuing",
                     details={"subject": issuing_row.subject, "serial": issuing_row.serial_hex,
                              "root": root_row.subject, "key_label": pending.label}, request_id=request_id)
        return _public(root_row), _public(issuing_row)


def _waiting_issuing_key(session: Session) -> HsmKeyIntent | None:
    return session.execute(
        select(HsmKeyIntent).where(HsmKeyIntent.purpose == EXTERNAL_ISSUING)).scalar_one_or_none()


def _load_certs(data: bytes) -> list[x509.Certificate]:
    out = []
    try:
        if pem.detect(data):
            for _type, _headers, der in pem.unarmor(data, multiple=True):
                out.append(x509.Certificate.load(der, strict=True))
        elif data:
            out.append(x509.Certificate.load(data, strict=True))
        for c in out:
            c.native  # noqa: B018 - parse everything now
    except Exception:  # noqa: BLE001
        raise ImportRefused("not X.509 certificates (PEM or DER)",
                            "không phải chứng thư X.509 (PEM hoặc DER)") from None
    return out


def _spec_text(spki_der: bytes) -> str:
    info = keys.PublicKeyInfo.load(spki_der)
    if info.algorithm == "rsa":
        return f"rsa-{info.bit_size}"
    return {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(info.curve[1], "ec-p384")


def _ext_spec(cert: x509.Certificate) -> KeySpec:
    try:
        return KeySpec.parse(_spec_text(cert.public_key.dump()))
    except Exception:  # noqa: BLE001 - an external CA may use a key type we do not issue
        return KeySpec("rsa", cert.public_key.bit_size)


def signing_scheme_of(ca: CaCertificate, settings: Settings) -> SignatureScheme:
    """The scheme this CA's key signs with (ECDSA for EC keys, else the configured RSA one)."""
    ca_settings = settings.section(CaSettings)
    key = ca_settings.root_key if ca.role == CaRole.ROOT else ca_settings.issuing_key
    spki = ca.certificate.public_key.dump()
    return scheme_for(spki, key.signature_scheme, key.hash)
