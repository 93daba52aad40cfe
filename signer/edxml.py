"""edXML packages (QCVN 102:2016/BTTTT, amended 2022): typed objects, a tolerant parser and a
strict builder.

Parsing goes through signer.xmlsafe (no DTD, no entities, no network, limits). It accepts
what senders emit: any element order, children with or without the edXML namespace, the
attachment fields as attributes or as child elements, and attachments zipped then base64
or plain base64. Zipped attachments are opened with limits on entries, size and ratio, so a
zip bomb is refused. Building emits one form only: every element in the edXML namespace
with the ``edXML`` prefix, header fields in the published order, attachments zipped and
base64-encoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from typing import IO, Any

from lxml import etree

from kyso.errors import KysoError
from signer import xmlsafe

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DOCUMENT_ID = re.compile(r"^[^,]{1,40},\d{4}/\d{2}/\d{2},[^,]{1,100}$")
ORGAN_ID = re.compile(r"^(?=.{1,40}$)(\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}|[A-Z]\d{2}(\.\d{2})*)$")
MAX_ATTACHMENT = 50 * 1024 * 1024
MAX_ENTRIES = 100
MAX_RATIO = 200


class EdxmlInvalid(KysoError):
    code = "edxml-invalid"
    status = 422
    title_en = "Invalid edXML package"


class AttachmentNameInvalid(KysoError):
    code = "attachment-name-invalid"
    status = 422
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
    status = 413
    title_en = "Attachment too large"


def organization_from_json(value: Any) -> Organization:
    """An Organization from API JSON: an OrganId string, or an object with ``organ_id``."""
    from kyso.errors import BadRequest

    if isinstance(value, str):
        value = {"organ_id": value}
    if not isinstance(value, dict) or not isinstance(value.get("organ_id"), str):
        raise BadRequest("'from' and each of 'to' need an 'organ_id'", "'from' và mỗi 'to' cần 'organ_id'")
    known = {attr for _tag, attr in Organization.FIELDS}
    return Organization(**{k: str(v) for k, v in value.items() if k in known})


def _invalid(en: str, vi: str) -> EdxmlInvalid:
    return EdxmlInvalid(en, vi)


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


# -- parsing -------------------------------------------------------------------------------------------

def _local(el: Any) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _kids(el: Any, name: str) -> list[Any]:
    """Children named ``name`` in the edXML namespace or in none (senders differ)."""
    return [c for c in el if _local(c) == name and etree.QName(c).namespace in (NS, None)]


def _kid(el: Any, name: str) -> Any:
    found = _kids(el, name)
    return found[0] if found else None


def _text(el: Any, name: str) -> str:
    child = _kid(el, name) if el is not None else None
    return unicodedata.normalize("NFC", (child.text or "").strip()) if child is not None else ""


def _value(el: Any, name: str) -> str:
    """A field given as attribute or child element."""
    return unicodedata.normalize("NFC", (el.get(name) or _text(el, name)).strip())


def _organization(el: Any) -> Organization:
    return Organization(**{attr: _text(el, tag) for tag, attr in Organization.FIELDS})


def _header(el: Any) -> MessageHeader:
    sender = _kid(el, "From")
    if sender is None:
        raise _invalid("MessageHeader has no From", "MessageHeader thiếu From")
    code, prom, dtype, signer, other = (_kid(el, n) for n in ("Code", "PromulgationInfo", "DocumentType",
                                                                "SignerInfo", "OtherInfo"))
    places = _kid(el, "ToPlaces")
    return MessageHeader(
        sender=_organization(sender), recipients=[_organization(t) for t in _kids(el, "To")],
        document_id=_text(el, "DocumentId"), code_number=_text(code, "CodeNumber"),
        code_notation=_text(code, "CodeNotation"), place=_text(prom, "Place"),
        promulgation_date=_text(prom, "PromulgationDate"), document_type=_text(dtype, "Type"),
        type_detail=_text(dtype, "TypeDetail"), type_name=_text(dtype, "TypeName"), subject=_text(el, "Subject"),
        content=_text(el, "Content"), competence=_text(signer, "Competence"), position=_text(signer, "Position"),
        signer_name=_text(signer, "FullName"), due_date=_text(el, "DueDate"), response_for=_text(el, "ResponseFor"),
        steering_type=_text(el, "SteeringType"),
        other_info={_local(c): (c.text or "").strip() for c in other if isinstance(c.tag, str)}
        if other is not None else {},
        to_places=[(p.text or "").strip() for p in _kids(places, "Place")] if places is not None else [])


class _Reader(io.RawIOBase):
    """A read-only file over a bytes-like object, without copying it (io.BytesIO copies a
    bytearray)."""

    def __init__(self, buf: bytes | bytearray) -> None:
        self.view, self.pos = memoryview(buf), 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = max(0, {0: offset, 1: self.pos + offset, 2: len(self.view) + offset}[whence])
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int | None = -1) -> bytes:
        end = len(self.view) if size is None or size < 0 else min(self.pos + size, len(self.view))
        out = bytes(self.view[self.pos:end])
        self.pos = max(self.pos, end)
        return out


def content_key(value: str) -> str:
    """One ContentId as the manifest and the attachment both mean it: the national SDK writes
    the same ``cid:...`` value on both sides (the manifest's href or ContentId and the
    Attachment's ContentId), others write ``cid:`` in the href only; MIME wraps it in <>."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value[4:] if value[:4].lower() == "cid:" else value


def _unzip(raw: bytes | bytearray, content_id: str) -> tuple[bytes, bool]:
    """The one file in the zip, and whether the zip may be passed on as it is (exactly one
    entry, a safe file name, deflated or stored, nothing before or after the archive)."""
    data, plain, _name = _unzip_named(raw, content_id)
    return data, plain


def _unzip_named(raw: bytes | bytearray, content_id: str) -> tuple[bytes, bool, str]:
    """_unzip, and the name of the entry (a finding when it is not a safe base name)."""
    try:
        zf = zipfile.ZipFile(_Reader(raw))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):  # UnicodeDecodeError is a ValueError
        raise _invalid(f"attachment {content_id} is not a valid zip",
                       f"tệp đính kèm {content_id} không phải zip hợp lệ") from None
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) != 1 or len(zf.infolist()) > MAX_ENTRIES:
        raise _invalid(f"attachment {content_id} must hold exactly one file",
                       f"tệp đính kèm {content_id} phải chứa đúng một tệp")
    info = infos[0]
    if info.file_size > MAX_ATTACHMENT or info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise AttachmentTooLarge(f"attachment {content_id} unpacks beyond the limits",
                                 f"tệp đính kèm {content_id} giải nén vượt giới hạn")
    out = bytearray()
    with zf.open(info) as f:  # in pieces: one read() of the whole entry holds three copies at once
        while chunk := f.read(1 << 20):  # BadZipFile (CRC) and zlib.error: see _attachment
            out += chunk
            if len(out) > MAX_ATTACHMENT:
                raise AttachmentTooLarge(f"attachment {content_id} is too large",
                                         f"tệp đính kèm {content_id} quá lớn")
        decompressor = getattr(f, "_decompressor", None)
        # The deflate stream must end exactly where compress_size says: bytes after its end
        # (a second local entry, say) are skipped by zipfile but seen by other readers.
        exact = (info.compress_type == zipfile.ZIP_STORED and info.compress_size == info.file_size) or (
            info.compress_type == zipfile.ZIP_DEFLATED and decompressor is not None
            and getattr(decompressor, "eof", False) and not getattr(decompressor, "unused_data", b""))
    data = bytes(out)
    del out
    # Passed on only if nothing can hide in it: the local entry, its data and the central
    # directory follow each other with no gap (a second local entry between them would be
    # seen by readers that walk local headers, and not covered by the signed digest).
    name_len, extra_len = int.from_bytes(raw[26:28], "little"), int.from_bytes(raw[28:30], "little")
    local_matches = (int.from_bytes(raw[8:10], "little") == info.compress_type
                     and int.from_bytes(raw[6:8], "little") == info.flag_bits
                     and int.from_bytes(raw[14:18], "little") == info.CRC
                     and int.from_bytes(raw[18:22], "little") == info.compress_size
                     and int.from_bytes(raw[22:26], "little") == info.file_size)
    plain = exact and local_matches and (
        len(zf.infolist()) == 1 and info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
             and name_problem(info.filename) is None
             and info.header_offset == 0 and not zf.comment and not info.flag_bits & 0x08
             and zf.start_dir == 30 + name_len + extra_len + info.compress_size
             and zf.start_dir + sum(len(i.filename.encode()) + len(i.extra) + len(i.comment) + 46
                                    for i in zf.infolist()) + 22 == len(raw))
    return data, plain, info.filename


MAX_ENCODED = MAX_ATTACHMENT * 4 // 3 + 4


class _Base64Sink:
    """Base64 text decoded as it arrives, so that megabytes of it are never one string."""

    def __init__(self) -> None:
        self.pending, self.out, self.size = "", bytearray(), 0
        self.bad = self.padded = self.closed = False

    def add(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_ENCODED:
            raise AttachmentTooLarge("an attachment is too large", "một tệp đính kèm quá lớn")
        if self.bad:
            return
        if any(ws in text for ws in (" ", "\n", "\r", "\t")):
            text = "".join(text.split())
        self.pending += text
        self._decode(len(self.pending) - len(self.pending) % 4)

    def _decode(self, cut: int) -> None:
        if cut <= 0:
            return
        if self.padded:  # text after the padding
            self.bad = True
            return
        try:
            self.out += binascii.a2b_base64(self.pending[:cut], strict_mode=True)
        except (binascii.Error, ValueError):
            self.bad = True
        self.padded = self.pending[cut - 1] == "="
        self.pending = self.pending[cut:]

    def finish(self) -> bytearray | None:
        """The decoded bytes (None: not base64)."""
        if self.pending:
            self.bad = True
        return None if self.bad else self.out


def _decode(text: str) -> bytearray | None:
    sink = _Base64Sink()
    sink.add(text)
    return sink.finish()


def _attachment(el: Any, decoded: dict[Any, bytearray | None] | None = None) -> Attachment:
    """An Attachment element; ``decoded``: the base64 already decoded while streaming, by
    the element that carried it (the tree then holds no text for it)."""
    cid = _value(el, "ContentId")
    if not cid:
        raise _invalid("an Attachment has no ContentId", "một Attachment thiếu ContentId")
    carrier = _kid(el, "ContentTransferEncoded")
    carrier = el if carrier is None else carrier
    if el.get("ContentTransferEncoded"):
        carrier, text = None, el.get("ContentTransferEncoded")
    if decoded is not None and carrier in decoded:
        raw = decoded[carrier]
    else:
        if carrier is el and any((c.tail or "").strip() for c in el):
            raise _invalid(f"attachment {cid} has text on both sides of an element",
                           f"tệp đính kèm {cid} có văn bản ở cả hai phía của một phần tử")
        if carrier is not None and carrier is not el and len(carrier):
            # A comment or element inside the base64: canonical XML leaves comments out of the
            # signed bytes, so what follows one could change under a valid signature.
            raise _invalid(f"attachment {cid} must hold base64 text only",
                           f"tệp đính kèm {cid} chỉ được chứa văn bản base64")
        if carrier is not None:
            text = (carrier.text or "") if carrier is not el else "".join((el.text or "").split())
        if len(text) > MAX_ENCODED:
            raise AttachmentTooLarge(f"attachment {cid} is too large", f"tệp đính kèm {cid} quá lớn")
        raw = _decode(text)
    if raw is None:
        raise _invalid(f"attachment {cid} is not base64", f"tệp đính kèm {cid} không phải base64")
    zipped = raw[:4] == b"PK\x03\x04"
    error, keep, entry = "", False, ""
    try:
        data, keep, entry = _unzip_named(raw, cid) if zipped else (bytes(raw), False, "")
    except KysoError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read an untrusted zip is a finding
        data, error = b"", Finding(f"the zip is damaged or cannot be read ({type(exc).__name__})",
                                   f"tệp nén bị hỏng hoặc không đọc được ({type(exc).__name__})")
    return Attachment(content_id=cid, name=_value(el, "AttachmentName"), content_type=_value(el, "ContentType"),
                      description=_value(el, "Description"), data=data, zipped=zipped, error=error,
                      zip_bytes=raw if keep else b"", entry_name=unicodedata.normalize("NFC", entry))


class _StreamingTarget:
    """A parser target that builds the tree but decodes attachment text (ContentTransferEncoded,
    or the text of an Attachment itself) as it arrives instead of keeping it in the tree."""

    def __init__(self) -> None:
        self.builder = etree.TreeBuilder()
        self.stack: list[str] = []
        self.sinks: list[_Base64Sink | None] = []
        self.decoded: dict[Any, bytearray | None] = {}

    def _interrupt(self) -> None:
        """A child, comment or PI inside a carrier: base64 text is over (Attachment's own text
        is what precedes its first child, as ``.text`` reads it) or is not plain (inside
        ContentTransferEncoded, which must hold text only)."""
        sink = self.sinks[-1] if self.sinks else None
        if sink is not None:
            if self.stack[-1] == "ContentTransferEncoded":
                sink.bad = True
            sink.closed = True

    def start(self, tag: str, attrib: Any, nsmap: Any = None) -> Any:
        qname = etree.QName(tag)
        name = qname.localname
        self._interrupt()
        carrier = qname.namespace in (NS, None) and (
            (name == "ContentTransferEncoded" and self.stack[-2:] == ["AttachmentEncoded", "Attachment"])
            or (name == "Attachment" and self.stack[-1:] == ["AttachmentEncoded"]))
        self.stack.append(name)
        self.sinks.append(_Base64Sink() if carrier else None)
        return self.builder.start(tag, attrib, {(k or None): v for k, v in (nsmap or {}).items()})

    def end(self, tag: str) -> Any:
        el = self.builder.end(tag)
        self.stack.pop()
        sink = self.sinks.pop()
        if sink is not None and (sink.size or etree.QName(tag).localname == "ContentTransferEncoded"):
            self.decoded[el] = sink.finish()
        return el

    def data(self, text: str) -> None:
        sink = self.sinks[-1] if self.sinks else None
        if sink is None:
            self.builder.data(text)
        elif not sink.closed:
            sink.add(text)
        elif text.strip():
            sink.bad = True  # base64 on both sides of a child: which part is the attachment?

    def doctype(self, *_args: Any) -> None:
        raise xmlsafe.XmlDtdForbidden("the XML document declares a DTD, which is not accepted",
                                      "tài liệu XML khai báo DTD, không được chấp nhận")

    def comment(self, text: str) -> Any:
        self._interrupt()
        return self.builder.comment(text)

    def pi(self, target: str, data: str | None = None) -> Any:
        self._interrupt()
        return self.builder.pi(target, data)

    def close(self) -> Any:
        return self.builder.close()


def parse_root(data: bytes | Any, limits: xmlsafe.Limits | None = None, target: Any = None) -> Any:
    """The hardened parse of an edXML document (messages and status messages alike), from
    bytes or from a stream read in chunks."""
    limits = limits or xmlsafe.Limits()
    if target is not None:
        root = xmlsafe.parse_stream(data if not isinstance(data, bytes) else io.BytesIO(data), limits, target=target)
    else:
        root = xmlsafe.parse(data, limits) if isinstance(data, bytes) else xmlsafe.parse_stream(data, limits)
    if _local(root) != "edXML" or etree.QName(root).namespace != NS:
        raise _invalid(f"the root element must be edXML in {NS}", f"phần tử gốc phải là edXML thuộc {NS}")
    return root


def message_header(root: Any) -> Any:
    """edXMLEnvelope/edXMLHeader/MessageHeader, which must be there exactly once."""
    envelope = _kid(root, "edXMLEnvelope")
    header = _kid(envelope, "edXMLHeader") if envelope is not None else None
    message = _kid(header, "MessageHeader") if header is not None else None
    if message is None:
        raise _invalid("edXMLEnvelope/edXMLHeader/MessageHeader is missing",
                       "thiếu edXMLEnvelope/edXMLHeader/MessageHeader")
    if len(_kids(header, "MessageHeader")) != 1:
        raise _invalid("more than one MessageHeader", "có nhiều hơn một MessageHeader")
    return message


def parse(data: bytes | Any, limits: xmlsafe.Limits | None = None, keep_tree: bool = True) -> Package:
    """The package in ``data`` (bytes or a stream). Without ``keep_tree`` the parsed tree is
    let go once read (``signed`` still says whether it carried a signature): for a package
    that is to be rebuilt and signed, not verified."""
    target = None if keep_tree else _StreamingTarget()
    root = parse_root(data, limits, target)
    message = message_header(root)
    if _kid(message, "StatusCode") is not None:
        raise _invalid("this is a status message, not a document package (see /api/v1/edxml/status)",
                       "đây là thông điệp trạng thái, không phải gói tin văn bản (xem /api/v1/edxml/status)")
    header = message.getparent()
    envelope = header.getparent()
    traces = _kid(header, "TraceHeaderList")
    body = _kid(envelope, "edXMLBody")
    manifest = _kid(body, "edXMLManifest") if body is not None else None
    refs = []
    for ref in _kids(manifest, "Reference") if manifest is not None else []:
        href = next((v for k, v in ref.attrib.items() if etree.QName(k).localname == "href"), "") or \
            _value(ref, "ContentId")
        refs.append(content_key(href))
    encoded = _kid(root, "AttachmentEncoded")
    from signer import xmldsig

    pkg = Package(
        header=_header(message),
        traces=[TraceHeader(_text(t, "OrganId"), _text(t, "Timestamp")) for t in _kids(traces, "TraceHeader")]
        if traces is not None else [],
        business_doc_type=_text(_kid(traces, "Bussiness"), "BussinessDocType") if traces is not None else "0",
        manifest=refs, attachments=[], root=root if keep_tree else None,
        signed=bool(xmldsig.find_signatures(root)))
    decoded = target.decoded if target is not None else None
    pkg.attachments = [_attachment(a, decoded) for a in _kids(encoded, "Attachment")] if encoded is not None else []
    return pkg


# -- building ------------------------------------------------------------------------------------------

def _el(parent: Any, name: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.SubElement(parent, f"{{{NS}}}{name}", **attrs)
    if text is not None:
        try:
            el.text = unicodedata.normalize("NFC", text)
        except ValueError:  # control characters XML 1.0 cannot carry
            raise _invalid(f"{name} holds characters XML cannot carry (control characters)",
                           f"{name} chứa ký tự XML không cho phép (ký tự điều khiển)") from None
    return el


def _org(parent: Any, name: str, org: Organization) -> None:
    el = _el(parent, name)
    for tag, attr in Organization.FIELDS:
        _el(el, tag, getattr(org, attr))


def _zip(att: Attachment) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(att.name or att.content_id, att.data)
    return out.getvalue()


def empty_envelope() -> Any:
    """edXML/edXMLEnvelope with an empty edXMLHeader and edXMLBody."""
    root = etree.Element(f"{{{NS}}}edXML", nsmap={"edXML": NS})
    envelope = _el(root, "edXMLEnvelope")
    _el(envelope, "edXMLHeader")
    _el(envelope, "edXMLBody")
    return root


class Expander:
    """Placeholders for the attachments, and their expansion in a stream of XML.

    ``build(pkg, expander=...)`` puts a short marker in each ContentTransferEncoded instead of
    megabytes of base64; whatever serialises the tree (canonical XML into a digest, the
    document into a file) writes through ``writer(out)``, which replaces each marker by the
    attachment's base64, encoded a piece at a time. Base64 needs no escaping in XML or in
    canonical XML, so the bytes are exactly those of the full tree, which is never built."""

    def __init__(self) -> None:
        import uuid

        self.prefix = ("kyso-attachment-" + uuid.uuid4().hex + "-").encode()
        self.payloads: dict[int, bytes | bytearray] = {}

    def marker(self, payload: bytes | bytearray) -> str:
        self.payloads[len(self.payloads)] = payload
        return f"{self.prefix.decode()}{len(self.payloads) - 1}."

    def writer(self, out: Any) -> _ExpandingWriter:
        return _ExpandingWriter(self, out)


class _ExpandingWriter:
    PIECE = 3 * (1 << 18)  # a multiple of 3: the pieces' base64 concatenates to the whole's

    def __init__(self, expander: Expander, out: Any) -> None:
        self.expander, self.out, self.buf = expander, out, b""

    def write(self, data: bytes) -> None:
        buf = self.buf + data
        prefix = self.expander.prefix
        while (at := buf.find(prefix)) >= 0:
            end = buf.find(b".", at + len(prefix))
            if end < 0:
                break  # the marker's number is in the next piece
            self.out(buf[:at])
            payload = self.expander.payloads[int(buf[at + len(prefix):end])]
            for i in range(0, len(payload), self.PIECE):
                self.out(base64.b64encode(payload[i:i + self.PIECE]))
            buf = buf[end + 1:]
        keep = 0 if buf.find(prefix[:1]) < 0 else len(prefix) + 12
        if len(buf) > keep:
            self.out(buf[:len(buf) - keep])
            buf = buf[len(buf) - keep:]
        self.buf = buf

    def close(self) -> None:
        if self.buf:
            self.out(self.buf)
            self.buf = b""


def build(pkg: Package, consume: bool = False, expander: Expander | None = None) -> Any:
    """The package as a tree (sign it, then serialise with ``to_bytes``). ``consume``: each
    attachment's payload moves into the tree (the model's copy is emptied as it goes).
    ``expander``: each attachment becomes a marker in the tree (see Expander)."""
    h = pkg.header
    root = empty_envelope()
    header = header_element(root)
    msg = _el(header, "MessageHeader")
    _org(msg, "From", h.sender)
    for r in h.recipients:
        _org(msg, "To", r)
    _el(msg, "DocumentId", h.document_id)
    code = _el(msg, "Code")
    _el(code, "CodeNumber", h.code_number)
    _el(code, "CodeNotation", h.code_notation)
    prom = _el(msg, "PromulgationInfo")
    _el(prom, "Place", h.place)
    _el(prom, "PromulgationDate", h.promulgation_date)
    dtype = _el(msg, "DocumentType")
    _el(dtype, "Type", h.document_type)
    _el(dtype, "TypeDetail", h.type_detail)
    _el(dtype, "TypeName", h.type_name)
    _el(msg, "Subject", h.subject)
    _el(msg, "Content", h.content)
    signer = _el(msg, "SignerInfo")
    _el(signer, "Competence", h.competence)
    _el(signer, "Position", h.position)
    _el(signer, "FullName", h.signer_name)
    _el(msg, "DueDate", h.due_date)
    other = _el(msg, "OtherInfo")
    for key, value in h.other_info.items():
        _el(other, key, value)
    _el(msg, "ResponseFor", h.response_for)
    _el(msg, "SteeringType", h.steering_type)
    places = _el(msg, "ToPlaces")
    for place in h.to_places:
        _el(places, "Place", place)
    traces = _el(header, "TraceHeaderList")
    for t in pkg.traces:
        th = _el(traces, "TraceHeader")
        _el(th, "OrganId", t.organ_id)
        _el(th, "Timestamp", t.timestamp)
    business = _el(traces, "Bussiness")
    _el(business, "BussinessDocType", pkg.business_doc_type)
    manifest = _el(body_element(root), "edXMLManifest", version="1.0")
    for att in pkg.attachments:
        ref = _el(manifest, "Reference")
        ref.set("href", "cid:" + content_key(att.content_id))
        _el(ref, "AttachmentName", att.name)
        _el(ref, "ContentType", att.content_type)
    encoded = _el(root, "AttachmentEncoded")
    for att in pkg.attachments:
        a = _el(encoded, "Attachment")
        _el(a, "ContentId", att.content_id)
        _el(a, "AttachmentName", att.name)
        _el(a, "ContentType", att.content_type)
        _el(a, "Description", att.description)
        cte = _el(a, "ContentTransferEncoded")
        if expander is not None:
            cte.text = expander.marker(att.zip_bytes or _zip(att))
        else:
            cte.text = base64.b64encode(att.zip_bytes or _zip(att))  # ASCII bytes: no str copy of megabytes
        if consume:
            att.data, att.zip_bytes = b"", b""
    return root


def header_element(root: Any) -> Any:
    """edXMLEnvelope/edXMLHeader, where the signature goes (as its last child)."""
    return _kid(_kid(root, "edXMLEnvelope"), "edXMLHeader")


def body_element(root: Any) -> Any:
    return _kid(_kid(root, "edXMLEnvelope"), "edXMLBody")


# Helpers shared with the status messages (signer/edxml_status.py).
kid, kids, text, sub, organization, parse_organization = _kid, _kids, _text, _el, _org, _organization


# -- attachment digests, signed with the package -----------------------------------------------------
# Kyso's signature carries, in a ds:Object its SignedInfo references, the SHA-256 of each
# attachment's file. When the package no longer verifies, these (still covered by a valid
# reference) tell which attachment changed, or that none did and the header or body did.

DIGESTS_NS = "https://kyso.invalid/ns/edxml-attachment-digests"


def attachment_digests(attachments: list[Attachment]) -> Any:
    el = etree.Element(f"{{{DIGESTS_NS}}}AttachmentDigests", nsmap={"kd": DIGESTS_NS},
                       Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    for att in attachments:
        etree.SubElement(el, f"{{{DIGESTS_NS}}}Attachment", ContentId=att.content_id).text = \
            base64.b64encode(hashlib.sha256(att.data).digest()).decode()
    return el


def signed_digests(signature: Any) -> tuple[str, dict[str, bytes]] | None:
    """The Id of the ds:Object holding attachment digests, and the digests by ContentId."""
    for obj in signature:
        if isinstance(obj.tag, str) and etree.QName(obj).localname == "Object" and obj.get("Id"):
            found = obj.find(f"{{{DIGESTS_NS}}}AttachmentDigests")
            if found is not None:
                try:
                    return obj.get("Id"), {a.get("ContentId", ""): base64.b64decode(a.text or "", validate=True)
                                           for a in found.findall(f"{{{DIGESTS_NS}}}Attachment")}
                except (binascii.Error, ValueError):
                    return None
    return None


def to_file(root: Any, expander: Expander | None = None) -> IO[bytes]:
    """The document in a temporary file, at its start (attachments expanded)."""
    import tempfile

    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller
    try:
        if expander is None:
            root.getroottree().write(out, xml_declaration=True, encoding="UTF-8")
        else:
            writer = expander.writer(out.write)
            root.getroottree().write(writer, xml_declaration=True, encoding="UTF-8")
            writer.close()
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def to_bytes(root: Any) -> bytes:
    return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))
