"""Bounded work: a verification runs in a child with a time and a memory limit, and hostile
files end in 422 document-too-complex (a limit), 422 document-unreadable (a parse error) or a
failing report, never a 500 or a hang. A bug in the check is a 500 (tests/verify/test_incidents.py)."""

from __future__ import annotations

import os
import time
import zlib
from typing import Any

import pytest

from kyso import bounded
from tests.signing.conftest import H
from tests.signing.documents import letter_pdf


def deep(n: int) -> int:
    return deep(n + 1)


def test_a_slow_check_is_stopped_at_the_deadline() -> None:
    t0 = time.monotonic()
    with pytest.raises(bounded.TooComplex) as info:
        bounded.call("time:sleep", 30, seconds=1, memory_bytes=256 << 20)
    assert time.monotonic() - t0 < 10
    assert info.value.code == "document-too-complex" and "1 s" in info.value.message_en


def test_a_greedy_check_fails_its_allocations() -> None:
    with pytest.raises(bounded.TooComplex) as info:
        bounded.call("builtins:bytearray", 2 << 30, seconds=20, memory_bytes=128 << 20)
    assert "memory" in info.value.message_en


def test_deep_recursion_and_errors_are_reported_not_raised_raw() -> None:
    with pytest.raises(bounded.TooComplex) as info:
        bounded.call("tests.verify.test_bounded:deep", 0, seconds=20, memory_bytes=512 << 20)
    assert "nested" in info.value.message_en
    # Any other exception is a bug in the job, not a limit (issue 14, item 2): it comes back
    # as HelperCrash with the helper's traceback, never as document-too-complex.
    with pytest.raises(bounded.HelperCrash) as crash:
        bounded.call("builtins:int", "not a number", seconds=5, memory_bytes=256 << 20)
    assert "ValueError" in str(crash.value) and "invalid literal" in str(crash.value.__cause__)


def test_helpers_are_reused_and_a_killed_one_is_replaced() -> None:
    first = bounded.call("os:getpid", seconds=5, memory_bytes=256 << 20)
    assert bounded.call("os:getpid", seconds=5, memory_bytes=256 << 20) == first != os.getpid()
    os.kill(first, 9)
    time.sleep(0.2)
    assert bounded.call("os:getpid", seconds=5, memory_bytes=256 << 20) not in (first, os.getpid())
    # A helper closes what it inherited: only its two pipes and the standard streams are open.
    fds = bounded.call("os:listdir", "/proc/self/fd", seconds=5, memory_bytes=256 << 20)
    assert len(fds) <= 6, fds


def _nested_pdf(depth: int) -> bytes:
    """A PDF whose catalog holds an array nested ``depth`` deep."""
    from verification.service import minimal_pdf

    return minimal_pdf(b"/Deep " + b"[" * depth + b"]" * depth + b" ")


def _bomb_pdf() -> bytes:
    """The letter with an update whose page content inflates from 200 KB to 200 MB."""
    from tests.verify.attacks import Layout, raw_update

    base = letter_pdf()
    lay = Layout(base)
    blob = zlib.compress(b"0" * (200 << 20), 9)
    content = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(blob) + blob + b"\nendstream"
    return raw_update(base, {lay.size: content, lay.page_num: lay.page_with(b"%d 0 R" % lay.size)})


@pytest.mark.parametrize("name", ["nested", "bomb", "garbage-xref"])
def test_hostile_pdfs_through_the_api(client: Any, signing: dict[str, Any], name: str) -> None:
    data = {"nested": _nested_pdf(100_000), "bomb": _bomb_pdf(),
            "garbage-xref": b"%PDF-1.7\n" + b"1 0 obj <<" * 50_000 + b"\nstartxref\n999999999\n%%EOF\n"}[name]
    r = client.post("/api/v1/verify?offline=true", data=data, headers=H(signing["keys"]["eoffice"]))
    assert r.status_code in (200, 422), r.get_data(as_text=True)[:300]
    body = r.get_json()
    if r.status_code == 422:
        assert body["code"] in ("document-too-complex", "unsupported-document", "document-unreadable") \
            and body["detail_vi"]
    else:
        assert body["indication"] != "TOTAL-PASSED"


def test_api_report_still_names_the_agency(client: Any, signing: dict[str, Any]) -> None:
    from tests.signing.conftest import AGENCY

    key = signing["keys"]["eoffice"]
    signed = client.post(f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-B", data=letter_pdf(), headers=H(key))
    assert signed.status_code == 200
    r = client.post("/api/v1/verify?offline=true", data=signed.data, headers=H(key))
    assert r.status_code == 200
    (sig,) = r.get_json()["signatures"]
    assert sig["agency_code"] == AGENCY and sig["signer_serial"] and r.get_json()["indication"] == "TOTAL-PASSED"
