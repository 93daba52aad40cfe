"""A PDF that reads only leniently (a damaged cross-reference table that pyHanko's non-strict
reader rebuilds) is judged, and the report says the file was repaired: in the JSON report,
the public page and the PDF report, in Vietnamese and English (issue 14, item 4)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from tests.signing.documents import letter_pdf
from verification.report import REPAIRED_PDF
from verification.service import check_with_ders

PDFS = Path(__file__).parent.parent / "corpus" / "foreign" / "pdf"
NO_TRUST: tuple[tuple[bytes, ...], ...] = ((), (), ())


def _misplaced_startxref(pdf: bytes) -> bytes:
    """``pdf`` with its last startxref pointing two bytes past the xref section."""
    found = list(re.finditer(rb"startxref\s+(\d+)", pdf))[-1]
    moved = str(int(found.group(1)) + 2).encode()
    return pdf[:found.start(1)] + moved + pdf[found.end(1):]


def test_a_damaged_xref_is_read_and_said() -> None:
    intact, _ = check_with_ders(letter_pdf(), None, NO_TRUST, False)
    assert intact.notes == [] and intact.to_json()["notes"] == []
    report, _ = check_with_ders(_misplaced_startxref(letter_pdf()), None, NO_TRUST, False)
    assert report.notes == [REPAIRED_PDF]
    assert report.to_json()["notes"] == [{"en": "The PDF was repaired when read (its cross-reference table was "
                                          "damaged).", "vi": "Tệp PDF đã được sửa khi đọc (bảng tham chiếu chéo "
                                          "của tệp bị hỏng)."}]


def test_a_signed_pdf_with_a_damaged_xref_is_judged_and_said() -> None:
    """EU DSS's hello_signed_INCSAVE_signed.pdf: an incremental update whose xref section
    sizes decrease (ISO 32000 forbids it; the strict reader refuses the file)."""
    report, _ = check_with_ders((PDFS / "dss" / "hello_signed_INCSAVE_signed.pdf").read_bytes(), None, NO_TRUST,
                                False)
    assert report.signatures and all(s.integrity and s.signature_valid for s in report.signatures)
    assert report.notes == [REPAIRED_PDF]


def test_the_note_reaches_the_readable_report_and_the_pdf_report() -> None:
    from signer.report_pdf import _lines
    from verification.readable import report_view

    report, _ = check_with_ders((PDFS / "pyhanko" / "minimal-startxref-obo2.pdf").read_bytes(), None, NO_TRUST,
                                False)
    data = report.to_json()
    assert report_view(data, "vi").notes == [REPAIRED_PDF["vi"]]
    assert report_view(data, "en").notes == [REPAIRED_PDF["en"]]
    assert "bảng tham chiếu chéo" in " ".join(_lines(data, "vi"))
    assert "cross-reference table was damaged" in " ".join(_lines(data, "en"))


def test_the_public_page_says_the_pdf_was_repaired(client: Any, signing: dict[str, Any]) -> None:
    damaged = _misplaced_startxref(letter_pdf())
    for lang, words in (("vi", REPAIRED_PDF["vi"]), ("en", REPAIRED_PDF["en"])):
        r = client.post(f"/verify?lang={lang}", data={"file": (io.BytesIO(damaged), "letter.pdf")},
                        content_type="multipart/form-data")
        assert r.status_code == 200 and words in r.get_data(as_text=True)
