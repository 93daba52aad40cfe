"""Item 3 of issue 13: status messages from revoked keys. An incoming edXML status message
moved a document's track on any verification result but TOTAL-FAILED: a seal revoked for
keyCompromise with a back-dated signing time (INDETERMINATE/REVOKED_NO_POE) was accepted,
and so was a status about a DocumentId never seen here.

Now only TOTAL-PASSED moves a track, an unknown DocumentId is 422 status-document-unknown,
and a keyCompromise revocation counts from its invalidity date or, without one, from the
certificate's notBefore, whatever signing time the signature claims."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from axis import building, model, status, status_message
from signer import xades as xml_signing
from tests.edxml.test_sign_api import META
from tests.signing.conftest import OTHER_AGENCY, H, issue_in_hsm, signing  # noqa: F401 - fixture
from tests.signing.documents import letter_pdf
from tests.verify.test_xml import _credential

DOC = META["document_id"]


def _events(services: Any) -> int:
    with services.sessions() as s:
        return int(s.execute(select(func.count()).select_from(status.EdxmlStatusEvent)).scalar_one())


def _package_signed_here(client: Any, world: dict[str, Any]) -> None:
    r = client.post("/api/v1/edxml/sign", headers=H(world["keys"]["eoffice"]), content_type="multipart/form-data",
                    data={"metadata": json.dumps(META),
                          "file": [(__import__("io").BytesIO(letter_pdf()), "cong-van.pdf", "application/pdf")]})
    assert r.status_code == 200, r.get_json()


def _signed_status(services: Any, serial: str, code: str = "01", document_id: str = DOC,
                   signing_time: dt.datetime | None = None) -> bytes:
    """A status message from OTHER_AGENCY, signed with its seal (XAdES, so the signing time
    it claims is in the signature), as its own connector would send it through the axis."""
    msg = status_message.StatusMessage(sender=model.Organization(OTHER_AGENCY, "Sở Tài chính"),
                                       document_id=document_id, code=code)
    root = status_message.build(msg)
    label, cert, chain = _credential(services, serial)
    xml_signing.sign_enveloped(root, building.header_element(root), xml_signing.SigningRequest(
        scheme="ecdsa-sha256", certificate_der=cert, chain_der=chain, xades=True, signing_time=signing_time,
        sign=lambda b: services.keystore.sign(label, b, "ecdsa-sha256")))
    return building.to_bytes(root)


def _receive(client: Any, key: str, data: bytes) -> Any:
    return client.post("/api/v1/edxml/status?offline=true", data=data, headers=H(key), content_type="application/xml")


def _verify(client: Any, world: dict[str, Any], data: bytes) -> dict[str, Any]:
    r = client.post("/api/v1/verify?offline=true", data=data, headers=H(world["keys"]["auditor"]))
    assert r.status_code == 200, r.get_json()
    return dict(r.get_json())


@pytest.fixture
def other_seal(client: Any, signing: dict[str, Any]) -> str:  # noqa: F811
    out = issue_in_hsm(client, signing["keys"], "agency-seal", OTHER_AGENCY, "ec-p256")
    return str(out["certificate"]["serial"])


def test_a_status_about_an_unknown_document_is_refused(client: Any, services: Any, signing: dict[str, Any],  # noqa: F811
                                                       other_seal: str) -> None:
    data = _signed_status(services, other_seal)
    r = _receive(client, signing["keys"]["eoffice"], data)
    assert r.status_code == 422 and r.get_json()["code"] == "status-document-unknown", r.get_json()
    assert r.get_json()["detail_vi"] and _events(services) == 0
    # Once the package was signed here, the same message is taken.
    _package_signed_here(client, signing)
    r = _receive(client, signing["keys"]["eoffice"], data)
    assert r.status_code == 200 and r.get_json()["signature"] == "TOTAL-PASSED", r.get_json()
    assert _events(services) == 1


def test_a_compromised_key_with_a_back_dated_signing_time(
        client: Any, services: Any, signing: dict[str, Any], other_seal: str) -> None:  # noqa: F811
    """The attack: a seal revoked for keyCompromise, the message signed after the revocation
    but claiming a time before it. It was INDETERMINATE/REVOKED_NO_POE and moved the track."""
    _package_signed_here(client, signing)
    ra = H(signing["keys"]["ra"])
    assert client.post(f"/api/v1/admin/certificates/{other_seal}/revoke", headers=ra,
                       json={"reason": "key_compromise"}).status_code == 200
    back_dated = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    data = _signed_status(services, other_seal, signing_time=back_dated)
    report = _verify(client, signing, data)
    (sig,) = report["signatures"]
    assert (report["indication"], report["sub_indication"]) == ("TOTAL-FAILED", "REVOKED"), report["summary_en"]
    assert sig["revocation"]["reason"] == "key_compromise" and sig["revocation"]["counts_from"]
    r = _receive(client, signing["keys"]["eoffice"], data)
    assert r.status_code == 422 and r.get_json()["code"] == "status-signature-invalid", r.get_json()
    assert _events(services) == 0


def test_an_invalidity_date_is_where_a_compromise_counts_from(
        client: Any, services: Any, signing: dict[str, Any], other_seal: str) -> None:  # noqa: F811
    """With an invalidity date after the claimed signing time the signature is not proven bad,
    but not proven good either (INDETERMINATE/REVOKED_NO_POE): it moves no track."""
    _package_signed_here(client, signing)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    data = _signed_status(services, other_seal, signing_time=now - dt.timedelta(seconds=5))
    invalid_from = now - dt.timedelta(seconds=2)
    assert client.post(f"/api/v1/admin/certificates/{other_seal}/revoke", headers=H(signing["keys"]["ra"]),
                       json={"reason": "key_compromise",
                             "invalidity_date": invalid_from.isoformat()}).status_code == 200
    report = _verify(client, signing, data)
    assert (report["indication"], report["sub_indication"]) == ("INDETERMINATE", "REVOKED_NO_POE"), report
    r = _receive(client, signing["keys"]["eoffice"], data)
    assert r.status_code == 422 and r.get_json()["code"] == "status-signature-invalid", r.get_json()
    # Signed before the invalidity date claimed, and after it: the second one is REVOKED.
    late = _signed_status(services, other_seal, code="03", signing_time=now)
    assert _verify(client, signing, late)["sub_indication"] == "REVOKED"
    assert _events(services) == 0


def test_a_pdf_signed_before_a_key_compromise_without_invalidity_date_fails(
        client: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    """The same judgement for every document Kyso verifies: a key revoked for keyCompromise
    (no invalidity date) is revoked from its certificate's start; superseded is not."""
    from tests.signing.conftest import AGENCY

    def sign(credential: str) -> bytes:
        r = client.post(f"/api/v1/sign/pdf?credential={credential}&level=B-B", data=letter_pdf(),
                        headers=H(signing["keys"]["eoffice"]))
        assert r.status_code == 200, r.get_json()
        return bytes(r.data)

    compromised = sign(f"agency:{AGENCY}")
    extra = issue_in_hsm(client, signing["keys"], "agency-seal", AGENCY, "ec-p256")["certificate"]["serial"]
    superseded = sign(extra)
    # Revocation dates have whole seconds: revoke in a later second than the signing times
    # (taken before now), which is at most a second away, not always one.
    signed_by = time.time()
    time.sleep(math.floor(signed_by) + 1 - signed_by + 0.01)
    ra = H(signing["keys"]["ra"])
    for serial, reason in ((signing["seal"], "key_compromise"), (extra, "superseded")):
        assert client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=ra,
                           json={"reason": reason}).status_code == 200
    bad = _verify(client, signing, compromised)
    assert (bad["indication"], bad["sub_indication"]) == ("TOTAL-FAILED", "REVOKED"), bad["summary_en"]
    later = _verify(client, signing, superseded)
    assert (later["indication"], later["sub_indication"]) == ("INDETERMINATE", "REVOKED_NO_POE"), later["summary_en"]
