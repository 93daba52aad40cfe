"""The report in words (verification/readable.py): the cases a clerk meets, with no field name,
enum name or Python value left (issue 14, Deliver 4)."""

from __future__ import annotations

from typing import Any

from verification.readable import report_view
from verification.report import SignatureReport, overall, summaries

RAW = ("ENTIRE_", "OTHER", "FORM_FILLING", "docmdp", "changed_form_fields", "key_compromise", "True", "False",
       "None", "TOTAL-", "INDETERMINATE", "coverage")


def _sig(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "pdf", "field": "Sig1", "signer": "NGUYỄN VĂN AN", "agency_code": "000.00.12.H31",
        "signer_organization": "UBND THÀNH PHỐ HẢI PHÒNG", "chain": ["NGUYỄN VĂN AN", "Kyso CA"],
        "claimed_signing_time": "2026-12-03T09:05:00+07:00", "timestamp_time": None, "level": "B-B",
        "integrity": True, "signature_valid": True, "trusted": True, "revocation": {"revoked": False},
        "coverage": {"coverage": "ENTIRE_FILE", "modification_level": "NONE", "docmdp_ok": True,
                     "changed_form_fields": [], "covers_whole_document": True},
        "indication": "TOTAL-PASSED", "sub_indication": None, "summary_en": "x", "summary_vi": "x",
        "problems": [], "certificates": [{"subject": "NGUYỄN VĂN AN", "issuer": "Kyso CA", "serial": "1A2B",
                                          "not_before": "2026-01-01T07:00:00+07:00",
                                          "not_after": "2028-01-01T07:00:00+07:00"}]}
    base.update(kw)
    return base


def _text(report: dict[str, Any], lang: str) -> str:
    v = report_view(report, lang)
    parts = [v.headline, v.summary]
    for s in v.signatures:
        parts += [s.title, *(f"{a}: {b}" for a, b in s.rows), *s.certificates, *s.findings]
    parts += [f"{a}: {b}" for a, b in v.footer]
    text = "\n".join(parts)
    for raw in RAW:
        assert raw not in text, (raw, text)
    return text


def test_a_page_added_after_signing_and_a_compromised_key() -> None:
    sig = _sig(coverage={"coverage": "ENTIRE_REVISION", "modification_level": "OTHER", "docmdp_ok": False,
                         "changed_form_fields": ["SoVanBan"], "covers_whole_document": False,
                         "changes_after_signing_allowed": False},
               revocation={"revoked": True, "date": "2026-12-01T10:00:00+07:00", "reason": "key_compromise",
                           "ca_revoked": False, "counts_from": "2026-01-01T07:00:00+07:00"},
               indication="TOTAL-FAILED", sub_indication="REVOKED")
    report = {"indication": "TOTAL-FAILED", "sub_indication": "REVOKED", "summary_vi": "s", "summary_en": "s",
              "signatures": [sig], "validated_at": "2026-12-03T10:00:00+07:00", "document_sha256": "ab" * 32}
    vi = _text(report, "vi")
    assert "tài liệu như lúc được ký; sau đó: có thay đổi khác, như thêm trang" in vi
    assert "người ký không cho phép thay đổi này" in vi and "các ô biểu mẫu đã thay đổi sau khi ký: SoVanBan" in vi
    assert "lý do: lộ khóa bí mật" in vi and "01/12/2026 10:00 (giờ Việt Nam, GMT+7)" in vi
    assert "số hiệu 1A2B; hiệu lực từ 01/01/2026 đến 01/01/2028" in vi and "ab" * 32 in vi
    assert "Chữ ký số KHÔNG hợp lệ" in vi
    en = _text(report, "en")
    assert "the document as it was when signed; afterwards: other changes, such as a page added" in en
    assert "reason: the private key was compromised" in en


def test_valid_whole_document_and_a_time_stamp() -> None:
    stamp = _sig(kind="pdf-timestamp", signer="Kyso TSA", level="document time stamp", claimed_signing_time=None,
                 timestamp_time="2026-12-03T09:06:00+07:00", coverage={"coverage": "ENTIRE_FILE"})
    report = {"indication": "TOTAL-PASSED", "sub_indication": None, "summary_vi": "s", "summary_en": "s",
              "signatures": [_sig(), stamp], "validated_at": "2026-12-03T10:00:00+07:00", "document_sha256": "0"}
    vi = _text(report, "vi")
    assert "Chữ ký 1" in vi and "Dấu thời gian của tài liệu" in vi and "Chữ ký 2" not in vi
    assert "toàn bộ tài liệu" in vi and "do người ký tự khai" in vi
    assert "UBND THÀNH PHỐ HẢI PHÒNG (mã định danh 000.00.12.H31)" in vi


def test_summaries_count_signatures_not_time_stamps() -> None:
    def rep(kind: str, ind: str) -> SignatureReport:
        en, vi = summaries(ind, None if ind == "TOTAL-PASSED" else "NO_CERTIFICATE_CHAIN_FOUND", "An",
                            "2026-12-03T02:05:00+00:00", stamp=kind == "pdf-timestamp")
        return SignatureReport(kind, None, "An", None, [], None, None, "B-B", True, True, True, {}, {}, ind,
                               None, en, vi)

    one = rep("pdf", "TOTAL-PASSED")
    assert one.summary_vi == "Chữ ký hợp lệ của An, ký lúc 03/12/2026 09:05 (giờ Việt Nam, GMT+7)."
    assert overall([one], one)[1] == one.summary_vi
    ts = rep("pdf-timestamp", "TOTAL-PASSED")
    assert ts.summary_vi.startswith("Dấu thời gian hợp lệ của An, đóng dấu lúc")
    en, vi = overall([one, ts], one)
    assert "All 1" not in en and "Cả 1" not in vi and vi.endswith("Dấu thời gian của tài liệu hợp lệ.")
    bad = rep("pdf", "INDETERMINATE")
    assert bad.summary_vi.startswith("Chưa xác định được chữ ký của An")
    en, vi = overall([one, bad, ts], bad)
    assert vi.startswith("1 trên 2 chữ ký hợp lệ.") and en.startswith("1 of 2 signatures are valid.")
