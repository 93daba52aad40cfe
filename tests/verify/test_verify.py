"""Verification of Kyso's own output and of broken, foreign and revoked cases, through the
API and the CLI; the indication must agree with pyHanko's own bottom line."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli_env, run_kyso
from tests.signing.conftest import AGENCY, PIN, H
from tests.signing.documents import letter_pdf


def _sign_pdf(client: Any, signing: dict[str, Any], query: str, pdf: bytes | None = None,
              consent: str | None = None) -> bytes:
    headers = H(signing["keys"]["eoffice"])
    if consent:
        headers["X-Kyso-Consent"] = consent
    r = client.post(f"/api/v1/sign/pdf?{query}", data=pdf or letter_pdf(), headers=headers)
    assert r.status_code == 200, r.get_json()
    return bytes(r.data)


def _verify(client: Any, signing: dict[str, Any], data: bytes, detached: bytes | None = None) -> dict[str, Any]:
    auditor = H(signing["keys"]["auditor"])
    if detached is None:
        r = client.post("/api/v1/verify?offline=true", data=data, headers=auditor)
    else:
        r = client.post("/api/v1/verify?offline=true", headers=auditor, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(data), "sig.p7s"), "data": (io.BytesIO(detached), "doc")})
    assert r.status_code == 200, r.get_json()
    return dict(r.get_json())


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT", "B-LTA"])
def test_kyso_pdfs_pass_at_their_level(client: Any, signing: dict[str, Any], level: str) -> None:
    pdf = _sign_pdf(client, signing, f"credential=agency:{AGENCY}&level={level}")
    report = _verify(client, signing, pdf)
    assert report["document_type"] == "pdf" and report["indication"] == "TOTAL-PASSED", report
    sig = report["signatures"][0]
    assert sig["level"] == level and sig["agency_code"] == AGENCY and sig["signer"] == "SỞ NỘI VỤ"
    # B-LT and B-LTA add the DSS (and a document time stamp) in later revisions: allowed.
    assert sig["coverage"]["covers_whole_document"] is (level in ("B-B", "B-T"))
    assert sig["coverage"]["changes_after_signing_allowed"] is True
    assert "hợp lệ" in report["summary_vi"] and "valid" in report["summary_en"].lower()


def test_a_large_multipart_upload_is_verified_from_its_spooled_part(client: Any, signing: dict[str, Any],
                                                                     monkeypatch: Any) -> None:
    """A part beyond 500 KiB goes to a named temporary file and the helper gets its path, as for
    a raw body (issue 14, Speed): the worker never holds the document whole."""
    from verification import service

    pdf = _sign_pdf(client, signing, f"credential=agency:{AGENCY}&level=B-B",
                    pdf=letter_pdf(filler_bytes=700 * 1024))
    given: list[Any] = []
    real = service.verify

    def spy(factory: Any, settings: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        given.append(data)
        return real(factory, settings, data, *args, **kwargs)

    monkeypatch.setattr(service, "verify", spy)
    r = client.post("/api/v1/verify?offline=true", headers=H(signing["keys"]["auditor"]),
                    content_type="multipart/form-data", data={"file": (io.BytesIO(pdf), "letter.pdf")})
    assert r.status_code == 200 and r.get_json()["indication"] == "TOTAL-PASSED", r.get_json()
    assert len(given) == 1 and isinstance(given[0], str)  # a path, not the bytes
    empty = client.post("/api/v1/verify?offline=true", headers=H(signing["keys"]["auditor"]),
                        content_type="multipart/form-data", data={"file": (io.BytesIO(b""), "empty.pdf")})
    assert empty.status_code == 400


def test_leader_then_seal_both_pass(client: Any, signing: dict[str, Any]) -> None:
    first = _sign_pdf(client, signing, f"credential=official:{signing['official_id']}&level=B-T&certify=true",
                      consent=PIN)
    both = _sign_pdf(client, signing, f"credential=agency:{AGENCY}&level=B-B", pdf=first)
    report = _verify(client, signing, both)
    assert report["indication"] == "TOTAL-PASSED" and len(report["signatures"]) == 2, report
    leader = report["signatures"][0]
    assert leader["coverage"]["covers_whole_document"] is False
    assert leader["coverage"]["changes_after_signing_allowed"] is True


def test_flipped_byte_fails(client: Any, signing: dict[str, Any]) -> None:
    pdf = bytearray(_sign_pdf(client, signing, f"credential=agency:{AGENCY}&level=B-B"))
    at = pdf.index(b"Do Q")  # the page content, inside the signed range
    pdf[at] = ord("D") ^ 1
    report = _verify(client, signing, bytes(pdf))
    assert report["indication"] == "TOTAL-FAILED" and report["sub_indication"] == "HASH_FAILURE", report


def test_content_changed_after_signing_fails(client: Any, signing: dict[str, Any]) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    pdf = _sign_pdf(client, signing, f"credential=agency:{AGENCY}&level=B-B")
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref = w.root["/Pages"]["/Kids"][0]
    page = page_ref.get_object()
    page["/Contents"] = w.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 700 Td (FORGED) Tj ET"))
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    report = _verify(client, signing, out.getvalue())
    assert report["indication"] == "TOTAL-FAILED" and report["sub_indication"] == "SIG_CONSTRAINTS_FAILURE", report


def test_unknown_root_is_indeterminate(client: Any, signing: dict[str, Any], tmp_path: Path) -> None:
    """A PDF signed by pyHanko under a foreign test CA: never TOTAL-PASSED."""
    from asn1crypto import keys, x509
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = ec.generate_private_key(ec.SECP256R1())
    name = cx509.Name([cx509.NameAttribute(cx509.oid.NameOID.COMMON_NAME, "Foreign signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (cx509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
            .add_extension(cx509.KeyUsage(True, True, False, False, False, False, False, False, False), True)
            .sign(key, hashes.SHA256()))
    signer = signers.SimpleSigner(
        signing_cert=x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=keys.PrivateKeyInfo.load(key.private_bytes(serialization.Encoding.DER,
                                                               serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption())),
        cert_registry=SimpleCertificateStore())
    out = io.BytesIO()
    signers.PdfSigner(signers.PdfSignatureMetadata(field_name="Foreign", subfilter=fields.SigSeedSubFilter.PADES),
                      signer=signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(letter_pdf())), output=out)
    report = _verify(client, signing, out.getvalue())
    assert report["indication"] == "INDETERMINATE", report
    assert report["signatures"][0]["integrity"] is True and report["signatures"][0]["trusted"] is False


def test_revoked_before_verification_fails(client: Any, signing: dict[str, Any]) -> None:
    pdf = _sign_pdf(client, signing, f"credential=agency:{AGENCY}&level=B-B")
    client.post(f"/api/v1/admin/certificates/{signing['seal']}/revoke", headers=H(signing["keys"]["ra"]),
                json={"reason": "key_compromise"})
    report = _verify(client, signing, pdf)
    sig = report["signatures"][0]
    assert sig["revocation"]["revoked"] is True and sig["revocation"]["reason"] == "key_compromise", report
    assert report["indication"] in ("TOTAL-FAILED", "INDETERMINATE")


def test_cms_attached_detached_and_tampered(client: Any, signing: dict[str, Any]) -> None:
    eoffice = H(signing["keys"]["eoffice"])
    doc = "Báo cáo tháng 11".encode() * 20
    detached = client.post(f"/api/v1/sign/cms?credential=agency:{AGENCY}&level=B-T", data=doc, headers=eoffice).data
    attached = client.post(f"/api/v1/sign/cms?credential=agency:{AGENCY}&attached=true", data=doc,
                           headers=eoffice).data
    report = _verify(client, signing, detached, doc)
    assert report["document_type"] == "cms" and report["indication"] == "TOTAL-PASSED", report
    assert report["signatures"][0]["level"] == "B-T" and report["signatures"][0]["timestamp_time"]
    assert _verify(client, signing, attached)["indication"] == "TOTAL-PASSED"
    assert _verify(client, signing, detached, doc + b"!")["indication"] == "TOTAL-FAILED"
    r = client.post("/api/v1/verify", data=detached, headers=H(signing["keys"]["auditor"]))
    assert r.status_code == 422 and r.get_json()["code"] == "unsupported-document"
    r = client.post("/api/v1/verify", data=b"just text", headers=H(signing["keys"]["auditor"]))
    assert r.status_code == 415 and r.get_json()["code"] == "unsupported-format" and r.get_json()["detail_vi"]
    r = client.post("/api/v1/verify", data=b"%PDF-1.7\nbroken beyond repair", headers=H(signing["keys"]["auditor"]))
    assert r.status_code == 422 and r.get_json()["code"] == "document-unreadable" and "PDF" in r.get_json()["detail"]


def test_cli_exit_codes(client: Any, signing: dict[str, Any], database: Any, hsm_token: Any,
                        tmp_path: Path) -> None:
    good = _sign_pdf(client, signing, f"credential=agency:{AGENCY}&level=B-B")
    bad = bytearray(good)
    bad[bad.index(b"Do Q")] = ord("D") ^ 1
    (tmp_path / "good.pdf").write_bytes(good)
    (tmp_path / "bad.pdf").write_bytes(bytes(bad))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\nbroken beyond repair")
    env = cli_env(database, hsm_token)
    # A file that cannot be read is not a verdict: 3, never 1 (which says "forged").
    for name, code, word in (("good.pdf", 0, "TOTAL-PASSED"), ("bad.pdf", 1, "TOTAL-FAILED"),
                             ("broken.pdf", 3, "")):
        r = run_kyso(["verify", str(tmp_path / name), "--offline"], env)
        assert r.returncode == code and word in r.stdout, r.stdout + r.stderr
    r = run_kyso(["verify", str(tmp_path / "good.pdf"), "--offline", "--json"], env)
    assert json.loads(r.stdout)["signatures"][0]["agency_code"] == AGENCY


def test_pdf_and_html_reports(client: Any, signing: dict[str, Any], tmp_path: Path) -> None:
    import subprocess

    pdf = _sign_pdf(client, signing, f"credential=agency:{AGENCY}&level=B-B")
    auditor = H(signing["keys"]["auditor"])
    r = client.post("/api/v1/verify?offline=true&format=pdf", data=pdf, headers=auditor)
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    (tmp_path / "report.pdf").write_bytes(r.data)
    text = subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "CHỮ KÝ SỐ HỢP LỆ" in text and "SỞ NỘI VỤ" in text and "KIỂM TRA CHỮ KÝ SỐ" in text and AGENCY in text
    assert "toàn bộ tài liệu" in text and "GMT+7" in text and hashlib.sha256(pdf).hexdigest() in text
    assert not any(raw in text for raw in ("TOTAL-PASSED", "ENTIRE_FILE", "docmdp", "True", "coverage"))
    # The report itself is sealed by Kyso's service seal and time-stamped: Kyso passes it.
    sealed = client.post("/api/v1/verify?offline=true", data=r.data, headers=auditor).get_json()
    assert sealed["indication"] == "TOTAL-PASSED", sealed
    (seal,) = sealed["signatures"]
    assert seal["signer"] == "Kyso - báo cáo kiểm tra chữ ký số" and seal["level"] == "B-T"
    assert seal["timestamp_time"] and seal["coverage"]["covers_whole_document"]
    r = client.post("/api/v1/verify?offline=true&format=html&lang=en", data=pdf, headers=auditor)
    html = r.get_data(as_text=True)
    assert r.mimetype == "text/html" and "Valid signature by" in html and 'lang="en"' in html
    assert "Vietnam time, UTC+7" in html
