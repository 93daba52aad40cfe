"""Every status code after every state of a recipient's track, against a table written out
here (not derived from the implementation), and the reason rule for 02 and 13."""

from __future__ import annotations

from typing import Any

import pytest

from axis import building, model, parsing, status, status_message
from kyso.problems import http_status

pytestmark = pytest.mark.both_databases

# Rows: the track's state (with a history that reaches it); columns: the next code.
TABLE = """
state  01 02 03 04 05 06 13 15 16
none    y  .  .  .  .  .  y  .  .
01      .  y  y  .  .  .  y  .  .
02      .  .  .  .  .  .  .  .  .
03      .  .  .  y  y  y  y  .  .
04      .  .  .  y  y  y  y  .  .
05      .  .  .  y  y  y  y  .  .
06      .  .  .  .  .  .  y  .  .
13      .  .  .  .  .  .  .  y  y
15      .  .  .  .  .  .  .  .  .
16/03   .  .  .  y  y  y  y  .  .
16/06   .  .  .  .  .  .  y  .  .
"""
HISTORY = {"none": [], "01": ["01"], "02": ["01", "02"], "03": ["01", "03"], "04": ["01", "03", "04"],
           "05": ["01", "03", "04", "05"], "06": ["01", "03", "05", "06"], "13": ["01", "03", "13"],
           "15": ["01", "03", "13", "15"], "16/03": ["01", "03", "13", "16"], "16/06": ["01", "03", "06", "13", "16"]}


def _cells() -> list[tuple[str, str, bool]]:
    lines = TABLE.strip().splitlines()
    codes = lines[0].split()[1:]
    out = []
    for line in lines[1:]:
        state, *marks = line.split()
        out.extend((state, code, mark == "y") for code, mark in zip(codes, marks, strict=True))
    return out


def test_table_names_every_code() -> None:
    assert TABLE.strip().splitlines()[0].split()[1:] == list(status_message.CODES)


@pytest.mark.parametrize(("state", "code", "allowed"), _cells())
def test_transition(state: str, code: str, allowed: bool) -> None:
    if allowed:
        status_message.check_transition(HISTORY[state], code, "000.00.13.H31")
    else:
        with pytest.raises(status_message.StatusTransitionInvalid) as err:
            status_message.check_transition(HISTORY[state], code, "000.00.13.H31")
        assert http_status(err.value) == 409 and "000.00.13.H31" in err.value.message_en and err.value.message_vi


def test_reasons_and_unknown_codes() -> None:
    for code in ("02", "13"):
        with pytest.raises(status_message.StatusReasonRequired):
            status_message.check_code(code, "  ")
        assert status_message.check_code(code, "Sai thể thức văn bản").code == code
    for code in ("01", "03", "04", "05", "06", "15", "16"):
        assert status_message.check_code(code, "").code == code
    for bad in ("07", "1", "", "99", "０１"):
        with pytest.raises(status_message.StatusCodeUnknown) as err:
            status_message.check_code(bad, "x")
        assert http_status(err.value) == 422


def test_status_message_round_trips_with_vietnamese_text() -> None:
    import unicodedata

    reason = unicodedata.normalize("NFD", "Văn bản sai thể thức, đề nghị gửi lại")
    msg = status_message.StatusMessage(
        sender=model.Organization("000.00.13.H31", "Sở Tài chính"), document_id="000.00.12.H31,2026/11/25,123/SNV-VP",
        code="02", description=reason, recipients=[model.Organization("000.00.12.H31", "Sở Nội vụ")],
        staff={"Department": "Văn phòng", "Staff": "Trần Thị Bình", "Mobile": "", "Email": ""})
    back, root = status_message.parse(building.to_bytes(status_message.build(msg)))
    assert back.description == unicodedata.normalize("NFC", reason)
    assert back.document_sender == "000.00.12.H31" and back.code == "02" and back.timestamp
    assert back.staff["Staff"] == "Trần Thị Bình" and [r.organ_id for r in back.recipients] == ["000.00.12.H31"]
    with pytest.raises(model.EdxmlInvalid, match="status message"):
        parsing.parse(building.to_bytes(root))


def test_first_messages_about_a_new_document_at_once(services: Any) -> None:
    """Four connectors report 01 for a document Kyso has not seen, at the same moment: one is
    recorded, the others are refused as a repeated 01 (not a database error), and the audit
    chain holds."""
    import threading

    from kyso import audit
    from kyso.callers import Caller, Role
    from kyso.db import transaction

    caller = Caller(1, "connector", Role.CLIENT)
    msg = status_message.StatusMessage(sender=model.Organization("000.00.13.H31"),
                                       document_id="000.00.12.H31,2026/11/29,7/SNV", code="01")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def report(i: int) -> None:
        barrier.wait()
        try:
            with transaction(services.sessions) as session:
                status.record(session, caller, msg, b"message %d" % i, direction="received", signature="none")
            outcomes.append("recorded")
        except status_message.StatusTransitionInvalid:
            outcomes.append("refused")
        except Exception as exc:  # noqa: BLE001 - what the test is about
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=report, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["recorded", "refused", "refused", "refused"]
    with transaction(services.sessions) as session:
        assert audit.verify_chain(session).ok


def test_reporting_early_does_not_make_an_agency_a_recipient(services: Any) -> None:
    """An agency that reports on a DocumentId before the package is signed here is dropped
    from the recipients when it is: the signed To list is the list."""
    from kyso.callers import Caller, Role
    from kyso.db import transaction

    caller = Caller(1, "connector", Role.CLIENT)
    doc_id = "000.00.12.H31,2026/11/29,8/SNV"
    early = status_message.StatusMessage(sender=model.Organization("000.00.99.H31"), document_id=doc_id, code="01")
    with transaction(services.sessions) as session:
        status.record(session, caller, early, b"early", direction="received", signature="none")
    with transaction(services.sessions) as session:
        doc = status.register_document(session, doc_id, "000.00.12.H31", ["000.00.13.H31"], "V/v", known=True)
        assert doc.recipients == '["000.00.13.H31"]' and doc.recipients_known
    early.code = "03"
    with transaction(services.sessions) as session, pytest.raises(status.StatusWrongParty):
        status.plan(session, early)
