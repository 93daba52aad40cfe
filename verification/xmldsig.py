"""Checking enveloped and enveloping XML-DSig 1.1 signatures, XAdES included (ETSI EN 319 132),
strictly. Signatures are made in signer/xades.py; the vocabulary both use is kyso/xmldsig.py.

Checking accepts what is legitimately out there (inclusive C14N, SHA-1, a ``Signature``
without the XML-DSig namespace) and reports the legacy parts as findings, never as a plain
pass. Against signature wrapping (Somorovsky et al.), a reference may only be the whole
document (``URI=""`` with the enveloped transform first) or ``#id`` of exactly one element
inside this signature's own ``Object`` (the XAdES SignedProperties); no XPath or XSLT
transforms; every ``Object`` child must be covered by a reference; the report says which
elements are covered, and the caller reads values from the verified tree only.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import io
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from kyso.xmldsig import (  # noqa: F401 - the vocabulary, re-exported for the checker's callers
    BASE64,
    C14N,
    C14N11,
    DIGEST_URI,
    DIGESTS,
    DS,
    ENVELOPED,
    EXC_C14N,
    FILTER2,
    MGF1,
    MORE,
    SIGNATURE_URI,
    SIGNATURES,
    SIGNED_PROPS_TYPE,
    XADES,
    XML_NS,
    XPATH,
    c14n,
    enveloped_digest,
)
from kyso.xmldsig import detach as _detach
from kyso.xmldsig import digest_of as _digest
from kyso.xmldsig import qname as _q

# Namespaces a SigningCertificate's CertDigest is found in (1.4.1 holds SigningCertificateV2's).
_XADES_VERSIONS = (XADES, "http://uri.etsi.org/01903/v1.4.1#", "http://uri.etsi.org/01903/v1.2.2#",
                   "http://uri.etsi.org/01903/v1.1.1#")


# -- checking ------------------------------------------------------------------------------------------

@dataclass
class XmlSignatureCheck:
    """What one signature element proves, before any trust decision."""

    element: Any
    namespaced: bool
    certificate_der: bytes | None = None
    other_certs: list[bytes] = field(default_factory=list)
    signature_valid: bool = False
    digests_valid: bool = False
    covers_whole_document: bool = False
    covered: list[str] = field(default_factory=list)
    weak_algorithms: list[str] = field(default_factory=list)
    # Structures only an attack or a broken signer produces, as (English, Vietnamese): TOTAL-FAILED.
    format_problems: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    # What Kyso could not check (detached data not given, an unsupported transform), as
    # (English, Vietnamese) sentences: the signature is then never a pass.
    unverifiable: list[tuple[str, str]] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)  # detached Manifest entries not given
    signing_time: dt.datetime | None = None
    signed_properties: Any = None  # the SignedProperties element a reference covers
    covers_only_part: bool = False  # the document holds content no reference covers
    value_checked: bool = False  # the signature value was verified (or found wrong) with a certificate
    signing_certificate_mismatch: bool = False  # SigningCertificate names none of the certificates carried
    timestamp_token: bytes | None = None
    timestamp_data: bytes | None = None
    key_problem: Any = None  # a Problem: the signer certificate's key cannot be loaded (verification/public_keys.py)


def find_signatures(root: Any) -> list[tuple[Any, bool]]:
    """Every Signature element: namespaced XML-DSig, or the legacy un-namespaced form (any
    element named Signature with a SignedInfo child in the same namespace)."""
    out = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        qn = etree.QName(el)
        if qn.localname != "Signature":
            continue
        if qn.namespace == DS:
            out.append((el, True))
        elif el.find(_q(qn.namespace, "SignedInfo") if qn.namespace else "SignedInfo") is not None:
            out.append((el, False))
    return out


def _child(el: Any, name: str) -> Any:
    ns = etree.QName(el).namespace
    return el.find(_q(ns, name) if ns else name)


def _children(el: Any, name: str) -> list[Any]:
    ns = etree.QName(el).namespace
    return el.findall(_q(ns, name) if ns else name)


def _text_b64(el: Any) -> bytes:
    return base64.b64decode("".join((el.text or "").split()), validate=True)


def _ids(root: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in ("Id", "ID", "id"):
            if attr in el.attrib:
                found.setdefault(el.attrib[attr], []).append(el)
    return found


def _name(el: Any) -> str:
    return etree.QName(el).localname


def external_key(uri: str) -> str:
    """The name under which a detached reference's data is looked up: the URI percent-decoded,
    without a leading "./"."""
    name = urllib.parse.unquote(uri)
    while name.startswith("./"):
        name = name[2:]
    return name


def check(root: Any, signature: Any, namespaced: bool, *,
          external: Mapping[str, bytes] | None = None) -> XmlSignatureCheck:
    """Digests, signature value and structure of one signature (no trust decision).
    ``external``: the data of detached references (a URI neither "" nor "#id"), by
    external_key(URI); a reference whose data is not given is reported in ``unverifiable``,
    never as verified."""
    result = XmlSignatureCheck(element=signature, namespaced=namespaced)
    from verification.public_keys import UnprocessableKey

    try:
        _check(root, signature, result, external or {})
    except UnprocessableKey as exc:
        result.key_problem = exc.problem()
    except Unsupported as exc:
        result.unverifiable.append((exc.en, exc.vi))
    except (ValueError, TypeError, KeyError, AttributeError, etree.Error) as exc:
        result.unverifiable.append((f"a part of the signature cannot be read ({type(exc).__name__})",
                                    f"không đọc được một phần của chữ ký ({type(exc).__name__})"))
    return result


class Unsupported(Exception):
    """Something Kyso does not process (a transform, an algorithm): the signature is
    INDETERMINATE with this sentence, never TOTAL-FAILED."""

    def __init__(self, en: str, vi: str) -> None:
        super().__init__(en)
        self.en, self.vi = en, vi


def _unsupported(what: str, uri: str | None) -> Unsupported:
    return Unsupported(f"Kyso does not support the {what} {uri}", f"Kyso chưa hỗ trợ {_WHAT_VI[what]} {uri}")


_WHAT_VI = {"transform": "phép biến đổi (transform)", "signature algorithm": "thuật toán chữ ký",
            "digest algorithm": "thuật toán băm", "canonicalisation": "phép chuẩn hoá (C14N)"}


def _path(el: Any) -> list[int]:
    out = []
    while el.getparent() is not None:
        parent = el.getparent()
        out.append(parent.index(el))
        el = parent
    return out[::-1]


def _follow(root: Any, path: list[int]) -> Any:
    for i in path:
        root = root[i]
    return root


def _canonical(root: Any, target: Any, excluded: list[Any], algorithm: str, prefixes: list[str] | None) -> bytes:
    """The canonical form of ``target`` (None: the whole document) without the ``excluded``
    subtrees. The document itself is never changed: moving nodes makes lxml reconcile
    namespace prefixes (a SignedProperties then canonicalises with another prefix), so
    exclusions are made in a copy."""
    exclusive, comments = C14N[algorithm]
    c14n11 = algorithm.startswith(C14N11)
    tree = root.getroottree()
    if c14n11 and target is not None and not exclusive and any(
            a.get(XML_NS + "base") is not None for a in target.iterancestors()):
        # C14N 1.1 would fix xml:base up against the ancestors' (RFC 3986 resolution).
        raise Unsupported("C14N 1.1 of an element under an xml:base attribute is not supported",
                          "chưa hỗ trợ C14N 1.1 cho một phần tử nằm dưới thuộc tính xml:base")
    if excluded:
        copy_tree = copy.deepcopy(tree)
        copy_root = copy_tree.getroot()
        target = None if target is None else _follow(copy_root, _path(target))
        for el in [_follow(copy_root, _path(e)) for e in excluded]:
            if el is copy_root:
                raise _Structural("a transform removes the whole document: the reference signs nothing",
                                  "một phép biến đổi loại bỏ toàn bộ tài liệu: tham chiếu không ký gì cả")
            _detach(el)
        tree = copy_tree
    if target is None:
        kw: dict[str, Any] = {"exclusive": exclusive, "with_comments": comments}
        if exclusive and prefixes:
            kw["inclusive_ns_prefixes"] = prefixes
        buf = io.BytesIO()
        tree.write_c14n(buf, **kw)
        return buf.getvalue()
    return c14n(target, exclusive, comments, prefixes, c14n11)


def _prefixes(transform: Any) -> list[str] | None:
    found = transform.find(f"{{{EXC_C14N}}}InclusiveNamespaces")
    return found.get("PrefixList", "").split() if found is not None else None


_NOT_SIGNATURE = re.compile(r"^\s*not\s*\(\s*ancestor-or-self::(\w+):Signature\s*\)\s*$")


def _transform_excludes(root: Any, transform: Any, algorithm: str) -> list[Any]:
    """The subtrees an XPath (only the usual "not(ancestor-or-self::ds:Signature)") or an
    XPath Filter 2.0 "subtract" transform takes out of the node-set ("intersect": _filter2_intersect)."""
    if algorithm == XPATH:
        xpath = _child(transform, "XPath")
        m = _NOT_SIGNATURE.match(xpath.text or "") if xpath is not None else None
        if m is None or xpath.nsmap.get(m.group(1)) != DS:
            raise Unsupported("Kyso supports the XPath transform only as not(ancestor-or-self::ds:Signature)",
                              "Kyso chỉ hỗ trợ phép biến đổi XPath dạng not(ancestor-or-self::ds:Signature)")
        return [el for el in root.getroottree().iter(_q(DS, "Signature"))]
    out: list[Any] = []
    for xpath in transform.findall(f"{{{FILTER2}}}XPath"):
        if xpath.get("Filter") != "subtract":
            what = xpath.get("Filter")
            raise Unsupported(f"Kyso supports XPath Filter 2.0 only with Filter=\"subtract\", not {what!r}",
                              f"Kyso chỉ hỗ trợ XPath Filter 2.0 với Filter=\"subtract\", không phải {what!r}")
        out.extend(_filter2_select(root, xpath)[0])
    return out


def _filter2_select(root: Any, xpath: Any) -> tuple[list[Any], int]:
    """The elements an XPath Filter 2.0 expression selects, and how many nodes in all."""
    namespaces = {k: v for k, v in xpath.nsmap.items() if k}
    try:
        found = root.getroottree().xpath((xpath.text or "").strip(), namespaces=namespaces)
    except etree.XPathError:
        raise Unsupported("the XPath Filter 2.0 expression cannot be evaluated",
                          "không tính được biểu thức XPath Filter 2.0") from None
    if not isinstance(found, list):
        raise Unsupported("the XPath Filter 2.0 expression is not a node-set",
                          "biểu thức XPath Filter 2.0 không cho ra tập nút")
    return [el for el in found if isinstance(el, etree._Element) and isinstance(el.tag, str)], len(found)


def _filter2_intersect(root: Any, transform: Any, target: Any, excluded: list[Any]) -> Any:
    """An XPath Filter 2.0 transform that intersects the node-set with one element's subtree
    (XAdES 1.1.1 signs its SignedProperties so: URI="" then intersect): that element becomes
    what the reference covers. Only one intersect selecting exactly one element, inside what
    is covered so far and not in a removed part, is supported; anything else is INDETERMINATE."""
    filters = transform.findall(f"{{{FILTER2}}}XPath")
    if len(filters) != 1:
        raise Unsupported("XPath Filter 2.0 with \"intersect\" is supported only alone in its transform",
                          "XPath Filter 2.0 với \"intersect\" chỉ được hỗ trợ khi đứng một mình trong phép biến đổi")
    elements, selected = _filter2_select(root, filters[0])
    if len(elements) != 1 or selected != 1:
        raise Unsupported("XPath Filter 2.0 \"intersect\" is supported only when it selects exactly one element",
                          "XPath Filter 2.0 \"intersect\" chỉ được hỗ trợ khi chọn đúng một phần tử")
    (chosen,) = elements
    if target is not None and chosen is not target and not any(a is target for a in chosen.iterancestors()):
        raise _Structural("an XPath Filter 2.0 intersect selects an element outside what the reference names",
                          "XPath Filter 2.0 intersect chọn một phần tử nằm ngoài phần tham chiếu trỏ tới")
    if any(e is chosen or any(a is e for a in chosen.iterancestors()) for e in excluded):
        raise Unsupported("an XPath Filter 2.0 intersect selects an element an earlier transform removed",
                          "XPath Filter 2.0 intersect chọn một phần tử mà phép biến đổi trước đã loại bỏ")
    return chosen


def _string_value(root: Any, target: Any, excluded: list[Any]) -> str:
    if excluded:
        raise Unsupported("the base64 transform after a node-set filter is not supported",
                          "chưa hỗ trợ phép biến đổi base64 sau một bộ lọc tập nút")
    return "".join((root if target is None else target).itertext())


def _reference_octets(root: Any, signature: Any, ref: Any, ids: dict[str, list[Any]],
                      external: Mapping[str, bytes], result: XmlSignatureCheck,
                      in_manifest: bool = False) -> tuple[bytes | None, str | None, Any]:
    """What one reference covers, as octets for its digest: (octets, what for the report,
    target element or None for the document); octets None when its data is not given."""
    uri = ref.get("URI")
    transforms = _children(_child(ref, "Transforms"), "Transform") if _child(ref, "Transforms") is not None else []
    octets: bytes | None = None
    target: Any = None
    excluded: list[Any] = []
    if uri is None or uri == "" or uri == "#xpointer(/)":
        what = "the whole document"
    elif uri.startswith("#"):
        name = uri[1:]
        m = re.match(r"^xpointer\(id\('([^']*)'\)\)$", name)
        name = m.group(1) if m else name
        matches = ids.get(name, [])
        if len(matches) != 1:
            raise _Structural(f"reference {uri} names {len(matches)} elements",
                              f"tham chiếu {uri} trỏ tới {len(matches)} phần tử")
        target = matches[0]
        what = _name(target) + ("" if _name(target) == "SignedProperties" else f" ({name})")
        if target is root:
            what, target = "the whole document", None
    else:
        name = external_key(uri)
        if name not in external:
            if in_manifest:  # a Manifest's entries are the application's to check (XML-DSig 5.1)
                result.not_checked.append(name)
            else:
                result.unverifiable.append((f"detached data not given: {name}",
                                            f"không có dữ liệu tách rời được ký: {name}"))
            return None, name, None
        octets, what = external[name], name
    for t in transforms:
        algorithm = t.get("Algorithm")
        if algorithm == BASE64:
            text = octets.decode("ascii", "replace") if octets is not None else _string_value(root, target, excluded)
            octets = base64.b64decode("".join(text.split()))
        elif algorithm in C14N:
            if octets is not None:  # C14N of a detached XML document
                from verification import xmlsafe

                detached_root = xmlsafe.parse(octets)
                octets = _canonical(detached_root, None, [], algorithm, _prefixes(t))
            else:
                octets = _canonical(root, target, excluded, algorithm, _prefixes(t))
        elif octets is not None:
            raise _unsupported("transform", f"{algorithm} after canonicalisation")
        elif algorithm == ENVELOPED:
            excluded.append(signature)
        elif algorithm == FILTER2 and any(x.get("Filter") == "intersect" for x in t.findall(f"{{{FILTER2}}}XPath")):
            target = _filter2_intersect(root, t, target, excluded)
            what = _name(target) + ("" if _name(target) == "SignedProperties" else f" ({target.get('Id') or ''})")
        elif algorithm in (XPATH, FILTER2):
            excluded.extend(_transform_excludes(root, t, algorithm))
        else:
            raise _unsupported("transform", algorithm)
    if octets is None:
        octets = _canonical(root, target, excluded, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315", None)
    if target is None and what == "the whole document":
        others = [e for e in excluded if _name(e) != "Signature"]
        if others:
            what = "the document except " + ", ".join(sorted({_name(e) for e in others}))
        result.covers_whole_document = result.covers_whole_document or not others
    return octets, what, target


class _Structural(ValueError):
    """A structure that only an attack produces (an Id given to two elements): TOTAL-FAILED."""

    def __init__(self, en: str, vi: str) -> None:
        super().__init__(en)
        self.en, self.vi = en, vi


def _check(root: Any, signature: Any, result: XmlSignatureCheck, external: Mapping[str, bytes]) -> None:
    signed_infos = _children(signature, "SignedInfo")
    values = _children(signature, "SignatureValue")
    if len(signed_infos) != 1 or len(values) != 1:
        result.format_problems.append(("a signature needs exactly one SignedInfo and one SignatureValue",
                                      "chữ ký phải có đúng một SignedInfo và một SignatureValue"))
        return
    signed_info = signed_infos[0]
    canon = _child(signed_info, "CanonicalizationMethod").get("Algorithm")
    method = _child(signed_info, "SignatureMethod").get("Algorithm")
    if canon not in C14N:
        raise _unsupported("canonicalisation", canon)
    if method not in SIGNATURES:
        raise _unsupported("signature algorithm", method)
    family, hash_name = SIGNATURES[method]
    if hash_name == "sha1":
        result.weak_algorithms.append(f"signature {method}")
    ids = _ids(root)
    objects = _children(signature, "Object")
    targets: set[int] = set()
    digests_ok = True
    references = _children(signed_info, "Reference")
    if not references:
        result.format_problems.append(("a signature with no reference signs nothing",
                                      "chữ ký không có tham chiếu nào thì không ký gì cả"))
        return
    pending = list(references)
    while pending:  # the signed references, then those of each Manifest they sign
        ref = pending.pop(0)
        digest_uri = _child(ref, "DigestMethod").get("Algorithm")
        if digest_uri not in DIGESTS:
            raise _unsupported("digest algorithm", digest_uri)
        if DIGESTS[digest_uri] == "sha1":
            result.weak_algorithms.append(f"digest {digest_uri}")
        try:
            data, what, target = _reference_octets(root, signature, ref, ids, external, result,
                                                   in_manifest=_name(ref.getparent()) == "Manifest")
        except _Structural as exc:
            result.format_problems.append((exc.en, exc.vi))
            return
        if data is None:
            continue
        if target is not None:
            if _name(target) == "Manifest" and id(target) not in targets:
                pending.extend(_children(target, "Reference"))
            targets.add(id(target))
            if _name(target) == "SignedProperties" and any(target is d for o in objects for d in o.iter()):
                if result.signed_properties is not None:
                    result.format_problems.append(("SignedProperties is referenced twice",
                                                  "SignedProperties được tham chiếu hai lần"))
                    return
                result.signed_properties = target
        result.covered.append(what or "")
        if _digest(DIGESTS[digest_uri], data) != _signed_digest(ref):
            digests_ok = False
            result.changed.append(ref.get("URI") or "")
    # Unsigned content travelling inside the signature: XAdES unsigned properties are
    # allowed, anything else (a second SignedProperties, a copy of the header) is an
    # unsigned claim dressed as signed: not verified, whatever the rest says.
    if any(_unsigned_claims(obj, targets) for obj in objects):
        result.unverifiable.append(("an Object in the signature holds content that no reference signs",
                                    "một Object trong chữ ký chứa nội dung không được tham chiếu nào ký"))
    own = [p for p in signature.iter(f"{{{XADES}}}SignedProperties")
           if next(p.iterancestors(_q(DS, "Signature")), None) is signature]  # not a counter-signature's
    if len(own) > 1:
        result.unverifiable.append(("the signature holds more than one SignedProperties; only the referenced "
                                    "one is read", "chữ ký chứa nhiều hơn một SignedProperties; chỉ đọc phần được "
                                    "tham chiếu"))
    result.digests_valid = digests_ok
    # Content beside the signature that no reference covers: the signature vouches for a part
    # only (EU DSS's XSW protection refuses such a signature's scope too).
    result.covers_only_part = not result.covers_whole_document and _uncovered_beside(root, signature, targets)
    certs = [_text_b64(c) for c in signature.iter(_q(etree.QName(signature).namespace, "X509Certificate")
                                                  if etree.QName(signature).namespace else "X509Certificate")]
    certs += _unsigned_certificates(signature)
    chosen = _signing_certificate(result.signed_properties, certs)
    if chosen is not None:
        result.certificate_der, result.other_certs = chosen, [c for c in certs if c != chosen]
    elif certs and result.signed_properties is None:
        result.certificate_der, result.other_certs = _leaf(certs)
    elif certs:  # SigningCertificate names none of the certificates carried
        result.certificate_der, result.other_certs = _leaf(certs)
        result.signing_certificate_mismatch = True
    else:
        return
    sig_bytes = _text_b64(values[0])
    exclusive, comments = C14N[canon]
    si_bytes = _canonical(root, signed_info, [], canon, _prefixes(_child(signed_info, "CanonicalizationMethod")))
    result.signature_valid = _verify_value(result.certificate_der, family, hash_name, si_bytes, sig_bytes)
    result.value_checked = True
    if not result.signature_valid and chosen is None:
        # KeyInfo is not signed: the signer's certificate is the one whose key verifies.
        other = next((c for c in certs if _verify_value(c, family, hash_name, si_bytes, sig_bytes, quiet=True)),
                     None)
        if other is not None:
            result.signature_valid = True
            result.certificate_der, result.other_certs = other, [c for c in certs if c != other]
    _xades(signature, result, hash_name)


def _signed_digest(ref: Any) -> bytes | None:
    """A reference's DigestValue; None when it is not base64, so that it matches no digest: the
    signed value cannot be the digest of anything, which is a failed reference, not a file Kyso
    cannot read (EU DSS: reference not intact)."""
    try:
        return _text_b64(_child(ref, "DigestValue"))
    except ValueError:  # binascii.Error is a ValueError
        return None


def _unsigned_certificates(signature: Any) -> list[bytes]:
    """The certificates of the XAdES CertificateValues (unsigned properties, added for
    validation). One that cannot be read is left out: no reference covers them, so a damaged
    one proves nothing about the signature and must not sink it; the signing certificate is
    still chosen by the signed SigningCertificate digest."""
    from asn1crypto import x509

    out = []
    for el in signature.iter(f"{{{XADES}}}EncapsulatedX509Certificate"):
        try:
            der = _text_b64(el)
            x509.Certificate.load(der).native  # noqa: B018 - parse it all now, not in _leaf
        except (ValueError, TypeError):
            continue
        out.append(der)
    return out


def _signing_certificate(props: Any, certs: list[bytes]) -> bytes | None:
    """The certificate the signed XAdES SigningCertificate(V2) names by its digest. XAdES 1.1.1
    writes the digest's DigestMethod and DigestValue in its own namespace, later versions in
    XML-DSig's."""
    if props is None:
        return None
    for digest in props.iter(*(f"{{{ns}}}CertDigest" for ns in _XADES_VERSIONS)):
        own = etree.QName(digest).namespace
        method = digest.find(_q(DS, "DigestMethod"))
        method = method if method is not None else digest.find(_q(own, "DigestMethod"))
        algo = DIGESTS.get(method.get("Algorithm") if method is not None else "")
        if algo is None:
            continue
        found = digest.find(_q(DS, "DigestValue"))
        try:
            value = _text_b64(found if found is not None else digest.find(_q(own, "DigestValue")))
        except ValueError:
            return None
        for der in certs:
            if _digest(algo, der) == value:
                return der
        return None  # the first Cert is the signer's
    return None


def _uncovered_beside(root: Any, signature: Any, targets: set[int]) -> bool:
    """Whether the document holds an element outside this signature, its ancestors and every
    referenced subtree. A counter-signature (inside another signature) covers that signature's
    value by definition."""
    # lxml makes a proxy per node only while one is referenced: the lists keep the ids stable.
    ancestor_els = list(signature.iterancestors())
    if any(etree.QName(a).localname == "Signature" for a in ancestor_els):
        return False
    inside_els = list(signature.iter())
    ancestors, inside = {id(a) for a in ancestor_els}, {id(e) for e in inside_els}
    covered_els: list[Any] = []
    covered: set[int] = set()
    for el in root.iter():
        if not isinstance(el.tag, str) or id(el) in ancestors or id(el) in inside:
            continue
        parent = el.getparent()
        if id(el) in targets or (parent is not None and id(parent) in covered):
            covered_els.append(el)
            covered.add(id(el))
            continue
        return True
    return False


def _unsigned_claims(obj: Any, targets: set[int]) -> bool:
    """Whether an Object holds content outside the references other than unsigned XAdES
    properties (a counter-signature lives there too)."""
    return not _covered(obj, targets)


def _covered(el: Any, targets: set[int]) -> bool:
    """An element a reference covers, or whose every part is covered (a SignatureProperties
    whose each SignatureProperty is referenced), or XAdES UnsignedProperties."""
    if id(el) in targets or _name(el) == "UnsignedProperties":
        return True
    children = [c for c in el if isinstance(c.tag, str)]
    if not children or (el.text or "").strip() or any((c.tail or "").strip() for c in children):
        return False
    return all(_covered(c, targets) for c in children)


def _leaf(certs: list[bytes]) -> tuple[bytes, list[bytes]]:
    """The certificate that issued none of the others is the signer's."""
    from asn1crypto import x509

    parsed = [x509.Certificate.load(c) for c in certs]
    issuers = {c.issuer.dump() for c in parsed}
    for cert, der in zip(parsed, certs, strict=True):
        if cert.subject.dump() not in issuers:
            return der, [d for d in certs if d is not der]
    return certs[0], certs[1:]


def _verify_value(cert_der: bytes, family: str, hash_name: str, data: bytes, value: bytes, *,
                  quiet: bool = False) -> bool:
    """Whether ``value`` is the signature of ``data`` with the key of ``cert_der``. A key Kyso
    cannot load raises UnprocessableKey, or (``quiet``: a candidate among others) is no match."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from verification.public_keys import UnprocessableKey, certificate_key

    try:
        key = certificate_key(cert_der)
    except UnprocessableKey:
        if quiet:
            return False
        raise
    algos: dict[str, hashes.HashAlgorithm] = {"sha1": hashes.SHA1(), "sha224": hashes.SHA224(),  # noqa: S303 - legacy input, reported
                                              "sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                                              "sha512": hashes.SHA512()}
    algo = algos[hash_name]
    try:
        if family == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(value) // 2
            der = encode_dss_signature(int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big"))
            key.verify(der, data, ec.ECDSA(algo))
        elif family == "rsa-pss" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PSS(padding.MGF1(algo), algo.digest_size), algo)
        elif family == "rsa-pkcs1" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PKCS1v15(), algo)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _xades(signature: Any, result: XmlSignatureCheck, hash_name: str) -> None:
    props = result.signed_properties  # the one a reference covers, never another found first
    if props is None:
        return
    when = props.find(f".//{{{XADES}}}SigningTime")
    if when is not None and when.text:
        result.signing_time = dt.datetime.fromisoformat(when.text.strip().replace("Z", "+00:00"))
    stamp = signature.find(f".//{{{XADES}}}SignatureTimeStamp/{{{XADES}}}EncapsulatedTimeStamp")
    if stamp is not None:
        result.timestamp_token = _text_b64(stamp)
        result.timestamp_data = c14n(_children(signature, "SignatureValue")[0])
