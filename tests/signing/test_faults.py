"""Faults while signing: HSM down (503 with Retry-After), the TSA failing for B-T (503), a
multipart request with an options part; nothing recorded for what was not signed."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from kyso.db import transaction
from tests.signing.conftest import AGENCY, H
from tests.signing.documents import letter_pdf


def _count(services: Any) -> int:
    from signer.credentials import SignatureRecord

    with transaction(services.sessions) as session:
        return int(session.execute(select(func.count()).select_from(SignatureRecord)).scalar_one())


def test_hsm_down_is_503_and_nothing_recorded(client: Any, services: Any, signing: dict[str, Any],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from hsm import HsmUnavailable

    def down(*_a: Any, **_k: Any) -> bytes:
        raise HsmUnavailable()

    monkeypatch.setattr(services.keystore, "sign", down)
    monkeypatch.setattr(services.keystore, "sign_digests", down)
    for path, body in ((f"/api/v1/sign/cms?credential=agency:{AGENCY}", b"x"),
                       (f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-B", letter_pdf())):
        r = client.post(path, data=body, headers=H(signing["keys"]["eoffice"]))
        assert r.status_code == 503 and r.headers["Retry-After"] and r.get_json()["code"] == "hsm-unavailable"
    assert _count(services) == 0


def test_tsa_failure_for_b_t_is_503(client: Any, services: Any, signing: dict[str, Any],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from signer import tsa

    def refuse(*_a: Any, **_k: Any) -> bytes:
        raise tsa.TsaRefusal("system_failure", "down", http_status=503)

    monkeypatch.setattr(tsa, "stamp", refuse)
    for path, body in ((f"/api/v1/sign/cms?credential=agency:{AGENCY}&level=B-T", b"x"),
                       (f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-T", letter_pdf())):
        r = client.post(path, data=body, headers=H(signing["keys"]["eoffice"]))
        assert r.status_code == 503 and r.get_json()["code"] == "tsa-unavailable", r.get_json()
    assert _count(services) == 0


def test_multipart_with_options_part(client: Any, services: Any, signing: dict[str, Any]) -> None:
    options = json.dumps({"credential": f"agency:{AGENCY}", "level": "B-B", "appearance": "copy",
                          "document_number": "45/QĐ-SNV"})
    r = client.post("/api/v1/sign/pdf", headers=H(signing["keys"]["eoffice"]), content_type="multipart/form-data",
                    data={"file": (io.BytesIO(letter_pdf()), "quyet-dinh.pdf"), "options": options})
    assert r.status_code == 200, r.get_json()
    assert r.headers["X-Kyso-Signature-Field"].startswith("Kyso-copy-")
    r = client.post("/api/v1/sign/pdf", headers=H(signing["keys"]["eoffice"]), content_type="multipart/form-data",
                    data={"file": (io.BytesIO(letter_pdf()), "x.pdf"), "options": "{not json"})
    assert r.status_code == 400
    assert _count(services) == 1
