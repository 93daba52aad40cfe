"""POST /api/v1/edxml/verify: a package built with the model and signed with an agency seal in
the HSM passes Kyso and xmlsec1; a changed attachment, a moved signature or a manifest that
does not match fail, with the reason."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path
from typing import Any

from lxml import etree

from axis import building, model, parsing
from signer import xades as xml_signing
from tests.edxml.test_model import package
from tests.signing.conftest import AGENCY, OTHER_AGENCY, H, issue_in_hsm
from tests.signing.documents import letter_pdf
from tests.verify.test_xml import _credential
from verification import xmldsig


def signed_package(client: Any, services: Any, signing: dict[str, Any], mutate: Any = None,
                   xades: bool = False) -> bytes:
    key = signing["keys"]["eoffice"]
    pdf = client.post(f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-B", data=letter_pdf(), headers=H(key))
    assert pdf.status_code == 200
    pkg = package(1)
    pkg.attachments[0].data = bytes(pdf.data)
    root = building.build(pkg)
    if mutate is not None:
        mutate(root)
    label, cert, chain = _credential(services, signing["seal"])
    req = xml_signing.SigningRequest(scheme="rsa-pkcs1-sha256", certificate_der=cert, chain_der=chain,
                                 sign=lambda b: services.keystore.sign(label, b, "rsa-pkcs1-sha256"), xades=xades)
    xml_signing.sign_enveloped(root, building.header_element(root), req)
    return building.to_bytes(root)


def _post(client: Any, signing: dict[str, Any], data: bytes) -> Any:
    r = client.post("/api/v1/edxml/verify?offline=true", data=data, headers=H(signing["keys"]["eoffice"]),
                    content_type="application/xml")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()


def _xmlsec_ok(data: bytes, d: Path) -> bool:
    path = d / "package.xml"
    path.write_bytes(data)
    return subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(d / "root.pem"), "--untrusted-pem",
                           str(d / "issuing.pem"), str(path)], capture_output=True, timeout=60).returncode == 0


def test_signed_package_passes_with_its_attachment_and_header(client: Any, services: Any,
                                                              signing: dict[str, Any]) -> None:
    data = signed_package(client, services, signing)
    body = _post(client, signing, data)
    assert body["indication"] == "TOTAL-PASSED", body["summary_en"]
    ed = body["edxml"]
    assert ed["values_from_signed_data"] and ed["findings"] == []
    assert ed["header"]["sender"]["organ_id"] == "000.00.12.H31"
    assert ed["header"]["subject"].startswith("V/v triển khai chữ ký số")
    (att,) = ed["attachments"]
    assert att["pdf_report"]["indication"] == "TOTAL-PASSED" and att["zipped"]
    assert _xmlsec_ok(data, signing["dir"])


def test_changed_moved_or_mismatched_packages_fail(client: Any, services: Any, signing: dict[str, Any]) -> None:
    data = signed_package(client, services, signing)
    root = etree.fromstring(data)
    # One byte of the attachment changed (its base64 re-encoded).
    enc = root.find(f".//{{{model.NS}}}ContentTransferEncoded")
    raw = bytearray(base64.b64decode(enc.text))
    raw[len(raw) // 2] ^= 1
    enc.text = base64.b64encode(bytes(raw)).decode()
    changed = _post(client, signing, etree.tostring(root))
    assert changed["indication"] == "TOTAL-FAILED"
    assert any("att-0" in f for f in changed["edxml"]["findings"]), changed["edxml"]["findings"]
    _vietnamese_throughout(changed)
    assert not _xmlsec_ok(etree.tostring(root), signing["dir"])
    # The signature moved to the end of MessageHeader: xmlsec1 still accepts it, Kyso does not.
    root = etree.fromstring(data)
    sig = root.find(f".//{{{xmldsig.DS}}}Signature")
    root.find(f".//{{{model.NS}}}MessageHeader").append(sig)
    moved = etree.tostring(root)
    assert _xmlsec_ok(moved, signing["dir"])
    body = _post(client, signing, moved)
    assert (body["indication"], body["sub_indication"]) == ("TOTAL-FAILED", "FORMAT_FAILURE")
    assert "last child of edXMLHeader" in body["summary_en"] and body["edxml"]["header"] is None
    assert "phần tử con cuối cùng của edXMLHeader" in body["summary_vi"]
    _vietnamese_throughout(body)

    # A manifest naming an attachment that is not there, signed as such: the signature is
    # good, the package is not.
    def extra_reference(r: Any) -> None:
        manifest = r.find(f".//{{{model.NS}}}edXMLManifest")
        etree.SubElement(manifest, f"{{{model.NS}}}Reference").set("href", "cid:missing")

    body = _post(client, signing, signed_package(client, services, signing, extra_reference))
    assert (body["indication"], body["sub_indication"]) == ("TOTAL-FAILED", "FORMAT_FAILURE")
    assert any("missing" in f for f in body["edxml"]["findings"])
    assert "danh mục (Manifest) có missing nhưng không có tệp đính kèm này" in body["summary_vi"]
    assert len(body["edxml"]["findings_vi"]) == len(body["edxml"]["findings"])


# English words that must not appear in a Vietnamese report (issue 14, item 9).
ENGLISH = re.compile(r"\b(the|is|not|of|signature|attachment|changed|missing|after|signing|package|carries)\b")


def _vietnamese_throughout(body: dict[str, Any]) -> None:
    vi = body["summary_vi"] + " " + " ".join(body["edxml"]["findings_vi"])
    assert body["edxml"]["findings_vi"] and not ENGLISH.search(vi), vi


def test_hostile_packages_get_422(client: Any, signing: dict[str, Any]) -> None:
    r = client.post("/api/v1/edxml/verify", data=b'<!DOCTYPE a [<!ENTITY x "y">]><edXML/>',
                    headers=H(signing["keys"]["eoffice"]), content_type="application/xml")
    assert r.status_code == 422 and r.get_json()["code"] == "xml-dtd-forbidden"
    r = client.post("/api/v1/edxml/verify", data=b"<edXML xmlns='urn:x'/>", headers=H(signing["keys"]["eoffice"]),
                    content_type="application/xml")
    assert r.status_code == 422 and r.get_json()["code"] == "edxml-invalid" and r.get_json()["detail_vi"]
    assert client.post("/api/v1/edxml/verify", data=b"<a/>").status_code == 401


def test_cli_build_and_verify(client: Any, services: Any, signing: dict[str, Any], database: Any, hsm_token: Any,
                              tmp_path: Path) -> None:
    import json

    from tests.conftest import cli_env, run_kyso
    from tests.edxml.test_sign_api import META

    env = cli_env(database, hsm_token)
    # CLI commands that act for a client carry its own API key (issue 13, item 7).
    as_eoffice = {**env, "KYSO_API_KEY": signing["keys"]["eoffice"]}
    as_other = {**env, "KYSO_API_KEY": signing["keys"]["other"]}
    (tmp_path / "meta.json").write_text(json.dumps(META, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "cong-van.pdf").write_bytes(letter_pdf())
    r = run_kyso(["edxml", "build", "--metadata", str(tmp_path / "meta.json"), "--file",
                  str(tmp_path / "cong-van.pdf"), "-o", str(tmp_path / "pkg.xml")], env)
    assert r.returncode == 0, r.stderr
    built = parsing.parse((tmp_path / "pkg.xml").read_bytes())
    assert built.header.subject == META["subject"]
    assert built.attachments[0].data == (tmp_path / "cong-van.pdf").read_bytes()
    r = run_kyso(["edxml", "sign", str(tmp_path / "pkg.xml"), "-o", str(tmp_path / "signed.xml"), "--as", "eoffice"],
                 as_eoffice)
    assert r.returncode == 0, r.stderr
    signed = (tmp_path / "signed.xml").read_bytes()
    r = run_kyso(["edxml", "verify", str(tmp_path / "signed.xml"), "--offline", "--json"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["edxml"]["values_from_signed_data"] is True
    # The recipient reports 01 (sealed), and the sender reads the history.
    issue_in_hsm(client, signing["keys"], "agency-seal", OTHER_AGENCY, "rsa-2048")
    r = run_kyso(["edxml", "status", "send", "--document-id", META["document_id"], "--from", OTHER_AGENCY, "--code",
                  "01", "--staff", "Trần Thị Bình", "-o", str(tmp_path / "s01.xml"), "--as", "other"], as_other)
    assert r.returncode == 0, r.stderr
    assert _xmlsec_ok((tmp_path / "s01.xml").read_bytes(), signing["dir"])
    r = run_kyso(["edxml", "status", "receive", str(tmp_path / "s01.xml"), "--offline", "--as", "eoffice"], as_eoffice)
    assert r.returncode == 0 and "already recorded" in r.stdout, r.stdout + r.stderr
    r = run_kyso(["edxml", "status", "history", META["document_id"], "--as", "eoffice"], as_eoffice)
    assert r.returncode == 0 and f"{OTHER_AGENCY} 01 đã đến" in r.stdout, r.stdout + r.stderr
    r = run_kyso(["edxml", "status", "send", "--document-id", META["document_id"], "--from", OTHER_AGENCY, "--code",
                  "02", "-o", str(tmp_path / "s02.xml"), "--as", "other"], as_other)
    assert r.returncode != 0 and "status-reason-required" in r.stderr and not (tmp_path / "s02.xml").exists()
    (tmp_path / "bad.xml").write_bytes(signed.replace(b"V/v", b"V/V", 1))
    r = run_kyso(["edxml", "verify", str(tmp_path / "bad.xml"), "--offline"], env)
    assert r.returncode == 1 and "TOTAL-FAILED" in r.stdout
    bad_meta = dict(META, document_id="no-commas")
    (tmp_path / "bad.json").write_text(json.dumps(bad_meta), encoding="utf-8")
    r = run_kyso(["edxml", "build", "--metadata", str(tmp_path / "bad.json"), "-o", str(tmp_path / "x.xml")], env)
    assert r.returncode != 0 and "DocumentId" in r.stderr and not (tmp_path / "x.xml").exists()
