"""API clients authenticated by a TLS client certificate that a trusted reverse proxy passes
in a header: honoured only from trusted addresses, only for a good client-tls certificate
issued here to a client user, who is the one the certificate logs in as."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import make_settings
from tests.pki import make_csr
from tests.signing.conftest import AGENCY, H

HEADER = "X-SSL-Client-Cert"


@pytest.fixture
def settings(database: Any, hsm_token: Any) -> Any:
    return make_settings(database, hsm_token, server={"trusted_proxies": ["10.1.1.1"], "client_cert_header": HEADER})


def _client_tls(client: Any, signing: dict[str, Any], name: str) -> tuple[str, str]:
    r = client.post("/api/v1/admin/requests", headers=H(signing["keys"]["ra"]),
                    json={"profile": "client-tls", "agency_code": AGENCY, "csr": make_csr(), "owner": name})
    body = r.get_json()
    assert r.status_code == 201, body
    if body["certificate"] is None:
        body = client.post(f"/api/v1/admin/requests/{body['request']['id']}/approve",
                           headers=H(signing["keys"]["admin"])).get_json()
    return body["certificate_pem"], body["certificate"]["serial"]


def test_certificate_from_trusted_proxy(client: Any, signing: dict[str, Any]) -> None:
    pem_text, serial = _client_tls(client, signing, "eoffice")
    via_proxy = {"REMOTE_ADDR": "10.1.1.1"}
    r = client.get("/api/v1/sign/credentials", headers={HEADER: quote(pem_text)}, environ_base=via_proxy)
    assert r.status_code == 200, r.get_json()
    assert {c["kind"] for c in r.get_json()["credentials"]} == {"seal", "personal"}
    # The same header from anywhere else is refused.
    r = client.get("/api/v1/sign/credentials", headers={HEADER: quote(pem_text)},
                   environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert r.status_code == 401
    # Garbage is refused; a certificate for a name that is no client user is not even issued,
    # and one whose owner was disabled no longer logs in.
    r = client.get("/api/v1/sign/credentials", headers={HEADER: "not a certificate"}, environ_base=via_proxy)
    assert r.status_code == 401
    r = client.post("/api/v1/admin/requests", headers=H(signing["keys"]["ra"]),
                    json={"profile": "client-tls", "agency_code": AGENCY, "csr": make_csr(),
                          "owner": "nobody-registered"})
    assert r.status_code == 400 and r.get_json()["code"] == "certificate-owner-invalid"
    client.post("/api/v1/admin/clients/other/agencies", headers=H(signing["keys"]["admin"]),
                json={"agency_code": AGENCY})
    other_pem, _ = _client_tls(client, signing, "other")
    r = client.get("/api/v1/admin/whoami", headers={HEADER: quote(other_pem)}, environ_base=via_proxy)
    assert r.status_code == 200 and r.get_json()["name"] == "other"
    assert client.post("/api/v1/admin/users/other/disable", headers=H(signing["keys"]["admin"])).status_code == 200
    r = client.get("/api/v1/sign/credentials", headers={HEADER: quote(other_pem)}, environ_base=via_proxy)
    assert r.status_code == 401
    # Revoked: refused.
    client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=H(signing["keys"]["ra"]), json={})
    r = client.get("/api/v1/sign/credentials", headers={HEADER: quote(pem_text)}, environ_base=via_proxy)
    assert r.status_code == 401
