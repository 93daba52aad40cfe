"""The public page /verify in headless Chromium (Debian's, driven by Playwright): upload a
signed letter, read the Vietnamese report, switch to English; a screenshot is checked."""

from __future__ import annotations

import io
import os
import re
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


# Raw names that must never reach a reader: field names, enum names, Python values, codes.
RAW = ("TOTAL-PASSED", "TOTAL-FAILED", "INDETERMINATE", "ENTIRE_", "HASH_FAILURE", "NO_CERTIFICATE_CHAIN",
       "docmdp", "coverage", "changed_form_fields", "key_compromise", "True", "False", "None", "summary_")
VN_TIME = re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2} \(giờ Việt Nam, GMT\+7\)")


def _read(page: Any, base: str, path: Path, shots: Path, name: str, lang: str = "vi") -> str:
    page.goto(f"{base}/verify" + ("?lang=en" if lang == "en" else ""))
    page.set_input_files("#file", str(path))
    page.click("#submit")
    page.wait_for_selector("#verdict")
    (shots / f"{name}.png").write_bytes(page.screenshot(full_page=True))
    body = page.inner_text("body")
    for raw in RAW:
        assert raw not in body, (name, raw, body)
    return body


def test_upload_and_read_the_report(client: Any, signing: dict[str, Any], server: str,  # noqa: F811
                                    tmp_path: Path) -> None:
    """A valid, a tampered and a foreign document, read in the browser as a clerk would; the
    screenshots stay in the test's tmp dir (screenshots/)."""
    import hashlib

    from tests.verify.test_agreement import ForeignCA, _pyhanko_pdf

    r = client.post(f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-T", data=letter_pdf(),
                    headers=H(signing["keys"]["eoffice"]))
    signed = tmp_path / "cong-van.pdf"
    signed.write_bytes(r.data)
    bad = bytearray(r.data)
    bad[bad.index(b"Do Q")] = ord("D") ^ 1
    (tmp_path / "bad.pdf").write_bytes(bytes(bad))
    foreign = ForeignCA(tmp_path)
    (tmp_path / "foreign.pdf").write_bytes(_pyhanko_pdf(foreign.signer(), letter_pdf()))
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with _browser() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        page.goto(f"{server}/verify")
        assert "Dung lượng tối đa: 20 MB" in page.inner_text("body")

        body = _read(page, server, signed, shots, "valid")
        verdict = page.inner_text("#verdict")
        assert verdict.startswith("Chữ ký số hợp lệ") and "Chữ ký hợp lệ của" in verdict
        assert "Người ký" in body and "SỞ NỘI VỤ" in body and AGENCY in body
        assert "Cơ quan, tổ chức" in body and "toàn bộ tài liệu" in body
        assert VN_TIME.search(body) and "theo dấu thời gian" in body
        assert "Không thấy chứng thư số bị thu hồi" in body and "có dấu thời gian (B-T)" in body
        assert "cấp bởi" in body and "số hiệu" in body and "hiệu lực từ" in body
        assert hashlib.sha256(r.data).hexdigest() in body and "Thời điểm kiểm tra" in body
        shot = (shots / "valid.png").read_bytes()

        body = _read(page, server, signed, shots, "valid-en", lang="en")
        assert page.inner_text("#verdict").startswith("The digital signature is valid")
        assert "the whole document" in body and "Vietnam time, UTC+7" in body and "Signed by" in body

        body = _read(page, server, tmp_path / "bad.pdf", shots, "tampered")
        assert page.inner_text("#verdict").startswith("Chữ ký số KHÔNG hợp lệ")
        assert "nội dung đã bị sửa đổi sau khi ký" in body

        body = _read(page, server, tmp_path / "foreign.pdf", shots, "foreign")
        assert page.inner_text("#verdict").startswith("Chưa xác định được chữ ký số")
        assert "Foreign signer" in body and "không dựng được chuỗi chứng thư tới gốc tin cậy" in body
        assert "Foreign Test Root" in body and "Chưa xác định được của" not in body
        browser.close()
    assert {f.name for f in shots.iterdir()} == {"valid.png", "valid-en.png", "tampered.png", "foreign.png"}
    # The screenshot shows the report: mostly white page, a green verdict box, text.
    img = Image.open(io.BytesIO(shot)).convert("RGB")
    assert img.width == 1000 and img.height >= 600
    colours = img.getcolors(maxcolors=1_000_000) or []
    greenish = sum(n for n, (r_, g, b) in colours if g > 230 and r_ < 235 and b < 240 and g - r_ > 10)
    dark = sum(n for n, (r_, g, b) in colours if r_ + g + b < 200)
    assert greenish > 2000, "the green verdict box is drawn"
    assert dark > 2000, "the report text is drawn"


def test_page_refuses_garbage_without_storing(client: Any, signing: dict[str, Any]) -> None:
    r = client.post("/verify", data={"file": (io.BytesIO(b"not a document"), "x.txt")},
                    content_type="multipart/form-data")
    assert r.status_code == 415 and "không phải" in r.get_data(as_text=True)
    r = client.get("/verify?lang=en")
    assert r.status_code == 200 and "Size limit" in r.get_data(as_text=True)
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
