"""Status messages through the API, as the issue's "done when" tells it: a connector signs a
package for two recipient agencies with a signed PDF attached, a recipient verifies it and
sends 01, 03 and 06, the sender reads the history, and xmlsec1 agrees on every signature.
Then the refusals: wrong party, wrong order, unknown code, missing reason, unbound agency,
a tampered incoming message; none of them records anything."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select

from axis import building, model, status, status_message
from tests.edxml.test_sign_api import META, _xmlsec
from tests.signing.conftest import AGENCY, OTHER_AGENCY, PIN, H, issue_in_hsm
from tests.signing.documents import letter_pdf

DOC = META["document_id"]


def _events(services: Any) -> int:
    with services.sessions() as s:
        return int(s.execute(select(func.count()).select_from(status.EdxmlStatusEvent)).scalar_one())


def _status(client: Any, key: str, code: str, *, sender: str = OTHER_AGENCY, sign: bool = True, **extra: Any) -> Any:
    body = {"document_id": DOC, "from": {"organ_id": sender, "organ_name": "Sở Tài chính"}, "status_code": code,
            "staff": {"department": "Văn phòng", "staff": "Trần Thị Bình"}, "sign": sign, **extra}
    return client.post("/api/v1/edxml/status", headers=H(key), json=body)


def _history(client: Any, key: str) -> Any:
    return client.get(f"/api/v1/edxml/documents/{quote(DOC, safe='')}/status", headers=H(key))


def test_package_then_statuses_then_history(client: Any, services: Any, signing: dict[str, Any],
                                            images_uploaded: None) -> None:
    from signer.credentials import SignatureRecord

    sender, recipient = signing["keys"]["eoffice"], signing["keys"]["other"]
    issue_in_hsm(client, signing["keys"], "agency-seal", OTHER_AGENCY, "ec-p256")
    # The sender's connector: metadata and a PDF, the PDF signed first by the director with
    # the leader's appearance (his consent given), the package sealed, for two recipients.
    r = client.post("/api/v1/edxml/sign", headers=H(sender, **{"X-Kyso-Consent": PIN}),
                    content_type="multipart/form-data",
                    data={"metadata": json.dumps(META), "pdf_credential": f"official:{signing['official_id']}",
                          "file": [(__import__("io").BytesIO(letter_pdf()), "cong-van.pdf", "application/pdf")]})
    assert r.status_code == 200, r.get_json()
    package = bytes(r.data)
    assert _xmlsec(package, signing["dir"]) == 0
    with services.sessions() as s:
        formats = sorted(s.execute(select(SignatureRecord.format)).scalars())
    assert formats == ["edxml", "pdf"]  # the director's PDF signature is recorded and audited too
    # The recipient verifies it.
    v = client.post("/api/v1/edxml/verify?offline=true", data=package, headers=H(recipient),
                    content_type="application/xml").get_json()
    pdf_report = v["edxml"]["attachments"][0]["pdf_report"]
    assert v["indication"] == "TOTAL-PASSED" and pdf_report["indication"] == "TOTAL-PASSED"
    assert "Nguyễn Văn An" in pdf_report["signatures"][0]["signer"]
    # The history exists from the signing on: both recipients known, nothing reported yet.
    h = _history(client, sender).get_json()
    assert h["recipients"] == {"000.00.13.H31": {"current": None, "next_allowed": ["01", "13"]},
                               "000.00.14.H31": {"current": None, "next_allowed": ["01", "13"]}}
    messages = []
    for code in ("01", "03", "06"):
        r = _status(client, recipient, code, description="Đã tiếp nhận văn bản" if code == "03" else "")
        assert r.status_code == 200, r.get_json()
        assert r.headers["X-Kyso-Signature-Id"]
        assert _xmlsec(bytes(r.data), signing["dir"]) == 0
        messages.append(bytes(r.data))
    parsed, _root = status_message.parse(messages[1])
    assert parsed.description == "Đã tiếp nhận văn bản" and parsed.staff["Staff"] == "Trần Thị Bình"
    h = _history(client, sender).get_json()
    assert [(e["recipient"], e["code"], e["direction"]) for e in h["history"]] == [
        (OTHER_AGENCY, "01", "sent"), (OTHER_AGENCY, "03", "sent"), (OTHER_AGENCY, "06", "sent")]
    assert all(e["signature"].startswith("kyso:") for e in h["history"])
    assert h["recipients"][OTHER_AGENCY] == {"current": "06", "next_allowed": ["13"]}
    assert h["history"][1]["description"] == "Đã tiếp nhận văn bản"
    # The sender's connector receives the same 06 from the axis: verified, recorded once.
    r = client.post("/api/v1/edxml/status?offline=true", data=messages[2], headers=H(sender),
                    content_type="application/xml")
    assert r.status_code == 200 and r.get_json()["already_recorded"] and r.get_json()["signature"] == "TOTAL-PASSED"
    # Nothing but a retrieval request follows 06; 13 needs a reason and comes from the sender.
    before = _events(services)
    r = _status(client, recipient, "05")
    assert r.status_code == 409 and r.get_json()["code"] == "status-transition-invalid" and r.get_json()["detail_vi"]
    r = _status(client, sender, "13", sender=AGENCY)
    assert r.status_code == 422 and r.get_json()["code"] == "status-reason-required"
    r = _status(client, recipient, "13", description="Lấy lại")
    assert r.status_code == 409 and r.get_json()["code"] == "status-wrong-party"
    r = _status(client, recipient, "15")
    assert r.status_code == 409  # 15 answers only a 13
    r = _status(client, recipient, "09")
    assert r.status_code == 422 and r.get_json()["code"] == "status-code-unknown"
    r = _status(client, sender, "03", sender=AGENCY)
    assert r.status_code == 409 and r.get_json()["code"] == "status-wrong-party"  # the sender cannot accept
    r = _status(client, sender, "01")  # eoffice is not bound to the recipient agency
    assert r.status_code == 403 and r.get_json()["code"] == "agency-not-bound"
    assert _events(services) == before
    # A retrieval request to the recipient that completed, answered with 16; then 13 again and 15.
    r = _status(client, sender, "13", sender=AGENCY, description="Văn bản có sai sót", to=[OTHER_AGENCY])
    assert r.status_code == 200, r.get_json()
    assert _status(client, recipient, "16", description="Văn bản đã ban hành").status_code == 200
    assert _status(client, sender, "13", sender=AGENCY, description="Lần hai", to=[OTHER_AGENCY]).status_code == 200
    assert _status(client, recipient, "15", sign=False).status_code == 200
    h = _history(client, recipient).get_json()
    assert [e["code"] for e in h["history"]] == ["01", "03", "06", "13", "16", "13", "15"]
    assert h["history"][-1]["signature"] == "none" and h["recipients"][OTHER_AGENCY]["next_allowed"] == []
    assert list(h["recipients"]) == [OTHER_AGENCY]  # a recipient sees its own track only
    h = _history(client, sender).get_json()  # the sender sees every recipient's
    assert h["recipients"]["000.00.14.H31"]["current"] is None and len(h["history"]) == 7
    # Readers: staff roles and bound clients; a client of neither side gets 404, as for an unknown id.
    assert _history(client, signing["keys"]["auditor"]).status_code == 200
    outsider = __import__("tests.conftest", fromlist=["make_user"]).make_user(services, "outsider", "client")
    assert _history(client, outsider).status_code == 404
    # An agency that is not among the recipients of a package signed here cannot make itself
    # one by reporting a status (and so read the history).
    assert client.post("/api/v1/admin/agencies", headers=H(signing["keys"]["ra"]),
                       json={"code": "000.00.15.H31", "name": "SỞ XÂY DỰNG"}).status_code == 201
    assert client.post("/api/v1/admin/clients/outsider/agencies", headers=H(signing["keys"]["admin"]),
                       json={"agency_code": "000.00.15.H31"}).status_code == 201
    before = _events(services)
    r = _status(client, outsider, "01", sender="000.00.15.H31", sign=False)
    assert r.status_code == 409 and r.get_json()["code"] == "status-wrong-party", r.get_json()
    assert _history(client, outsider).status_code == 404 and _events(services) == before
    r = client.get("/api/v1/edxml/documents/nope/status", headers=H(sender))
    assert r.status_code == 404 and r.get_json()["detail_vi"]


def test_incoming_messages(client: Any, services: Any, signing: dict[str, Any]) -> None:
    from signer import xades as xml_signing
    from tests.edxml.test_verify_api import _credential

    sender, recipient = signing["keys"]["eoffice"], signing["keys"]["other"]
    issue_in_hsm(client, signing["keys"], "agency-seal", OTHER_AGENCY, "rsa-2048")
    msg = status_message.StatusMessage(sender=model.Organization(OTHER_AGENCY, "Sở Tài chính"), document_id=DOC,
                                       code="01")

    def post(data: bytes, key: str = sender) -> Any:
        return client.post("/api/v1/edxml/status?offline=true", data=data, headers=H(key),
                           content_type="application/xml")

    before = _events(services)
    # Unsigned: anyone could have written it.
    r = post(building.to_bytes(status_message.build(msg)))
    assert r.status_code == 422 and r.get_json()["code"] == "status-signature-invalid" and r.get_json()["detail_vi"]
    # Signed, but with the sender's own seal: not the From agency's.
    root = status_message.build(msg)
    label, cert, chain = _credential(services, signing["seal"])
    xml_signing.sign_enveloped(root, building.header_element(root), xml_signing.SigningRequest(
        scheme="rsa-pkcs1-sha256", certificate_der=cert, chain_der=chain,
        sign=lambda b: services.keystore.sign(label, b, "rsa-pkcs1-sha256")))
    r = post(building.to_bytes(root))
    assert r.status_code == 422 and "not by the From agency" in r.get_json()["detail"], r.get_json()
    # The recipient agency cannot post what is addressed to the sender.
    r = post(building.to_bytes(status_message.build(msg)), recipient)
    assert r.status_code == 403
    assert _events(services) == before
    # A genuine message changed after signing is refused.
    signed = _status(client, recipient, "01", description="Đã đến").data
    before = _events(services)
    r = post(bytes(signed).replace("Đã đến".encode(), "Đã mất".encode()))
    assert r.status_code == 422 and r.get_json()["code"] == "status-signature-invalid", r.get_json()
    # Malformed, not a status message, a DTD, UTF-16 (which the DTD check could not read).
    for data, code in ((b"<edXML xmlns='urn:x'/>", "edxml-invalid"),
                       (b"<!DOCTYPE x SYSTEM 'http://evil/x.dtd'><x/>", "xml-dtd-forbidden"),
                       (b"<a><b></a>", "xml-malformed")):
        r = post(data)
        assert r.status_code == 422 and r.get_json()["code"] == code, (code, r.get_json())
    assert _events(services) == before
    # The genuine one, as it came back from the axis: verified and recorded once.
    r = post(bytes(signed))
    assert r.status_code == 200 and r.get_json()["signature"] == "TOTAL-PASSED" and r.get_json()["already_recorded"]
