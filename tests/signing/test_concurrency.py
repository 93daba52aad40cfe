"""50 concurrent signing requests against a live server: all succeed, each signature is
recorded exactly once, and the audit chain stays intact."""

from __future__ import annotations

import concurrent.futures
import io
import urllib.request
from typing import Any

import pytest
from sqlalchemy import func, select

from kyso.db import transaction
from tests.interop.conftest import server  # noqa: F401 - the live loopback server fixture
from tests.signing.conftest import AGENCY
from tests.signing.documents import letter_pdf

pytestmark = pytest.mark.both_databases


def test_fifty_concurrent_requests(services: Any, signing: dict[str, Any], server: str) -> None:  # noqa: F811
    from pyhanko.pdf_utils.reader import PdfFileReader

    from kyso.audit import verify_chain
    from signer.credentials import SignatureRecord

    key = signing["keys"]["eoffice"]
    pdf = letter_pdf()

    def one(i: int) -> tuple[str, bytes]:
        kind = "pdf" if i % 2 else "cms"
        body = pdf if kind == "pdf" else f"văn bản {i}".encode()
        req = urllib.request.Request(f"{server}/api/v1/sign/{kind}?credential=agency:{AGENCY}&level=B-B", data=body,
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.headers["X-Kyso-Signature-Id"], resp.read()

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    ids = {sig_id for sig_id, _ in results}
    assert len(ids) == 50
    for i, (_sig_id, data) in enumerate(results):
        if i % 2:
            assert len(PdfFileReader(io.BytesIO(data)).embedded_signatures) == 1
        else:
            assert data[:1] == b"\x30"
    with transaction(services.sessions) as session:
        assert session.execute(select(func.count()).select_from(SignatureRecord)).scalar_one() == 50
        report = verify_chain(session)
    assert report.ok, report.describe()
