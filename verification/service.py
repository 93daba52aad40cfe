"""Verification for recipients: PDF (PAdES and PDF signatures) and CMS (detached or
attached), with a report per signature in English and Vietnamese.

The document type comes from the content, never from a file name. pyHanko's validator
judges each signature; its status is mapped to an ETSI EN 319 102-1 indication:

- TOTAL-FAILED: HASH_FAILURE (the signed bytes changed), SIG_CRYPTO_FAILURE (the signature
  value does not verify), REVOKED (revoked at or before the signing time; a key revoked for
  keyCompromise counts as revoked from the entry's invalidity date or, without one, from the
  certificate's notBefore, whatever time the signature claims),
  SIG_CONSTRAINTS_FAILURE (a PDF changed after signing in a way its signer did not allow);
- INDETERMINATE: the chain does not reach a trusted root (NO_CERTIFICATE_CHAIN_FOUND, never
  a pass), revoked after the signing time without proof of existence before it
  (REVOKED_NO_POE), or pyHanko's own sub-indication (expired, out of bounds, ...);
- TOTAL-PASSED otherwise.

Trust: the city's root, the trust anchors a CA admin added (verification/anchors.py: ``kyso trust
add``), and the roots in ``verify.trust_roots`` (PEM or DER files). Revocation: the data embedded in the
document, Kyso's own current CRLs for certificates of this CA (answered in process), and,
unless offline (or ``verify.fetch_revocation = false``), OCSP/CRL fetched over the network for
others, only from the hosts in ``verify.fetch_hosts`` (verification/fetching.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import threading
from collections.abc import Mapping
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import x509
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ca_admin.facade import Agency, IssuedCertificate
from kyso.db import read_transaction
from kyso.errors import Message
from kyso.settings import Settings
from verification.asic import verify_asic
from verification.cms import verify_cms
from verification.detection import detect
from verification.limits import verification_slot
from verification.messages import DOCUMENT_KINDS, STRUCTURE_UNREADABLE
from verification.pdf import verify_pdf
from verification.report import (
    LOCAL,
    ORDER,
    DocumentUnreadable,
    Indication,
    Report,
    SignatureReport,
    document_notes,
    iso,
    met_certificates,
    overall,
)
from verification.settings import VerifySettings
from verification.trust import OWN_CA_NAMES, check_context, trust
from verification.xml import verify_xml

log = logging.getLogger("kyso.verify")


def _parse_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "this file's structure cannot be read" and nothing else."""
    import zipfile

    from lxml import etree
    from pyhanko.pdf_utils.misc import PdfReadError

    return PdfReadError, etree.XMLSyntaxError, zipfile.BadZipFile


def _agency_codes(factory: sessionmaker[Session], reports: list[SignatureReport],
                  certs: dict[str, bytes]) -> None:
    """The agency of each signer whose certificate this CA issued (the same DER, not only
    the same serial: a foreign CA may reuse a serial)."""
    wanted = {r.signer_serial for r in reports if r.signer_serial and r.signer_serial in certs}
    if not wanted:
        return
    with read_transaction(factory) as session:  # one query, whatever the number of signatures
        rows = session.execute(
            select(IssuedCertificate.serial_hex, IssuedCertificate.certificate_der, Agency.code)
            .join(Agency, Agency.id == IssuedCertificate.agency_id)
            .where(IssuedCertificate.serial_hex.in_(sorted(wanted)))).all()
    codes = {serial: code for serial, der, code in rows if certs.get(serial) == der}
    for report in reports:
        if report.signer_serial in codes:
            report.agency_code = codes[report.signer_serial]


def _check(data: bytes, detached: bytes | Mapping[str, bytes] | None, trusted: tuple[Any, Any, Any],
           fetch: bool, parsed_xml: Any = None, moment: dt.datetime | None = None,
           digest: bool = True) -> tuple[Report, dict[str, bytes]]:
    """The verification proper: no database, so that it can run in a bounded child process.
    Returns the report and the signer certificates met, by serial. ``parsed_xml``: the root
    of ``data`` when the caller parsed it already (with verification.xmlsafe). ``detached``: the
    data of a detached CMS, or for XML the detached references' data by file name.
    ``digest=False``: leave document_sha256 empty (verify hashes the document beside the
    check)."""
    met_certificates().clear()
    document_notes().clear()
    LOCAL.crls = trusted[2]  # for the invalidity dates of compromised keys (revoked_from)
    kind, info = ("xml", parsed_xml) if parsed_xml is not None else detect(data)
    vc = check_context(trusted, fetch, moment)
    try:
        if kind == "pdf":
            sigs = verify_pdf(data, vc)
        elif kind in ("asic-e", "asic-s"):
            sigs = verify_asic(data, vc)
        elif kind == "xml":
            sigs = verify_xml(info, vc, detached if isinstance(detached, Mapping) else None)
        else:
            sigs = verify_cms(info, detached if isinstance(detached, bytes) else None, vc)
    except _parse_errors() as exc:
        raise DocumentUnreadable(
            STRUCTURE_UNREADABLE.format(what=DOCUMENT_KINDS.get(kind, Message(kind, kind))),
            log_detail=f"{type(exc).__name__}: {str(exc)[:300]}") from None
    certs = {format(c.serial_number, "x"): c.dump() for c in met_certificates()}
    met_certificates().clear()
    stamp: dict[str, Any] = dict(
        validated_at=iso(moment or dt.datetime.now(dt.UTC)) or "",
        document_sha256=hashlib.sha256(detached if isinstance(detached, bytes) else data).hexdigest() if digest else "",
        notes=list(document_notes()))
    document_notes().clear()
    if not sigs:
        return Report(kind, Indication.INDETERMINATE, "SIGNED_DATA_NOT_FOUND", [], "The document has no signature.",
                      "Tài liệu không có chữ ký.", **stamp), certs
    worst = max(sigs, key=lambda s: ORDER[s.indication])
    en, vi = overall(sigs, worst)
    return Report(kind, worst.indication, worst.sub_indication, sigs, en, vi, **stamp), certs


_WARM: list[bool] = []


_TRUST_CACHE: dict[bytes, tuple[Any, Any, Any]] = {}


def check_with_ders(data: bytes | str, detached: bytes | Mapping[str, bytes] | None,
                    ders: tuple[tuple[bytes, ...], ...], fetch: bool, parsed_xml: Any = None,
                    moment: dt.datetime | None = None, digest: bool = True) -> tuple[Report, dict[str, bytes]]:
    """_check in a bounded helper: the trust inputs arrive as DER and are parsed once per
    helper (a helper serves many checks)."""
    if isinstance(data, str):  # a path: the document was spooled to a private file by the caller
        with open(data, "rb") as f:
            data = f.read()
    key = hashlib.sha256(b"".join(hashlib.sha256(d).digest() for group in ders for d in group) +
                         bytes(len(group) for group in ders)).digest()
    trusted = _TRUST_CACHE.get(key)
    if trusted is None:
        roots, others, crls = ders
        trusted = ([x509.Certificate.load(d) for d in roots], [x509.Certificate.load(d) for d in others],
                   [asn1_crl.CertificateList.load(d) for d in crls])
        _TRUST_CACHE.clear()
        _TRUST_CACHE[key] = trusted
    return _check(data, detached, trusted, fetch, parsed_xml, moment, digest)


def check_undigested(data: bytes | str, detached: bytes | Mapping[str, bytes] | None,
                     ders: tuple[tuple[bytes, ...], ...], fetch: bool) -> tuple[Report, dict[str, bytes]]:
    """check_with_ders without the document's digest, which verify computes beside it."""
    return check_with_ders(data, detached, ders, fetch, digest=False)


class _DigestBeside:
    """The SHA-256 of the document, computed in a thread while the check runs: hashlib
    releases the GIL, so on a second core the digest (6 ms for 10 MB) costs the request
    nothing, whether the check runs in a bounded helper or in this process. ``data`` is the
    document's bytes or the path of its spooled file."""

    def __init__(self, data: bytes | str) -> None:
        self._hash = hashlib.sha256()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(data,), name="kyso-digest", daemon=True)
        self._thread.start()

    def _run(self, data: bytes | str) -> None:
        try:
            if isinstance(data, str):
                with open(data, "rb") as f:
                    while chunk := f.read(1 << 20):
                        self._hash.update(chunk)
            else:
                self._hash.update(data)
        except BaseException as exc:  # noqa: BLE001 - raised again in the request's thread
            self._error = exc

    def hexdigest(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()


def _warm() -> None:
    """Once per process, before the first bounded check: verify a small PDF signed here with
    a throwaway key, so that what pyHanko builds on first use (and every module) is already
    in the parent; each child then starts warm instead of paying for it again."""
    if _WARM:
        return
    _WARM.append(True)
    from asn1crypto import keys
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    now = dt.datetime.now(dt.UTC)

    def cert(cn: str, public: Any, issuer: Any, key: Any, ca: bool) -> Any:
        subject = cx509.Name([cx509.NameAttribute(cx509.oid.NameOID.COMMON_NAME, cn)])
        return (cx509.CertificateBuilder().subject_name(subject)
                .issuer_name(issuer.subject if issuer is not None else subject).public_key(public)
                .serial_number(cx509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(cx509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .add_extension(cx509.KeyUsage(not ca, not ca, False, False, False, ca, ca, False, False), True)
                .sign(key, hashes.SHA256()))

    ser = serialization
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = cert("Kyso warm-up root", root_key.public_key(), None, root_key, True)
    leaf = cert("Kyso warm-up", leaf_key.public_key(), root, root_key, False)
    root_der = x509.Certificate.load(root.public_bytes(ser.Encoding.DER))
    signer = signers.SimpleSigner(
        signing_cert=x509.Certificate.load(leaf.public_bytes(ser.Encoding.DER)),
        signing_key=keys.PrivateKeyInfo.load(leaf_key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8,
                                                                    ser.NoEncryption())),
        cert_registry=SimpleCertificateStore.from_certs([root_der]))
    out = io.BytesIO()
    try:
        signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(minimal_pdf())),
                         signers.PdfSignatureMetadata(field_name="Warm"), signer=signer, output=out)
        _check(out.getvalue(), None, ([root_der], [], []), False)
    except Exception:  # noqa: BLE001 - warming is an optimisation; a failure changes nothing
        log.warning("verify.warm_up_failed", exc_info=True)


def minimal_pdf(catalog_extra: bytes = b"") -> bytes:
    """A one-page PDF made by hand (the warm-up's document; tests add hostile catalog entries)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    at = len(out)
    out += b"xref\n0 4\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % at
    return bytes(out)


def verify(factory: sessionmaker[Session], settings: Settings, data: bytes | str,
           detached: bytes | Mapping[str, bytes] | None = None,
           *, offline: bool = False, bounded: bool = False, seconds: float | None = None) -> Report:
    """Verify a document. ``bounded`` (the API, the public page and the CLI) runs the work in
    a helper process with the time and memory limits of [verify] (``seconds`` instead of
    verify.max_seconds): a hostile file can cost a helper, never the worker."""
    digest = _DigestBeside(detached if isinstance(detached, bytes) else data)
    if bounded:
        report, certs = call_bounded(factory, settings, "verification.service:check_undigested", data, detached,
                                     offline=offline, seconds=seconds)
    else:
        from kyso import bounded as bounded_mod

        if isinstance(data, str):
            with open(data, "rb") as f:
                data = f.read()
        trusted = trust(factory, settings)
        bounded_mod.LIMITS.update(_job_values(settings))
        fetch = not offline and settings.section(VerifySettings).fetch_revocation
        report, certs = _check(data, detached, trusted, fetch, digest=False)
    report.document_sha256 = digest.hexdigest()
    _agency_codes(factory, report.signatures, certs)
    return report


def call_bounded(factory: sessionmaker[Session], settings: Settings, func: str, *args: Any,
                 offline: bool = False, seconds: float | None = None) -> Any:
    """``func(*args, ders, fetch)`` in a bounded helper, with the trust inputs as DER, in
    one of the worker's verification slots; ``seconds`` overrides verify.max_seconds."""
    from kyso import bounded as bounded_mod

    conf = settings.section(VerifySettings)
    with verification_slot(settings):
        trusted = trust(factory, settings)
        _warm()
        ders = tuple(tuple(item.dump() for item in group) for group in trusted)
        return bounded_mod.call(func, *args, ders, not offline and conf.fetch_revocation,
                                seconds=seconds or conf.max_seconds,
                                memory_bytes=conf.max_memory_mb * 1024 * 1024,
                                limits=_job_values(settings))


def _job_values(settings: Settings) -> dict[str, Any]:
    """What a check needs from the worker besides its arguments (bounded.limit / given)."""
    conf = settings.section(VerifySettings)
    return {"max_signatures": conf.max_signatures, "own_ca_names": sorted(OWN_CA_NAMES),
            "fetch_hosts": list(conf.fetch_hosts)}


name_agencies = _agency_codes
