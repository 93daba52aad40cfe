"""Reading edXML packages: a tolerant parser over the hardened XML parse.

Parsing goes through verification.xmlsafe (no DTD, no entities, no network, limits). It accepts
what senders emit: any element order, children with or without the edXML namespace, the
attachment fields as attributes or as child elements, and attachments zipped then base64
or plain base64. Zipped attachments are opened with limits on entries, size and ratio, so a
zip bomb is refused.
"""

from __future__ import annotations

import binascii
import io
import unicodedata
import zipfile
from typing import Any

from lxml import etree

from axis.messages import (
    AN_ATTACHMENT_TOO_LARGE,
    ATTACHMENT_MIXED_CONTENT,
    ATTACHMENT_NO_CONTENT_ID,
    ATTACHMENT_NOT_A_ZIP,
    ATTACHMENT_NOT_BASE64,
    ATTACHMENT_NOT_BASE64_TEXT,
    ATTACHMENT_TOO_LARGE,
    ATTACHMENT_UNPACKS_TOO_LARGE,
    ATTACHMENT_ZIP_NOT_ONE_FILE,
    MESSAGE_HEADER_MISSING,
    MESSAGE_HEADER_NO_FROM,
    MESSAGE_HEADER_TWICE,
    ROOT_NOT_EDXML,
    STATUS_MESSAGE_NOT_PACKAGE,
    XML_HAS_DTD,
)
from axis.model import (
    MAX_ATTACHMENT,
    MAX_ENTRIES,
    MAX_RATIO,
    NS,
    Attachment,
    AttachmentTooLarge,
    EdxmlInvalid,
    Finding,
    MessageHeader,
    Organization,
    Package,
    TraceHeader,
    content_key,
    name_problem,
)
from kyso.errors import KysoError
from verification import xmlsafe


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
        raise EdxmlInvalid(MESSAGE_HEADER_NO_FROM)
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
        raise EdxmlInvalid(ATTACHMENT_NOT_A_ZIP.format(content_id=content_id)) from None
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) != 1 or len(zf.infolist()) > MAX_ENTRIES:
        raise EdxmlInvalid(ATTACHMENT_ZIP_NOT_ONE_FILE.format(content_id=content_id))
    info = infos[0]
    if info.file_size > MAX_ATTACHMENT or info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise AttachmentTooLarge(ATTACHMENT_UNPACKS_TOO_LARGE.format(content_id=content_id))
    out = bytearray()
    with zf.open(info) as f:  # in pieces: one read() of the whole entry holds three copies at once
        while chunk := f.read(1 << 20):  # BadZipFile (CRC) and zlib.error: see _attachment
            out += chunk
            if len(out) > MAX_ATTACHMENT:
                raise AttachmentTooLarge(ATTACHMENT_TOO_LARGE.format(content_id=content_id))
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
            raise AttachmentTooLarge(AN_ATTACHMENT_TOO_LARGE)
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
        raise EdxmlInvalid(ATTACHMENT_NO_CONTENT_ID)
    carrier = _kid(el, "ContentTransferEncoded")
    carrier = el if carrier is None else carrier
    if el.get("ContentTransferEncoded"):
        carrier, text = None, el.get("ContentTransferEncoded")
    if decoded is not None and carrier in decoded:
        raw = decoded[carrier]
    else:
        if carrier is el and any((c.tail or "").strip() for c in el):
            raise EdxmlInvalid(ATTACHMENT_MIXED_CONTENT.format(content_id=cid))
        if carrier is not None and carrier is not el and len(carrier):
            # A comment or element inside the base64: canonical XML leaves comments out of the
            # signed bytes, so what follows one could change under a valid signature.
            raise EdxmlInvalid(ATTACHMENT_NOT_BASE64_TEXT.format(content_id=cid))
        if carrier is not None:
            text = (carrier.text or "") if carrier is not el else "".join((el.text or "").split())
        if len(text) > MAX_ENCODED:
            raise AttachmentTooLarge(ATTACHMENT_TOO_LARGE.format(content_id=cid))
        raw = _decode(text)
    if raw is None:
        raise EdxmlInvalid(ATTACHMENT_NOT_BASE64.format(content_id=cid))
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
        raise xmlsafe.XmlDtdForbidden(XML_HAS_DTD)

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
        raise EdxmlInvalid(ROOT_NOT_EDXML.format(ns=NS))
    return root


def message_header(root: Any) -> Any:
    """edXMLEnvelope/edXMLHeader/MessageHeader, which must be there exactly once."""
    envelope = _kid(root, "edXMLEnvelope")
    header = _kid(envelope, "edXMLHeader") if envelope is not None else None
    message = _kid(header, "MessageHeader") if header is not None else None
    if message is None:
        raise EdxmlInvalid(MESSAGE_HEADER_MISSING)
    if len(_kids(header, "MessageHeader")) != 1:
        raise EdxmlInvalid(MESSAGE_HEADER_TWICE)
    return message


def parse(data: bytes | Any, limits: xmlsafe.Limits | None = None, keep_tree: bool = True) -> Package:
    """The package in ``data`` (bytes or a stream). Without ``keep_tree`` the parsed tree is
    let go once read (``signed`` still says whether it carried a signature): for a package
    that is to be rebuilt and signed, not verified."""
    target = None if keep_tree else _StreamingTarget()
    root = parse_root(data, limits, target)
    message = message_header(root)
    if _kid(message, "StatusCode") is not None:
        raise EdxmlInvalid(STATUS_MESSAGE_NOT_PACKAGE)
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
    from verification import xmldsig

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


# Helpers shared with building and the status messages (axis/building.py, axis/status_message.py).
kid, kids, text, parse_organization = _kid, _kids, _text, _organization
