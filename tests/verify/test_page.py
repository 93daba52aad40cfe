"""The public page /verify in headless Chromium (Debian's, driven by Playwright): upload a
signed letter, read the Vietnamese report, switch to English; a screenshot is checked."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.interop.conftest import server  # noqa: F401 - the live loopback server fixture
from tests.signing.conftest import AGENCY, H
from tests.signing.documents import letter_pdf

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _browser() -> Any:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is required in CI (setup installs it as root)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    return sync_playwright()


def test_upload_and_read_the_report(client: Any, signing: dict[str, Any], server: str,  # noqa: F811
                                    tmp_path: Path) -> None:
    r = client.post(f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-T", data=letter_pdf(),
                    headers=H(signing["keys"]["eoffice"]))
    signed = tmp_path / "cong-van.pdf"
    signed.write_bytes(r.data)
    with _browser() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        page.goto(f"{server}/verify")
        assert "Dung lượng tối đa: 20 MB" in page.inner_text("body")
        page.set_input_files("#file", str(signed))
        page.click("#submit")
        page.wait_for_selector("#verdict")
        verdict = page.inner_text("#verdict")
        assert "TOTAL-PASSED" in verdict and "Cả 1 chữ ký đều hợp lệ" in verdict
        body = page.inner_text("body")
        assert "SỞ NỘI VỤ" in body and AGENCY in body and "B-T" in body
        shot = page.screenshot(full_page=True)
        (tmp_path / "report.png").write_bytes(shot)
        page.click("text=English")
        assert "Result" in page.inner_text("body") or "Verify" in page.inner_text("body")
        # A tampered file: the page says so.
        bad = bytearray(r.data)
        bad[bad.index(b"Do Q")] = ord("D") ^ 1
        (tmp_path / "bad.pdf").write_bytes(bytes(bad))
        page.goto(f"{server}/verify")
        page.set_input_files("#file", str(tmp_path / "bad.pdf"))
        page.click("#submit")
        page.wait_for_selector("#verdict")
        assert "TOTAL-FAILED" in page.inner_text("#verdict")
        browser.close()
    # The screenshot shows the report: mostly white page, a green verdict box, text.
    img = Image.open(io.BytesIO(shot)).convert("RGB")
    assert img.width == 1000 and img.height >= 600
    colours = img.getcolors(maxcolors=1_000_000) or []
    greenish = sum(n for n, (r_, g, b) in colours if g > 230 and r_ < 235 and b < 240 and g - r_ > 10)
    dark = sum(n for n, (r_, g, b) in colours if r_ + g + b < 200)
    assert greenish > 2000, "the green TOTAL-PASSED box is drawn"
    assert dark > 2000, "the report text is drawn"


def test_page_refuses_garbage_without_storing(client: Any, signing: dict[str, Any]) -> None:
    r = client.post("/verify", data={"file": (io.BytesIO(b"not a document"), "x.txt")},
                    content_type="multipart/form-data")
    assert r.status_code == 415 and "không phải" in r.get_data(as_text=True)
    r = client.get("/verify?lang=en")
    assert r.status_code == 200 and "Size limit" in r.get_data(as_text=True)
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
