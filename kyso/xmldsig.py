"""W3C XML-DSig 1.1 and XAdES vocabulary and canonicalisation, shared by signing
(signer/xades.py) and checking (verification/xmldsig.py), which may not import each other:
namespaces and algorithm URIs, C14N of a document subset, and the digest of what an
enveloped ``URI=""`` reference covers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
SIGNED_PROPS_TYPE = "http://uri.etsi.org/01903#SignedProperties"
ENVELOPED = DS + "enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
BASE64 = DS + "base64"
XML_NS = "{http://www.w3.org/XML/1998/namespace}"
C14N = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    # C14N 1.1 differs from 1.0 only for xml:id/xml:base/xml:space inheritance; lxml has 1.0.
    "http://www.w3.org/2006/12/xml-c14n11": (False, False),
    "http://www.w3.org/2006/12/xml-c14n11#WithComments": (False, True),
    EXC_C14N: (True, False),
    EXC_C14N + "WithComments": (True, True),
}
DIGESTS = {
    DS + "sha1": "sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha224": "sha224",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
DIGEST_URI = {v: k for k, v in DIGESTS.items()}
MORE = "http://www.w3.org/2001/04/xmldsig-more#"
MGF1 = "http://www.w3.org/2007/05/xmldsig-more#"
SIGNATURES = {  # URI -> (family, hash)
    DS + "rsa-sha1": ("rsa-pkcs1", "sha1"),
    MORE + "rsa-sha224": ("rsa-pkcs1", "sha224"),
    MORE + "rsa-sha256": ("rsa-pkcs1", "sha256"), MORE + "rsa-sha384": ("rsa-pkcs1", "sha384"),
    MORE + "rsa-sha512": ("rsa-pkcs1", "sha512"),
    MGF1 + "sha224-rsa-MGF1": ("rsa-pss", "sha224"),
    MGF1 + "sha256-rsa-MGF1": ("rsa-pss", "sha256"), MGF1 + "sha384-rsa-MGF1": ("rsa-pss", "sha384"),
    MGF1 + "sha512-rsa-MGF1": ("rsa-pss", "sha512"),
    MORE + "ecdsa-sha1": ("ecdsa", "sha1"),
    MORE + "ecdsa-sha224": ("ecdsa", "sha224"),
    MORE + "ecdsa-sha256": ("ecdsa", "sha256"), MORE + "ecdsa-sha384": ("ecdsa", "sha384"),
    MORE + "ecdsa-sha512": ("ecdsa", "sha512"),
}
SIGNATURE_URI = {v: k for k, v in SIGNATURES.items()}


def qname(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


_REPARSE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                           remove_comments=True, collect_ids=False)


def c14n(el: Any, exclusive: bool = True, with_comments: bool = False, prefixes: list[str] | None = None,
         c14n11: bool = False) -> bytes:
    """The canonical form of one element (a document subset: the element and its subtree).

    lxml canonicalises a non-root element through a fake document whose nodes still point
    at their ancestors' namespace declarations, and libxml2 then writes wrong ones (a child
    in an inherited default namespace comes out with xmlns=""). So the element is copied
    into a document of its own first, with every namespace in scope declared on it (what
    inclusive C14N puts on the apex) and, for inclusive C14N 1.0, the xml:* attributes it
    inherits (1.1: xml:lang and xml:space only)."""
    if el.getparent() is None:
        return bytes(etree.tostring(el, method="c14n", exclusive=exclusive, with_comments=with_comments,
                                    inclusive_ns_prefixes=prefixes if exclusive else None))
    # lxml's serialiser declares on a subelement every namespace in scope from its ancestors.
    apex = etree.fromstring(etree.tostring(el, with_tail=False), _REPARSE)
    if not exclusive:
        for name in ("lang", "space") if c14n11 else ("lang", "space", "base", "id"):
            key = XML_NS + name
            if apex.get(key) is None:
                value = next((a.get(key) for a in el.iterancestors() if a.get(key) is not None), None)
                if value is not None:
                    apex.set(key, value)
    return bytes(etree.tostring(apex, method="c14n", exclusive=exclusive, with_comments=with_comments,
                                inclusive_ns_prefixes=prefixes if exclusive else None))


class HashWriter:
    def __init__(self, name: str) -> None:
        self.hash = hashlib.new(name)

    def write(self, data: bytes) -> None:
        self.hash.update(data)


def enveloped_digest(root: Any, signature: Any, hash_name: str, exclusive: bool,
                     expand: Callable[[Callable[[bytes], Any]], Any] | None = None) -> bytes:
    """The digest of what URI="" with the enveloped-signature transform covers: the whole
    document (comments excluded) without this one signature. The signature is taken out of
    the tree for the moment and put back exactly, and the canonical form goes straight into
    the hash: no copy of a document that may carry tens of megabytes of attachments."""
    parent, tail = signature.getparent(), signature.tail
    index, prev = parent.index(signature), signature.getprevious()
    detach(signature)
    signature.tail = None
    try:
        hasher = HashWriter(hash_name)
        writer: Any = expand(hasher.write) if expand is not None else hasher
        root.getroottree().write_c14n(writer, exclusive=exclusive, with_comments=False)
        if expand is not None:
            writer.close()
        return hasher.hash.digest()
    finally:
        parent.insert(index, signature)
        if tail:
            if prev is not None:
                prev.tail = prev.tail[:-len(tail)] or None
            else:
                parent.text = parent.text[:-len(tail)] or None
        signature.tail = tail


def digest_of(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def detach(el: Any) -> None:
    """Take an element (and its subtree) out of its tree, keeping its tail text in place."""
    parent, tail, prev = el.getparent(), el.tail, el.getprevious()
    if parent is None:
        return
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)
