"""Item 11 of issue 13: anonymous denial of service through /verify. A 12 MB XML with 1,500
copies of one signature cost 30 s of CPU, and eight such uploads filled every worker thread
(/healthz took 26.5 s).

Now: at most verify.max_signatures signatures per document (422 too-many-signatures, before
any is checked); at most verify.max_concurrent verifications per worker, below its thread
count (503 verify-busy with Retry-After once busy_wait_seconds pass); the public page has
its own, shorter time limit and a per-address limit (429). bench/verify_dos.py measures
/healthz under eight hostile uploads."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from lxml import etree

from tests.conftest import make_settings
from tests.signing.conftest import H, signing  # noqa: F401 - the signing world fixture
from tests.verify.test_xml import sign_xml

DS = "http://www.w3.org/2000/09/xmldsig#"


@pytest.fixture
def settings(database: Any, hsm_token: Any) -> Any:
    return make_settings(database, hsm_token, verify={
        "max_signatures": 5, "max_concurrent": 1, "busy_wait_seconds": 0, "public_per_minute": 3,
        "public_max_seconds": 7, "max_seconds": 30})


def _copies(data: bytes, n: int) -> bytes:
    """The document with its one signature copied until it holds ``n``."""
    root = etree.fromstring(data)
    sig = root.find(f".//{{{DS}}}Signature")
    assert sig is not None
    for _ in range(n - 1):
        sig.addnext(copy.deepcopy(sig))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _public(client: Any, data: bytes, address: str = "203.0.113.7") -> Any:
    import io

    return client.post("/verify?lang=en", data={"file": (io.BytesIO(data), "doc.xml")},
                       content_type="multipart/form-data", environ_base={"REMOTE_ADDR": address})


def test_a_document_with_too_many_signatures_is_refused_unchecked(client: Any, services: Any,
                                                                   signing: dict[str, Any]) -> None:  # noqa: F811
    one = sign_xml(services, signing["seal"], "rsa-pkcs1-sha256")
    auditor = H(signing["keys"]["auditor"])
    r = client.post("/api/v1/verify?offline=true", data=_copies(one, 5), headers=auditor)
    assert r.status_code == 200 and len(r.get_json()["signatures"]) == 5
    r = client.post("/api/v1/verify?offline=true", data=_copies(one, 6), headers=auditor)
    assert r.status_code == 422 and r.get_json()["code"] == "too-many-signatures", r.get_json()
    assert r.get_json()["detail_vi"]
    r = _public(client, _copies(one, 1500))
    assert r.status_code == 422 and b"at most 5" in r.data


def test_verifications_beyond_the_slots_get_503(client: Any, services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    from verification import limits

    one = sign_xml(services, signing["seal"], "rsa-pkcs1-sha256")
    with limits.verification_slot(services.settings):  # the worker's one slot is taken
        r = client.post("/api/v1/verify?offline=true", data=one, headers=H(signing["keys"]["auditor"]))
        assert r.status_code == 503 and r.get_json()["code"] == "verify-busy", r.get_json()
        assert int(r.headers["Retry-After"]) >= 1
        page = _public(client, one)
        assert page.status_code == 503 and page.headers["Retry-After"]
        # Everything else still answers.
        assert client.get("/healthz").status_code == 200
    r = client.post("/api/v1/verify?offline=true", data=one, headers=H(signing["keys"]["auditor"]))
    assert r.status_code == 200 and r.get_json()["indication"] == "TOTAL-PASSED"


def test_the_public_page_limits_each_address_and_has_a_shorter_deadline(
        client: Any, services: Any, signing: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from kyso import bounded

    seen: list[float] = []
    real = bounded.call

    def spy(*args: Any, seconds: float, **kwargs: Any) -> Any:
        seen.append(seconds)
        return real(*args, seconds=seconds, **kwargs)

    monkeypatch.setattr(bounded, "call", spy)
    one = sign_xml(services, signing["seal"], "rsa-pkcs1-sha256")
    for _ in range(3):
        assert _public(client, one).status_code == 200
    r = _public(client, one)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    assert b"too many uploads" in r.data
    assert _public(client, one, address="198.51.100.9").status_code == 200  # another address is not held up
    assert seen == [7, 7, 7, 7]  # public_max_seconds, not max_seconds
    r = client.post("/api/v1/verify?offline=true", data=one, headers=H(signing["keys"]["auditor"]))
    assert r.status_code == 200 and seen[-1] == 30
