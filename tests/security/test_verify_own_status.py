"""Item 14 of issue 13: verifying this CA's own certificates fetched OCSP over HTTP from Kyso
itself; with ten verifications at once, eight took 10.1 s (each waited for a free worker to
answer its own OCSP request). Their status is now answered in process, from the CA's current
CRL: nothing goes over the network for them, and a revocation is still seen at once."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.signing.conftest import AGENCY, H, signing  # noqa: F401 - the signing world fixture
from tests.signing.documents import letter_pdf


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def _answer(self) -> None:
        type(self).hits.append(f"{self.command} {self.path}")
        self.send_response(503)
        self.end_headers()

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def kyso_url() -> Iterator[str]:
    """Where Kyso's certificates say its OCSP responder and CRLs are: a server that records."""
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(database: Any, hsm_token: Any, kyso_url: str) -> Any:
    return make_settings(database, hsm_token, server={"public_base_url": kyso_url},
                         verify={"fetch_revocation": True})


def test_own_certificates_are_answered_in_process(client: Any, services: Any,
                                                  signing: dict[str, Any]) -> None:  # noqa: F811
    from verification import service

    r = client.post(f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-B", data=letter_pdf(),
                    headers=H(signing["keys"]["eoffice"]))
    assert r.status_code == 200, r.get_json()
    pdf = bytes(r.data)
    _Recorder.hits.clear()
    report = service.verify(services.sessions, services.settings, pdf)  # online, in process
    assert report.indication == "TOTAL-PASSED", report.summary_en
    r = client.post("/api/v1/verify", data=pdf, headers=H(signing["keys"]["auditor"]))  # online, over the API
    assert r.status_code == 200 and r.get_json()["indication"] == "TOTAL-PASSED"
    assert _Recorder.hits == []
    # A revocation is seen at once, still without a request.
    assert client.post(f"/api/v1/admin/certificates/{signing['seal']}/revoke", headers=H(signing["keys"]["ra"]),
                       json={"reason": "key_compromise"}).status_code == 200
    report = service.verify(services.sessions, services.settings, pdf, bounded=True)
    assert (report.indication, report.sub_indication) == ("TOTAL-FAILED", "REVOKED"), report.summary_en
    assert _Recorder.hits == []
