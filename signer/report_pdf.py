"""The verification report as a PDF a clerk can file with the document (A4, Liberation
Serif embedded, Vietnamese or English), written with pyHanko's PDF writer."""

from __future__ import annotations

import io
import textwrap
from typing import Any

from signer.page import TEXT

LINE = 15
TOP = 800
BOTTOM = 50


def _lines(report: dict[str, Any], lang: str) -> list[str]:
    t = TEXT[lang]
    head = report["indication"] + (f" / {report['sub_indication']}" if report["sub_indication"] else "")
    out = [t["title"].upper(), "", f"{t['result']}: {head}",
           *textwrap.wrap(report["summary_vi" if lang == "vi" else "summary_en"], 95), ""]
    for i, s in enumerate(report["signatures"], 1):
        result = s["indication"] + (f" / {s['sub_indication']}" if s["sub_indication"] else "")
        rows = [
            (t["result"], result), (t["signer"], s["signer"]), (t["agency"], s["agency_code"] or "-"),
            (t["level"], s["level"]), (t["time"], s["claimed_signing_time"] or "-"),
            (t["ts"], s["timestamp_time"] or "-"),
            (t["chain"], " > ".join(s["chain"])), (t["integrity"], t["yes"] if s["integrity"] else t["no"]),
            (t["trusted"], t["yes"] if s["trusted"] else t["no"]),
            (t["revoked"], t["yes"] if s["revocation"]["revoked"] else t["no"]),
            (t["coverage"], ", ".join(f"{k}={v}" for k, v in s["coverage"].items())),
        ]
        out.append(f"{t['signature']} {i}" + (f" ({s['field']})" if s["field"] else ""))
        for key, value in rows:
            wrapped = textwrap.wrap(str(value), 70) or ["-"]
            out.append(f"    {key}: {wrapped[0]}")
            out.extend(f"        {more}" for more in wrapped[1:])
        out.extend(textwrap.wrap(s["summary_vi" if lang == "vi" else "summary_en"], 95))
        out.append("")
    return out


def text_pdf(pages: list[list[str]], font_size: int = 11, leading: int = LINE, filler_bytes: int = 0) -> bytes:
    """An A4 PDF with these lines of text per page, in the embedded Liberation Serif.
    ``filler_bytes`` adds an unreferenced-by-pages stream of that size (benchmarks, tests)."""
    import os

    from pyhanko.pdf_utils import generic, layout
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
    from pyhanko.pdf_utils.writer import PdfFileWriter

    from signer.pades import FONT, font_file

    writer = PdfFileWriter()
    style = TextBoxStyle(font=GlyphAccumulatorFactory(font_file(FONT)), font_size=font_size, leading=leading)
    if filler_bytes:
        writer.root["/KysoFiller"] = writer.add_object(generic.StreamObject(stream_data=os.urandom(filler_bytes)))
    for chunk in pages:
        box = TextBox(style, writer=writer, box=layout.BoxConstraints(width=500, height=leading * len(chunk) + 10))
        box.content = "\n".join(chunk)
        form = writer.add_object(box.as_form_xobject())
        y = TOP - leading * len(chunk)
        content = generic.StreamObject(stream_data=f"q 1 0 0 1 50 {y} cm /Fm1 Do Q".encode())
        page = generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
            generic.pdf_name("/Resources"): generic.DictionaryObject({
                generic.pdf_name("/XObject"): generic.DictionaryObject({generic.pdf_name("/Fm1"): form})}),
            generic.pdf_name("/Contents"): writer.add_object(content),
        })
        writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def render(report: dict[str, Any], lang: str = "vi") -> bytes:
    lines = _lines(report, lang)
    per_page = (TOP - BOTTOM) // LINE
    return text_pdf([lines[i:i + per_page] for i in range(0, len(lines), per_page)])
