"""ASiC containers: ASiC-E (CAdES) with the manifest signed by Kyso's CMS signing, ASiC-S
(CAdES) over its one data file; a changed file, a missing file, an extra unlisted file, a DTD
in the manifest and a zip bomb."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from typing import Any

from tests.signing.conftest import AGENCY, H
from tests.signing.documents import letter_pdf

FILES = {"cong-van.pdf": letter_pdf(), "phu-luc.txt": "Phụ lục: danh sách đơn vị".encode()}


def manifest(files: dict[str, bytes], extra: str = "") -> bytes:
    refs = "".join(
        f'<asic:DataObjectReference URI="{name}" MimeType="application/octet-stream">'
        f'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        f"<ds:DigestValue>{base64.b64encode(hashlib.sha256(data).digest()).decode()}</ds:DigestValue>"
        f"</asic:DataObjectReference>" for name, data in files.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>{extra}'
            f'<asic:ASiCManifest xmlns:asic="http://uri.etsi.org/02918/v1.2.1#" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><asic:SigReference URI="META-INF/signature001.p7s" '
            f'MimeType="application/pkcs7-signature"/>{refs}</asic:ASiCManifest>').encode()


def container(files: dict[str, bytes], manifest_bytes: bytes, signature: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.etsi.asic-e+zip", compress_type=zipfile.ZIP_STORED)
        for name, data in files.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/ASiCManifest001.xml", manifest_bytes)
        z.writestr("META-INF/signature001.p7s", signature)
    return out.getvalue()


def _verify(client: Any, signing: dict[str, Any], data: bytes) -> Any:
    return client.post("/api/v1/verify?offline=true", data=data, headers=H(signing["keys"]["auditor"]))


def test_asic_e_cades(client: Any, signing: dict[str, Any]) -> None:
    m = manifest(FILES)
    signature = client.post(f"/api/v1/sign/cms?credential=agency:{AGENCY}&level=B-T", data=m,
                            headers=H(signing["keys"]["eoffice"])).data
    report = _verify(client, signing, container(FILES, m, signature)).get_json()
    assert report["document_type"] == "asic-e" and report["indication"] == "TOTAL-PASSED", report
    sig = report["signatures"][0]
    assert sig["kind"] == "asic-e-cades" and sorted(sig["coverage"]["files"]) == sorted(FILES)
    assert sig["coverage"]["covers_whole_document"] is True and sig["level"] == "B-T"

    changed = {**FILES, "phu-luc.txt": b"changed"}
    report = _verify(client, signing, container(changed, m, signature)).get_json()
    assert report["indication"] == "TOTAL-FAILED" and report["signatures"][0]["coverage"]["changed_files"] == [
        "phu-luc.txt"]
    missing = {"cong-van.pdf": FILES["cong-van.pdf"]}
    report = _verify(client, signing, container(missing, m, signature)).get_json()
    # A missing file proves no change: the signed data is not found (EN 319 102-1), as EU DSS says.
    assert report["indication"] == "INDETERMINATE" and report["sub_indication"] == "SIGNED_DATA_NOT_FOUND"
    assert report["signatures"][0]["coverage"]["missing_files"] == ["phu-luc.txt"]
    extra = {**FILES, "them.txt": b"not signed"}
    report = _verify(client, signing, container(extra, m, signature)).get_json()
    assert report["signatures"][0]["coverage"]["files_not_covered"] == ["them.txt"]
    assert report["signatures"][0]["coverage"]["covers_whole_document"] is False
    # A changed manifest breaks the signature itself.
    report = _verify(client, signing, container(FILES, m.replace(b"UTF-8", b"utf-8"), signature)).get_json()
    assert report["indication"] == "TOTAL-FAILED"


def asic_s(files: dict[str, bytes], signature: bytes, mimetype: bool = True) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        if mimetype:
            z.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.etsi.asic-s+zip",
                       compress_type=zipfile.ZIP_STORED)
        for name, data in files.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/signature.p7s", signature)
    return out.getvalue()


def test_asic_s_cades(client: Any, signing: dict[str, Any]) -> None:
    data = FILES["cong-van.pdf"]
    signature = client.post(f"/api/v1/sign/cms?credential=agency:{AGENCY}&level=B-T", data=data,
                            headers=H(signing["keys"]["eoffice"])).data
    for with_mimetype in (True, False):
        report = _verify(client, signing, asic_s({"cong-van.pdf": data}, signature, with_mimetype)).get_json()
        assert report["document_type"] == "asic-s" and report["indication"] == "TOTAL-PASSED", report
        sig = report["signatures"][0]
        assert sig["kind"] == "asic-s-cades" and sig["coverage"]["files"] == ["cong-van.pdf"]
        assert sig["coverage"]["covers_whole_document"] is True
    report = _verify(client, signing, asic_s({"cong-van.pdf": data + b" "}, signature)).get_json()
    assert report["indication"] == "TOTAL-FAILED" and report["sub_indication"] == "HASH_FAILURE"
    assert report["signatures"][0]["coverage"]["changed_files"] == ["cong-van.pdf"]
    # ASiC-S holds one data file (EN 319 162-1 4.3): a second one breaks the format.
    report = _verify(client, signing, asic_s({"cong-van.pdf": data, "them.txt": b"x"}, signature)).get_json()
    assert report["indication"] == "TOTAL-FAILED" and report["sub_indication"] == "FORMAT_FAILURE"


def test_hostile_containers(client: Any, signing: dict[str, Any]) -> None:
    dtd = manifest(FILES, extra='<!DOCTYPE x [<!ENTITY a "aaaa">]>')
    r = _verify(client, signing, container(FILES, dtd, b"\x30\x00"))
    assert r.status_code == 422 and r.get_json()["code"] == "invalid-container"
    bomb = container({"zeros.bin": b"\0" * (50 * 1024 * 1024)}, manifest({}), b"\x30\x00")
    assert len(bomb) < 1024 * 1024
    r = _verify(client, signing, bomb)
    assert r.status_code == 422 and r.get_json()["code"] == "invalid-container"
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.etsi.asic-s+zip")
        for i in range(1001):
            z.writestr(f"f{i}", b"")
        z.writestr("META-INF/signature.p7s", b"\x30\x00")
    r = _verify(client, signing, many.getvalue())
    assert r.status_code == 422 and r.get_json()["code"] == "invalid-container"
    # Entry names are keys, never paths: a traversal name reaches no file, and the answer is a report.
    traversal = asic_s({"../../etc/passwd": b"x"}, b"\x30\x00")
    r = _verify(client, signing, traversal)
    assert r.status_code < 500 and r.get_json().get("indication") != "TOTAL-PASSED"
