"""edXML packages (QCVN 102:2016/BTTTT, amended 2022): the typed objects, and the rules a
package's header, manifest and attachment names follow (its findings).

axis.parsing reads packages into these objects, tolerantly and with limits; axis.building
writes them in one strict form.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from axis.messages import ORGAN_ID_REQUIRED
from kyso.errors import ErrorKind, KysoError, Message

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DOCUMENT_ID = re.compile(r"^[^,]{1,40},\d{4}/\d{2}/\d{2},[^,]{1,100}$")
ORGAN_ID = re.compile(r"^(?=.{1,40}$)(\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}|[A-Z]\d{2}(\.\d{2})*)$")
MAX_ATTACHMENT = 50 * 1024 * 1024
MAX_ENTRIES = 100
MAX_RATIO = 200


class EdxmlInvalid(KysoError):
    code = "edxml-invalid"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Invalid edXML package"


class AttachmentNameInvalid(KysoError):
    code = "attachment-name-invalid"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Unsafe attachment name"


# What a file name may not hold: path separators and the characters Windows refuses, control,
# format (bidirectional overrides, zero-width), surrogate, private-use and unassigned
# characters, line and paragraph separators.
_NAME_FORBIDDEN = set('/\\:*?"<>|')
_NAME_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


class Finding(str):
    """A finding about an edXML package or message: the English sentence is the string itself
    (what the JSON report's ``findings`` has always carried, and what callers match on), and
    ``vi`` its Vietnamese twin, so that a Vietnamese report reads Vietnamese throughout."""

    vi: str

    def __new__(cls, en: str, vi: str) -> Finding:
        self = super().__new__(cls, en)
        self.vi = vi
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # through the bounded helper's pickle
        return (Finding, (str(self), self.vi))

    @property
    def en(self) -> str:
        return str(self)


def joined(findings: list[Finding], lang: str) -> str:
    """The findings as one clause in ``lang`` ("vi" or "en")."""
    return "; ".join(f.vi if lang == "vi" else str(f) for f in findings)


def joined_message(findings: list[Finding]) -> Message:
    """The findings as one clause, in both languages."""
    return Message(joined(findings, "en"), joined(findings, "vi"))


def not_agency_code(field_name: str, value: str) -> Finding:
    return Finding(f"{field_name} {value!r} is not an agency code", f"{field_name} {value!r} không phải mã định danh "
                   "cơ quan")


def not_document_id(field_name: str, value: str) -> Finding:
    return Finding(f"{field_name} {value!r} is not OrganId,yyyy/MM/dd,number/notation",
                   f"{field_name} {value!r} không theo dạng OrganId,yyyy/MM/dd,số/ký hiệu")


_NAME_WHY_VI = {
    "is empty": "để trống",
    "is longer than 200 characters (255 bytes)": "dài quá 200 ký tự (255 byte)",
    "starts with a dot, or starts or ends with a space or ends with a dot":
        "bắt đầu bằng dấu chấm, bắt đầu hoặc kết thúc bằng dấu cách, hoặc kết thúc bằng dấu chấm",
    "is a reserved device name": "là tên thiết bị dành riêng của hệ điều hành",
}


def name_problem_vi(why: str) -> str:
    """name_problem's reason in Vietnamese."""
    if why.startswith("contains "):
        return "chứa " + why[len("contains "):]
    return _NAME_WHY_VI.get(why, why)


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a safe base name for a file (None when it is): a recipient saves
    attachments under these names, so '../../etc/cron.d/x', 'report\u202Efdp.exe' (shown as
    'reportexe.pdf') or 'CON' must never be signed as if they were plain names."""
    if not name:
        return "is empty"
    if len(name) > 200 or len(name.encode("utf-8", "surrogatepass")) > 255:
        return "is longer than 200 characters (255 bytes)"
    bad = [c for c in dict.fromkeys(name) if c in _NAME_FORBIDDEN or unicodedata.category(c) in _NAME_CATEGORIES]
    if bad:
        return "contains " + ", ".join(f"U+{ord(c):04X}" for c in bad)
    if name.startswith(".") or name != name.strip() or name.endswith("."):
        return "starts with a dot, or starts or ends with a space or ends with a dot"
    if name.split(".")[0].strip().upper() in _DEVICES:
        return "is a reserved device name"
    return None


def attachment_name_problems(attachments: list[Attachment]) -> list[Finding]:
    """Each attachment whose name (or, zipped, whose entry's name) is not a safe base name."""
    out = []
    for a in attachments:
        shown = ascii(a.name)[1:-1][:80]
        cid = ascii(a.content_id)[1:-1][:40]
        why = name_problem(a.name) if a.name else name_problem(a.content_id)
        if why:
            out.append(Finding(f"attachment {cid} has an unsafe name '{shown}': it {why}",
                               f"tệp đính kèm {cid} có tên không an toàn '{shown}': tên {name_problem_vi(why)}"))
        if a.entry_name and a.entry_name != a.name and (entry := name_problem(a.entry_name)):
            entry_shown = ascii(a.entry_name)[1:-1][:80]
            out.append(Finding(f"attachment {cid} holds a zip entry with an unsafe name '{entry_shown}': it {entry}",
                               f"tệp đính kèm {cid} chứa tệp nén có tên không an toàn '{entry_shown}': tên "
                               f"{name_problem_vi(entry)}"))
    return out


class AttachmentTooLarge(KysoError):
    code = "attachment-too-large"
    kind = ErrorKind.TOO_LARGE
    title_en = "Attachment too large"


def organization_from_json(value: Any) -> Organization:
    """An Organization from API JSON: an OrganId string, or an object with ``organ_id``."""
    from kyso.errors import BadRequest

    if isinstance(value, str):
        value = {"organ_id": value}
    if not isinstance(value, dict) or not isinstance(value.get("organ_id"), str):
        raise BadRequest(ORGAN_ID_REQUIRED)
    known = {attr for _tag, attr in Organization.FIELDS}
    return Organization(**{k: str(v) for k, v in value.items() if k in known})


@dataclass
class Organization:
    organ_id: str
    organ_name: str = ""
    organization_in_charge: str = ""
    organ_add: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""

    FIELDS = (("OrganId", "organ_id"), ("OrganizationInCharge", "organization_in_charge"),
              ("OrganName", "organ_name"), ("OrganAdd", "organ_add"), ("Email", "email"),
              ("Telephone", "telephone"), ("Fax", "fax"), ("Website", "website"))


@dataclass
class MessageHeader:
    sender: Organization
    recipients: list[Organization]
    document_id: str
    code_number: str = ""
    code_notation: str = ""
    place: str = ""
    promulgation_date: str = ""
    document_type: str = ""
    type_detail: str = ""
    type_name: str = ""
    subject: str = ""
    content: str = ""
    competence: str = ""
    position: str = ""
    signer_name: str = ""
    due_date: str = ""
    response_for: str = ""
    steering_type: str = ""
    other_info: dict[str, str] = field(default_factory=dict)
    to_places: list[str] = field(default_factory=list)


@dataclass
class TraceHeader:
    organ_id: str
    timestamp: str  # yyyy/MM/dd HH:mm:ss


@dataclass
class Attachment:
    content_id: str
    name: str
    content_type: str
    data: bytes
    description: str = ""
    zipped: bool = True  # how it travelled (plain base64 is accepted on input)
    error: str = ""  # why it could not be unpacked (a changed byte breaks the zip's CRC): a Finding
    entry_name: str = ""  # the name of the file inside the zip, as received
    # The zip as received, kept only when it unpacked cleanly with exactly one plainly named
    # file: building re-emits it instead of compressing the data again. Set ``data`` through
    # ``replace_data`` so that a changed attachment is zipped anew.
    zip_bytes: bytes | bytearray = field(default=b"", repr=False)

    def replace_data(self, data: bytes) -> None:
        self.data, self.zip_bytes = data, b""


@dataclass
class Package:
    header: MessageHeader
    traces: list[TraceHeader] = field(default_factory=list)
    business_doc_type: str = "0"
    manifest: list[str] = field(default_factory=list)  # content ids the manifest names
    attachments: list[Attachment] = field(default_factory=list)
    root: Any = None  # the parsed tree, when parsed: signatures are checked on it
    signed: bool = False  # the parsed package carried a signature

    def findings(self) -> list[Finding]:
        """Header and manifest problems (empty: well formed)."""
        out = []
        h = self.header
        if not ORGAN_ID.match(h.sender.organ_id):
            out.append(not_agency_code("From/OrganId", h.sender.organ_id))
        if not h.recipients:
            out.append(Finding("no To recipient", "không có nơi nhận (To)"))
        out.extend(not_agency_code("To/OrganId", r.organ_id) for r in h.recipients if not ORGAN_ID.match(r.organ_id))
        if not DOCUMENT_ID.match(h.document_id):
            out.append(not_document_id("DocumentId", h.document_id))
        if not h.subject:
            out.append(Finding("Subject is empty", "trích yếu (Subject) để trống"))
        out.extend(Finding(f"attachment {a.content_id} cannot be unpacked: {a.error}",
                           f"không giải nén được tệp đính kèm {a.content_id}: "
                           f"{getattr(a.error, 'vi', a.error)}") for a in self.attachments if a.error)
        have = [content_key(a.content_id) for a in self.attachments]
        named = [content_key(c) for c in self.manifest]
        out.extend(Finding(f"the manifest names {cid}, which is not attached",
                           f"danh mục (Manifest) có {cid} nhưng không có tệp đính kèm này")
                   for cid in named if cid not in have)
        out.extend(Finding(f"attachment {cid} is not in the manifest",
                           f"tệp đính kèm {cid} không có trong danh mục (Manifest)")
                   for cid in have if cid not in named)
        dupes = {c for c in have if have.count(c) > 1}
        out.extend(Finding(f"ContentId {c} appears more than once", f"ContentId {c} xuất hiện nhiều lần")
                   for c in sorted(dupes))
        out.extend(attachment_name_problems(self.attachments))
        return out


def content_key(value: str) -> str:
    """One ContentId as the manifest and the attachment both mean it: the national SDK writes
    the same ``cid:...`` value on both sides (the manifest's href or ContentId and the
    Attachment's ContentId), others write ``cid:`` in the href only; MIME wraps it in <>."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value[4:] if value[:4].lower() == "cid:" else value
