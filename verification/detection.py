"""What a document is, from its content, never its name: PDF, CMS, XML or an ASiC container."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from asn1crypto import cms, pem

from verification.messages import UNSUPPORTED_FORMAT
from verification.report import UnsupportedFormat


def as_cms(der: bytes) -> Any:
    """The ContentInfo of a CMS SignedData, or None."""
    try:
        info = cms.ContentInfo.load(der, strict=False)
        if info["content_type"].native != "signed_data":
            return None
        # Parse the structure now (a malformed one is not CMS), without .native on the
        # whole: with pyHanko loaded, asn1crypto re-encodes each mutated parent and
        # that costs seconds on a time-stamped signature.
        for si in info["content"]["signer_infos"]:
            si["sid"].native  # noqa: B018
            si["signature"].native  # noqa: B018
        return info
    except (ValueError, TypeError, KeyError):
        return None


def detect(data: bytes) -> tuple[str, Any]:
    """('pdf', None), ('asic-e' or 'asic-s', None), ('xml', root element) or ('cms', ContentInfo); the
    content decides, never a name. A DER CMS is recognised before the PDF header is looked
    for: a CMS that signs a PDF carries '%PDF-' in its first kilobyte (issue 14, item 8)."""
    from verification import xmlsafe
    from verification.asic_container import container_type

    if data[:1] == b"\x30" and (info := as_cms(data)) is not None:
        return "cms", info
    if b"%PDF-" in data[:1024]:
        return "pdf", None
    if (asic := container_type(data)) is not None:
        return asic, None
    if xmlsafe.looks_like_xml(data):
        return "xml", xmlsafe.parse(data)
    stripped = data.strip()
    der = None
    if pem.detect(stripped):
        try:
            der = pem.unarmor(stripped)[2]
        except ValueError:
            pass
    elif stripped[:1] == b"M":  # base64 of a DER SEQUENCE
        try:
            der = base64.b64decode(stripped, validate=False)
        except (binascii.Error, ValueError):
            pass
    for candidate in (der, data):
        if candidate is not None and (info := as_cms(candidate)) is not None:
            return "cms", info
    raise UnsupportedFormat(UNSUPPORTED_FORMAT)
