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

Trust: the city's root, the trust anchors a CA admin added (signer/trust.py: ``kyso trust
add``), and the roots in ``verify.trust_roots`` (PEM or DER files). Revocation: the data embedded in the
document, Kyso's own current CRLs for certificates of this CA (answered in process), and,
unless offline (or ``verify.fetch_revocation = false``), OCSP/CRL fetched over the network for
others, only from the hosts in ``verify.fetch_hosts`` (signer/fetching.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import glob
import hashlib
import io
import logging
import math
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from asn1crypto import cms, core, pem, x509
from asn1crypto import crl as asn1_crl
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ca_admin.facade import Agency, CertificateAuthority, IssuedCertificate
from kyso.db import read_transaction
from kyso.errors import KysoError
from kyso.settings import Settings

VN = ZoneInfo("Asia/Ho_Chi_Minh")
log = logging.getLogger("kyso.verify")
_LOCAL = threading.local()  # signer certificates met by the check running in this thread


def _seen() -> list[x509.Certificate]:
    if not hasattr(_LOCAL, "certs"):
        _LOCAL.certs = []
    certs: list[x509.Certificate] = _LOCAL.certs
    return certs


def _notes() -> list[dict[str, str]]:
    """Findings about the document as a whole met by the check running in this thread (en, vi)."""
    if not hasattr(_LOCAL, "notes"):
        _LOCAL.notes = []
    notes: list[dict[str, str]] = _LOCAL.notes
    return notes


REPAIRED_PDF = {"en": "The PDF was repaired when read (its cross-reference table was damaged).",
                "vi": "Tệp PDF đã được sửa khi đọc (bảng tham chiếu chéo của tệp bị hỏng)."}

ORDER = {"TOTAL-PASSED": 0, "INDETERMINATE": 1, "TOTAL-FAILED": 2}


class UnsupportedDocument(KysoError):
    code = "unsupported-document"
    status = 422
    title_en = "Unsupported document"


class DocumentUnreadable(KysoError):
    """A document of a known type whose structure cannot be read (a parse error met while
    checking it): the report cannot be made, and the caller is told what could not be read.
    Not a limit (document-too-complex) and not a bug (500 with an incident id)."""

    code = "document-unreadable"
    status = 422
    title_en = "Document unreadable"


def _parse_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "this file's structure cannot be read" and nothing else."""
    import zipfile

    from lxml import etree
    from pyhanko.pdf_utils.misc import PdfReadError

    return PdfReadError, etree.XMLSyntaxError, zipfile.BadZipFile


_WHAT_EN = {"pdf": "PDF file", "cms": "CMS signature", "xml": "XML file", "asic-e": "ASiC container",
            "asic-s": "ASiC container"}
_WHAT_VI = {"pdf": "tệp PDF", "cms": "chữ ký CMS", "xml": "tệp XML", "asic-e": "gói ASiC", "asic-s": "gói ASiC"}


class UnsupportedFormat(KysoError):
    """Content of no type Kyso verifies (415); a known type that is broken is a 422."""

    code = "unsupported-format"
    status = 415
    title_en = "Unsupported format"


@dataclass
class SignatureReport:
    kind: str  # pdf | pdf-timestamp | cms
    field: str | None
    signer: str
    agency_code: str | None
    chain: list[str]
    claimed_signing_time: str | None
    timestamp_time: str | None
    level: str
    integrity: bool
    signature_valid: bool
    trusted: bool
    revocation: dict[str, Any]
    coverage: dict[str, Any]
    indication: str
    sub_indication: str | None
    summary_en: str
    summary_vi: str
    problems: list[dict[str, str]] = dc_field(default_factory=list)
    signer_serial: str | None = None
    # The signer's organisation (O of the certificate) and each certificate of the path,
    # signer first: subject, issuer, serial, validity (the readable report shows them).
    signer_organization: str | None = None
    certificates: list[dict[str, Any]] = dc_field(default_factory=list)

    def __post_init__(self) -> None:
        # pyHanko's field names are string objects that keep their whole reader (and the
        # document) alive: keep plain strings, or a report pickled back from the bounded
        # child would carry the document with it.
        self.field = None if self.field is None else str(self.field)
        self.signer = str(self.signer)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Report:
    document_type: str
    indication: str
    sub_indication: str | None
    signatures: list[SignatureReport] = field(default_factory=list)
    summary_en: str = ""
    summary_vi: str = ""
    validated_at: str = ""  # when the check ran (or the time it was asked to judge at)
    document_sha256: str = ""  # of the document: the signed data for a detached CMS
    notes: list[dict[str, str]] = field(default_factory=list)  # about the document as read, {"en", "vi"}

    def to_json(self) -> dict[str, Any]:
        return {"document_type": self.document_type, "indication": self.indication,
                "sub_indication": self.sub_indication, "summary_en": self.summary_en,
                "summary_vi": self.summary_vi, "signatures": [s.to_json() for s in self.signatures],
                "validated_at": self.validated_at, "document_sha256": self.document_sha256,
                "notes": [dict(n) for n in self.notes]}

    @property
    def exit_code(self) -> int:
        return {"TOTAL-PASSED": 0, "TOTAL-FAILED": 1}.get(self.indication, 2)


# -- trust -------------------------------------------------------------------------------------------

def _load_certs(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    if pem.detect(data):
        return [x509.Certificate.load(der) for kind, _h, der in pem.unarmor(data, multiple=True)
                if kind == "CERTIFICATE"]
    return [x509.Certificate.load(data)]


_PARSED: dict[tuple[Any, ...], Any] = {}  # parsed CA certificates and CRLs, per process
_OWN_CA_NAMES: set[str] = set()  # this CA's subjects (normalised), met by trust()
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
        cached = _FILES[name] = (mtime, _load_certs(Path(name)))
    return cached[1]


def trust(factory: sessionmaker[Session], settings: Settings) -> tuple[list[x509.Certificate],
                                                                         list[x509.Certificate],
                                                                         list[asn1_crl.CertificateList]]:
    """Trust roots, other CA certificates, and the newest CRL of each Kyso CA: one
    read transaction of a few small queries; the DER of a row is read and parsed once per process."""
    from ca_admin.facade import PublishedCrl
    from signer.trust import TrustAnchor

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
            _OWN_CA_NAMES.add(cert.subject.hashable)
            (roots if cert.self_signed == "maybe" or cert.subject == cert.issuer else others).append(cert)
        for crl_id, issuer_id, number, this_update in crl_rows:
            crls.append(_parsed(("crl", cas[issuer_id], number, this_update), lambda i=crl_id: (
                asn1_crl.CertificateList.load(session.execute(
                    select(PublishedCrl.der).where(PublishedCrl.id == i)).scalar_one()))))
        # Trust anchors a CA admin added (signer/trust.py), parsed once per process each.
        for (sha256,) in session.execute(select(TrustAnchor.sha256)).all():
            roots.append(_parsed(("anchor", sha256), lambda h=sha256: x509.Certificate.load(session.execute(
                select(TrustAnchor.certificate_der).where(TrustAnchor.sha256 == h)).scalar_one())))
    for pattern in settings.verify.trust_roots:
        for name in sorted(glob.glob(pattern)):
            roots.extend(_trust_file(name))
    return roots, others, crls


def _context(trusted: tuple[Any, Any, Any], fetch: bool, moment: dt.datetime | None = None) -> Any:
    """``moment``: validate as of that time instead of now (the foreign corpus replays each
    source project's tests at the time they assert, when the test PKI was still valid)."""
    from pyhanko_certvalidator import ValidationContext

    roots, others, crls = trusted
    if not fetch:
        return ValidationContext(trust_roots=roots, other_certs=others, crls=crls, allow_fetching=False,
                                 revocation_mode="soft-fail", moment=moment)
    from kyso.bounded import given
    from signer.fetching import HostPolicy, guarded_fetchers

    # Fetchers built here (requests, no aiohttp session left open): this CA's certificates
    # answered from its CRL, anything else only from verify.fetch_hosts (signer/fetching.py).
    fetchers = guarded_fetchers(HostPolicy(given("fetch_hosts", ())), set(given("own_ca_names", ())), crls)
    return ValidationContext(trust_roots=roots, other_certs=others, crls=crls, allow_fetching=True,
                             revocation_mode="soft-fail", fetchers=fetchers, moment=moment)


# -- detection ---------------------------------------------------------------------------------------

def _as_cms(der: bytes) -> Any:
    """The ContentInfo of a CMS SignedData, or None."""
    try:
        info = cms.ContentInfo.load(der, strict=False)
        if info["content_type"].native != "signed_data":
            return None
        # Parse the structure now (a malformed one is not CMS), without .native on the
        # whole: with pyHanko loaded, asn1crypto re-encodes each mutated parent and
        # that costs seconds on a time-stamped signature.
        for si in info["content"]["signer_infos"]:
            si["sid"].native  # noqa: B018
            si["signature"].native  # noqa: B018
        return info
    except (ValueError, TypeError, KeyError):
        return None


def detect(data: bytes) -> tuple[str, Any]:
    """('pdf', None), ('asic-e' or 'asic-s', None), ('xml', root element) or ('cms', ContentInfo); the
    content decides, never a name. A DER CMS is recognised before the PDF header is looked
    for: a CMS that signs a PDF carries '%PDF-' in its first kilobyte (issue 14, item 8)."""
    from signer import xmlsafe
    from signer.asic import container_type

    if data[:1] == b"\x30" and (info := _as_cms(data)) is not None:
        return "cms", info
    if b"%PDF-" in data[:1024]:
        return "pdf", None
    if (asic := container_type(data)) is not None:
        return asic, None
    if xmlsafe.looks_like_xml(data):
        return "xml", xmlsafe.parse(data)
    stripped = data.strip()
    der = None
    if pem.detect(stripped):
        try:
            der = pem.unarmor(stripped)[2]
        except ValueError:
            pass
    elif stripped[:1] == b"M":  # base64 of a DER SEQUENCE
        try:
            der = base64.b64decode(stripped, validate=False)
        except (binascii.Error, ValueError):
            pass
    for candidate in (der, data):
        if candidate is not None and (info := _as_cms(candidate)) is not None:
            return "cms", info
    raise UnsupportedFormat("not a PDF, CMS signature, XML document or ASiC container",
                            "không phải PDF, chữ ký CMS, tài liệu XML hay gói ASiC")


# -- one signature -----------------------------------------------------------------------------------

def _name(cert: x509.Certificate) -> str:
    names = cert.subject.native
    return str(names.get("common_name") or cert.subject.human_friendly)


def _organization(cert: x509.Certificate) -> str | None:
    org = cert.subject.native.get("organization_name")
    if isinstance(org, list):
        org = ", ".join(str(o) for o in org)
    return str(org) if org else None


def _cert_info(cert: x509.Certificate) -> dict[str, Any]:
    validity = cert["tbs_certificate"]["validity"]
    return {"subject": _name(cert), "organization": _organization(cert), "issuer": _issuer_name(cert),
            "serial": format(cert.serial_number, "X"),
            "not_before": _iso(validity["not_before"].native), "not_after": _iso(validity["not_after"].native)}


def _issuer_name(cert: x509.Certificate) -> str:
    names = cert.issuer.native
    return str(names.get("common_name") or cert.issuer.human_friendly)


def _path_info(path: Any, cert: x509.Certificate) -> list[dict[str, Any]]:
    """Each certificate of the validation path, signer first (or the signer's alone)."""
    certs = list(path) if path is not None else [cert]
    return [_cert_info(c) for c in reversed(certs)] if certs and certs[-1] == cert else [_cert_info(c) for c in certs]


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(VN).isoformat(timespec="seconds") if value else None


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


def revoked_from(cert: x509.Certificate, revoked_at: dt.datetime, reason: str | None,
                 ca_revoked: bool = False) -> dt.datetime:
    """From when a revocation counts against a signature. The revocation date, except for a
    compromised key: a signature's claimed time proves nothing, and whoever held the key
    could have made it at any time, so a keyCompromise (or caCompromise) revocation counts
    from its invalidity date when the CRL gives one (never later than the revocation), and
    without one from the start of the certificate's validity."""
    if reason not in ("key_compromise", "ca_compromise"):
        return revoked_at
    invalidity = None if ca_revoked else _invalidity_date(cert)
    if invalidity is not None:
        return min(invalidity, revoked_at)
    return min(cert.not_valid_before, revoked_at)


def revoked_when_signed(cert: x509.Certificate, revoked_from_: dt.datetime, signing_time: dt.datetime | None) -> bool:
    """Whether the revocation (counting from ``revoked_from_``) precedes the signing time. No
    signature is older than its certificate: a claimed time before notBefore counts as the
    certificate's start."""
    if signing_time is None:
        return True
    return revoked_from_ <= max(signing_time, cert.not_valid_before)


def _invalidity_date(cert: x509.Certificate) -> dt.datetime | None:
    """The invalidity date of the certificate's entry in a CRL this check knows (Kyso's own)."""
    for crl in getattr(_LOCAL, "crls", ()):
        tbs = crl["tbs_cert_list"]
        if tbs["issuer"] != cert.issuer:
            continue
        for entry in tbs["revoked_certificates"]:
            if entry["user_certificate"].native == cert.serial_number:
                value = entry.invalidity_date_value
                return value.native if value is not None else None
    return None


def _indication(status: Any, signing_time: dt.datetime | None, pdf_ok: bool) -> tuple[str, str | None]:
    if not status.intact:
        return "TOTAL-FAILED", "HASH_FAILURE"
    if not status.valid:
        return "TOTAL-FAILED", "SIG_CRYPTO_FAILURE"
    if status.revoked:
        details = status.revocation_details
        revoked_at = revoked_from(status.signing_cert, details.revocation_date, details.revocation_reason.native,
                                  details.ca_revoked)
        if revoked_when_signed(status.signing_cert, revoked_at, signing_time):
            return "TOTAL-FAILED", "REVOKED"
        return "INDETERMINATE", "REVOKED_NO_POE"
    if not pdf_ok:  # a document changed against its signer's will fails whoever signed it
        return "TOTAL-FAILED", "SIG_CONSTRAINTS_FAILURE"
    if not status.trusted:
        indic = getattr(status.trust_problem_indic, "name", None)
        return "INDETERMINATE", indic or "NO_CERTIFICATE_CHAIN_FOUND"
    ts = getattr(status, "timestamp_validity", None)
    if ts is not None and not (ts.intact and ts.valid and ts.trusted):
        return "INDETERMINATE", "NO_POE"  # the time stamp proves nothing
    return "TOTAL-PASSED", None


_VI = {
    "TOTAL-PASSED": "Chữ ký hợp lệ", "TOTAL-FAILED": "Chữ ký không hợp lệ",
    "INDETERMINATE": "Chưa xác định được chữ ký",
}
_SUB_VI = {
    "HASH_FAILURE": "nội dung đã bị sửa đổi sau khi ký",
    "SIG_CRYPTO_FAILURE": "giá trị chữ ký không khớp",
    "REVOKED": "chứng thư số đã bị thu hồi trước thời điểm ký",
    "REVOKED_NO_POE": "chứng thư số bị thu hồi sau thời điểm ký nhưng thiếu bằng chứng thời gian",
    "SIG_CONSTRAINTS_FAILURE": "tài liệu bị thay đổi sau khi ký theo cách người ký không cho phép",
    "NO_CERTIFICATE_CHAIN_FOUND": "không dựng được chuỗi chứng thư tới gốc tin cậy",
    "OUT_OF_BOUNDS_NO_POE": "chứng thư số hết hạn hoặc chưa có hiệu lực tại thời điểm kiểm tra",
    "CHAIN_CONSTRAINTS_FAILURE": "chuỗi chứng thư vi phạm ràng buộc",
    "SIGNED_DATA_NOT_FOUND": "không tìm thấy chữ ký",
    "NO_POE": "dấu thời gian không hợp lệ nên không chứng minh được thời điểm ký",
    "FORMAT_FAILURE": "chữ ký sai định dạng",
    "NO_SIGNING_CERTIFICATE_FOUND": "không tìm thấy chứng thư số của người ký",
}
_SUB_EN = {
    "HASH_FAILURE": "the content changed after signing",
    "SIG_CRYPTO_FAILURE": "the signature value does not verify",
    "REVOKED": "the certificate was revoked at or before the signing time",
    "REVOKED_NO_POE": "the certificate was revoked after the signing time, with no proof the signature existed before",
    "SIG_CONSTRAINTS_FAILURE": "the document was changed after signing in a way its signer did not allow",
    "NO_CERTIFICATE_CHAIN_FOUND": "no chain to a trusted root",
    "OUT_OF_BOUNDS_NO_POE": "the certificate is expired or not yet valid at the validation time",
    "CHAIN_CONSTRAINTS_FAILURE": "the certificate chain breaks a constraint",
    "SIGNED_DATA_NOT_FOUND": "no signature found",
    "NO_POE": "the time stamp is not valid, so it proves no signing time",
    "FORMAT_FAILURE": "the signature is malformed",
    "NO_SIGNING_CERTIFICATE_FOUND": "the signer's certificate is not found",
}


def _summaries(indication: str, sub: str | None, signer: str, when: str | None,
               problem: Any = None, *, stamp: bool = False) -> tuple[str, str]:
    """One sentence per language: the verdict, who, when (dd/mm/yyyy HH:MM, Vietnam time) and
    why. ``stamp``: a document time stamp, not a signature."""
    from signer.readable import when as spoken

    if stamp:
        en = {"TOTAL-PASSED": "Valid document time stamp", "TOTAL-FAILED": "Invalid document time stamp",
              "INDETERMINATE": "Unconfirmed document time stamp"}[indication]
        vi = {"TOTAL-PASSED": "Dấu thời gian hợp lệ", "TOTAL-FAILED": "Dấu thời gian không hợp lệ",
              "INDETERMINATE": "Chưa xác định được dấu thời gian"}[indication]
        en += (f" from {signer}" if signer else "") + (f", stamped {spoken(when, 'en')}" if when else "")
        vi += (f" của {signer}" if signer else "") + (f", đóng dấu lúc {spoken(when, 'vi')}" if when else "")
    else:
        en = {"TOTAL-PASSED": "Valid signature", "TOTAL-FAILED": "Invalid signature",
              "INDETERMINATE": "Unconfirmed signature"}[indication]
        en += (f" by {signer}" if signer else "") + (f", signed {spoken(when, 'en')}" if when else "")
        vi = _VI[indication] + (f" của {signer}" if signer else "") + (f", ký lúc {spoken(when, 'vi')}" if when else "")
    if problem is not None:
        en += f": {problem.en}"
        vi += f": {problem.vi}"
    elif sub:
        en += f": {_SUB_EN.get(sub, sub.lower().replace('_', ' '))}"
        vi += f": {_SUB_VI.get(sub, 'lý do kỹ thuật ' + sub)}"
    return en + ".", vi + "."


def _overall(sigs: list[SignatureReport], worst: SignatureReport) -> tuple[str, str]:
    """The document's verdict in words: signatures counted apart from document time stamps."""
    signatures = [s for s in sigs if s.kind != "pdf-timestamp"]
    stamps = [s for s in sigs if s.kind == "pdf-timestamp"]
    n, passed = len(signatures), sum(s.indication == "TOTAL-PASSED" for s in signatures)
    if worst.indication == "TOTAL-PASSED":
        en = signatures[0].summary_en if n == 1 else f"All {n} signatures are valid." if n else ""
        vi = signatures[0].summary_vi if n == 1 else f"Tất cả {n} chữ ký đều hợp lệ." if n else ""
        if stamps:
            en += " The document time stamp is valid." if len(stamps) == 1 else \
                f" The {len(stamps)} document time stamps are valid."
            vi += " Dấu thời gian của tài liệu hợp lệ." if len(stamps) == 1 else \
                f" {len(stamps)} dấu thời gian của tài liệu đều hợp lệ."
        return en.strip(), vi.strip()
    if n <= 1 or worst.kind == "pdf-timestamp" and passed == n:
        return worst.summary_en, worst.summary_vi
    return (f"{passed} of {n} signatures are valid. {worst.summary_en}",
            f"{passed} trên {n} chữ ký hợp lệ. {worst.summary_vi}")


def _report(status: Any, kind: str, field_name: str | None, level: str,
            coverage: dict[str, Any], pdf_ok: bool = True) -> SignatureReport:
    cert = status.signing_cert
    _seen().append(cert)
    claimed = getattr(status, "signer_reported_dt", None)
    ts = getattr(status, "timestamp_validity", None)
    ts_time = ts.timestamp if ts is not None else None
    # A time stamp that does not verify proves nothing: the signer's own claim stands alone.
    signing_time = ts_time if ts is not None and ts.intact and ts.valid and ts.trusted else claimed
    indication, sub = _indication(status, signing_time, pdf_ok)
    chain = [_name(c) for c in status.validation_path] if status.validation_path is not None else [_name(cert)]
    revocation: dict[str, Any] = {"revoked": status.revoked}
    if status.revoked:
        details = status.revocation_details
        revocation.update(date=_iso(details.revocation_date), reason=details.revocation_reason.native,
                          ca_revoked=details.ca_revoked,
                          counts_from=_iso(revoked_from(cert, details.revocation_date,
                                                        details.revocation_reason.native, details.ca_revoked)))
    signer = _name(cert)
    en, vi = _summaries(indication, sub, signer, _iso(signing_time))
    return SignatureReport(
        kind=kind, field=field_name, signer=signer, agency_code=None, chain=chain,
        signer_serial=format(cert.serial_number, "x"),
        claimed_signing_time=_iso(claimed), timestamp_time=_iso(ts_time), level=level,
        integrity=bool(status.intact), signature_valid=bool(status.valid), trusted=bool(status.trusted),
        revocation=revocation, coverage=coverage, indication=indication, sub_indication=sub,
        summary_en=en, summary_vi=vi, signer_organization=_organization(cert),
        certificates=_path_info(status.validation_path, cert))


def _broken(field_name: str | None, problem: Any, kind: str = "pdf") -> SignatureReport:
    """A signature that cannot even be checked: TOTAL-FAILED, with what is wrong."""
    en, vi = _summaries("TOTAL-FAILED", problem.sub_indication, "", None, problem)
    return SignatureReport(
        kind=kind, field=field_name, signer="-", agency_code=None, chain=[], claimed_signing_time=None,
        timestamp_time=None, level="-", integrity=False, signature_valid=False, trusted=False,
        revocation={"revoked": False}, coverage={}, indication="TOTAL-FAILED", sub_indication=problem.sub_indication,
        summary_en=en, summary_vi=vi, problems=[problem.to_json()])


def _not_checked(field_name: str | None, exc: BaseException, kind: str = "pdf") -> SignatureReport:
    """A signature whose check failed unexpectedly (a bug, or a part Kyso cannot read): that
    signature alone is INDETERMINATE with a finding, the others are judged normally (issue 14,
    item 3). Logged with its traceback under an incident id, as the app does for a 500."""
    from signer.pdf_checks import Problem

    incident = uuid.uuid4().hex[:12]
    log.error("verify.signature_not_checked %s", type(exc).__name__, exc_info=exc, extra={"incident_id": incident})
    problem = Problem("SIGNATURE_NOT_CHECKED", f"this signature could not be checked (incident {incident})",
                      f"không kiểm tra được chữ ký này (mã sự cố {incident})")
    report = _indeterminate(field_name, problem, kind=kind)
    report.problems[0]["incident_id"] = incident
    return report


def _with_problems(report: SignatureReport, problems: list[Any]) -> SignatureReport:
    """Kyso's own findings turn a verdict that would pass (or be indeterminate) into a failure."""
    if not problems:
        return report
    report.problems.extend(p.to_json() for p in problems)
    # A broken structure is the root cause of whatever else failed; other findings only
    # add to a failure that has its own reason.
    if report.indication != "TOTAL-FAILED" or problems[0].sub_indication == "FORMAT_FAILURE":
        report.indication, report.sub_indication = "TOTAL-FAILED", problems[0].sub_indication
        report.summary_en, report.summary_vi = _summaries(
            "TOTAL-FAILED", report.sub_indication, report.signer, report.timestamp_time or report.claimed_signing_time,
            problems[0])
    return report


def _timestamp_report(sig: Any, vc: Any) -> SignatureReport:
    from pyhanko.sign.validation import validate_pdf_timestamp

    ts, diff_error = _validated(lambda s, v, **kw: validate_pdf_timestamp(s, validation_context=v, **kw), sig, vc)
    unanalysed = _unanalysed(ts) if diff_error else None
    ok = ts.intact and ts.valid and ts.trusted
    ind, sub = ("TOTAL-PASSED", None) if ok else (
        ("TOTAL-FAILED", "HASH_FAILURE") if not ts.intact else
        ("TOTAL-FAILED", "SIG_CRYPTO_FAILURE") if not ts.valid else
        ("INDETERMINATE", getattr(ts.trust_problem_indic, "name", None) or "NO_CERTIFICATE_CHAIN_FOUND"))
    if unanalysed is not None and ind == "TOTAL-PASSED":
        ind = "INDETERMINATE"
    en, vi = _summaries(ind, sub, _name(ts.signing_cert), _iso(ts.timestamp), unanalysed if ok else None,
                        stamp=True)
    return SignatureReport(
        kind="pdf-timestamp", field=sig.field_name, signer=_name(ts.signing_cert), agency_code=None,
        chain=[_name(c) for c in ts.validation_path] if ts.validation_path else [],
        claimed_signing_time=None, timestamp_time=_iso(ts.timestamp), level="document time stamp",
        integrity=bool(ts.intact), signature_valid=bool(ts.valid), trusted=bool(ts.trusted),
        revocation={"revoked": False}, coverage={"coverage": ts.coverage.name if ts.coverage else None},
        indication=ind, sub_indication=sub, summary_en=en, summary_vi=vi,
        problems=[unanalysed.to_json()] if unanalysed is not None else [],
        signer_organization=_organization(ts.signing_cert),
        certificates=_path_info(ts.validation_path, ts.signing_cert))


_SIGNER_INDEX: Any = None  # contextvars.ContextVar[int | None], made on first use (see _embedded)


def _embedded(reader: Any, item: Any) -> list[Any]:
    """pyHanko's EmbeddedPdfSignature for a signature field: one per SignerInfo. A PDF
    signature's CMS may hold several (RFC 5652 5.1 allows it; some signing tools add a
    second signer); pyHanko accepts exactly one, so each SignerInfo is judged on its own,
    as a copy of the SignedData that holds only it."""
    import contextvars

    from asn1crypto import cms as asn1_cms
    from pyhanko.sign.validation import pdf_embedded

    global _SIGNER_INDEX
    if _SIGNER_INDEX is None:
        _SIGNER_INDEX = contextvars.ContextVar("kyso_signer_index", default=None)
        original = pdf_embedded.extract_signer_info

        def chosen(signed_data: Any) -> Any:
            index = _SIGNER_INDEX.get()
            return original(signed_data) if index is None else signed_data["signer_infos"][index]

        pdf_embedded.extract_signer_info = chosen  # only EmbeddedPdfSignature.__init__ looks it up there
    contents = pdf_embedded.extract_contents(item.sig_ref.get_object())
    count = len(asn1_cms.ContentInfo.load(contents)["content"]["signer_infos"])
    if count <= 1:
        sig = pdf_embedded.EmbeddedPdfSignature(reader, item.field, item.name)
        if _is_timestamp(sig) and sig.sig_object_type != "/DocTimeStamp":
            sig.__class__ = _any_type_timestamp()
        _plain_ecdsa_as_der(sig.signer_info)
        return [sig]
    out = []
    for index in range(count):
        token = _SIGNER_INDEX.set(index)
        try:
            sig = pdf_embedded.EmbeddedPdfSignature(reader, item.field, item.name)
        finally:
            _SIGNER_INDEX.reset(token)
        one = asn1_cms.SignedData.load(sig.signed_data.untag().dump())
        one["signer_infos"] = [asn1_cms.SignerInfo.load(sig.signer_info.dump())]
        sig.signed_data, sig.signer_info = one, one["signer_infos"][0]
        _plain_ecdsa_as_der(sig.signer_info)
        label = f"{item.name} (SignerInfo {index + 1} of {count})"
        sig.kyso_label = label  # type: ignore[attr-defined]
        out.append(sig)
    return out


# BSI TR-03111 "plain" ECDSA (r || s instead of a DER SEQUENCE), as German and other
# eIDAS signature cards make it: the same signature, another encoding.
_PLAIN_ECDSA = {f"0.4.0.127.0.7.1.1.4.1.{n}": f"{h}_ecdsa"
                for n, h in ((1, "sha1"), (2, "sha224"), (3, "sha256"), (4, "sha384"), (5, "sha512"))}


def _plain_ecdsa_as_der(signer_info: Any) -> None:
    """Re-encode a plain-ECDSA signature value as the DER ECDSA-Sig-Value pyHanko checks
    (in place: the SignedData that holds this SignerInfo is what pyHanko validates)."""
    from asn1crypto import algos

    algorithm = signer_info["signature_algorithm"]["algorithm"].dotted
    if algorithm not in _PLAIN_ECDSA:
        return
    value = signer_info["signature"].native
    signer_info["signature_algorithm"] = {"algorithm": _PLAIN_ECDSA[algorithm]}
    signer_info["signature"] = algos.DSASignature.from_p1363(value).dump()


_ANY_TYPE_TIMESTAMP: list[type] = []


def _any_type_timestamp() -> type:
    """EmbeddedPdfSignature for a document time stamp whose dictionary says /Type /Sig or
    nothing (DSS's test files, and tools that copy a signature dictionary): its RFC 3161
    /SubFilter makes it a time stamp, and pyHanko's time stamp check wants the type."""
    if not _ANY_TYPE_TIMESTAMP:
        from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

        class DocTimeStampOfAnyType(EmbeddedPdfSignature):
            @property
            def sig_object_type(self) -> Any:
                from pyhanko.pdf_utils.generic import pdf_name

                return pdf_name("/DocTimeStamp")

        _ANY_TYPE_TIMESTAMP.append(DocTimeStampOfAnyType)
    return _ANY_TYPE_TIMESTAMP[0]


def _open_encrypted(reader: Any) -> None:
    """An encrypted PDF opens with the empty user password (the common case: only an owner
    password restricts editing or printing). Anything else Kyso cannot read, and says why."""
    from pyhanko.pdf_utils.crypt import AuthStatus, StandardSecurityHandler
    from pyhanko.pdf_utils.misc import PdfError

    if not isinstance(reader.security_handler, StandardSecurityHandler):
        raise DocumentUnreadable(
            "the PDF file is encrypted for particular recipients (with their certificates); Kyso cannot open it",
            "tệp PDF được mã hóa cho người nhận cụ thể (bằng chứng thư số của họ); Kyso không mở được")
    try:
        result = reader.decrypt(b"")
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise DocumentUnreadable("the PDF file's encryption cannot be read", "không đọc được phần mã hóa của tệp PDF",
                                 log_detail=f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if result.status == AuthStatus.FAILED:
        raise DocumentUnreadable("the PDF file is protected by a password to open it; Kyso cannot read it",
                                 "tệp PDF được bảo vệ bằng mật khẩu mở tệp; Kyso không đọc được")


def _verify_pdf(data: bytes, vc: Any) -> list[SignatureReport]:
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    from signer import pdf_checks

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            _open_encrypted(reader)
        found = pdf_checks.collect(reader)
        signature_fields = {name for name, _v, _f in enumerate_sig_fields(reader)}
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise DocumentUnreadable("the structure of the PDF file cannot be read", "không đọc được cấu trúc tệp PDF",
                                 log_detail=type(exc).__name__) from None
    if _repaired(data):
        _notes().append(dict(REPAIRED_PDF))
    check_signature_count(len(found))
    file_problem = pdf_checks.tail_problem(data, reader)
    sigs: list[tuple[Any, Any]] = []
    out: list[SignatureReport] = []
    for item in found:
        try:
            sig_object = item.sig_ref.get_object()
            unsupported = pdf_checks.subfilter_problem(sig_object)
            if unsupported is not None:
                # Not judged, so INDETERMINATE; the file's own findings still fail it.
                out.append(_with_problems(_indeterminate(item.name, unsupported), _findings(item, file_problem)))
                continue
            problem = pdf_checks.byte_range_problem(data, sig_object)
            if problem is None and sig_object.get("/SubFilter") == "/adbe.x509.rsa_sha1":
                out.append(_with_problems(_x509_rsa_sha1(data, item.name, sig_object, vc),
                                          _findings(item, file_problem)))
                continue
            if problem is None:
                sigs.extend((item, sig) for sig in _embedded(reader, item))
                continue
        except (PdfError, ValueError, KeyError, TypeError, AttributeError):
            problem = pdf_checks.Problem("FORMAT_FAILURE", "the signature dictionary cannot be read",
                                         "không đọc được từ điển chữ ký")
        out.append(_broken(item.name, problem))
    sigs.sort(key=lambda pair: pair[1].signed_revision)
    docmdp = min((e.docmdp_level for _i, e in sigs if e.docmdp_level is not None), default=None)
    doc_ts = [e for _i, e in sigs if _is_timestamp(e)]
    has_dss = "/DSS" in reader.root
    for index, (item, sig) in enumerate(sigs):
        try:
            report = _judge_pdf(index, item, sig, sigs, file_problem, doc_ts, has_dss, signature_fields, docmdp, vc)
        except (KysoError, MemoryError, RecursionError):
            raise  # a limit or a refusal is the whole document's answer
        except Exception as exc:  # noqa: BLE001 - one signature's failure is that signature's finding
            report = _not_checked(item.name, exc)
        report.field = getattr(sig, "kyso_label", report.field)
        out.append(report)
    return out


def _repaired(data: bytes) -> bool:
    """Whether the PDF's cross-reference data reads only leniently: Kyso reads every PDF with
    pyHanko's non-strict reader (issue 14, item 4), which finds a misplaced xref section, and
    tolerates sizes and entries that break ISO 32000; the strict reader refuses such a file.
    The report says so: the document judged is the one the lenient reader rebuilt."""
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        PdfFileReader(io.BytesIO(data), strict=True)
    except (PdfReadError, ValueError, KeyError, TypeError):
        return True
    return False


def _findings(item: Any, file_problem: Any) -> list[Any]:
    """Kyso's findings on the file that hold for every signature in it: bytes after the last
    revision, and a signature removed or hidden by a later update."""
    from signer import pdf_checks

    problems = [p for p in (file_problem,) if p is not None]
    if not item.in_last_revision:
        problems.append(pdf_checks.removed_problem())
    return problems


def _is_timestamp(sig: Any) -> bool:
    """A document time stamp: /Type /DocTimeStamp, or the RFC 3161 /SubFilter in a dictionary
    whose /Type says otherwise or nothing (some tools write /Sig or leave it out)."""
    return bool(sig.sig_object_type == "/DocTimeStamp" or sig.sig_object.get("/SubFilter") == "/ETSI.RFC3161")


def _indeterminate(field_name: str | None, problem: Any, kind: str = "pdf") -> SignatureReport:
    """A signature Kyso cannot judge (something it does not support, or that is missing):
    INDETERMINATE with a sentence saying what; never a failure without evidence."""
    report = _broken(field_name, problem, kind=kind)
    report.indication = "INDETERMINATE"
    report.summary_en, report.summary_vi = _summaries("INDETERMINATE", problem.sub_indication, "", None, problem)
    return report


def _unprocessable_key(field_name: str | None, problem: Any, cert: x509.Certificate,
                       kind: str = "pdf") -> SignatureReport:
    """A signature whose signer certificate holds a key Kyso cannot load (signer/public_keys.py):
    INDETERMINATE, naming who the certificate says signed."""
    _seen().append(cert)
    report = _indeterminate(field_name, problem, kind=kind)
    report.signer, report.signer_serial = _name(cert), format(cert.serial_number, "x")
    report.signer_organization, report.certificates = _organization(cert), [_cert_info(cert)]
    report.summary_en, report.summary_vi = _summaries("INDETERMINATE", problem.sub_indication, report.signer, None,
                                                      problem)
    return report


def _digest_differs(signer_info: cms.SignerInfo, digest: Any) -> bool:
    """Whether the signed messageDigest attribute differs from ``digest`` (evidence of a
    change that needs no key); False when there is nothing to compare."""
    attrs = signer_info["signed_attrs"]
    if isinstance(attrs, core.Void):
        return False
    values = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
    return len(values) == 1 and digest is not None and values[0] != digest


def _unjudged_key(field_name: str | None, problem: Any, cert: x509.Certificate, changed: bool,
                  kind: str = "pdf") -> SignatureReport:
    """_unprocessable_key, unless the signed digest already proves the content changed."""
    if changed:
        from signer.pdf_checks import Problem

        return _broken(field_name, Problem("HASH_FAILURE", "the content changed after signing (its digest differs "
                                           "from the signed one)", "nội dung đã bị sửa đổi sau khi ký (giá trị băm "
                                           "khác với giá trị đã ký)"), kind=kind)
    return _unprocessable_key(field_name, problem, cert, kind=kind)


def _refused(field_name: str | None, exc: Any) -> SignatureReport:
    """pyHanko refused to validate a signature (SignatureValidationError): its AdES
    sub-indication says whether that is a failure with evidence (AdESFailure, e.g. a
    detached PDF signature that carries other content) or only something it cannot judge."""
    from pyhanko.sign.ades.report import AdESFailure

    from signer.pdf_checks import Problem

    sub = getattr(exc, "ades_subindication", None)
    name = getattr(sub, "name", None) or "FORMAT_FAILURE"
    why = str(getattr(exc, "failure_message", "") or exc)[:300]
    problem = Problem(name, f"the signature was refused: {why}", f"chữ ký bị từ chối: {why}")
    if isinstance(sub, AdESFailure):
        return _broken(field_name, problem)
    return _indeterminate(field_name, problem)


def _unsupported_digest(sig: Any) -> Any:
    """The digest or signature algorithm a signature names, when Kyso has no implementation
    of it: the signature cannot be checked, which is not evidence that it is false."""
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    from signer.pdf_checks import Problem

    try:
        get_pyca_cryptography_hash(sig.md_algorithm)
    except (AttributeError, ValueError, KeyError, TypeError):
        what = str(sig.md_algorithm)
        return Problem("FORMAT_FAILURE", f"the digest algorithm {what} is not supported, so the signed bytes cannot "
                       "be checked", f"thuật toán băm {what} không được hỗ trợ nên không kiểm tra được dữ liệu đã ký")
    algorithm = sig.signer_info["signature_algorithm"]
    try:
        algorithm.signature_algo  # noqa: B018 - asn1crypto raises ValueError for an algorithm it does not know
    except ValueError:
        what = algorithm["algorithm"].dotted
        return Problem("FORMAT_FAILURE", f"the signature algorithm {what} is not supported, so the signature cannot "
                       "be checked", f"thuật toán ký {what} không được hỗ trợ nên không kiểm tra được chữ ký")
    return None


class _MismatchedKey(Exception):
    """pyHanko's signature check asserts that a key fits the algorithm the signature names
    (an RSA algorithm with an EC key, say) instead of reporting it: a malformed signature or
    time stamp, which Kyso reports as one it cannot check."""

    def __init__(self) -> None:
        from signer.pdf_checks import Problem

        super().__init__("mismatched key")
        self.problem = Problem("FORMAT_FAILURE", "the signature or its time stamp names a signature algorithm that "
                               "does not fit its key, so it cannot be checked",
                               "chữ ký hoặc dấu thời gian của nó ghi thuật toán ký không khớp với khóa nên không "
                               "kiểm tra được")


def _validated(validate: Any, sig: Any, vc: Any) -> tuple[Any, BaseException | None]:
    """pyHanko's validation of one embedded signature or document time stamp. Its analysis of
    the updates made after signing fails on some files other tools wrote (an object it cannot
    resolve in an earlier revision, a stream without its end marker): the signature itself is
    then checked without that analysis, and the error is returned so that the report can say
    the later changes were not analysed."""
    import traceback

    from pyhanko.sign.general import CMSExtractionError
    from pyhanko.sign.validation.errors import SignatureValidationError

    def once(**kw: Any) -> Any:
        try:
            return validate(sig, vc, **kw)
        except AssertionError as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            if frames and frames[-1].filename.endswith("pyhanko_certvalidator/sig_validate.py"):
                raise _MismatchedKey() from exc
            raise

    try:
        return once(), None
    except (SignatureValidationError, CMSExtractionError, _MismatchedKey, KysoError, MemoryError, RecursionError):
        raise
    except Exception as exc:
        # Only a failure inside the change analysis is retried; anything else is a bug, the
        # caller's incident.
        frames = traceback.extract_tb(exc.__traceback__)
        if not any("pyhanko/sign/diff_analysis/" in f.filename for f in frames):
            raise
        log.warning("verify.pdf_diff_failed %s: %s", type(exc).__name__, str(exc)[:200], exc_info=exc)
        return once(skip_diff=True), exc


def _detach_enveloped(sig: Any) -> bool:
    """A PDF signature whose CMS carries as its content exactly the bytes its /ByteRange covers
    (EU DSS and some tools write them so) is checked as the detached signature it then is:
    the signed bytes are the same either way. Content that differs from the byte range stays,
    and pyHanko refuses it (FORMAT_FAILURE: which bytes were signed is then in doubt)."""
    from cryptography.hazmat.primitives import hashes
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    eci = sig.signed_data["encap_content_info"]
    if isinstance(eci["content"], core.Void) or eci["content_type"].native != "data":
        return False
    hasher = hashes.Hash(get_pyca_cryptography_hash(sig.md_algorithm))
    hasher.update(bytes(eci["content"].native or b""))
    if hasher.finalize() != sig.compute_digest():
        return False
    detached = cms.SignedData.load(sig.signed_data.untag().dump())
    detached["encap_content_info"] = {"content_type": "data"}
    sig.signed_data = detached
    return True


def _unanalysed(status: Any) -> Any:
    """The finding for a signature whose later changes could not be analysed (see _validated):
    none when it covers the whole file (there are no later changes)."""
    from signer.pdf_checks import Problem

    if status is not None and status.coverage is not None and status.coverage.name == "ENTIRE_FILE":
        return None
    return Problem("SIG_CONSTRAINTS_FAILURE", "the changes made to the document after this signature could not be "
                   "analysed, so whether its signer allowed them is not known",
                   "không phân tích được các thay đổi sau chữ ký này nên không biết người ký có cho phép hay không")


def _judge_pdf(index: int, item: Any, sig: Any, sigs: list[tuple[Any, Any]], file_problem: Any, doc_ts: list[Any],
               has_dss: bool, signature_fields: set[str], docmdp: Any, vc: Any) -> SignatureReport:
    """One PDF signature's report (the loop body of _verify_pdf)."""
    from pyhanko.sign.fields import MDPPerm
    from pyhanko.sign.general import CMSExtractionError
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError

    from signer import pdf_checks
    from signer.public_keys import key_problem

    problems = _findings(item, file_problem)
    ranges = [int(v) for v in sig.byte_range]
    problems.extend(p for other, earlier in sigs[:index]
                    if other is not item  # SignerInfos of one CMS share its byte range
                    and (p := pdf_checks.ranges_problem([int(v) for v in earlier.byte_range], ranges)))
    if (unsupported := _unsupported_digest(sig)) is not None:
        return _with_problems(_indeterminate(sig.field_name, unsupported), problems)
    try:
        whose = ("the time stamp's certificate", "chứng thư số của dấu thời gian") if _is_timestamp(sig) else ()
        if (unloadable := key_problem(sig.signer_cert, *whose)) is not None:
            # A time stamp token's messageDigest is that of its TSTInfo, not of the document.
            differs = not whose and _digest_differs(sig.signer_info, sig.compute_digest())
            return _with_problems(_unjudged_key(sig.field_name, unloadable, sig.signer_cert, differs), problems)
        if _is_timestamp(sig):
            return _with_problems(_timestamp_report(sig, vc), problems)
        if str(sig.sig_object.get("/SubFilter")) in pdf_checks.LEGACY_SUBFILTERS:
            return _with_problems(_legacy_pdf(sig, vc), problems)
        enveloped = _detach_enveloped(sig)
        status, diff_error = _validated(validate_pdf_signature, sig, vc)
    except SignatureValidationError as exc:
        return _with_problems(_refused(sig.field_name, exc), problems)
    except CMSExtractionError:
        return _with_problems(_indeterminate(sig.field_name, pdf_checks.Problem(
            "NO_SIGNING_CERTIFICATE_FOUND", "the signer's certificate is not in the signature",
            "chữ ký không kèm chứng thư số của người ký")), problems)
    except _MismatchedKey as exc:
        return _with_problems(_indeterminate(sig.field_name, exc.problem), problems)
    unanalysed = _unanalysed(status) if diff_error else None
    if enveloped:
        log.info("verify.pdf_enveloped_cms_checked_as_detached")
    later_ts = [t for t in doc_ts if t.signed_revision > sig.signed_revision]
    level = "B-B"
    if status.timestamp_validity is not None:
        level = "B-T"
        if has_dss:
            level = "B-LT"
            if later_ts:
                level = "B-LTA"
    modification = status.modification_level.name if status.modification_level is not None else None
    # pyHanko's rule: changes after signing are judged against the document's DocMDP
    # policy (form filling at most when none is set), and seed values must hold.
    allowed = bool((status.docmdp_ok or status.modification_level is None) and status.seed_value_ok)
    # A change the analysis cannot explain is not yet evidence (issue 14, item 5): it fails the
    # signature only when it is proven: the certifying signer allowed no change (DocMDP P=1),
    # pyHanko names the violation (a locked field, an approval-only change after
    # certification), what the signed pages show differs (Kyso's comparison), or the byte
    # range does not cover a whole revision. Otherwise INDETERMINATE, saying so; the signed
    # revision itself is intact.
    unclassified = None
    if (not allowed and status.seed_value_ok and status.diff_result is not None
            and status.coverage is not None and status.coverage.name == "ENTIRE_REVISION"
            and status.modification_level is not None and status.modification_level.name == "OTHER"
            and (docmdp is None or docmdp != MDPPerm.NO_CHANGES)
            and not pdf_checks.named_violation(status.diff_result)):
        if pdf_checks.signed_pages_changed(sig.reader, sig.signed_revision):
            problems.append(pdf_checks.pages_changed_problem())
        else:
            allowed, unclassified = True, pdf_checks.unclassified_problem()
    changed = set(getattr(status.diff_result, "changed_form_fields", None) or ())
    if (p := pdf_checks.form_filling_problem(changed, signature_fields, docmdp)) is not None:
        problems.append(p)
    covered = status.coverage.name if status.coverage is not None else None
    coverage = {"coverage": covered, "modification_level": modification,
                "docmdp_ok": status.docmdp_ok, "changed_form_fields": sorted(changed),
                "covers_whole_document": covered == "ENTIRE_FILE" and not problems,
                "changes_after_signing_allowed": allowed and not problems and unanalysed is None
                and unclassified is None,
                "changes_after_signing_unclassified": unclassified is not None and not problems}
    report = _with_problems(_report(status, "pdf", sig.field_name, level, coverage, pdf_ok=allowed), problems)
    for doubt in (unanalysed, unclassified):
        if doubt is None:
            continue
        report.problems.append(doubt.to_json())
        if report.indication == "TOTAL-PASSED":
            report.indication, report.sub_indication = "INDETERMINATE", None
            report.summary_en, report.summary_vi = _summaries("INDETERMINATE", None, report.signer,
                                                              report.timestamp_time or report.claimed_signing_time,
                                                              doubt)
    return report


_WEAK_EN = ("legacy signature format {}: the document is digested with SHA-1, which no longer proves that it was not "
            "changed")
_WEAK_VI = ("định dạng chữ ký cũ {}: tài liệu được băm bằng SHA-1, thuật toán không còn đủ an toàn để chứng minh tài "
            "liệu không bị thay đổi")


def _weak(report: SignatureReport, subfilter: str) -> SignatureReport:
    """A legacy SHA-1 signature: the weak algorithm is a finding, and a signature that would
    otherwise pass (or only lacks a trusted chain) is INDETERMINATE, never TOTAL-PASSED."""
    from signer.pdf_checks import Problem

    weak = Problem("CRYPTO_CONSTRAINTS_FAILURE_NO_POE", _WEAK_EN.format(subfilter), _WEAK_VI.format(subfilter))
    report.problems.append(weak.to_json())
    if report.indication != "TOTAL-FAILED":
        report.indication, report.sub_indication = "INDETERMINATE", weak.sub_indication
        report.summary_en, report.summary_vi = _summaries("INDETERMINATE", weak.sub_indication, report.signer,
                                                          report.claimed_signing_time, weak)
    return report


def _x509_rsa_sha1(data: bytes, field_name: str | None, sig_object: Any, vc: Any) -> SignatureReport:
    """/adbe.x509.rsa_sha1 (ISO 32000-1, 12.8.3.2): /Contents is a DER OCTET STRING holding a
    PKCS#1 v1.5 RSA signature over the SHA-1 digest of the byte range, and /Cert the signer's
    certificate first, then others. Integrity and signature value are one check here."""
    from asn1crypto import core as asn1_core
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from pyhanko.sign.validation.pdf_embedded import extract_contents
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator.errors import PathBuildingError, RevokedError, ValidationError

    from signer.public_keys import UnprocessableKey, load

    raw = sig_object.get("/Cert")
    ders = [bytes(c.original_bytes if hasattr(c, "original_bytes") else c)
            for c in (raw if isinstance(raw, list) else [raw])]
    cert = x509.Certificate.load(ders[0])
    _seen().append(cert)
    # Not rstrip(b"\x00") of the padding: it would also take a signature value's own last zero
    # byte; a non-strict load ignores what follows the OCTET STRING.
    value = asn1_core.OctetString.load(extract_contents(sig_object), strict=False).native
    a, b, c = (int(v) for v in list(sig_object.raw_get("/ByteRange"))[1:])
    signed = data[:a] + data[b:b + c]
    try:
        key = load(cert.public_key)  # once: the same loader tells an unprocessable key
    except UnprocessableKey as exc:
        return _unprocessable_key(field_name, exc.problem(), cert)
    try:
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidSignature
        key.verify(value, signed, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - legacy format, reported weak
        valid = True
    except InvalidSignature:
        valid = False
    sub: str | None = None
    path = None
    try:
        validator = CertificateValidator(cert, intermediate_certs=[x509.Certificate.load(d) for d in ders[1:]],
                                         validation_context=vc)
        path = asyncio.run(validator.async_validate_usage(set()))
    except PathBuildingError:
        sub = "NO_CERTIFICATE_CHAIN_FOUND"
    except RevokedError:
        sub = "REVOKED_NO_POE"
    except ValidationError:
        sub = "CHAIN_CONSTRAINTS_FAILURE"
    claimed = None
    if (when := sig_object.get("/M")) is not None:
        from pyhanko.pdf_utils.generic import parse_pdf_date
        from pyhanko.pdf_utils.misc import PdfReadError

        try:
            claimed = parse_pdf_date(str(when))
        except (PdfReadError, ValueError):
            claimed = None
    indication = "TOTAL-FAILED" if not valid else ("INDETERMINATE" if sub else "TOTAL-PASSED")
    sub = "SIG_CRYPTO_FAILURE" if not valid else sub
    signer = _name(cert)
    en, vi = _summaries(indication, sub, signer, _iso(claimed))
    whole = b + c == len(data)
    report = SignatureReport(
        kind="pdf", field=field_name, signer=signer, agency_code=None,
        chain=[_name(x) for x in path] if path is not None else [signer], claimed_signing_time=_iso(claimed),
        timestamp_time=None, level="X.509 RSA-SHA1", integrity=valid, signature_valid=valid, trusted=sub is None,
        revocation={"revoked": sub == "REVOKED_NO_POE"},
        coverage={"coverage": "ENTIRE_FILE" if whole else "ENTIRE_REVISION", "modification_level": None,
                  "docmdp_ok": None, "changed_form_fields": [], "covers_whole_document": whole,
                  "changes_after_signing_allowed": whole},
        indication=indication, sub_indication=sub, summary_en=en, summary_vi=vi,
        signer_serial=format(cert.serial_number, "x"))
    if not whole and (unanalysed := _unanalysed(None)) is not None:
        report.problems.append(unanalysed.to_json())
    return _weak(report, "adbe.x509.rsa_sha1")


def _legacy_pdf(sig: Any, vc: Any) -> SignatureReport:
    """/adbe.pkcs7.sha1 (ISO 32000-1, 12.8.3.3.1): the CMS signs, as its encapsulated content,
    the SHA-1 digest of the byte range. Integrity is that digest; the signature value is
    checked over it; SHA-1 no longer proves anything, so an otherwise good signature is
    INDETERMINATE with the weak algorithm named, never TOTAL-PASSED."""
    import types

    from asn1crypto import cms as asn1_cms
    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
    from pyhanko.sign.general import byte_range_digest
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
    from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
    from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy

    econtent = sig.signed_data["encap_content_info"]["content"].native
    _, digest = byte_range_digest(sig.reader.stream, sig.byte_range, "sha1")
    sig.compute_integrity_info(DEFAULT_DIFF_POLICY)
    detached = asn1_cms.SignedData.load(sig.signed_data.untag().dump())
    detached["encap_content_info"] = {"content_type": "data"}
    lenient = CMSAlgorithmUsagePolicy.lift_policy(DisallowWeakAlgorithmsPolicy(weak_hash_algos=frozenset()))
    checked = asyncio.run(async_validate_detached_cms(econtent or b"", detached, signer_validation_context=vc,
                                                      algorithm_policy=lenient))
    # The CMS status, with integrity meaning what it means here: the content signed is the
    # digest of the byte range.
    names = ("signing_cert", "signer_reported_dt", "valid", "trusted", "revoked", "revocation_details",
             "trust_problem_indic", "validation_path")
    status = types.SimpleNamespace(**{n: getattr(checked, n, None) for n in names}, timestamp_validity=None,
                                   intact=bool(checked.intact and econtent == digest))
    modification = getattr(sig.diff_result, "modification_level", None)
    allowed = modification is None or modification.name in ("NONE", "LTA_UPDATES", "FORM_FILLING")
    covered = sig.coverage.name if sig.coverage is not None else None
    coverage: dict[str, Any] = {
        "coverage": covered, "modification_level": getattr(modification, "name", None), "docmdp_ok": allowed,
        "changed_form_fields": [], "covers_whole_document": covered == "ENTIRE_FILE",
        "changes_after_signing_allowed": allowed}
    return _weak(_report(status, "pdf", sig.field_name, "PKCS#7 (SHA-1)", coverage, pdf_ok=allowed), "adbe.pkcs7.sha1")


def _der(encoded: bytes, set_of: bool = False) -> bytes:
    """The DER form of one BER element, by its tags alone (asn1crypto's typed re-encoding
    fails on values it cannot parse, and on some it parses, e.g. a content-type of tst_info):
    definite lengths, constructed strings joined, the elements of every SET sorted."""
    from asn1crypto import parser

    cls, constructed, tag, _header, contents, _trailer = parser.parse(encoded)
    if not constructed:
        return parser.emit(cls, 0, tag, contents)
    children = []
    rest = contents
    while rest:
        child = parser.parse(rest)
        size = len(child[3]) + len(child[4]) + len(child[5])
        children.append(_der(rest[:size]))
        rest = rest[size:]
    if cls == 0 and tag in (3, 4, 12, 19, 22, 26, 30):  # a constructed (BER) string: one primitive
        return parser.emit(cls, 0, tag, b"".join(parser.parse(c)[4] for c in children))
    if set_of or (cls == 0 and tag == 17):  # set_of: an implicitly tagged SET OF
        children.sort()
    return parser.emit(cls, 1, tag, b"".join(children))


def _elements(encoded: bytes) -> list[bytes]:
    """The encodings of a constructed element's children, as received (BER or DER)."""
    from asn1crypto import parser

    out, rest = [], parser.parse(encoded)[4]
    while rest:
        child = parser.parse(rest)
        size = len(child[3]) + len(child[4]) + len(child[5])
        out.append(rest[:size])
        rest = rest[size:]
    return out


def _received(value: Any) -> bytes:
    """A parsed value's encoding as it was received: asn1crypto's dump() re-encodes anything of
    indefinite length, and its re-encoding fails on some valid values (a tst_info content type)."""
    return bytes(value._header) + bytes(value.contents) + bytes(value._trailer or b"")


def _one_signer(signed_der: bytes, signer_der: bytes) -> cms.SignedData:
    """The SignedData with one SignerInfo and no encapsulated content (the data is given
    apart), assembled from the received encodings so that nothing signed is re-encoded."""
    from asn1crypto import parser

    fields = _elements(signed_der)
    econtent_type = _elements(fields[2])[0]
    kept = [fields[0], fields[1], parser.emit(0, 1, 16, econtent_type)]
    kept += [f for f in fields[3:-1] if f[0] in (0xA0, 0xA1)]  # certificates, crls
    kept.append(parser.emit(0, 1, 17, signer_der))
    return cms.SignedData.load(parser.emit(0, 1, 16, b"".join(kept)))


def _econtent(signed_der: bytes) -> bytes | None:
    """The encapsulated content's octets, whatever its declared type and encoding."""
    from asn1crypto import parser

    encap = _elements(_elements(signed_der)[2])
    if len(encap) < 2:
        return None
    (octets,) = _elements(encap[1])  # [0] EXPLICIT
    return parser.parse(_der(octets))[4]


def _der_signer_info(signer_info: bytes) -> bytes:
    """RFC 5652 5.4: the signature is over the DER encoding of the signed attributes. They are
    verified as received when they are DER; only signed attributes that travelled in another
    (BER) encoding are re-encoded, as EU DSS does. Re-encoding DER is never needed and once
    made a valid signature fail (issue 14, item 8)."""
    from asn1crypto import parser

    fields = _elements(signer_info)
    for i, f in enumerate(fields):
        if f[0] == 0xA0:  # [0] IMPLICIT SignedAttributes
            try:
                der = _der(f, set_of=True)
            except ValueError:  # not even BER: leave it to the validator to fail on
                return signer_info
            if der == f:
                return signer_info
            fields[i] = der
            return parser.emit(0, 1, 16, b"".join(fields))
    return signer_info


_RSA_BY_HASH = {"sha224": "sha224_rsa", "sha256": "sha256_rsa", "sha384": "sha384_rsa", "sha512": "sha512_rsa"}


def _rsa_named_as_signed(signer_der: bytes, cert: x509.Certificate) -> bytes | None:
    """An RSA PKCS#1 v1.5 SignerInfo whose signatureAlgorithm names another hash than the one
    the signature was made with (EU DSS's DSS-1419 files; openssl and DSS verify them, as they
    take the hash from the DigestInfo that the signature itself protects), or names a hash
    asn1crypto does not know (SHA-3 with RSA): the SignerInfo with the algorithm that was
    used, or None. The signatureAlgorithm field is not signed; the DigestInfo is."""
    from asn1crypto import algos, parser
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    si = cms.SignerInfo.load(signer_der)
    if cert.public_key.algorithm != "rsa" or si["signature_algorithm"]["algorithm"].native == "rsassa_pss":
        return None
    key = serialization.load_der_public_key(cert.public_key.dump())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        digest_info = algos.DigestInfo.load(
            key.recover_data_from_signature(si["signature"].native, padding.PKCS1v15(), None))
        used = digest_info["digest_algorithm"]["algorithm"].native
    except (ValueError, TypeError):
        return None
    try:
        named = si["signature_algorithm"].hash_algo
    except ValueError:  # plain rsaEncryption (or an OID asn1crypto does not know): the digestAlgorithm
        named = si["digest_algorithm"]["algorithm"].native
    try:
        known = si["signature_algorithm"].signature_algo in ("rsassa_pkcs1v15", "rsassa_pss")
    except ValueError:  # e.g. RSA with SHA-3, which asn1crypto does not name
        known = False
    if used == named and known:
        return None
    name = "rsassa_pkcs1v15" if used == si["digest_algorithm"]["algorithm"].native else _RSA_BY_HASH.get(used)
    if name is None:
        return None
    fields = _elements(signer_der)
    at = 4 if fields[3][0] == 0xA0 else 3
    fields[at] = algos.SignedDigestAlgorithm({"algorithm": name}).dump()
    return parser.emit(0, 1, 16, b"".join(fields))


def _signer_cert(signed: cms.SignedData, signer_info: cms.SignerInfo) -> x509.Certificate | None:
    sid = signer_info["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            if (cert.issuer == sid.chosen["issuer"] and cert.serial_number == sid.chosen["serial_number"].native):
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None


def _signer_cert_present(signed: cms.SignedData, signer_info: cms.SignerInfo) -> bool:
    return _signer_cert(signed, signer_info) is not None


def _validate_one(data: bytes, signed_der: bytes, signer_der: bytes, vc: Any) -> Any:
    """pyHanko's verdict on one SignerInfo over ``data``."""
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms

    cert = _signer_cert(cms.SignedData.load(signed_der), cms.SignerInfo.load(signer_der))
    fixed = _rsa_named_as_signed(signer_der, cert) if cert is not None else None
    if fixed is not None:  # checked before, not after, a failed validation: one path building, not two
        try:
            status = asyncio.run(async_validate_detached_cms(data, _one_signer(signed_der, fixed),
                                                             signer_validation_context=vc))
            if status.valid:
                return status
        except SignatureValidationError:  # e.g. an algorithm-protection attribute names the other one
            pass
    return asyncio.run(async_validate_detached_cms(data, _one_signer(signed_der, signer_der),
                                                   signer_validation_context=vc))


def _without_unsigned(signer_der: bytes) -> bytes | None:
    """The SignerInfo without its unsigned attributes, or None when it has none."""
    from asn1crypto import parser

    fields = _elements(signer_der)
    if fields[-1][0] != 0xA1:
        return None
    return parser.emit(0, 1, 16, b"".join(fields[:-1]))


def _verify_cms(info: cms.ContentInfo, detached: bytes | None,
                vc: Any) -> list[SignatureReport]:
    """Every SignerInfo on its own (several are legal: RFC 5652 5.1), over the detached data or
    the encapsulated content. Both present and different is a format failure: which one was
    signed is then the attacker's choice."""
    from pyhanko.sign.validation.errors import SignatureValidationError

    from signer.pdf_checks import Problem
    from signer.public_keys import key_problem

    signed = info["content"]
    check_signature_count(len(signed["signer_infos"]))
    signed_der = _elements(_received(info))[1]  # [0] EXPLICIT SignedData
    (signed_der,) = _elements(signed_der)
    econtent = _econtent(signed_der)
    if econtent is None and detached is None:
        raise UnsupportedDocument("a detached CMS signature needs its data (a second part, or --data)",
                                  "chữ ký CMS tách rời cần kèm dữ liệu đã ký (phần thứ hai, hoặc --data)")
    problems = []
    if econtent is not None and detached is not None and econtent != detached:
        problems.append(Problem("FORMAT_FAILURE", "the signature carries its own content, and it differs from the "
                                "data given with it", "chữ ký mang sẵn nội dung, khác với dữ liệu được gửi kèm"))
    data = detached if detached is not None else econtent
    assert data is not None
    signer_ders = _elements(_elements(signed_der)[-1])
    stamped_types = ("signature_time_stamp_token",)
    out = []
    for index, original in enumerate(signed["signer_infos"]):
        name = f"SignerInfo {index + 1}"
        if not _signer_cert_present(signed, original):
            missing = Problem("NO_SIGNING_CERTIFICATE_FOUND", "the signer's certificate is not in the signature",
                              "chữ ký không kèm chứng thư số của người ký")
            out.append(_indeterminate(name, missing, kind="cms"))
            continue
        cert = _signer_cert(signed, original)
        if cert is not None and (unloadable := key_problem(cert)) is not None:
            algorithm = original["digest_algorithm"]["algorithm"].native
            digest = hashlib.new(algorithm, data).digest() if algorithm in hashlib.algorithms_available else None
            differs = _digest_differs(original, digest)
            out.append(_with_problems(_unjudged_key(name, unloadable, cert, differs, kind="cms"), problems))
            continue
        signer_der = _der_signer_info(signer_ders[index])
        unreadable = None
        try:
            status = _validate_one(data, signed_der, signer_der, vc)
        except (SignatureValidationError, ValueError, KeyError, TypeError) as exc:
            log.info("verify.cms_malformed %s", str(exc)[:200])
            # Unsigned attributes (time stamps, validation data) that cannot be read or checked
            # do not make the signature itself malformed: judge it without them, and say so.
            bare = _without_unsigned(signer_der)
            status = None
            if bare is not None:
                try:
                    status = _validate_one(data, signed_der, bare, vc)
                except (SignatureValidationError, ValueError, KeyError, TypeError):
                    pass
            if status is None:
                bad = Problem("FORMAT_FAILURE", "the CMS signature is malformed", "chữ ký CMS sai cấu trúc")
                out.append(_broken(name, bad, kind="cms"))
                continue
            unreadable = Problem("GENERIC", "its unsigned attributes (time stamp or validation data) cannot be "
                                 "read or checked, so they were left aside",
                                 "không đọc hoặc kiểm tra được các thuộc tính không ký (dấu thời gian, dữ liệu "
                                 "kiểm tra) nên đã bỏ qua chúng")
        unsigned = original["unsigned_attrs"]
        types = [] if isinstance(unsigned, core.Void) else [a["type"].native for a in unsigned]
        level = "B-T" if any(t in stamped_types for t in types) else "B-B"
        coverage = {"coverage": "attached content" if detached is None else "detached data",
                    "covers_whole_document": not problems}
        report = _report(status, "cms", name if len(signed["signer_infos"]) > 1 else None, level, coverage)
        if unreadable is not None:
            report.problems.append(unreadable.to_json())
            if report.indication == "TOTAL-PASSED":
                report.indication, report.sub_indication = "INDETERMINATE", unreadable.sub_indication
                report.summary_en, report.summary_vi = _summaries(
                    "INDETERMINATE", None, report.signer, report.claimed_signing_time, unreadable)
        out.append(_with_problems(report, problems))
    return out


def _asic_verdict(report: SignatureReport, sig: Any, container: Any, covered: list[str], changed: list[str],
                  missing: list[str], unsupported: list[str], signed_manifest: str | None) -> SignatureReport:
    """What an ASiC signature covers, and its verdict with the container's evidence: a data
    file whose digest differs is TOTAL-FAILED (HASH_FAILURE); a file the signature names but
    the container lacks is INDETERMINATE (SIGNED_DATA_NOT_FOUND, EN 319 102-1 5.2.8: the data
    cannot be obtained, which proves no change); a digest algorithm Kyso does not know is
    INDETERMINATE with a sentence; a container that breaks EN 319 162-1 is a FORMAT_FAILURE."""
    from signer.pdf_checks import Problem

    label = "ASiC-S" if container.type == "asic-s" else "ASiC-E"
    not_covered = [f for f in container.data_files if f not in covered and f not in changed]
    report.kind = f"{container.type}-{sig.format}"
    report.coverage = {"container": label, "signature_file": sig.name, "files": covered, "changed_files": changed,
                       "missing_files": missing, "files_not_covered": not_covered,
                       "covers_whole_document": not not_covered and not changed and not missing}
    if signed_manifest:
        report.coverage["manifest"] = signed_manifest
    notes = [n for n in container.notes if not n.failure]
    if notes:
        report.coverage["container_notes"] = [{"en": n.en, "vi": n.vi} for n in notes]
    when = report.timestamp_time or report.claimed_signing_time
    problem = None
    if changed:
        problem = Problem("HASH_FAILURE", "a signed file changed: " + ", ".join(changed),
                          "tệp đã ký bị thay đổi: " + ", ".join(changed))
        if report.indication != "TOTAL-FAILED" or report.sub_indication != "HASH_FAILURE":
            report.indication, report.sub_indication = "TOTAL-FAILED", "HASH_FAILURE"
    elif missing and report.indication != "TOTAL-FAILED":
        problem = Problem("SIGNED_DATA_NOT_FOUND", "a signed file is not in the container: " + ", ".join(missing),
                          "tệp đã ký không có trong gói: " + ", ".join(missing))
        report.indication, report.sub_indication = "INDETERMINATE", problem.sub_indication
    elif unsupported and report.indication != "TOTAL-FAILED":
        what = ", ".join(unsupported)
        problem = Problem("CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
                          f"Kyso does not support the digest algorithm of the manifest: {what}",
                          f"Kyso chưa hỗ trợ thuật toán băm của tệp kê khai: {what}")
        report.indication, report.sub_indication = "INDETERMINATE", problem.sub_indication
    if problem is not None:
        report.integrity = report.integrity and not changed and not missing
        report.problems = [p for p in report.problems if p.get("sub_indication") != problem.sub_indication]
        report.problems.append(problem.to_json())
        report.summary_en, report.summary_vi = _summaries(report.indication, report.sub_indication, report.signer,
                                                          when, problem)
    failures = [Problem("FORMAT_FAILURE", n.en, n.vi) for n in [*sig.failures, *container.notes] if n.failure]
    return _with_problems(report, failures)


def _verify_asic(data: bytes, vc: Any) -> list[SignatureReport]:
    """Each signature in an ASiC container (signer/asic.py), judged on its own, with the
    files it covers, the files it names that changed or are missing, and the files it leaves
    uncovered."""
    from signer.asic import open_container
    from signer.pdf_checks import Problem

    container = open_container(data)
    check_signature_count(len(container.signatures))
    out = []
    for sig in container.signatures:
        kind = f"{container.type}-{sig.format}"
        if sig.format == "xades":
            out.extend(_verify_asic_xades(sig, container, vc))
            continue
        if sig.signed is None:
            no_data = Problem("SIGNED_DATA_NOT_FOUND", "the container holds no data file for the signature",
                              "gói không chứa tệp dữ liệu nào cho chữ ký")
            out.append(_asic_verdict(_indeterminate(sig.name, no_data, kind), sig, container, [], [], [], [], None))
            continue
        found, info = "cms", _as_cms(sig.data)
        if info is None:
            try:
                found, info = detect(sig.data)
            except UnsupportedFormat:
                found = "none"
        if found != "cms":
            bad = Problem("FORMAT_FAILURE", f"{sig.name} is not a CMS signature",
                          f"{sig.name} không phải chữ ký CMS")
            out.append(_broken(sig.name, bad, kind=kind))
            continue
        signed = container.files[sig.signed]
        for report in _verify_cms(info, signed, vc):
            report.field = sig.name + (f" ({report.field})" if report.field else "")
            if container.type == "asic-s":
                intact = report.integrity
                covered, changed = ([sig.signed], []) if intact else ([], [sig.signed])
                out.append(_asic_verdict(report, sig, container, covered, changed, [], [], None))
            else:
                out.append(_asic_verdict(report, sig, container, sig.covered, sig.mismatched, sig.missing,
                                         sig.unsupported, sig.signed))
    return out


def _verify_asic_xades(sig: Any, container: Any, vc: Any) -> list[SignatureReport]:
    """The XML signatures in one ``META-INF/*signatures*.xml``: each reference that names a
    container file is resolved from the container by signer.xmldsig (by its percent-decoded
    name), and the files it covers, changed or lacks are reported. Counter-signatures (a
    Signature inside another's unsigned properties) are left to their parent."""
    from lxml import etree

    from signer import xmldsig, xmlsafe

    root = xmlsafe.parse(sig.data)
    found = [(el, ns) for el, ns in xmldsig.find_signatures(root)
             if not any(etree.QName(a).localname == "Signature" for a in el.iterancestors())]
    external = {name: data for name, data in container.files.items() if name != sig.name}
    checks: list[Any] = []
    out = []
    for report, check in zip(_verify_xml(root, vc, external, found, checks), checks, strict=True):
        named = []
        for ref in check.element.iter(f"{{{xmldsig.DS}}}Reference"):
            uri = ref.get("URI")
            parent = ref.getparent()
            if uri and not uri.startswith("#") and parent is not None and etree.QName(parent).localname == "SignedInfo":
                named.append((uri, xmldsig.external_key(uri)))
        changed = [key for uri, key in named if uri in check.changed]
        missing = [key for _uri, key in named if key not in external]
        covered = [key for _uri, key in named if key in external and key not in changed]
        report.field = f"{sig.name} ({report.field})" if report.field else sig.name
        out.append(_asic_verdict(report, sig, container, covered, changed, missing, [], None))
    return out


def _xml_chain(check: Any, vc: Any) -> tuple[str | None, Any, dict[str, Any]]:
    """(sub-indication or None, validation path, revocation) for an XML signer certificate."""
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator import errors as cv

    cert = x509.Certificate.load(check.certificate_der)
    validator = CertificateValidator(cert, intermediate_certs=[x509.Certificate.load(c) for c in check.other_certs],
                                     validation_context=vc)
    try:
        path = asyncio.run(validator.async_validate_usage(set()))
    except cv.RevokedError as exc:
        revoked_at = getattr(exc, "revocation_dt", None)
        reason = getattr(getattr(exc, "reason", None), "native", None)
        when = revoked_from(cert, revoked_at, reason) if revoked_at is not None else None
        signed = check.signing_time
        sub = "REVOKED" if when is None or revoked_when_signed(cert, when, signed) else "REVOKED_NO_POE"
        return sub, None, {"revoked": True, "date": _iso(revoked_at), "reason": reason, "counts_from": _iso(when)}
    except (cv.ExpiredError, cv.NotYetValidError):
        return "OUT_OF_BOUNDS_NO_POE", None, {"revoked": False}
    except cv.PathBuildingError:
        return "NO_CERTIFICATE_CHAIN_FOUND", None, {"revoked": False}
    except (cv.PathValidationError, cv.InvalidCertificateError):
        return "CHAIN_CONSTRAINTS_FAILURE", None, {"revoked": False}
    return None, path, {"revoked": False}


def _xml_timestamp(check: Any, vc: Any) -> tuple[bool, dt.datetime | None]:
    from asn1crypto import cms as asn1_cms
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data

    data = check.timestamp_data
    try:
        token = asn1_cms.ContentInfo.load(check.timestamp_token)
        kw = asyncio.run(validate_tst_signed_data(token["content"], vc,
                                                  lambda algo: hashlib.new(algo, data).digest()))
    except (SignatureValidationError, ValueError, TypeError, KeyError):
        return False, None
    ok = bool(kw.get("intact") and kw.get("valid") and kw.get("trust_problem_indic") is None)
    return ok, kw.get("timestamp")


def _verify_xml(root: Any, vc: Any, external: Mapping[str, bytes] | None = None,
                found: list[tuple[Any, bool]] | None = None, checks: list[Any] | None = None) -> list[SignatureReport]:
    """Each XML-DSig signature in the document (see signer/xmldsig.py for what is accepted);
    ``external``: the data of detached references, by file name. ``found``: the signatures
    to check (default: all); ``checks``, when given, receives each one's XmlSignatureCheck."""
    from signer import xmldsig
    from signer.pdf_checks import Problem

    out = []
    found = xmldsig.find_signatures(root) if found is None else found
    check_signature_count(len(found))
    for index, (element, namespaced) in enumerate(found, 1):
        check = xmldsig.check(root, element, namespaced, external=external)
        if checks is not None:
            checks.append(check)
        label = element.get("Id") or f"Signature {index}"
        changed_en = ", ".join(c or "the document" for c in check.changed)
        changed_vi = ", ".join(c or "toàn bộ tài liệu" for c in check.changed)
        if check.format_problems:
            out.append(_broken(label, Problem(
                "FORMAT_FAILURE", "the XML signature is malformed: " + "; ".join(en for en, _ in check.format_problems),
                "chữ ký XML sai cấu trúc: " + "; ".join(vi for _, vi in check.format_problems)), kind="xml"))
            continue
        if check.key_problem is not None and check.certificate_der is not None and not check.changed:
            out.append(_unprocessable_key(label, check.key_problem, x509.Certificate.load(check.certificate_der),
                                          kind="xml"))
            continue
        if check.certificate_der is None or not check.value_checked:
            # Nothing proven either way about the signature value: only a changed digest is evidence.
            if check.changed:
                out.append(_broken(label, Problem("HASH_FAILURE", "the signed content changed: " + changed_en,
                                                  "nội dung đã ký bị thay đổi: " + changed_vi), kind="xml"))
                continue
            missing = "SIGNED_DATA_NOT_FOUND" if check.unverifiable else "NO_SIGNING_CERTIFICATE_FOUND"
            reasons = check.unverifiable or [("the signature carries no signing certificate",
                                              "chữ ký không kèm chứng thư số của người ký")]
            why = Problem(missing, "; ".join(en for en, _ in reasons), "; ".join(vi for _, vi in reasons))
            out.append(_indeterminate(label, why, kind="xml"))
            continue
        cert = x509.Certificate.load(check.certificate_der)
        _seen().append(cert)
        ts_ok, ts_time = _xml_timestamp(check, vc) if check.timestamp_token else (False, None)
        if ts_ok:
            check.signing_time = ts_time
        chain_sub, path, revocation = _xml_chain(check, vc)
        problem = None
        if check.changed:
            indication, sub = "TOTAL-FAILED", "HASH_FAILURE"
            problem = Problem("HASH_FAILURE", "the signed content changed: " + changed_en,
                              "nội dung đã ký bị thay đổi: " + changed_vi)
        elif not check.signature_valid:
            indication, sub = "TOTAL-FAILED", "SIG_CRYPTO_FAILURE"
        elif chain_sub == "REVOKED":
            indication, sub = "TOTAL-FAILED", "REVOKED"
        elif check.unverifiable:
            indication, sub = "INDETERMINATE", "SIGNED_DATA_NOT_FOUND"
            problem = Problem(sub, "; ".join(en for en, _vi in check.unverifiable),
                              "; ".join(vi for _en, vi in check.unverifiable))
        elif check.covers_only_part:
            indication, sub = "INDETERMINATE", "SIGNED_DATA_NOT_FOUND"
            part_en = ", ".join(check.covered)
            part_vi = ", ".join(c.replace("the document except ", "tài liệu trừ ") for c in check.covered)
            problem = Problem(sub,
                              f"the signature covers only part of the document ({part_en}); the rest is not signed",
                              f"chữ ký chỉ bao phủ một phần tài liệu ({part_vi}); phần còn lại không được ký")
        elif check.signing_certificate_mismatch:
            indication, sub = "INDETERMINATE", "NO_SIGNING_CERTIFICATE_FOUND"
            problem = Problem(sub, "the signed SigningCertificate names none of the certificates in the signature",
                              "SigningCertificate đã ký không trỏ tới chứng thư số nào trong chữ ký")
        elif chain_sub is not None:
            indication, sub = "INDETERMINATE", chain_sub
        elif check.weak_algorithms:
            indication, sub = "INDETERMINATE", "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
            what = ", ".join(check.weak_algorithms)
            problem = Problem(sub, f"legacy algorithm (SHA-1), no longer accepted as proof: {what}",
                              f"thuật toán cũ (SHA-1), không còn được chấp nhận làm bằng chứng: {what}")
        elif not check.namespaced:
            indication, sub = "INDETERMINATE", "FORMAT_FAILURE"
            problem = Problem(sub, "legacy signature: <Signature> without the XML-DSig namespace",
                              "chữ ký kiểu cũ: thẻ <Signature> không có namespace XML-DSig")
        elif check.timestamp_token and not ts_ok:
            indication, sub = "INDETERMINATE", "NO_POE"
        else:
            indication, sub = "TOTAL-PASSED", None
        level = "XML-DSig"
        if "SignedProperties" in check.covered:
            level = "XAdES-B-T" if ts_ok else "XAdES-B-B"
        signer = _name(cert)
        when = _iso(check.signing_time)
        en, vi = _summaries(indication, sub, signer, when, problem)
        out.append(SignatureReport(
            kind="xml", field=label, signer=signer, agency_code=None,
            chain=[_name(c) for c in path] if path is not None else [signer],
            claimed_signing_time=when, timestamp_time=_iso(ts_time) if ts_ok else None, level=level,
            integrity=check.digests_valid and not check.unverifiable, signature_valid=check.signature_valid,
            trusted=chain_sub is None,
            revocation=revocation,
            coverage={"covered": check.covered, "covers_whole_document": check.covers_whole_document,
                      "manifest_entries_not_checked": check.not_checked,
                      "namespaced": check.namespaced, "weak_algorithms": check.weak_algorithms},
            indication=indication, sub_indication=sub, summary_en=en, summary_vi=vi,
            problems=[problem.to_json()] if problem else [], signer_serial=format(cert.serial_number, "x")))
    return out


def _check(data: bytes, detached: bytes | Mapping[str, bytes] | None, trusted: tuple[Any, Any, Any],
           fetch: bool, parsed_xml: Any = None, moment: dt.datetime | None = None,
           digest: bool = True) -> tuple[Report, dict[str, bytes]]:
    """The verification proper: no database, so that it can run in a bounded child process.
    Returns the report and the signer certificates met, by serial. ``parsed_xml``: the root
    of ``data`` when the caller parsed it already (with signer.xmlsafe). ``detached``: the
    data of a detached CMS, or for XML the detached references' data by file name.
    ``digest=False``: leave document_sha256 empty (verify hashes the document beside the
    check)."""
    _seen().clear()
    _notes().clear()
    _LOCAL.crls = trusted[2]  # for the invalidity dates of compromised keys (revoked_from)
    kind, info = ("xml", parsed_xml) if parsed_xml is not None else detect(data)
    vc = _context(trusted, fetch, moment)
    try:
        if kind == "pdf":
            sigs = _verify_pdf(data, vc)
        elif kind in ("asic-e", "asic-s"):
            sigs = _verify_asic(data, vc)
        elif kind == "xml":
            sigs = _verify_xml(info, vc, detached if isinstance(detached, Mapping) else None)
        else:
            sigs = _verify_cms(info, detached if isinstance(detached, bytes) else None, vc)
    except _parse_errors() as exc:
        raise DocumentUnreadable(
            f"the structure of the {_WHAT_EN.get(kind, kind)} cannot be read",
            f"không đọc được cấu trúc {_WHAT_VI.get(kind, kind)}",
            log_detail=f"{type(exc).__name__}: {str(exc)[:300]}") from None
    certs = {format(c.serial_number, "x"): c.dump() for c in _seen()}
    _seen().clear()
    stamp: dict[str, Any] = dict(
        validated_at=_iso(moment or dt.datetime.now(dt.UTC)) or "",
        document_sha256=hashlib.sha256(detached if isinstance(detached, bytes) else data).hexdigest() if digest else "",
        notes=list(_notes()))
    _notes().clear()
    if not sigs:
        return Report(kind, "INDETERMINATE", "SIGNED_DATA_NOT_FOUND", [], "The document has no signature.",
                      "Tài liệu không có chữ ký.", **stamp), certs
    worst = max(sigs, key=lambda s: ORDER[s.indication])
    en, vi = _overall(sigs, worst)
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
        report, certs = call_bounded(factory, settings, "signer.verify:check_undigested", data, detached,
                                     offline=offline, seconds=seconds)
    else:
        from kyso import bounded as bounded_mod

        if isinstance(data, str):
            with open(data, "rb") as f:
                data = f.read()
        trusted = trust(factory, settings)
        bounded_mod.LIMITS.update(_job_values(settings))
        report, certs = _check(data, detached, trusted, not offline and settings.verify.fetch_revocation,
                               digest=False)
    report.document_sha256 = digest.hexdigest()
    _agency_codes(factory, report.signatures, certs)
    return report


class VerifyBusy(KysoError):
    code = "verify-busy"
    status = 503
    title_en = "Verification busy"


class TooManySignatures(KysoError):
    code = "too-many-signatures"
    status = 422
    title_en = "Too many signatures"


_SLOTS: dict[int, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


@contextmanager
def verification_slot(settings: Settings) -> Iterator[None]:
    """One of the worker's verify.max_concurrent verification slots, for the whole check:
    verifications never take every thread of a worker. Waits up to busy_wait_seconds."""
    size = settings.verify.max_concurrent
    with _SLOTS_LOCK:
        slots = _SLOTS.setdefault(size, threading.BoundedSemaphore(size))
    if not slots.acquire(timeout=settings.verify.busy_wait_seconds):
        raise VerifyBusy("too many verifications are running; try again shortly",
                         "đang có quá nhiều yêu cầu kiểm tra; hãy thử lại sau ít phút",
                         extra={"retry_after": max(1, math.ceil(settings.verify.busy_wait_seconds)) + 1})
    try:
        yield
    finally:
        slots.release()


def check_signature_count(count: int) -> None:
    """Refuse a document with more signatures than verify.max_signatures before checking any
    (1,500 copies of one signature cost 30 s of CPU)."""
    from kyso.bounded import limit

    most = limit("max_signatures")
    if most and count > most:
        raise TooManySignatures(f"the document has {count} signatures; at most {most} are checked",
                                f"tài liệu có {count} chữ ký; chỉ kiểm tra tối đa {most} chữ ký",
                                extra={"limit": most})


def call_bounded(factory: sessionmaker[Session], settings: Settings, func: str, *args: Any,
                 offline: bool = False, seconds: float | None = None) -> Any:
    """``func(*args, ders, fetch)`` in a bounded helper, with the trust inputs as DER, in
    one of the worker's verification slots; ``seconds`` overrides verify.max_seconds."""
    from kyso import bounded as bounded_mod

    with verification_slot(settings):
        trusted = trust(factory, settings)
        _warm()
        ders = tuple(tuple(item.dump() for item in group) for group in trusted)
        return bounded_mod.call(func, *args, ders, not offline and settings.verify.fetch_revocation,
                                seconds=seconds or settings.verify.max_seconds,
                                memory_bytes=settings.verify.max_memory_mb * 1024 * 1024,
                                limits=_job_values(settings))


def _job_values(settings: Settings) -> dict[str, Any]:
    """What a check needs from the worker besides its arguments (bounded.limit / given)."""
    return {"max_signatures": settings.verify.max_signatures, "own_ca_names": sorted(_OWN_CA_NAMES),
            "fetch_hosts": list(settings.verify.fetch_hosts)}


name_agencies = _agency_codes
