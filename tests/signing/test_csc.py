"""The CSC API v1.0.4 end to end: pyHanko's CSCSigner signs a PDF through /csc/v1 against a
live server; pyHanko's validator and pdfsig accept the result."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from typing import Any

import pytest

from tests.interop.conftest import server  # noqa: F401 - the live loopback server fixture
from tests.signing.conftest import PIN, H
from tests.signing.documents import letter_pdf
from tests.signing.test_pdf import nss_trusting, pdfsig, pyhanko_validate


async def _csc_sign(base_url: str, api_key: str, credential_id: str, pin: str | None, pdf: bytes) -> bytes:
    import aiohttp
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.signers.csc_signer import (
        CSCAuthorizationManager,
        CSCServiceSessionInfo,
        CSCSigner,
        PrefetchedSADAuthorizationManager,
        fetch_certs_in_csc_credential,
    )

    session_info = CSCServiceSessionInfo(base_url, credential_id, oauth_token=api_key)
    async with aiohttp.ClientSession() as session:
        info = await fetch_certs_in_csc_credential(session, session_info)
        request = CSCAuthorizationManager(session_info, info).format_csc_auth_request(pin=pin)
        async with session.post(session_info.endpoint_url("credentials/authorize"), json=request,
                                headers=session_info.auth_headers, raise_for_status=True) as resp:
            auth = CSCAuthorizationManager.parse_csc_auth_response(await resp.json())
        manager = PrefetchedSADAuthorizationManager(session_info, info, auth)
        signer = CSCSigner(session, manager)
        meta = signers.PdfSignatureMetadata(field_name="CSC", subfilter=fields.SigSeedSubFilter.PADES)
        out = io.BytesIO()
        await signers.PdfSigner(meta, signer=signer).async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
        return out.getvalue()


@pytest.mark.parametrize("which", ["seal", "personal"])
def test_pyhanko_csc_signer_through_kyso(client: Any, signing: dict[str, Any], server: str,  # noqa: F811
                                         which: str) -> None:
    d = signing["dir"]
    key = signing["keys"]["eoffice"]
    listed = client.post("/csc/v1/credentials/list", headers=H(key), json={}).get_json()["credentialIDs"]
    assert signing[which] in listed
    signed = asyncio.run(_csc_sign(server, key, signing[which], PIN if which == "personal" else None,
                                   letter_pdf()))
    (status,) = pyhanko_validate(signed, d)
    assert status.bottom_line, status.pretty_print_details()
    (d / "csc.pdf").write_bytes(signed)
    nss_trusting(d)
    report = pdfsig(d / "csc.pdf", d)
    assert "Signature is Valid" in report and "Certificate is Trusted" in report, report


def test_csc_info_and_refusals(client: Any, signing: dict[str, Any]) -> None:
    info = client.get("/csc/v1/info").get_json()
    assert info["specs"] == "1.0.4.0" and "signatures/signHash" in info["methods"]
    key = H(signing["keys"]["eoffice"])
    personal = signing["personal"]
    body = client.post("/csc/v1/credentials/info", headers=key,
                       json={"credentialID": personal, "certificates": "chain", "certInfo": True}).get_json()
    assert body["authMode"] == "explicit" and body["PIN"]["presence"] == "true"
    assert len(body["cert"]["certificates"]) == 3
    assert body["key"]["algo"] == ["1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"]
    # No PIN, wrong PIN: no SAD.
    r = client.post("/csc/v1/credentials/authorize", headers=key, json={"credentialID": personal, "numSignatures": 1})
    assert r.status_code == 401
    r = client.post("/csc/v1/credentials/authorize", headers=key,
                    json={"credentialID": personal, "numSignatures": 1, "PIN": "999999"})
    assert r.status_code == 401
    digest = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    sad = client.post("/csc/v1/credentials/authorize", headers=key, json={
        "credentialID": personal, "numSignatures": 1, "PIN": PIN, "hash": [digest]}).get_json()["SAD"]
    sign = {"credentialID": personal, "SAD": sad, "hashAlgo": "2.16.840.1.101.3.4.2.1",
            "signAlgo": "1.2.840.10045.4.3.2"}
    other = base64.b64encode(hashlib.sha256(b"y").digest()).decode()
    r = client.post("/csc/v1/signatures/signHash", headers=key, json={**sign, "hash": [other]})
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_request", "the SAD is pinned to its hash"
    r = client.post("/csc/v1/signatures/signHash", headers=key, json={**sign, "hash": [digest]})
    assert r.status_code == 200 and len(r.get_json()["signatures"]) == 1
    r = client.post("/csc/v1/signatures/signHash", headers=key, json={**sign, "hash": [digest]})
    assert r.status_code == 400, "a SAD for one signature signs once"
    # Another client cannot use the credential at all.
    r = client.post("/csc/v1/credentials/info", headers=H(signing["keys"]["other"]), json={"credentialID": personal})
    assert r.status_code == 403
    # A wrong algorithm pairing is refused.
    sad = client.post("/csc/v1/credentials/authorize", headers=key,
                      json={"credentialID": personal, "numSignatures": 1, "PIN": PIN}).get_json()["SAD"]
    r = client.post("/csc/v1/signatures/signHash", headers=key,
                    json={**sign, "SAD": sad, "hash": [digest], "signAlgo": "1.2.840.113549.1.1.11"})
    assert r.status_code in (400, 422)
