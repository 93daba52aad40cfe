"""POST /api/v1/edxml/sign: a connector's package signed with its agency's seal in the HSM,
accepted by Kyso's verifier, xmlsec1 and signxml; the bad inputs of the issue refused."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

from lxml import etree

from axis import building, model
from tests.edxml.test_model import package
from tests.signing.conftest import AGENCY, OTHER_AGENCY, H
from tests.signing.documents import letter_pdf
from tests.signing.test_pdf import seal_png

META = {"from": {"organ_id": AGENCY, "organ_name": "Sở Nội vụ"},
        "to": [{"organ_id": "000.00.13.H31", "organ_name": "Sở Tài chính"},
               {"organ_id": "000.00.14.H31", "organ_name": "Sở Tư pháp"}],
        "document_id": f"{AGENCY},2026/11/25,123/SNV-VP", "code_number": "123", "code_notation": "SNV-VP",
        "subject": "V/v triển khai chữ ký số", "promulgation_date": "2026/11/25", "place": "Hải Phòng"}


def _verify(client: Any, key: str, data: bytes) -> Any:
    r = client.post("/api/v1/edxml/verify?offline=true", data=data, headers=H(key), content_type="application/xml")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()


def _xmlsec(data: bytes, d: Path, *extra: str) -> int:
    (d / "out.xml").write_bytes(data)
    return subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(d / "root.pem"), "--untrusted-pem",
                           str(d / "issuing.pem"), *extra, str(d / "out.xml")], capture_output=True,
                          timeout=60).returncode


def test_metadata_and_files_signed_with_the_pdf_sealed_first(client: Any, signing: dict[str, Any]) -> None:
    from signxml import XMLVerifier

    key, ra = signing["keys"]["eoffice"], H(signing["keys"]["ra"])
    assert client.put(f"/api/v1/admin/agencies/{AGENCY}/seal-image", headers=ra, data=seal_png()).status_code == 200
    r = client.post("/api/v1/edxml/sign", headers=H(key), data={
        "metadata": json.dumps(META), "sign_pdfs": "true", "pdf_appearance": "seal",
        "file": [(__import__("io").BytesIO(letter_pdf()), "cong-van.pdf", "application/pdf")]})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    signed = bytes(r.data)
    assert r.headers["X-Kyso-Signature-Id"]
    report = _verify(client, key, signed)
    assert report["indication"] == "TOTAL-PASSED", report["summary_en"]
    ed = report["edxml"]
    assert [t["organ_id"] for t in ed["traces"]] == [AGENCY] and ed["header"]["subject"] == META["subject"]
    (att,) = ed["attachments"]
    assert att["pdf_report"]["indication"] == "TOTAL-PASSED" and len(att["pdf_report"]["signatures"]) == 1
    assert _xmlsec(signed, signing["dir"]) == 0
    # Two references: the whole document, and the attachments' digests in a ds:Object.
    XMLVerifier().verify(signed, ca_pem_file=str(signing["dir"] / "chain.pem"), expect_references=2)
    assert "V/v triển khai chữ ký số".encode() in signed


def test_complete_package_with_xades_b_t(client: Any, signing: dict[str, Any]) -> None:
    key = signing["keys"]["eoffice"]
    raw = building.to_bytes(building.build(package(1)))
    r = client.post("/api/v1/edxml/sign?level=B-T", data=raw, headers=H(key), content_type="application/xml")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    report = _verify(client, key, bytes(r.data))
    (sig,) = report["signatures"]
    assert (report["indication"], sig["level"]) == ("TOTAL-PASSED", "XAdES-B-T"), report["summary_en"]
    assert _xmlsec(bytes(r.data), signing["dir"], "--id-attr:Id", "SignedProperties") == 0
    again = client.post("/api/v1/edxml/sign", data=r.data, headers=H(key), content_type="application/xml")
    assert again.status_code == 409 and again.get_json()["code"] == "edxml-already-signed"
    # One byte of an attachment's file changed and the zip rebuilt cleanly (so no CRC gives it
    # away): the report names the attachment, from the digests signed with the package.
    root = etree.fromstring(bytes(r.data))
    enc = root.find(f".//{{{model.NS}}}ContentTransferEncoded")
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(enc.text))) as zf:
        (info,) = zf.infolist()
        content = bytearray(zf.read(info))
    content[len(content) // 2] ^= 1
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(info.filename, bytes(content))
    enc.text = base64.b64encode(out.getvalue()).decode()
    changed = etree.tostring(root)
    body = _verify(client, key, changed)
    assert (body["indication"], body["sub_indication"]) == ("TOTAL-FAILED", "HASH_FAILURE")
    assert body["edxml"]["findings"] == ["attachment att-0 (cong-van-0.pdf) changed after signing"]
    assert _xmlsec(changed, signing["dir"], "--id-attr:Id", "SignedProperties") != 0
    # The header changed instead: every attachment still matches.
    body = _verify(client, key, bytes(r.data).replace(b"SNV-VP</", b"SNV-VX</", 1))
    assert body["sub_indication"] == "HASH_FAILURE"
    assert body["edxml"]["findings"] == ["every attachment matches its signed digest: the header or body changed "
                                         "after signing"]


def test_bad_inputs(client: Any, services: Any, signing: dict[str, Any]) -> None:
    from sqlalchemy import func, select

    from signer.credentials import SignatureRecord

    key = signing["keys"]["eoffice"]

    def count() -> int:
        with services.sessions() as s:
            return int(s.execute(select(func.count()).select_from(SignatureRecord)).scalar_one())

    before = count()
    foreign = package(1)
    foreign.header.sender = model.Organization(OTHER_AGENCY, "Sở Tài chính")
    foreign.header.document_id = f"{OTHER_AGENCY},2026/11/25,1/STC"
    r = client.post("/api/v1/edxml/sign", data=building.to_bytes(building.build(foreign)), headers=H(key),
                    content_type="application/xml")
    assert r.status_code == 403, r.get_json()
    r = client.post("/api/v1/edxml/sign", data=b"<edXML xmlns='urn:wrong'/>", headers=H(key),
                    content_type="application/xml")
    assert r.status_code == 422 and r.get_json()["code"] == "edxml-invalid" and r.get_json()["detail_vi"]
    bad = package(1)
    bad.header.document_id = "no-commas"
    r = client.post("/api/v1/edxml/sign", data=building.to_bytes(building.build(bad)), headers=H(key),
                    content_type="application/xml")
    assert r.status_code == 422 and "DocumentId" in r.get_json()["detail"]
    r = client.post("/api/v1/edxml/sign", headers=H(key), data={"metadata": "[1]"}, content_type="multipart/form-data")
    assert r.status_code == 400
    # A DTD with entities in UTF-16, which a byte search for "<!DOCTYPE" cannot see: refused.
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE e [<!ENTITY a "QUJD">]>'
             f'<edXML xmlns="{model.NS}">&a;</edXML>').encode("utf-16")
    r = client.post("/api/v1/edxml/sign", data=utf16, headers=H(key), content_type="application/xml")
    assert r.status_code == 422 and r.get_json()["code"] in ("xml-malformed", "xml-dtd-forbidden"), r.get_json()
    # Malformed XML, and a package without its MessageHeader.
    r = client.post("/api/v1/edxml/sign", data=b"<edXML><a></edXML>", headers=H(key), content_type="application/xml")
    assert r.status_code == 422 and r.get_json()["code"] == "xml-malformed"
    no_header = etree.fromstring(building.to_bytes(building.build(package(1))))
    message = no_header.find(f".//{{{model.NS}}}MessageHeader")
    message.getparent().remove(message)
    r = client.post("/api/v1/edxml/sign", data=etree.tostring(no_header), headers=H(key),
                    content_type="application/xml")
    assert r.status_code == 422 and "MessageHeader" in r.get_json()["detail"] and r.get_json()["detail_vi"]
    # An attachment that unpacks beyond the limit (a zip bomb: 60 MB of zeros in 60 KB).
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bom.pdf", bytes(model.MAX_ATTACHMENT + 10 * 1024 * 1024))
    big = etree.fromstring(building.to_bytes(building.build(package(1))))
    big.find(f".//{{{model.NS}}}ContentTransferEncoded").text = base64.b64encode(bomb.getvalue()).decode()
    r = client.post("/api/v1/edxml/sign", data=etree.tostring(big), headers=H(key), content_type="application/xml")
    assert r.status_code == 413 and r.get_json()["code"] == "attachment-too-large", r.get_json()
    ra = H(signing["keys"]["ra"])
    assert client.post(f"/api/v1/admin/certificates/{signing['seal']}/revoke", headers=ra,
                       json={"reason": "key_compromise"}).status_code == 200
    r = client.post("/api/v1/edxml/sign", data=building.to_bytes(building.build(package(1))), headers=H(key),
                    content_type="application/xml")
    assert r.status_code == 409, r.get_json()
    assert count() == before  # nothing recorded half-way
