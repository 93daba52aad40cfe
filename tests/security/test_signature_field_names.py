"""Item 19 of issue 13: a signature field name with CR/LF gave a 500 after the signature was
made and recorded. The field name comes back in the X-Kyso-Signature-Field header; a PDF
can bring its own (an empty seal field prepared by a certifying leader is signed into), so
it is checked before signing: printable ASCII, 1 to 100 characters, else 422
signature-field-invalid, and nothing is signed or recorded."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.signing.conftest import AGENCY, H, signing  # noqa: F401 - the signing world fixture
from tests.signing.documents import letter_pdf
from tests.signing.test_pdf import images_uploaded  # noqa: F401 - the appearance images fixture


def _with_prepared_seal_field(name: str) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields

    writer = IncrementalPdfFileWriter(io.BytesIO(letter_pdf()))
    fields.append_signature_field(writer, fields.SigFieldSpec(name, on_page=0, box=(100, 100, 200, 200)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _records(services: Any) -> int:
    from signer.credentials import SignatureRecord

    with services.sessions() as s:
        return int(s.execute(select(func.count()).select_from(SignatureRecord)).scalar_one())


@pytest.mark.parametrize("name", ["Kyso-seal-x\r\nSet-Cookie: a=b", "Kyso-seal-x\nX-Evil: 1", "Kyso-seal-ấn",
                                  "Kyso-seal-" + "x" * 100, "Kyso-seal-\x7f"])
def test_unsafe_field_name_is_refused_before_signing(client: Any, services: Any, signing: dict[str, Any],  # noqa: F811
                                                     images_uploaded: None, name: str) -> None:  # noqa: F811
    r = client.post(f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-B&appearance=seal",
                    data=_with_prepared_seal_field(name),
                    headers=H(signing["keys"]["eoffice"], **{"Content-Type": "application/pdf"}))
    assert r.status_code == 422, (r.status_code, r.get_data()[:300])
    assert r.get_json()["code"] == "signature-field-invalid" and r.get_json()["detail_vi"]
    assert _records(services) == 0


def test_a_plain_prepared_field_is_signed_into(client: Any, signing: dict[str, Any],  # noqa: F811
                                               images_uploaded: None) -> None:  # noqa: F811
    r = client.post(f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-B&appearance=seal",
                    data=_with_prepared_seal_field("Kyso-seal-prepared"),
                    headers=H(signing["keys"]["eoffice"], **{"Content-Type": "application/pdf"}))
    assert r.status_code == 200, r.get_json()
    assert r.headers["X-Kyso-Signature-Field"] == "Kyso-seal-prepared"
