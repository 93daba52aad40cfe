"""Parsing untrusted XML: no DTD (so no entities, internal or external), no network, and
limits on size, depth, element count and attribute length, each refused with its own code.

lxml is told not to resolve entities, not to load DTDs and not to touch the network; on top
of that any document type declaration is refused outright: a signed document has no use for
one, and billion-laughs and XXE both need one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from kyso.errors import ErrorKind, KysoError
from verification.messages import (
    XML_ATTRIBUTE_TOO_LONG,
    XML_HAS_DTD,
    XML_MALFORMED,
    XML_NOT_UTF8,
    XML_TOO_DEEP,
    XML_TOO_LARGE,
)


class XmlRejected(KysoError):
    code = "xml-rejected"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "XML document refused"


class XmlMalformed(XmlRejected):
    code = "xml-malformed"
    title_en = "Malformed XML"


class XmlDtdForbidden(XmlRejected):
    code = "xml-dtd-forbidden"
    title_en = "DTDs and entities are not accepted"


class XmlTooLarge(XmlRejected):
    code = "xml-too-large"
    title_en = "XML document beyond the limits"


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 64 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 200_000
    max_attribute_bytes: int = 64 * 1024


_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def looks_like_xml(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<?xml") or (head.startswith(b"<") and not head.startswith(b"<<"))


def _too_large(limits: Limits) -> XmlTooLarge:
    return XmlTooLarge(XML_TOO_LARGE.format(max_bytes=limits.max_bytes))


def _declares_dtd() -> XmlDtdForbidden:
    return XmlDtdForbidden(XML_HAS_DTD)


def _parser(target: Any = None) -> Any:
    # huge_tree lifts libxml2's 10 MB cap on one text node (an edXML attachment is one
    # base64 text node); depth and element count are checked after parsing, the size before,
    # and entities cannot occur (no DTD). Comments are dropped: canonical XML leaves them out
    # of what is signed, so "12<!---->3" must read as the "123" that was signed, not as "12".
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=True, remove_comments=True, collect_ids=False, target=target)


def _finish(root: Any, limits: Limits) -> Any:
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _declares_dtd()
    _check_shape(root, limits)
    return root


def _malformed(exc: Exception) -> XmlMalformed:
    return XmlMalformed(XML_MALFORMED, log_detail=str(exc)[:200])


def parse(data: bytes, limits: Limits = Limits()) -> Any:
    """The root element of ``data``, or an XmlRejected subclass saying why not."""
    if len(data) > limits.max_bytes:
        raise _too_large(limits)
    if _DOCTYPE.search(data):
        raise _declares_dtd()
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise _malformed(exc) from None
    return _finish(root, limits)


def _not_ascii_compatible(head: bytes) -> bool:
    head = head[:512]
    return b"\x00" in head or head[:2] in (b"\xfe\xff", b"\xff\xfe") or head[:4] == b"\x4c\x6f\xa7\x94"


def parse_stream(stream: Any, limits: Limits = Limits(), chunk: int = 1 << 20, target: Any = None) -> Any:
    """As ``parse``, reading ``stream`` in chunks into lxml's incremental parser: a large
    document is never held whole as bytes beside its tree. ``target``: a parser target
    that builds the tree (see axis.parsing)."""
    parser = _parser(target)
    size, carry, head = 0, b"", b""
    try:
        while True:
            block = stream.read(chunk)
            if not block:
                break
            if len(head) < 512:
                head = (head + block)[:512]
            if _not_ascii_compatible(head):
                # The DTD check below reads bytes: an encoding it cannot read (UTF-16, UTF-32,
                # EBCDIC) is refused rather than trusted to the tree, which a parser target
                # builds without its doctype.
                raise XmlMalformed(XML_NOT_UTF8)
            size += len(block)
            if size > limits.max_bytes:
                raise _too_large(limits)
            if _DOCTYPE.search(carry + block[:16]) or _DOCTYPE.search(block):  # a marker may span two chunks
                raise _declares_dtd()
            carry = (carry + block[:16])[-16:] if len(block) < 16 else block[-16:]
            parser.feed(block)
        root = parser.close()
    except etree.XMLSyntaxError as exc:
        raise _malformed(exc) from None
    return _finish(root, limits)


def _check_shape(root: Any, limits: Limits) -> None:
    count = 0
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        count += 1
        if depth > limits.max_depth or count > limits.max_elements:
            raise XmlTooLarge(XML_TOO_DEEP)
        if isinstance(el.tag, str):
            for value in el.attrib.values():
                if len(value) > limits.max_attribute_bytes:
                    raise XmlTooLarge(XML_ATTRIBUTE_TOO_LONG)
        stack.extend((child, depth + 1) for child in el)
