"""Test documents: a one-page Vietnamese administrative letter, made with pyHanko's text
layout and the same embedded font the appearances use."""

from __future__ import annotations

import io

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
    from pyhanko.pdf_utils import generic, layout
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
    from pyhanko.pdf_utils.writer import PdfFileWriter

    from signer.pades import FONT, font_file

    w = PdfFileWriter()
    style = TextBoxStyle(font=GlyphAccumulatorFactory(font_file(FONT)), font_size=12, leading=16)
    for n in range(pages):
        box = TextBox(style, writer=w, box=layout.BoxConstraints(width=470, height=16 * len(LETTER_LINES) + 8))
        box.content = "\n".join(LETTER_LINES if n == 0 else [f"Trang {n + 1}"])
        form = w.add_object(box.as_form_xobject())
        content = generic.StreamObject(stream_data=b"q 1 0 0 1 60 520 cm /Fm1 Do Q")
        if filler_bytes and n == 0:  # bulk (an embedded attachment-like stream), to reach a size
            import os

            blob = generic.StreamObject(stream_data=os.urandom(filler_bytes))
            w.root["/KysoFiller"] = w.add_object(blob)
        page = generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
            generic.pdf_name("/Resources"): generic.DictionaryObject({
                generic.pdf_name("/XObject"): generic.DictionaryObject({generic.pdf_name("/Fm1"): form})}),
            generic.pdf_name("/Contents"): w.add_object(content),
        })
        w.insert_page(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()
