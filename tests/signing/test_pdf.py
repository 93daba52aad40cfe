"""PAdES through the API, judged by pdfsig and by pyHanko's validator: every level, the
Decree 30 appearances, leader then seal on one document, bad input."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.signing.conftest import AGENCY, PIN, H
from tests.signing.documents import letter_pdf


def signature_png() -> bytes:
    img = Image.new("RGBA", (400, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.line([(20, 120), (90, 30), (150, 130), (230, 40), (300, 120), (380, 60)], fill=(20, 40, 160, 255), width=7)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def seal_png() -> bytes:
    img = Image.new("RGBA", (472, 472), (0, 0, 0, 0))  # 40 mm at 300 dpi
    draw = ImageDraw.Draw(img)
    draw.ellipse([8, 8, 464, 464], outline=(220, 20, 30, 235), width=16)
    draw.ellipse([70, 70, 402, 402], outline=(220, 20, 30, 235), width=8)
    draw.regular_polygon((236, 236, 60), 5, fill=(220, 20, 30, 235))
    out = io.BytesIO()
    img.save(out, "PNG", dpi=(300, 300))
    return out.getvalue()


@pytest.fixture
def images_uploaded(client: Any, signing: dict[str, Any]) -> None:
    ra = H(signing["keys"]["ra"], **{"Content-Type": "image/png"})
    r = client.put(f"/api/v1/admin/officials/{signing['official_id']}/signature-image", headers=ra,
                   data=signature_png())
    assert r.status_code == 200, r.get_json()
    r = client.put(f"/api/v1/admin/agencies/{AGENCY}/seal-image", headers=ra, data=seal_png())
    assert r.status_code == 200, r.get_json()


REFERENCES = Path(__file__).parent / "reference"


def matches_reference(pdf: Path, name: str, d: Path) -> None:
    """Page 1 rendered by pdftoppm matches tests/signing/reference/<name>.png within a
    tolerance (the signing time in the copy stamp differs run to run). With
    UPDATE_REFERENCE_IMAGES=1 the reference is written instead."""
    import os

    from PIL import ImageChops

    subprocess.run(["pdftoppm", "-r", "50", "-gray", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(d / name)], check=True, timeout=60)
    rendered = Image.open(d / f"{name}.png").convert("L")
    reference_path = REFERENCES / f"{name}.png"
    if os.environ.get("UPDATE_REFERENCE_IMAGES") == "1":
        REFERENCES.mkdir(exist_ok=True)
        rendered.save(reference_path)
    reference = Image.open(reference_path).convert("L")
    assert rendered.size == reference.size
    diff = ImageChops.difference(rendered, reference)
    differing = sum(diff.histogram()[65:])
    share = differing / (rendered.width * rendered.height)
    assert share < 0.004, f"{share:.2%} of the pixels differ from {reference_path}"
    # ... and the page is not blank where the appearance is: something was drawn.
    assert rendered.getextrema()[0] < 100


def pdfsig(path: Path, d: Path) -> str:
    """pdfsig's report. -no-ocsp: poppler would ask the responder named in the certificate
    (the configured public URL, not served in these tests) and ignores the DSS."""
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{d / 'nss'}", "-no-ocsp", str(path)],
                         capture_output=True, text=True, timeout=120)
    return out.stdout + out.stderr


def nss_trusting(d: Path) -> None:
    """An NSS database that trusts the city root, for pdfsig."""
    nss = d / "nss"
    if nss.exists():
        return
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "kyso-root", "-t", "CT,C,C", "-i",
                    str(d / "root.pem")], check=True, capture_output=True)


def pyhanko_validate(pdf: bytes, d: Path) -> list[Any]:
    from asn1crypto import pem, x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko_certvalidator import ValidationContext

    root = x509.Certificate.load(pem.unarmor((d / "root.pem").read_bytes())[2])
    reader = PdfFileReader(io.BytesIO(pdf))
    out = []
    for sig in reader.embedded_signatures:
        vc = ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail")
        if sig.sig_object_type == "/DocTimeStamp":
            out.append(validate_pdf_timestamp(sig, validation_context=vc))
        else:
            out.append(validate_pdf_signature(sig, vc))
    return out


def _sign(client: Any, key: str, pdf: bytes, query: str, consent: str | None = None) -> Any:
    headers = H(key, **{"Content-Type": "application/pdf"})
    if consent:
        headers["X-Kyso-Consent"] = consent
    return client.post(f"/api/v1/sign/pdf?{query}", data=pdf, headers=headers)


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT", "B-LTA"])
def test_every_level_accepted_by_pyhanko_and_pdfsig(client: Any, signing: dict[str, Any], level: str) -> None:
    d = signing["dir"]
    r = _sign(client, signing["keys"]["eoffice"], letter_pdf(), f"credential=agency:{AGENCY}&level={level}")
    assert r.status_code == 200, r.get_json()
    assert r.data.startswith(b"%PDF") and r.headers["X-Kyso-Signature-Field"].startswith("Kyso-none-")
    status, *doc_timestamps = pyhanko_validate(r.data, d)
    assert status.bottom_line, status.pretty_print_details()
    assert status.coverage.name in ("ENTIRE_FILE", "ENTIRE_REVISION")
    assert all(ts.valid and ts.intact and ts.trusted for ts in doc_timestamps)
    assert len(doc_timestamps) == (level == "B-LTA")
    if level != "B-B":
        assert status.timestamp_validity is not None and status.timestamp_validity.valid
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(r.data))
    if level in ("B-LT", "B-LTA"):
        dss = reader.root["/DSS"]
        assert len(dss["/OCSPs"]) >= 1 and len(dss["/CRLs"]) >= 1 and len(dss["/Certs"]) >= 2
    if level == "B-LTA":
        assert len(reader.embedded_timestamp_signatures) == 1
    (d / "out.pdf").write_bytes(r.data)
    nss_trusting(d)
    report = pdfsig(d / "out.pdf", d)
    assert "Signature is Valid" in report and "Certificate is Trusted" in report, report


def test_leader_then_seal_both_valid_with_images(client: Any, signing: dict[str, Any], images_uploaded: None) -> None:
    d = signing["dir"]
    eoffice = signing["keys"]["eoffice"]
    r = _sign(client, eoffice, letter_pdf(), f"credential=official:{signing['official_id']}&appearance=leader"
              "&anchor=GIÁM ĐỐC&level=B-T&certify=true", consent=PIN)
    assert r.status_code == 200, r.get_json()
    first = r.data
    r = _sign(client, eoffice, first, f"credential=agency:{AGENCY}&appearance=seal&level=B-LT")
    assert r.status_code == 200, r.get_json()
    both = r.data
    assert both.startswith(first), "the seal is an incremental update"
    leader, seal = pyhanko_validate(both, d)
    assert leader.bottom_line and seal.bottom_line, leader.pretty_print_details() + seal.pretty_print_details()
    assert leader.docmdp_ok and leader.modification_level is not None
    (d / "both.pdf").write_bytes(both)
    matches_reference(d / "both.pdf", "leader-seal", d)
    nss_trusting(d)
    report = pdfsig(d / "both.pdf", d)
    assert report.count("Signature is Valid") == 2, report
    # The seal overlaps the left third of the leader's signature.
    from pyhanko.pdf_utils.reader import PdfFileReader

    rects = [[float(v) for v in s.sig_field["/Rect"]] for s in PdfFileReader(io.BytesIO(both)).embedded_signatures]
    (lx1, ly1, lx2, ly2), (sx1, sy1, sx2, sy2) = rects
    centre = (sx1 + sx2) / 2
    assert lx1 <= centre <= lx1 + (lx2 - lx1) / 3 and sy1 < ly2 and sy2 > ly1
    assert abs((sx2 - sx1) - 40 * 72 / 25.4) < 2, "the seal at true size, 40 mm"


def test_copy_appearance_text(client: Any, signing: dict[str, Any]) -> None:
    d = signing["dir"]
    r = _sign(client, signing["keys"]["eoffice"], letter_pdf(), f"credential=agency:{AGENCY}&appearance=copy"
              "&document_number=123/SNV-VP&level=B-B")
    assert r.status_code == 200, r.get_json()
    (d / "copy.pdf").write_bytes(r.data)
    matches_reference(d / "copy.pdf", "copy", d)
    (status,) = pyhanko_validate(r.data, d)
    assert status.bottom_line
    from pyhanko.pdf_utils.reader import PdfFileReader

    sig = PdfFileReader(io.BytesIO(r.data)).embedded_signatures[0]
    x1, y1, x2, y2 = (float(v) for v in sig.sig_field["/Rect"])
    assert x2 > 500 and y2 > 780, "top right of page 1"


def test_bad_pdfs(client: Any, signing: dict[str, Any]) -> None:
    eoffice = signing["keys"]["eoffice"]
    q = f"credential=agency:{AGENCY}&level=B-B"
    r = _sign(client, eoffice, b"not a pdf at all", q)
    assert r.status_code == 422 and r.get_json()["code"] == "invalid-pdf"
    r = _sign(client, eoffice, letter_pdf()[:400], q)
    assert r.status_code == 422 and r.get_json()["code"] == "invalid-pdf", r.get_json()
    r = _sign(client, eoffice, letter_pdf(), q + "&appearance=leader")
    assert r.status_code == 400, "a leader appearance needs a personal credential"
    r = _sign(client, eoffice, letter_pdf(), f"credential=official:{signing['official_id']}&level=B-B"
              "&appearance=leader&anchor=KHÔNG CÓ DÒNG NÀY", consent=PIN)
    assert r.status_code == 422 and r.get_json()["code"] == "anchor-not-found"
    r = _sign(client, eoffice, letter_pdf(), q + "&page=7")
    assert r.status_code == 400
    r = _sign(client, eoffice, letter_pdf(), f"credential=agency:{AGENCY}&level=B-X")
    assert r.status_code == 400


def test_encrypted_pdf_is_refused(client: Any, signing: dict[str, Any]) -> None:
    from pyhanko.pdf_utils.crypt import StandardSecurityHandler
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    w = copy_into_new_writer(PdfFileReader(io.BytesIO(letter_pdf())))
    w.encrypt("secret", "owner-secret")  # type: ignore[attr-defined]
    out = io.BytesIO()
    w.write(out)
    r = _sign(client, signing["keys"]["eoffice"], out.getvalue(), f"credential=agency:{AGENCY}&level=B-B")
    assert r.status_code == 422 and r.get_json()["code"] == "pdf-encrypted", r.get_json()
    assert StandardSecurityHandler  # the handler pyHanko used


def test_images_are_validated(client: Any, signing: dict[str, Any]) -> None:
    ra = H(signing["keys"]["ra"], **{"Content-Type": "image/png"})
    opaque = io.BytesIO()
    Image.new("RGB", (100, 100), (255, 255, 255)).save(opaque, "PNG")
    r = client.put(f"/api/v1/admin/agencies/{AGENCY}/seal-image", headers=ra, data=opaque.getvalue())
    assert r.status_code == 422 and r.get_json()["code"] == "invalid-image"
    r = client.put(f"/api/v1/admin/agencies/{AGENCY}/seal-image", headers=ra, data=b"GIF89a....")
    assert r.status_code == 422
    r = client.put(f"/api/v1/admin/agencies/{AGENCY}/seal-image", headers=ra, data=seal_png()[:300])
    assert r.status_code == 422
    r = client.put(f"/api/v1/admin/agencies/{AGENCY}/seal-image", headers=H(signing["keys"]["eoffice"]),
                   data=seal_png())
    assert r.status_code == 403
