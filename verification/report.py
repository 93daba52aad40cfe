"""What a verification says: the report of a document and of each signature in it, the
errors that stop a check before any verdict, the certificates and notes met by the check running
in this thread, and the verdict in words (English and Vietnamese)."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from dataclasses import field as dc_field
from typing import Any
from zoneinfo import ZoneInfo

from asn1crypto import x509

from kyso.errors import ErrorKind, KysoError
from verification.indication import Indication

VN = ZoneInfo("Asia/Ho_Chi_Minh")


# What the check running in this thread met: signer certificates, notes on the document, and
# the CRLs it knows (for the invalidity dates of compromised keys, verification/revocation.py).
LOCAL = threading.local()


def met_certificates() -> list[x509.Certificate]:
    if not hasattr(LOCAL, "certs"):
        LOCAL.certs = []
    certs: list[x509.Certificate] = LOCAL.certs
    return certs


def document_notes() -> list[dict[str, str]]:
    """Findings about the document as a whole met by the check running in this thread (en, vi)."""
    if not hasattr(LOCAL, "notes"):
        LOCAL.notes = []
    notes: list[dict[str, str]] = LOCAL.notes
    return notes


REPAIRED_PDF = {"en": "The PDF was repaired when read (its cross-reference table was damaged).",
                "vi": "Tệp PDF đã được sửa khi đọc (bảng tham chiếu chéo của tệp bị hỏng)."}


ORDER = {Indication.TOTAL_PASSED: 0, Indication.INDETERMINATE: 1, Indication.TOTAL_FAILED: 2}


class UnsupportedDocument(KysoError):
    code = "unsupported-document"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Unsupported document"


class DocumentUnreadable(KysoError):
    """A document of a known type whose structure cannot be read (a parse error met while
    checking it): the report cannot be made, and the caller is told what could not be read.
    Not a limit (document-too-complex) and not a bug (500 with an incident id)."""

    code = "document-unreadable"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Document unreadable"


class UnsupportedFormat(KysoError):
    """Content of no type Kyso verifies (415); a known type that is broken is a 422."""

    code = "unsupported-format"
    kind = ErrorKind.UNSUPPORTED
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
    indication: Indication
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
    indication: Indication
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
        return {Indication.TOTAL_PASSED: 0, Indication.TOTAL_FAILED: 1}.get(self.indication, 2)


def cert_name(cert: x509.Certificate) -> str:
    names = cert.subject.native
    return str(names.get("common_name") or cert.subject.human_friendly)


def cert_organization(cert: x509.Certificate) -> str | None:
    org = cert.subject.native.get("organization_name")
    if isinstance(org, list):
        org = ", ".join(str(o) for o in org)
    return str(org) if org else None


def cert_info(cert: x509.Certificate) -> dict[str, Any]:
    validity = cert["tbs_certificate"]["validity"]
    return {"subject": cert_name(cert), "organization": cert_organization(cert), "issuer": _issuer_name(cert),
            "serial": format(cert.serial_number, "X"),
            "not_before": iso(validity["not_before"].native), "not_after": iso(validity["not_after"].native)}


def _issuer_name(cert: x509.Certificate) -> str:
    names = cert.issuer.native
    return str(names.get("common_name") or cert.issuer.human_friendly)


def path_info(path: Any, cert: x509.Certificate) -> list[dict[str, Any]]:
    """Each certificate of the validation path, signer first (or the signer's alone)."""
    certs = list(path) if path is not None else [cert]
    return [cert_info(c) for c in reversed(certs)] if certs and certs[-1] == cert else [cert_info(c) for c in certs]


def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(VN).isoformat(timespec="seconds") if value else None


_VI = {
    Indication.TOTAL_PASSED: "Chữ ký hợp lệ", Indication.TOTAL_FAILED: "Chữ ký không hợp lệ",
    Indication.INDETERMINATE: "Chưa xác định được chữ ký",
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


def summaries(indication: Indication, sub: str | None, signer: str, when: str | None,
               problem: Any = None, *, stamp: bool = False) -> tuple[str, str]:
    """One sentence per language: the verdict, who, when (dd/mm/yyyy HH:MM, Vietnam time) and
    why. ``stamp``: a document time stamp, not a signature."""
    from verification.readable import when as spoken

    if stamp:
        en = {Indication.TOTAL_PASSED: "Valid document time stamp",
              Indication.TOTAL_FAILED: "Invalid document time stamp",
              Indication.INDETERMINATE: "Unconfirmed document time stamp"}[indication]
        vi = {Indication.TOTAL_PASSED: "Dấu thời gian hợp lệ", Indication.TOTAL_FAILED: "Dấu thời gian không hợp lệ",
              Indication.INDETERMINATE: "Chưa xác định được dấu thời gian"}[indication]
        en += (f" from {signer}" if signer else "") + (f", stamped {spoken(when, 'en')}" if when else "")
        vi += (f" của {signer}" if signer else "") + (f", đóng dấu lúc {spoken(when, 'vi')}" if when else "")
    else:
        en = {Indication.TOTAL_PASSED: "Valid signature", Indication.TOTAL_FAILED: "Invalid signature",
              Indication.INDETERMINATE: "Unconfirmed signature"}[indication]
        en += (f" by {signer}" if signer else "") + (f", signed {spoken(when, 'en')}" if when else "")
        vi = _VI[indication] + (f" của {signer}" if signer else "") + (f", ký lúc {spoken(when, 'vi')}" if when else "")
    if problem is not None:
        en += f": {problem.en}"
        vi += f": {problem.vi}"
    elif sub:
        en += f": {_SUB_EN.get(sub, sub.lower().replace('_', ' '))}"
        vi += f": {_SUB_VI.get(sub, 'lý do kỹ thuật ' + sub)}"
    return en + ".", vi + "."


def overall(sigs: list[SignatureReport], worst: SignatureReport) -> tuple[str, str]:
    """The document's verdict in words: signatures counted apart from document time stamps."""
    signatures = [s for s in sigs if s.kind != "pdf-timestamp"]
    stamps = [s for s in sigs if s.kind == "pdf-timestamp"]
    n, passed = len(signatures), sum(s.indication == Indication.TOTAL_PASSED for s in signatures)
    if worst.indication == Indication.TOTAL_PASSED:
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
