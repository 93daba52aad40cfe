"""The verification report in words, for a civil servant: what the public page and the PDF
report show (the JSON report stays machine-readable, with its field names and codes).

The verdict leads, in a sentence; then, per signature, who signed, for which organisation,
when (dd/mm/yyyy HH:MM, Vietnam time), what the signature covers, whether the certificate was
revoked, and each certificate's issuer, serial and validity; then the validation time and
the document's SHA-256. No field name, enum name or Python value reaches the reader.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from verification.indication import Indication

VN = ZoneInfo("Asia/Ho_Chi_Minh")

# The page's and the PDF report's labels.
TEXT = {
    "vi": {
        "title": "Kiểm tra chữ ký số",
        "lead": "Tải lên văn bản đã ký (PDF, XML, ASiC .asice/.asics, hoặc chữ ký CMS .p7s/.p7m) để kiểm tra.",
        "file": "Văn bản đã ký", "data": "Dữ liệu đã ký (chỉ với chữ ký CMS tách rời)", "submit": "Kiểm tra",
        "limit": "Dung lượng tối đa", "stored": "Văn bản không được lưu lại trên máy chủ.",
        "result": "Kết quả", "signature": "Chữ ký", "signer": "Người ký", "agency": "Mã cơ quan",
        "level": "Mức chữ ký", "time": "Thời điểm ký (khai báo)", "ts": "Dấu thời gian", "chain": "Chuỗi chứng thư",
        "integrity": "Toàn vẹn", "trusted": "Tin cậy", "revoked": "Thu hồi", "coverage": "Phạm vi",
        "yes": "có", "no": "không", "switch": "English", "again": "Kiểm tra văn bản khác",
        "certificates": "Chứng thư số", "findings": "Ghi chú",
        "error": "Không kiểm tra được",
    },
    "en": {
        "title": "Verify a digital signature",
        "lead": "Upload a signed document (PDF, XML, ASiC .asice/.asics, or a CMS signature .p7s/.p7m).",
        "file": "Signed document", "data": "Signed data (detached CMS signatures only)", "submit": "Verify",
        "limit": "Size limit", "stored": "The document is not stored on the server.",
        "result": "Result", "signature": "Signature", "signer": "Signer", "agency": "Agency code",
        "level": "Level", "time": "Claimed signing time", "ts": "Time stamp", "chain": "Certificate chain",
        "integrity": "Integrity", "trusted": "Trusted", "revoked": "Revoked", "coverage": "Coverage",
        "yes": "yes", "no": "no", "switch": "Tiếng Việt", "again": "Verify another document",
        "certificates": "Certificates", "findings": "Notes",
        "error": "Could not verify",
    },
}

HEADLINE = {
    "vi": {Indication.TOTAL_PASSED: "Chữ ký số hợp lệ",
           Indication.TOTAL_FAILED: "Chữ ký số KHÔNG hợp lệ: không nên tin cậy văn bản này",
           Indication.INDETERMINATE: "Chưa xác định được chữ ký số có hợp lệ hay không",
           "NONE": "Văn bản không có chữ ký số"},
    "en": {Indication.TOTAL_PASSED: "The digital signature is valid",
           Indication.TOTAL_FAILED: "The digital signature is NOT valid: do not rely on this document",
           Indication.INDETERMINATE: "It could not be confirmed that the digital signature is valid",
           "NONE": "The document has no digital signature"},
}
PLURAL_HEADLINE = {
    "vi": {Indication.TOTAL_PASSED: "Các chữ ký số đều hợp lệ"},
    "en": {Indication.TOTAL_PASSED: "All digital signatures are valid"},
}
SHORT = {
    "vi": {Indication.TOTAL_PASSED: "Hợp lệ", Indication.TOTAL_FAILED: "Không hợp lệ",
           Indication.INDETERMINATE: "Chưa xác định được"},
    "en": {Indication.TOTAL_PASSED: "Valid", Indication.TOTAL_FAILED: "Not valid",
           Indication.INDETERMINATE: "Could not be confirmed"},
}

LABELS = {
    "vi": {"signature": "Chữ ký", "timestamp": "Dấu thời gian của tài liệu", "result": "Kết quả",
           "signer": "Người ký", "organisation": "Cơ quan, tổ chức", "when": "Thời điểm ký",
           "covers": "Phạm vi được ký", "revocation": "Tình trạng thu hồi", "kind": "Loại chữ ký",
           "certificates": "Chứng thư số", "findings": "Ghi chú", "validated_at": "Thời điểm kiểm tra",
           "sha256": "Mã băm SHA-256 của văn bản", "issued_by": "cấp bởi", "serial": "số hiệu",
           "valid": "hiệu lực từ", "to": "đến", "agency_code": "mã định danh", "tsa": "Đơn vị cấp dấu thời gian",
           "stamped_at": "Thời điểm đóng dấu"},
    "en": {"signature": "Signature", "timestamp": "Document time stamp", "result": "Result",
           "signer": "Signed by", "organisation": "Organisation", "when": "Signed at",
           "covers": "What it covers", "revocation": "Revocation", "kind": "Kind of signature",
           "certificates": "Certificates", "findings": "Notes", "validated_at": "Checked at",
           "sha256": "SHA-256 of the document", "issued_by": "issued by", "serial": "serial",
           "valid": "valid from", "to": "to", "agency_code": "agency code", "tsa": "Time-stamp authority",
           "stamped_at": "Stamped at"},
}

TZ = {"vi": "giờ Việt Nam, GMT+7", "en": "Vietnam time, UTC+7"}

REASONS = {
    "key_compromise": ("lộ khóa bí mật", "the private key was compromised"),
    "ca_compromise": ("tổ chức chứng thực bị lộ khóa", "the certificate authority was compromised"),
    "affiliation_changed": ("thay đổi cơ quan, tổ chức", "the holder's organisation changed"),
    "superseded": ("đã được thay bằng chứng thư khác", "replaced by another certificate"),
    "cessation_of_operation": ("ngừng hoạt động", "the holder ceased operation"),
    "certificate_hold": ("tạm dừng", "on hold"),
    "remove_from_crl": ("gỡ khỏi danh sách thu hồi", "removed from the revocation list"),
    "privilege_withdrawn": ("bị rút quyền", "privilege withdrawn"),
    "aa_compromise": ("tổ chức cấp thuộc tính bị lộ khóa", "the attribute authority was compromised"),
    "unspecified": ("không nêu lý do", "no reason given"),
}

CHANGES = {  # pyHanko's modification levels, as a reader would say them
    "NONE": ("không có thay đổi nào", "no changes"),
    "LTA_UPDATES": ("chỉ thêm dữ liệu kiểm tra và dấu thời gian", "only validation data and time stamps were added"),
    "FORM_FILLING": ("chỉ điền biểu mẫu hoặc ký thêm", "only form filling or further signatures"),
    "ANNOTATIONS": ("thêm ghi chú, chú thích", "annotations were added"),
    "OTHER": ("có thay đổi khác, như thêm trang hoặc sửa nội dung",
              "other changes, such as a page added or the content changed"),
}

LEVELS = {
    "B-B": ("chữ ký cơ bản (PAdES/CAdES/XAdES B-B)", "basic signature (B-B)"),
    "B-T": ("có dấu thời gian (B-T)", "with a time stamp (B-T)"),
    "B-LT": ("có dấu thời gian và dữ liệu kiểm tra dài hạn (B-LT)",
             "with a time stamp and long-term validation data (B-LT)"),
    "B-LTA": ("có dấu thời gian, dữ liệu kiểm tra dài hạn và dấu thời gian lưu trữ (B-LTA)",
              "with time stamps and long-term validation data for archiving (B-LTA)"),
}


def when(iso: str | None, lang: str) -> str:
    """'03/12/2026 17:20 (giờ Việt Nam, GMT+7)' from an ISO time; '' without one."""
    if not iso:
        return ""
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(VN).strftime("%d/%m/%Y %H:%M") + f" ({TZ[lang]})"


def day(iso: str | None) -> str:
    if not iso:
        return "-"
    try:
        return dt.datetime.fromisoformat(iso).astimezone(VN).strftime("%d/%m/%Y")
    except ValueError:
        return iso


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "vi" else pair[1]


def _names(items: Any) -> str:
    return ", ".join(str(i) for i in items) if items else ""


def covers(sig: dict[str, Any], lang: str) -> str:
    """What the signature covers, in words."""
    vi = lang == "vi"
    cov = sig.get("coverage") or {}
    kind = sig.get("kind", "")
    parts: list[str] = []
    if kind in ("pdf", "pdf-timestamp"):
        scope = cov.get("coverage")
        changes = cov.get("modification_level")
        if scope == "ENTIRE_FILE":
            parts.append("toàn bộ tài liệu" if vi else "the whole document")
        elif scope == "ENTIRE_REVISION":
            later = _pick(CHANGES.get(str(changes), CHANGES["OTHER"]), lang)
            parts.append(("tài liệu như lúc được ký; sau đó: " if vi else
                          "the document as it was when signed; afterwards: ") + later)
            if cov.get("changes_after_signing_unclassified"):
                parts.append("Kyso không xác định được đây có phải là thay đổi được phép hay không" if vi else
                             "Kyso could not classify this change as allowed")
            elif cov.get("changes_after_signing_allowed") is False:
                parts.append("người ký không cho phép thay đổi này" if vi else "the signer did not allow this change")
            elif changes not in (None, "NONE"):
                parts.append("thay đổi này được phép" if vi else "this change is allowed")
        elif scope:
            parts.append("chỉ một phần tài liệu" if vi else "only part of the document")
        else:
            parts.append("không xác định được" if vi else "could not be determined")
        if cov.get("changed_form_fields"):
            parts.append(("các ô biểu mẫu đã thay đổi sau khi ký: " if vi else
                          "form fields changed after signing: ") + _names(cov["changed_form_fields"]))
    elif kind.startswith("asic"):
        if cov.get("files"):
            parts.append(("các tệp: " if vi else "the files: ") + _names(cov["files"]))
        for key, vi_text, en_text in (("changed_files", "tệp bị thay đổi", "files changed"),
                                      ("missing_files", "tệp bị thiếu", "files missing"),
                                      ("files_not_covered", "tệp không được ký", "files not signed")):
            if cov.get(key):
                parts.append(f"{vi_text if vi else en_text}: {_names(cov[key])}")
    elif kind == "cms" or kind.startswith("cms"):
        if cov.get("coverage") == "detached data":
            parts.append("tệp dữ liệu gửi kèm (chữ ký tách rời)" if vi else "the data file sent with it (detached)")
        else:
            parts.append("nội dung nằm trong chữ ký" if vi else "the content carried inside the signature")
    else:  # XML
        if cov.get("covers_whole_document"):
            parts.append("toàn bộ tài liệu" if vi else "the whole document")
        elif cov.get("covered"):
            parts.append(("chỉ các phần: " if vi else "only these parts: ") + _names(cov["covered"]))
        else:
            parts.append("không xác định được" if vi else "could not be determined")
    return "; ".join(parts)


def revocation(sig: dict[str, Any], lang: str) -> str:
    vi = lang == "vi"
    rev = sig.get("revocation") or {}
    if not rev.get("revoked"):
        return ("Không thấy chứng thư số bị thu hồi" if vi else "The certificate was not found revoked")
    reason = _pick(REASONS.get(str(rev.get("reason")), REASONS["unspecified"]), lang)
    text = (f"Chứng thư số đã bị thu hồi lúc {when(rev.get('date'), lang)}, lý do: {reason}" if vi else
            f"The certificate was revoked at {when(rev.get('date'), lang)}, reason: {reason}")
    if rev.get("counts_from") and rev.get("counts_from") != rev.get("date"):
        text += (f"; coi như không còn tin cậy từ {when(rev['counts_from'], lang)}" if vi else
                 f"; treated as untrustworthy from {when(rev['counts_from'], lang)}")
    if rev.get("ca_revoked"):
        text += (" (chứng thư của tổ chức chứng thực bị thu hồi)" if vi else " (a CA certificate was revoked)")
    return text


@dataclass
class SignatureView:
    title: str
    indication: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


@dataclass
class ReportView:
    indication: str
    headline: str
    summary: str
    signatures: list[SignatureView]
    footer: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)  # about the document as read (a repaired PDF)


def _certificate_line(c: dict[str, Any], t: dict[str, str]) -> str:
    return (f"{c.get('subject', '-')}: {t['issued_by']} {c.get('issuer', '-')}; {t['serial']} "
            f"{c.get('serial', '-')}; {t['valid']} {day(c.get('not_before'))} {t['to']} {day(c.get('not_after'))}")


def signature_view(sig: dict[str, Any], index: int, lang: str) -> SignatureView:
    t = LABELS[lang]
    vi = lang == "vi"
    stamp = sig.get("kind") == "pdf-timestamp"
    title = t["timestamp"] if stamp else f"{t['signature']} {index}"
    ind = sig.get("indication", Indication.INDETERMINATE)
    view = SignatureView(title, ind)
    summary = sig.get("summary_vi" if vi else "summary_en") or ""
    view.rows.append((t["result"], summary or SHORT[lang].get(ind, ind)))
    who = sig.get("signer") or "-"
    view.rows.append((t["tsa"] if stamp else t["signer"], who if who != "-" else
                      ("không xác định được" if vi else "unknown")))
    if not stamp:
        org = sig.get("signer_organization") or ""
        if sig.get("agency_code"):
            code = f"{t['agency_code']} {sig['agency_code']}"
            org = f"{org} ({code})" if org else code
        view.rows.append((t["organisation"], org or ("không ghi trong chứng thư số" if vi else
                                                      "not stated in the certificate")))
    ts, claimed = sig.get("timestamp_time"), sig.get("claimed_signing_time")
    if stamp:
        moment = when(ts, lang) or "-"
        view.rows.append((t["stamped_at"], moment))
    elif ts:
        moment = when(ts, lang) + (" theo dấu thời gian" if vi else ", by a time stamp")
        view.rows.append((t["when"], moment))
    elif claimed:
        moment = when(claimed, lang) + (" (do người ký tự khai, không có dấu thời gian chứng minh)" if vi else
                                        " (stated by the signer, not proven by a time stamp)")
        view.rows.append((t["when"], moment))
    else:
        view.rows.append((t["when"], "không rõ" if vi else "not stated"))
    view.rows.append((t["covers"], covers(sig, lang)))
    if not stamp:
        view.rows.append((t["revocation"], revocation(sig, lang)))
        level = str(sig.get("level") or "")
        for key, words in LEVELS.items():
            if level == key or level.endswith("-" + key):
                view.rows.append((t["kind"], _pick(words, lang)))
                break
    certs = sig.get("certificates") or []
    if certs:
        view.certificates = [_certificate_line(c, t) for c in certs]
    elif sig.get("chain"):
        view.certificates = [" → ".join(str(c) for c in sig["chain"])]
    if sig.get("sub_indication") == "NO_CERTIFICATE_CHAIN_FOUND":
        view.findings.append(
            "Chứng thư số do một tổ chức chứng thực chưa được tin cậy ở đây cấp (ví dụ chứng thư gốc của Bộ "
            "Thông tin và Truyền thông hoặc của Ban Cơ yếu Chính phủ chưa được thêm): hãy hỏi quản trị viên."
            if vi else
            "The certificate comes from a certificate authority not trusted here (for example, the national "
            "root it chains to has not been added): ask the administrator.")
    for problem in sig.get("problems") or []:
        text = problem.get("vi" if vi else "en") if isinstance(problem, dict) else None
        if text and text not in summary:
            view.findings.append(text)
    return view


def report_view(report: dict[str, Any], lang: str) -> ReportView:
    t = LABELS[lang]
    sigs = report.get("signatures") or []
    ind = report.get("indication", Indication.INDETERMINATE)
    if not sigs:
        headline = HEADLINE[lang]["NONE"]
    elif ind == Indication.TOTAL_PASSED and sum(s.get("kind") != "pdf-timestamp" for s in sigs) > 1:
        headline = PLURAL_HEADLINE[lang][Indication.TOTAL_PASSED]
    else:
        headline = HEADLINE[lang].get(ind, ind)
    summary = report.get("summary_vi" if lang == "vi" else "summary_en") or ""
    views, n = [], 0
    for s in sigs:
        if s.get("kind") != "pdf-timestamp":
            n += 1
        views.append(signature_view(s, n, lang))
    footer = [(t["validated_at"], when(report.get("validated_at"), lang) or "-"),
              (t["sha256"], report.get("document_sha256") or "-")]
    notes = [str(n.get(lang) or "") for n in report.get("notes") or [] if isinstance(n, dict) and n.get(lang)]
    return ReportView(ind, headline, summary, views, footer, notes)
