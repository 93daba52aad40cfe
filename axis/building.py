"""Writing edXML packages in one form only: every element in the edXML namespace with the
``edXML`` prefix, header fields in the published order, attachments zipped and
base64-encoded; and the attachment digests Kyso signs with a package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import unicodedata
import zipfile
from typing import IO, Any

from lxml import etree

from axis.messages import CONTROL_CHARACTERS
from axis.model import NS, Attachment, EdxmlInvalid, Organization, Package, content_key
from axis.parsing import kid


def _el(parent: Any, name: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.SubElement(parent, f"{{{NS}}}{name}", **attrs)
    if text is not None:
        try:
            el.text = unicodedata.normalize("NFC", text)
        except ValueError:  # control characters XML 1.0 cannot carry
            raise EdxmlInvalid(CONTROL_CHARACTERS.format(name=name)) from None
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
    return kid(kid(root, "edXMLEnvelope"), "edXMLHeader")


def body_element(root: Any) -> Any:
    return kid(kid(root, "edXMLEnvelope"), "edXMLBody")


# Helpers shared with the status messages (axis/status_message.py).
sub, organization = _el, _org


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
