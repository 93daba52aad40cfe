"""Item 24 of issue 13: edXML attachment names were not checked. A package with an
attachment named '../../../../etc/cron.d/evil', or one whose name hides its extension behind
a right-to-left override, was signed, and verified TOTAL-PASSED: a recipient saving the
attachments under their names writes where the sender chose, or runs what looks like a PDF.

Signing takes safe base names only (422 attachment-name-invalid); verification reports an
unsafe name, or an unsafe name inside an attachment's zip, as a finding."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from sqlalchemy import func, select

from axis import building, model, parsing
from signer import xades as xml_signing
from tests.edxml.test_model import package
from tests.edxml.test_sign_api import META
from tests.signing.conftest import H, signing  # noqa: F401 - the signing world fixture
from tests.verify.test_xml import _credential

HOSTILE = ["../../../../etc/cron.d/evil", "..\\..\\boot.ini", "C:evil.bat", "bao-cao\u202efdp.exe",
           "a\u200bb.pdf", "line\nbreak.pdf", "tab\t.pdf", "..", ".", ".bashrc", "CON", "nul.txt", "x.pdf ",
           " x.pdf", "x.pdf.", "", "a" * 201, "bad\u2028.pdf", "\udcff.pdf", "\ue000.pdf", 'a"b.pdf', "a|b.pdf"]
SAFE = ["cong-van.pdf", "Công văn số 123-SNV.pdf", "báo cáo (bản 2).docx", "Tờ trình_2026.11.25.odt",
        "PHỤ LỤC 1.xlsx", "a" * 200]


@pytest.mark.parametrize("name", HOSTILE)
def test_unsafe_names(name: str) -> None:
    assert model.name_problem(name), name


@pytest.mark.parametrize("name", SAFE)
def test_safe_names(name: str) -> None:
    assert model.name_problem(name) is None


def _records(services: Any) -> int:
    from signer.credentials import SignatureRecord

    with services.sessions() as s:
        return int(s.execute(select(func.count()).select_from(SignatureRecord)).scalar_one())


def _hostile_package(name: str, entry_name: str | None = None) -> model.Package:
    pkg = package(1)
    att = pkg.attachments[0]
    att.name = name
    if entry_name is not None:  # a zip whose one entry has its own (hostile) name
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(entry_name, att.data)
        att.zip_bytes = out.getvalue()
    return pkg


@pytest.mark.parametrize("name", ["../../../../etc/cron.d/evil", "bao-cao\u202efdp.exe"])
def test_signing_refuses_unsafe_names(client: Any, services: Any, signing: dict[str, Any], name: str) -> None:  # noqa: F811
    key = signing["keys"]["eoffice"]
    data = building.to_bytes(building.build(_hostile_package(name)))
    r = client.post("/api/v1/edxml/sign", data=data, headers=H(key), content_type="application/xml")
    assert r.status_code == 422 and r.get_json()["code"] == "attachment-name-invalid", r.get_json()
    assert "\u202e" not in r.get_json()["detail"] and r.get_json()["detail_vi"]
    # The same name as a multipart upload's file name.
    r = client.post("/api/v1/edxml/sign", headers=H(key), content_type="multipart/form-data",
                    data={"metadata": json.dumps(META), "file": [(io.BytesIO(b"%PDF-1.7 x"), name, "application/pdf")]})
    assert r.status_code == 422 and r.get_json()["code"] == "attachment-name-invalid", r.get_json()
    assert _records(services) == 0


def test_signing_renames_an_unsafe_zip_entry(client: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    """A safe AttachmentName over a zip whose entry is '../evil': the zip is not passed on as
    it came, it is made again under the attachment's name."""
    data = building.to_bytes(building.build(_hostile_package("cong-van.pdf", entry_name="../../evil.sh")))
    r = client.post("/api/v1/edxml/sign", data=data, headers=H(signing["keys"]["eoffice"]),
                    content_type="application/xml")
    assert r.status_code == 200, r.get_json()
    (att,) = parsing.parse(bytes(r.data)).attachments
    assert att.entry_name == "cong-van.pdf"


@pytest.mark.parametrize(("name", "entry"), [("../../../../etc/cron.d/evil", None),
                                             ("bao-cao\u202efdp.exe", None),
                                             ("cong-van.pdf", "../../../../etc/cron.d/evil")])
def test_verification_flags_unsafe_names(client: Any, services: Any, signing: dict[str, Any],  # noqa: F811
                                         name: str, entry: str | None) -> None:
    """Signed elsewhere (here: straight with the seal key, as another signer would): the
    signature holds, the package does not pass."""
    root = building.build(_hostile_package(name, entry))
    label, cert, chain = _credential(services, signing["seal"])
    xml_signing.sign_enveloped(root, building.header_element(root), xml_signing.SigningRequest(
        scheme="rsa-pkcs1-sha256", certificate_der=cert, chain_der=chain,
        sign=lambda b: services.keystore.sign(label, b, "rsa-pkcs1-sha256")))
    r = client.post("/api/v1/edxml/verify?offline=true", data=building.to_bytes(root),
                    headers=H(signing["keys"]["eoffice"]), content_type="application/xml")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["indication"] != "TOTAL-PASSED", body["summary_en"]
    assert any("unsafe name" in f for f in body["edxml"]["findings"]), body["edxml"]["findings"]
    assert "\u202e" not in json.dumps(body["edxml"]["findings"], ensure_ascii=False)
