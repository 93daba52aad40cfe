"""Classes of wrong verdicts found by the held-out run (bench/heldout.py, tests/corpus/foreign/README.md
"Held-out run"), each rebuilt here from a document signed in the test, not from the held-out files."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from asn1crypto import cms

from tests.signing.documents import letter_pdf
from tests.verify.test_agreement import ForeignCA


def _signed(signer: Any) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    out = io.BytesIO()
    meta = signers.PdfSignatureMetadata(field_name="Foreign", subfilter=fields.SigSeedSubFilter.PADES)
    # Room for the signed bytes themselves inside /Contents.
    signers.PdfSigner(meta, signer=signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(letter_pdf())), output=out,
                                                    bytes_reserved=4 * len(letter_pdf()) + 16384)
    return out.getvalue()


def _enveloping(signed: bytes, content: bytes | None = None) -> bytes:
    """The same signature with its CMS carrying ``content`` (by default the bytes its
    /ByteRange covers) as encapsulated content, as EU DSS writes some PDF signatures."""
    m = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", signed)
    assert m is not None
    a, b, c = (int(v) for v in m.groups())
    covered = signed[:a] + signed[b:b + c]
    # Not rstrip(b"\0"): a DER ending in a zero byte would lose it; load ignores the padding.
    info = cms.ContentInfo.load(bytes.fromhex(signed[a + 1:b - 1].decode()))
    info["content"]["encap_content_info"] = {"content_type": "data", "content": covered if content is None else content}
    hexed = info.dump(force=False).hex().encode()
    assert len(hexed) <= b - a - 2
    return signed[:a + 1] + hexed + b"0" * (b - a - 2 - len(hexed)) + signed[b - 1:]


def _check(data: bytes, root: bytes) -> Any:
    from verification.service import check_with_ders

    report, _certs = check_with_ders(data, None, ((root,), (), ()), False)
    return report


def test_a_pdf_signature_enveloping_exactly_its_signed_bytes_is_checked(tmp_path: Path) -> None:
    # Held-out run (EU DSS pades-enveloping-cms.pdf): the CMS of a PDF signature carried as its
    # content the very bytes its /ByteRange covers; pyHanko refuses any encapsulated content in
    # a PDF signature, and Kyso said TOTAL-FAILED / FORMAT_FAILURE of a signature that verifies.
    from cryptography.hazmat.primitives import serialization

    foreign = ForeignCA(tmp_path)
    root = foreign.root.public_bytes(serialization.Encoding.DER)
    signed = _signed(foreign.signer())
    assert _check(signed, root).indication == "TOTAL-PASSED"
    (sig,) = _check(_enveloping(signed), root).signatures
    assert (sig.indication, sig.integrity, sig.signature_valid) == ("TOTAL-PASSED", True, True), sig.problems
    # Other content than the signed bytes: which bytes were signed is in doubt, and it fails.
    (other,) = _check(_enveloping(signed, b"900.000.000 VND"), root).signatures
    assert (other.indication, other.sub_indication) == ("TOTAL-FAILED", "FORMAT_FAILURE")
