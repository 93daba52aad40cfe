"""The verification report as a PDF a clerk can file with the document (A4, Liberation
Serif embedded, Vietnamese or English), written with pyHanko's PDF writer, in words
(verification/readable.py), sealed with Kyso's own service seal and time-stamped by Kyso's TSA
(PAdES B-T), so that the report can be relied on once it leaves Kyso.

The seal is the ``report-seal`` service credential: a key in the HSM with a certificate from
the issuing CA, made on demand and rotated like the TSA's (ca_admin.service.service_credential).
Not the issuing CA's own key: a CA key signs certificates and CRLs only."""

from __future__ import annotations

import io
import textwrap
from typing import Any

from verification.readable import TEXT

LINE = 15
TOP = 800
BOTTOM = 50


def _lines(report: dict[str, Any], lang: str) -> list[str]:
    from verification.readable import report_view

    t = TEXT[lang]
    view = report_view(report, lang)
    out = [t["title"].upper(), "", *textwrap.wrap(view.headline.upper(), 80),
           *textwrap.wrap(view.summary, 95), *(line for note in view.notes for line in textwrap.wrap(note, 95)), ""]
    for s in view.signatures:
        out.append(s.title)
        rows = [*s.rows, *((t["certificates"], c) for c in s.certificates), *((t["findings"], f) for f in s.findings)]
        for key, value in rows:
            wrapped = textwrap.wrap(f"{key}: {value}", 90) or ["-"]
            out.append(f"    {wrapped[0]}")
            out.extend(f"        {more}" for more in wrapped[1:])
        out.append("")
    for key, value in view.footer:
        out.extend(textwrap.wrap(f"{key}: {value}", 95))
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
    """The report, unsealed."""
    lines = _lines(report, lang)
    per_page = (TOP - BOTTOM) // LINE
    return text_pdf([lines[i:i + per_page] for i in range(0, len(lines), per_page)])


REPORT_SEAL_NAME = "Kyso - báo cáo kiểm tra chữ ký số"


def sealed(factory: Any, keystore: Any, settings: Any, report: dict[str, Any], lang: str = "vi") -> bytes:
    """The report, sealed by Kyso's service seal and time-stamped (PAdES B-T)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    from ca_admin.facade import service_credential
    from signer import pades
    from signer.settings import TsaSettings

    # Renewed like the TSA's certificate (tsa.rotate_days).
    credential = service_credential(factory, keystore, settings, "report-seal", REPORT_SEAL_NAME,
                                    rotate_days=settings.section(TsaSettings).rotate_days)
    # HsmSigner reads key_label, certificate_der, chain_der and certificate_id: a service
    # credential has them all. Kyso's own report seal, not a signature for a client: it goes
    # to the service key directly, not through the signing pipeline.
    signer = pades._hsm_signer(lambda data: keystore.sign(credential.key_label, data, credential.scheme),
                               credential, credential.scheme)  # type: ignore[arg-type]
    meta = signers.PdfSignatureMetadata(
        field_name="Kyso-report-seal", md_algorithm=credential.scheme.hash_name,
        subfilter=SigSeedSubFilter.PADES, name="Kyso",
        reason="Báo cáo kiểm tra chữ ký số do Kyso lập" if lang == "vi" else "Signature verification report by Kyso")
    out = io.BytesIO()
    signers.PdfSigner(meta, signer=signer, timestamper=pades._timestamper_class()(factory, keystore, settings)
                      ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(render(report, lang))), output=out)
    return out.getvalue()
