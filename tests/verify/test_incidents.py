"""Issue 14, item 2: only a limit is 422 document-too-complex. A file that cannot be parsed is
422 document-unreadable, saying what could not be read; any other failure in the bounded check
is a bug: 500 with an incident id, and the helper's traceback in the log under that id."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from kyso import bounded
from tests.signing.conftest import H
from tests.signing.documents import letter_pdf
from tests.verify.test_bounded import _nested_pdf


def _drain() -> None:
    """Close the idle helpers: the next check forks a fresh one from this process as it is now
    (with or without the injected bug)."""
    while bounded._IDLE:
        bounded._IDLE.pop().close()


@pytest.fixture()
def fresh_helpers() -> Iterator[None]:
    _drain()
    yield
    _drain()


def _injected_bug(*_args: Any, **_kwargs: Any) -> Any:
    raise AttributeError("injected verifier bug")


def test_a_bug_in_the_check_is_a_500_with_an_incident_id_and_its_traceback_logged(
        client: Any, signing: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        fresh_helpers: None) -> None:
    from verification import service as checks

    checks._warm()  # the warm-up runs the check in this process: before the bug is injected
    monkeypatch.setattr(checks, "verify_pdf", _injected_bug)  # inherited by the forked helper
    with caplog.at_level(logging.ERROR):
        r = client.post("/api/v1/verify?offline=true", data=letter_pdf(), headers=H(signing["keys"]["eoffice"]))
    assert r.status_code == 500, r.get_data(as_text=True)[:300]
    body = r.get_json()
    assert body["code"] == "internal-error" and body["incident_id"], body
    assert body["code"] != "document-too-complex"
    records = [rec for rec in caplog.records if getattr(rec, "incident_id", None) == body["incident_id"]]
    assert records, [rec.getMessage() for rec in caplog.records]
    text = logging.Formatter().formatException(records[0].exc_info)  # type: ignore[arg-type]
    # The helper's own traceback, down to the failing function, is in the parent's log.
    assert "injected verifier bug" in text and "_injected_bug" in text and "(in the helper)" in text
    assert "HelperCrash" in text
    # Nothing of the document or the message reaches the caller.
    assert "injected" not in r.get_data(as_text=True)


def test_a_limit_is_still_document_too_complex(client: Any, signing: dict[str, Any], fresh_helpers: None) -> None:
    r = client.post("/api/v1/verify?offline=true", data=_nested_pdf(100_000), headers=H(signing["keys"]["eoffice"]))
    if r.status_code == 422:  # a nesting the reader refuses outright is unreadable; the limit is what matters
        assert r.get_json()["code"] in ("document-too-complex", "document-unreadable"), r.get_json()
    else:
        assert r.status_code == 200 and r.get_json()["indication"] != "TOTAL-PASSED"
    with pytest.raises(bounded.TooComplex) as info:
        bounded.call("time:sleep", 30, seconds=1, memory_bytes=256 << 20)
    assert info.value.code == "document-too-complex"
    with pytest.raises(bounded.TooComplex) as info:
        bounded.call("builtins:bytearray", 2 << 30, seconds=20, memory_bytes=128 << 20)
    assert info.value.code == "document-too-complex" and "memory" in info.value.message_en


def test_a_slow_verification_is_document_too_complex(client: Any, signing: dict[str, Any],
                                                     monkeypatch: pytest.MonkeyPatch, fresh_helpers: None) -> None:
    import time

    from verification import service as checks

    checks._warm()
    monkeypatch.setattr(checks, "verify_pdf", lambda *_a: time.sleep(60))
    monkeypatch.setattr(checks, "call_bounded", _with_seconds(checks.call_bounded, 1))
    r = client.post("/api/v1/verify?offline=true", data=letter_pdf(), headers=H(signing["keys"]["eoffice"]))
    assert r.status_code == 422 and r.get_json()["code"] == "document-too-complex", r.get_data(as_text=True)[:300]


def _with_seconds(func: Any, seconds: float) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        kwargs["seconds"] = seconds
        return func(*args, **kwargs)
    return wrapped


@pytest.mark.parametrize("data", [b"%PDF-1.7\n" + b"\x00garbage\xff" * 200,
                                  b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\nstartxref\n12\n%%EOF\n"])
def test_a_file_that_cannot_be_parsed_says_what_could_not_be_read(client: Any, signing: dict[str, Any],
                                                                   data: bytes) -> None:
    r = client.post("/api/v1/verify?offline=true", data=data, headers=H(signing["keys"]["eoffice"]))
    assert r.status_code == 422, r.get_data(as_text=True)[:300]
    body = r.get_json()
    assert body["code"] == "document-unreadable" and "PDF" in body["detail"] and "PDF" in body["detail_vi"], body


def test_a_parse_error_met_later_in_the_check_is_document_unreadable(
        client: Any, signing: dict[str, Any], monkeypatch: pytest.MonkeyPatch, fresh_helpers: None) -> None:
    from pyhanko.pdf_utils.misc import PdfReadError

    from verification import service as checks

    def unreadable(*_a: Any) -> Any:
        raise PdfReadError("bad object stream")

    checks._warm()
    monkeypatch.setattr(checks, "verify_pdf", unreadable)
    r = client.post("/api/v1/verify?offline=true", data=letter_pdf(), headers=H(signing["keys"]["eoffice"]))
    assert r.status_code == 422 and r.get_json()["code"] == "document-unreadable", r.get_data(as_text=True)[:300]


def test_one_signature_that_cannot_be_checked_does_not_take_down_the_others(
        client: Any, services: Any, signing: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Issue 14, item 3: each signature is judged on its own; an unexpected failure in one is
    that signature's INDETERMINATE with a finding and an incident id (traceback logged), the
    others keep their verdicts, and the document is never TOTAL-PASSED."""
    import pyhanko.sign.validation as validation

    from tests.signing.conftest import AGENCY
    from verification import service

    key = H(signing["keys"]["eoffice"])
    once = client.post(f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-B", data=letter_pdf(), headers=key)
    twice = client.post(f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-B", data=once.data, headers=key)
    assert once.status_code == twice.status_code == 200
    good = service.verify(services.sessions, services.settings, twice.data, offline=True)
    assert [s.indication for s in good.signatures] == ["TOTAL-PASSED", "TOTAL-PASSED"], good.to_json()

    real = validation.validate_pdf_signature
    calls: list[int] = []

    def first_one_breaks(sig: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise AssertionError("injected failure in one signature")
        return real(sig, *args, **kwargs)

    monkeypatch.setattr(validation, "validate_pdf_signature", first_one_breaks)
    with caplog.at_level(logging.ERROR):
        report = service.verify(services.sessions, services.settings, twice.data, offline=True)
    first, second = report.signatures
    assert first.indication == "INDETERMINATE" and first.problems[0]["sub_indication"] == "SIGNATURE_NOT_CHECKED"
    incident = first.problems[0]["incident_id"]
    assert incident in first.summary_en and incident in first.summary_vi
    assert second.indication == "TOTAL-PASSED", report.to_json()
    assert report.indication == "INDETERMINATE"
    (record,) = [r for r in caplog.records if getattr(r, "incident_id", None) == incident]
    text = logging.Formatter().formatException(record.exc_info)  # type: ignore[arg-type]
    assert "injected failure in one signature" in text and "first_one_breaks" in text
