"""Test documents: a one-page Vietnamese administrative letter, made with pyHanko's text
layout and the same embedded font the appearances use."""

from __future__ import annotations

LETTER_LINES = [
    "UBND THÀNH PHỐ HẢI PHÒNG          CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "SỞ NỘI VỤ                                   Độc lập - Tự do - Hạnh phúc",
    "Số: 123/SNV-VP                    Hải Phòng, ngày 25 tháng 11 năm 2026",
    "",
    "V/v triển khai chữ ký số trong văn bản điện tử",
    "",
    "Kính gửi: Các sở, ban, ngành thành phố.",
    "",
    "Thực hiện Nghị định số 30/2020/NĐ-CP về công tác văn thư, Sở Nội vụ đề nghị",
    "các cơ quan, đơn vị triển khai ký số văn bản điện tử trên hệ thống eOffice.",
    "",
    "                                                        GIÁM ĐỐC",
]


def letter_pdf(pages: int = 1, filler_bytes: int = 0) -> bytes:
    from signer.report_pdf import text_pdf

    return text_pdf([LETTER_LINES if n == 0 else [f"Trang {n + 1}"] for n in range(pages)], font_size=12,
                    leading=16, filler_bytes=filler_bytes)
