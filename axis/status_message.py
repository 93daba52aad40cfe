"""edXML status messages (issue 8): the codes of QCVN 102:2016 (amended 2022), the order in
which they may follow each other, and status messages built and parsed (axis/status.py
records them).

A document has one track per recipient agency: the recipient reports 01 to 06 (and 02,
15, 16) on its own track; the sender's 13 (retrieval request) goes to every recipient it
names, or to every recipient Kyso knows of. Transitions, per track:

    (none) -> 01 | 13          01 -> 02 | 03 | 13         02: final
    03 -> 04 | 05 | 06 | 13    04, 05 -> 04 | 05 | 06 | 13
    06 -> 13 (nothing but a retrieval request follows completion)
    13 -> 15 | 16 (only a 13 is answered by 15 or 16)     15: final
    16 -> whatever the state before the 13 allowed
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from axis import building, model, parsing
from axis.messages import (
    NOT_A_STATUS_MESSAGE,
    STATUS_CODE_UNKNOWN,
    STATUS_MESSAGE_INVALID,
    STATUS_NEEDS_FROM_AND_RESPONSE_FOR,
    STATUS_NEEDS_REASON,
    STATUS_TRANSITION_INVALID,
)
from kyso.errors import Conflict, ErrorKind, KysoError, Message

VN = dt.timezone(dt.timedelta(hours=7))
TIMESTAMP = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")


@dataclass(frozen=True)
class Code:
    code: str
    en: str
    vi: str
    by_sender: bool = False  # sent by the document's sender (13), otherwise by a recipient
    reason_required: bool = False


CODES = {c.code: c for c in (
    Code("01", "arrived", "đã đến"),
    Code("02", "rejected", "từ chối tiếp nhận", reason_required=True),
    Code("03", "accepted", "đã tiếp nhận"),
    Code("04", "assigned", "đã phân công"),
    Code("05", "processing", "đang xử lý"),
    Code("06", "completed", "đã hoàn thành"),
    Code("13", "retrieval requested", "yêu cầu lấy lại", by_sender=True, reason_required=True),
    Code("15", "retrieval agreed", "đồng ý lấy lại"),
    Code("16", "retrieval refused", "từ chối lấy lại"),
)}

_NEXT: dict[str | None, frozenset[str]] = {
    None: frozenset({"01", "13"}),
    "01": frozenset({"02", "03", "13"}),
    "02": frozenset(),
    "03": frozenset({"04", "05", "06", "13"}),
    "04": frozenset({"04", "05", "06", "13"}),
    "05": frozenset({"04", "05", "06", "13"}),
    "06": frozenset({"13"}),
    "13": frozenset({"15", "16"}),
    "15": frozenset(),
}


def allowed_after(history: list[str]) -> frozenset[str]:
    """The codes that may follow a track's history (oldest first)."""
    state: str | None = None
    before_retrieval: list[str | None] = []
    for code in history:
        if code == "13":
            before_retrieval.append(state)
        elif code == "16" and before_retrieval:
            state = before_retrieval.pop()
            continue
        state = code
    return _NEXT[state]



class StatusCodeUnknown(KysoError):
    code = "status-code-unknown"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Unknown status code"


class StatusReasonRequired(KysoError):
    code = "status-reason-required"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "A reason is required"



class StatusTransitionInvalid(Conflict):
    code = "status-transition-invalid"



def check_code(code: str, description: str) -> Code:
    info = CODES.get(code)
    if info is None:
        raise StatusCodeUnknown(STATUS_CODE_UNKNOWN.format(code=code[:8], codes=", ".join(CODES)))
    if info.reason_required and not description.strip():
        raise StatusReasonRequired(STATUS_NEEDS_REASON.format(code=code, info=Message(info.en, info.vi)))
    return info


def check_transition(history: list[str], code: str, track: str) -> None:
    allowed = allowed_after(history)
    if code not in allowed:
        last = history[-1] if history else "none"
        nxt = ", ".join(sorted(allowed)) or "none"
        raise StatusTransitionInvalid(
            STATUS_TRANSITION_INVALID.format(code=code, last=last, track=track, nxt=nxt))


# -- messages -----------------------------------------------------------------------------------------

@dataclass
class StatusMessage:
    sender: model.Organization  # who reports the status
    document_id: str  # ResponseFor/DocumentId: the document the status is about
    code: str
    description: str = ""
    timestamp: str = ""  # yyyy/MM/dd HH:mm:ss, Vietnam time
    recipients: list[model.Organization] = field(default_factory=list)  # To (optional; 13 names recipients)
    response_code: str = ""  # ResponseFor/Code (number/notation)
    promulgation_date: str = ""
    staff: dict[str, str] = field(default_factory=dict)  # Department, Staff, Mobile, Email

    STAFF = ("Department", "Staff", "Mobile", "Email")

    @property
    def document_sender(self) -> str:
        """The OrganId a DocumentId starts with: the document's sender."""
        return self.document_id.split(",", 1)[0]

    def findings(self) -> list[model.Finding]:
        out = []
        if not model.ORGAN_ID.match(self.sender.organ_id):
            out.append(model.not_agency_code("From/OrganId", self.sender.organ_id))
        if not model.DOCUMENT_ID.match(self.document_id):
            out.append(model.not_document_id("ResponseFor/DocumentId", self.document_id))
        out.extend(model.not_agency_code("To/OrganId", r.organ_id) for r in self.recipients
                   if not model.ORGAN_ID.match(r.organ_id))
        if self.timestamp and not TIMESTAMP.match(self.timestamp):
            shown = repr(self.timestamp[:40])
            out.append(model.Finding(f"Timestamp {shown} is not yyyy/MM/dd HH:mm:ss",
                                     f"Timestamp {shown} không theo dạng yyyy/MM/dd HH:mm:ss"))
        return out


def now_timestamp() -> str:
    return dt.datetime.now(VN).strftime("%Y/%m/%d %H:%M:%S")


def build(msg: StatusMessage, traces: list[model.TraceHeader] | None = None) -> Any:
    """The status message as an edXML tree (sign it, then ``building.to_bytes``)."""
    root = building.empty_envelope()
    header = building.header_element(root)
    mh = building.sub(header, "MessageHeader")
    building.organization(mh, "From", msg.sender)
    for r in msg.recipients:
        building.organization(mh, "To", r)
    rf = building.sub(mh, "ResponseFor")
    building.sub(rf, "OrganId", msg.document_sender)
    building.sub(rf, "Code", msg.response_code)
    building.sub(rf, "PromulgationDate", msg.promulgation_date)
    building.sub(rf, "DocumentId", msg.document_id)
    staff = building.sub(mh, "StaffInfo")
    for tag in StatusMessage.STAFF:
        building.sub(staff, tag, msg.staff.get(tag, ""))
    building.sub(mh, "StatusCode", msg.code)
    building.sub(mh, "Description", msg.description)
    building.sub(mh, "Timestamp", msg.timestamp or now_timestamp())
    trace_list = building.sub(header, "TraceHeaderList")
    for t in traces or []:
        th = building.sub(trace_list, "TraceHeader")
        building.sub(th, "OrganId", t.organ_id)
        building.sub(th, "Timestamp", t.timestamp)
    building.sub(building.body_element(root), "edXMLManifest", version="1.0")
    return root


def parse(data: bytes) -> tuple[StatusMessage, Any]:
    """A status message and its tree (422 when it is not one)."""
    root = parsing.parse_root(data)
    mh = parsing.message_header(root)
    if parsing.kid(mh, "StatusCode") is None:
        raise model.EdxmlInvalid(NOT_A_STATUS_MESSAGE)
    sender = parsing.kid(mh, "From")
    rf = parsing.kid(mh, "ResponseFor")
    if sender is None or rf is None:
        raise model.EdxmlInvalid(STATUS_NEEDS_FROM_AND_RESPONSE_FOR)
    staff = parsing.kid(mh, "StaffInfo")
    msg = StatusMessage(
        sender=parsing.parse_organization(sender), document_id=parsing.text(rf, "DocumentId"),
        code=parsing.text(mh, "StatusCode"), description=parsing.text(mh, "Description"),
        timestamp=parsing.text(mh, "Timestamp"),
        recipients=[parsing.parse_organization(t) for t in parsing.kids(mh, "To")],
        response_code=parsing.text(rf, "Code"), promulgation_date=parsing.text(rf, "PromulgationDate"),
        staff={t: parsing.text(staff, t) for t in StatusMessage.STAFF} if staff is not None else {})
    problems = msg.findings()
    if problems:
        raise model.EdxmlInvalid(STATUS_MESSAGE_INVALID.format(problems=model.joined_message(problems)))
    return msg, root

