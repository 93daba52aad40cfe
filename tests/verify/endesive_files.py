"""Files signed by endesive 3.0.1 (a second, independent signer for the agreement corpus).

Two workarounds, both for importing only, never for what endesive signs:
- ``endesive.pdf`` imports its verifier, which imports ``certvalidator`` and so oscrypto
  1.3.0, whose OpenSSL version check fails on "3.0.19". Signing never uses it: when the import
  fails, an empty placeholder module stands in.
- endesive labels every signature rsaEncryption, even ECDSA ones: RSA keys only here.
endesive writes /SubFilter /adbe.pkcs7.detached, so its PDFs are PDF signatures, not PAdES.
Its update is broken when the input ends in a cross-reference stream (it writes the /W array
as a name, "/W [1#208#200#5D"), so the input is first rewritten by pypdf with a classic table.
"""

from __future__ import annotations

import datetime as dt
import sys
import types
from typing import Any


def _import_endesive() -> tuple[Any, Any]:
    try:
        import certvalidator  # noqa: F401
    except Exception:  # noqa: BLE001 - oscrypto's version check, see the module docstring
        for name in [m for m in sys.modules if m == "certvalidator" or m.startswith("certvalidator.")]:
            del sys.modules[name]
        sys.modules["certvalidator"] = types.ModuleType("certvalidator")
    from endesive import signer
    from endesive.pdf import cms as pdfcms

    return signer, pdfcms


def classic_xref(pdf: bytes) -> bytes:
    import io

    from pypdf import PdfReader, PdfWriter

    out = io.BytesIO()
    PdfWriter(clone_from=PdfReader(io.BytesIO(pdf))).write(out)
    return out.getvalue()


def sign_pdf(pdf: bytes, key: Any, cert: Any, chain: list[Any]) -> bytes:
    _signer, pdfcms = _import_endesive()
    pdf = classic_xref(pdf)
    dct = {"sigfield": "Endesive", "reason": "Test", "location": "Hai Phong", "contact": "test@example.org",
           "signingdate": dt.datetime.now(dt.UTC).strftime("D:%Y%m%d%H%M%S+00'00'")}
    return pdf + pdfcms.sign(pdf, dct, key, cert, chain, "sha256")


def sign_detached_cms(data: bytes, key: Any, cert: Any, chain: list[Any]) -> bytes:
    signer, _pdfcms = _import_endesive()
    return bytes(signer.sign(data, key, cert, chain, "sha256", attrs=True))
