"""Signature wrapping against /api/v1/edxml/verify (XSW, Somorovsky et al., "On Breaking SAML:
Be Whoever You Want to Be", USENIX Security 2012, applied to edXML): each attack must fail in
Kyso, with its ETSI indication, although xmlsec1 alone accepts several of them because it
checks only that each reference's digest matches (it is shown accepting those here)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from lxml import etree

from axis import building, model
from tests.edxml.test_model import package
from tests.edxml.test_verify_api import _post, _xmlsec_ok, signed_package
from tests.verify.test_xml import _credential
from verification import xmldsig

DS = f"{{{xmldsig.DS}}}"
ED = f"{{{model.NS}}}"


def _xmlsec(data: bytes, d: Path, *extra: str) -> bool:
    import subprocess

    path = d / "wrapped.xml"
    path.write_bytes(data)
    return subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(d / "root.pem"), "--untrusted-pem",
                           str(d / "issuing.pem"), *extra, str(path)], capture_output=True,
                          timeout=60).returncode == 0


def _signed_by_id(services: Any, signing: dict[str, Any]) -> bytes:
    """A package whose signature covers MessageHeader by Id (URI="#msg") instead of the whole
    document: the form XSW feeds on. Correctly signed with the agency's seal."""
    label, cert, chain = _credential(services, signing["seal"])
    root = building.build(package(1))
    header = building.header_element(root)
    header.find(f"{ED}MessageHeader").set("Id", "msg")
    from lxml.builder import ElementMaker

    E = ElementMaker(namespace=xmldsig.DS, nsmap={"ds": xmldsig.DS})  # noqa: N806
    digest = hashlib.sha256(xmldsig.c14n(header.find(f"{ED}MessageHeader"))).digest()
    signed_info = E.SignedInfo(
        E.CanonicalizationMethod(Algorithm=xmldsig.EXC_C14N),
        E.SignatureMethod(Algorithm=xmldsig.SIGNATURE_URI[("rsa-pkcs1", "sha256")]),
        E.Reference(E.Transforms(E.Transform(Algorithm=xmldsig.EXC_C14N)),
                    E.DigestMethod(Algorithm=xmldsig.DIGEST_URI["sha256"]),
                    E.DigestValue(base64.b64encode(digest).decode()), URI="#msg"))
    sig = E.Signature(signed_info, E.SignatureValue(""), E.KeyInfo(E.X509Data(
        *[E.X509Certificate(base64.b64encode(c).decode()) for c in (cert, *chain)])))
    header.append(sig)
    value = services.keystore.sign(label, xmldsig.c14n(signed_info), "rsa-pkcs1-sha256")
    sig.find(f"{DS}SignatureValue").text = base64.b64encode(value).decode()
    return building.to_bytes(root)


def test_wrapping_attacks_fail(client: Any, services: Any, signing: dict[str, Any]) -> None:
    d = signing["dir"]
    good = signed_package(client, services, signing)
    assert _post(client, signing, good)["indication"] == "TOTAL-PASSED"
    cases: dict[str, tuple[bytes, str, bool]] = {}  # name: data, Kyso sub-indication, xmlsec1 accepts

    # 1. The signature moved to the end of the document (outside edXMLHeader).
    r = etree.fromstring(good)
    r.append(r.find(f".//{DS}Signature"))
    cases["signature-moved-to-root"] = (etree.tostring(r), "FORMAT_FAILURE", True)
    # 2. A duplicated signature: the copy is covered by the original's URI="" reference.
    r = etree.fromstring(good)
    sig = r.find(f".//{DS}Signature")
    sig.addprevious(etree.fromstring(etree.tostring(sig)))
    cases["signature-duplicated"] = (etree.tostring(r), "HASH_FAILURE", False)
    # 3. A fake Object: a forged MessageHeader carried inside the signature, unsigned.
    r = etree.fromstring(good)
    obj = etree.SubElement(r.find(f".//{DS}Signature"), f"{DS}Object")
    forged = etree.fromstring(etree.tostring(r.find(f".//{ED}MessageHeader")))
    forged.find(f"{ED}Subject").text = "Giả mạo"
    obj.append(forged)
    cases["fake-object"] = (etree.tostring(r), "FORMAT_FAILURE", True)
    # 4. The signed subtree swapped for an unsigned one: with a signature by Id, the signed
    #    MessageHeader goes into an Object (where the reference still finds it) and a forged
    #    one takes its place in the header.
    by_id = _signed_by_id(services, signing)
    assert _xmlsec(by_id, d, "--id-attr:Id", f"{model.NS}:MessageHeader")
    r = etree.fromstring(by_id)
    header = r.find(f".//{ED}edXMLHeader")
    original = header.find(f"{ED}MessageHeader")
    forged = etree.fromstring(etree.tostring(original))
    del forged.attrib["Id"]
    forged.find(f"{ED}Subject").text = "Nội dung giả mạo"
    original.addprevious(forged)
    etree.SubElement(r.find(f".//{DS}Signature"), f"{DS}Object").append(original)
    cases["subtree-swapped"] = (etree.tostring(r), "FORMAT_FAILURE", True)
    cases["signed-by-id-only"] = (by_id, "FORMAT_FAILURE", True)
    # 5. A fake SignedProperties: a XAdES package given a second, unsigned SignedProperties
    #    with another signing time, placed before the signed one.
    xades = signed_package(client, services, signing, xades=True)
    assert _post(client, signing, xades)["indication"] == "TOTAL-PASSED"
    r = etree.fromstring(xades)
    qp = r.find(f".//{{{xmldsig.XADES}}}QualifyingProperties")
    fake = etree.fromstring(etree.tostring(qp))
    for el in fake.iter():
        el.attrib.pop("Id", None)
    fake.find(f".//{{{xmldsig.XADES}}}SigningTime").text = "2020-01-01T00:00:00Z"
    fake_obj = etree.Element(f"{DS}Object")
    fake_obj.append(fake)
    qp.getparent().addprevious(fake_obj)
    cases["fake-signed-properties"] = (etree.tostring(r), "FORMAT_FAILURE", True)

    wrong = []
    for name, (data, sub, xmlsec_accepts) in cases.items():
        body = _post(client, signing, data)
        if (body["indication"], body["sub_indication"]) != ("TOTAL-FAILED", sub):
            wrong.append(f"{name}: {body['indication']}/{body['sub_indication']}: {body['summary_en']}")
        elif body["edxml"]["header"] is not None:
            wrong.append(f"{name}: header values reported from a wrapped package")
        extra = ("--id-attr:Id", f"{model.NS}:MessageHeader") if "id" in name or "swapped" in name else ()
        if _xmlsec(data, d, *extra) != xmlsec_accepts:
            wrong.append(f"{name}: xmlsec1 {'rejects' if xmlsec_accepts else 'accepts'} it, unlike what is documented")
    assert not wrong, "\n".join(wrong)
    # A second MessageHeader cannot even be read as a package.
    r = etree.fromstring(good)
    r.find(f".//{ED}edXMLHeader").insert(0, etree.fromstring(etree.tostring(r.find(f".//{ED}MessageHeader"))))
    resp = client.post("/api/v1/edxml/verify?offline=true", data=etree.tostring(r),
                       headers={"Authorization": f"Bearer {signing['keys']['eoffice']}"},
                       content_type="application/xml")
    assert resp.status_code == 422 and "MessageHeader" in resp.get_json()["detail"]
    assert _xmlsec_ok(good, d)
