"""Enveloped XML-DSig 1.1 (and XAdES B-B/B-T qualifying properties, ETSI EN 319 132): made
with a key in the HSM, and checked strictly.

Signing emits a namespaced ``ds:Signature`` with ``Reference URI=""``, the enveloped-signature
transform and exclusive C14N, SHA-256 or stronger, RSA PKCS#1 v1.5, RSA-PSS (RFC 6931 MGF1
URIs) or ECDSA, and the chain in ``KeyInfo/X509Data``.

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
import datetime as dt
import hashlib
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from lxml.builder import ElementMaker

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
SIGNED_PROPS_TYPE = "http://uri.etsi.org/01903#SignedProperties"
ENVELOPED = DS + "enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    # C14N 1.1 differs from 1.0 only for xml:id/xml:base/xml:space inheritance; lxml has 1.0.
    "http://www.w3.org/2006/12/xml-c14n11": (False, False),
    EXC_C14N: (True, False),
    EXC_C14N + "WithComments": (True, True),
}
DIGESTS = {
    DS + "sha1": "sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
DIGEST_URI = {v: k for k, v in DIGESTS.items()}
MORE = "http://www.w3.org/2001/04/xmldsig-more#"
MGF1 = "http://www.w3.org/2007/05/xmldsig-more#"
SIGNATURES = {  # URI -> (family, hash)
    DS + "rsa-sha1": ("rsa-pkcs1", "sha1"),
    MORE + "rsa-sha256": ("rsa-pkcs1", "sha256"), MORE + "rsa-sha384": ("rsa-pkcs1", "sha384"),
    MORE + "rsa-sha512": ("rsa-pkcs1", "sha512"),
    MGF1 + "sha256-rsa-MGF1": ("rsa-pss", "sha256"), MGF1 + "sha384-rsa-MGF1": ("rsa-pss", "sha384"),
    MGF1 + "sha512-rsa-MGF1": ("rsa-pss", "sha512"),
    MORE + "ecdsa-sha1": ("ecdsa", "sha1"),
    MORE + "ecdsa-sha256": ("ecdsa", "sha256"), MORE + "ecdsa-sha384": ("ecdsa", "sha384"),
    MORE + "ecdsa-sha512": ("ecdsa", "sha512"),
}
SIGNATURE_URI = {v: k for k, v in SIGNATURES.items()}


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def c14n(el: Any, exclusive: bool = True, with_comments: bool = False) -> bytes:
    return bytes(etree.tostring(el, method="c14n", exclusive=exclusive, with_comments=with_comments))


class _HashWriter:
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
    signature.tail = None
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(signature)
    try:
        hasher = _HashWriter(hash_name)
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


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- signing -------------------------------------------------------------------------------------------

@dataclass
class SigningRequest:
    scheme: str  # Kyso's scheme name, e.g. rsa-pkcs1-sha256, rsa-pss-sha256, ecdsa-sha256
    certificate_der: bytes
    chain_der: tuple[bytes, ...]
    sign: Callable[[bytes], bytes]  # bytes to sign -> signature (ECDSA: DER, as the KeyStore returns)
    xades: bool = False
    timestamp: Callable[[bytes], bytes] | None = None  # data -> RFC 3161 token (XAdES B-T)
    signing_time: dt.datetime | None = None
    # Content signed alongside the document, in a ds:Object referenced by Id (for edXML, the
    # digest of each attachment, so that a verifier can name the one that changed).
    extra_object: Any = None
    # Wraps the writer that feeds the whole document's canonical form into its digest (see
    # signer.edxml.Expander: attachments kept out of the tree).
    expand: Callable[[Callable[[bytes], Any]], Any] | None = None


def _raw_ecdsa(der: bytes, certificate_der: bytes) -> bytes:
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    size = (cx509.load_der_x509_certificate(certificate_der).public_key().key_size + 7) // 8  # type: ignore[union-attr]
    r, s = decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign_enveloped(root: Any, parent: Any, req: SigningRequest) -> Any:
    """Append an enveloped ds:Signature to ``parent`` (inside the document of ``root``) and
    return it. The whole document except the signature is signed."""
    family, hash_name = req.scheme.rsplit("-", 1)
    sig_id = "sig-" + uuid.uuid4().hex
    E = ElementMaker(namespace=DS, nsmap={"ds": DS})  # noqa: N806 - lxml's builder idiom
    signature = E.Signature(Id=sig_id)
    signed_info = E.SignedInfo(E.CanonicalizationMethod(Algorithm=EXC_C14N),
                               E.SignatureMethod(Algorithm=SIGNATURE_URI[(family, hash_name)]))
    reference = E.Reference(E.Transforms(E.Transform(Algorithm=ENVELOPED), E.Transform(Algorithm=EXC_C14N)),
                            E.DigestMethod(Algorithm=DIGEST_URI[hash_name]), E.DigestValue(""), URI="")
    signed_info.append(reference)
    signature.append(signed_info)
    signature.append(E.SignatureValue(""))
    signature.append(E.KeyInfo(E.X509Data(*[E.X509Certificate(_b64(der))
                                            for der in (req.certificate_der, *req.chain_der)])))
    props_ref = None
    if req.xades:
        props_id = "xades-" + uuid.uuid4().hex
        signature.append(E.Object(_qualifying_properties(req, sig_id, props_id, hash_name)))
        props_ref = E.Reference(E.Transforms(E.Transform(Algorithm=EXC_C14N)),
                                E.DigestMethod(Algorithm=DIGEST_URI[hash_name]), E.DigestValue(""),
                                URI="#" + props_id, Type=SIGNED_PROPS_TYPE)
        signed_info.append(props_ref)
    extra_ref = extra_object = None
    if req.extra_object is not None:
        extra_id = "obj-" + uuid.uuid4().hex
        extra_object = E.Object(req.extra_object, Id=extra_id)
        signature.append(extra_object)
        extra_ref = E.Reference(E.Transforms(E.Transform(Algorithm=EXC_C14N)),
                                E.DigestMethod(Algorithm=DIGEST_URI[hash_name]), E.DigestValue(""), URI="#" + extra_id)
        signed_info.append(extra_ref)
    parent.append(signature)
    reference.find(_q(DS, "DigestValue")).text = _b64(enveloped_digest(root, signature, hash_name, True,
                                                                       req.expand))
    if extra_ref is not None:
        extra_ref.find(_q(DS, "DigestValue")).text = _b64(_digest(hash_name, c14n(extra_object)))
    if props_ref is not None:
        props = signature.find(f".//{{{XADES}}}SignedProperties")
        props_ref.find(_q(DS, "DigestValue")).text = _b64(_digest(hash_name, c14n(props)))
    value = req.sign(c14n(signed_info))
    if family == "ecdsa":
        value = _raw_ecdsa(value, req.certificate_der)
    sig_value = signature.find(_q(DS, "SignatureValue"))
    sig_value.text = _b64(value)
    if req.xades and req.timestamp is not None:
        token = req.timestamp(c14n(sig_value))
        X = ElementMaker(namespace=XADES, nsmap={"xades": XADES})  # noqa: N806
        qp = signature.find(f".//{{{XADES}}}QualifyingProperties")
        qp.append(X.UnsignedProperties(X.UnsignedSignatureProperties(X.SignatureTimeStamp(
            E.CanonicalizationMethod(Algorithm=EXC_C14N), X.EncapsulatedTimeStamp(_b64(token))))))
    return signature


def _qualifying_properties(req: SigningRequest, sig_id: str, props_id: str, hash_name: str) -> Any:
    from asn1crypto import tsp, x509

    cert = x509.Certificate.load(req.certificate_der)
    X = ElementMaker(namespace=XADES, nsmap={"xades": XADES, "ds": DS})  # noqa: N806
    E = ElementMaker(namespace=DS, nsmap={"ds": DS})  # noqa: N806
    when = (req.signing_time or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    issuer_serial = tsp.IssuerSerial({"issuer": [x509.GeneralName({"directory_name": cert.issuer})],
                                      "serial_number": cert.serial_number}).dump()
    return X.QualifyingProperties(
        X.SignedProperties(
            X.SignedSignatureProperties(
                X.SigningTime(when.isoformat().replace("+00:00", "Z")),
                X.SigningCertificateV2(X.Cert(
                    X.CertDigest(E.DigestMethod(Algorithm=DIGEST_URI[hash_name]),
                                 E.DigestValue(_b64(_digest(hash_name, req.certificate_der)))),
                    X.IssuerSerialV2(_b64(issuer_serial))))),
            Id=props_id),
        Target="#" + sig_id)


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
    format_problems: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    # What Kyso could not check (detached data not given, an unsupported transform), as
    # (English, Vietnamese) sentences: the signature is then never a pass.
    unverifiable: list[tuple[str, str]] = field(default_factory=list)
    signing_time: dt.datetime | None = None
    signed_properties: Any = None  # the SignedProperties element a reference covers
    timestamp_token: bytes | None = None
    timestamp_data: bytes | None = None


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
    try:
        _check(root, signature, result, external or {})
    except (ValueError, TypeError, KeyError, AttributeError, etree.Error) as exc:
        result.format_problems.append(f"the signature cannot be read ({type(exc).__name__})")
        result.signature_valid = result.digests_valid = False
    return result


def _check(root: Any, signature: Any, result: XmlSignatureCheck, external: Mapping[str, bytes]) -> None:
    signed_infos = _children(signature, "SignedInfo")
    values = _children(signature, "SignatureValue")
    if len(signed_infos) != 1 or len(values) != 1:
        result.format_problems.append("a signature needs exactly one SignedInfo and one SignatureValue")
        return
    signed_info = signed_infos[0]
    canon = _child(signed_info, "CanonicalizationMethod").get("Algorithm")
    method = _child(signed_info, "SignatureMethod").get("Algorithm")
    if canon not in C14N:
        result.format_problems.append(f"unknown canonicalisation {canon}")
        return
    if method not in SIGNATURES:
        result.format_problems.append(f"unsupported signature algorithm {method}")
        return
    family, hash_name = SIGNATURES[method]
    if hash_name == "sha1":
        result.weak_algorithms.append(f"signature {method}")
    certs = [_text_b64(c) for c in signature.iter(_q(etree.QName(signature).namespace, "X509Certificate")
                                                  if etree.QName(signature).namespace else "X509Certificate")]
    if not certs:
        result.format_problems.append("no certificate in KeyInfo/X509Data")
        return
    ids = _ids(root)
    objects = _children(signature, "Object")
    targets: set[int] = set()
    digests_ok = True
    references = _children(signed_info, "Reference")
    if not references:
        result.format_problems.append("a signature with no reference signs nothing")
        return
    for ref in references:
        uri = ref.get("URI")
        transforms = [t.get("Algorithm") for t in _children(_child(ref, "Transforms"), "Transform")] \
            if _child(ref, "Transforms") is not None else []
        digest_uri = _child(ref, "DigestMethod").get("Algorithm")
        if digest_uri not in DIGESTS:
            result.format_problems.append(f"unsupported digest {digest_uri}")
            return
        if DIGESTS[digest_uri] == "sha1":
            result.weak_algorithms.append(f"digest {digest_uri}")
        if any(t not in C14N and t != ENVELOPED for t in transforms):
            result.format_problems.append("a reference uses a transform other than enveloped-signature and C14N")
            return
        exclusive, comments = C14N.get(next((t for t in transforms if t in C14N), ""), (False, False))
        if uri == "":
            if ENVELOPED not in transforms:
                result.format_problems.append('URI="" without the enveloped-signature transform')
                return
            data = None  # a same-document URI="" excludes comments
            result.covers_whole_document = True
            result.covered.append("the whole document except this signature")
        elif uri is not None and uri.startswith("#"):
            matches = ids.get(uri[1:], [])
            if len(matches) != 1:
                result.format_problems.append(f"reference {uri} names {len(matches)} elements")
                return
            target = matches[0]
            owner = next((o for o in objects if target is o or any(target is d for d in o.iter())), None)
            if owner is None:
                result.format_problems.append(f"reference {uri} points outside this signature's Object")
                return
            targets.add(id(target))
            if _name(target) == "SignedProperties":
                if result.signed_properties is not None:
                    result.format_problems.append("SignedProperties is referenced twice")
                    return
                result.signed_properties = target
            data = c14n(target, exclusive, comments)
            result.covered.append(_name(target))
        else:
            name = external_key(uri) if uri is not None else None
            if name is None or name not in external:
                result.unverifiable.append(
                    (f"detached data not given: {name}", f"không có dữ liệu tách rời được ký: {name}") if name else
                    ("a reference without a URI: its data cannot be found",
                     "một tham chiếu không có URI: không tìm được dữ liệu được ký"))
                continue
            data = external[name]
            if transforms:  # C14N of a detached XML document
                from signer import xmlsafe

                data = c14n(xmlsafe.parse(data), exclusive, comments)
            result.covered.append(name)
        expected = _text_b64(_child(ref, "DigestValue"))
        got = enveloped_digest(root, signature, DIGESTS[digest_uri], exclusive) if data is None else \
            _digest(DIGESTS[digest_uri], data)
        if got != expected:
            digests_ok = False
            result.changed.append(uri or "the document")
    # Unsigned content travelling inside the signature: XAdES unsigned properties are
    # allowed, anything else (a second SignedProperties, a copy of the header) is an
    # unsigned claim dressed as signed.
    if any(_unsigned_claims(obj, targets) for obj in objects):
        result.format_problems.append("an Object in the signature holds content no reference covers")
    if len(signature.findall(f".//{{{XADES}}}SignedProperties")) > 1:
        result.format_problems.append("the signature holds more than one SignedProperties")
    result.digests_valid = digests_ok
    result.certificate_der, result.other_certs = _leaf(certs)
    sig_bytes = _text_b64(values[0])
    exclusive, comments = C14N[canon]
    result.signature_valid = _verify_value(result.certificate_der, family, hash_name,
                                           c14n(signed_info, exclusive, comments), sig_bytes)
    _xades(signature, result, hash_name)


def _unsigned_claims(obj: Any, targets: set[int]) -> bool:
    """Whether an Object holds content outside the references other than unsigned XAdES
    properties."""
    if id(obj) in targets:
        return False
    for child in obj:
        if not isinstance(child.tag, str) or id(child) in targets:
            continue
        if _name(child) == "QualifyingProperties" and all(
                id(c) in targets or _name(c) == "UnsignedProperties" for c in child if isinstance(c.tag, str)):
            continue
        return True
    return False


def _leaf(certs: list[bytes]) -> tuple[bytes, list[bytes]]:
    """The certificate that issued none of the others is the signer's."""
    from asn1crypto import x509

    parsed = [x509.Certificate.load(c) for c in certs]
    issuers = {c.issuer.dump() for c in parsed}
    for cert, der in zip(parsed, certs, strict=True):
        if cert.subject.dump() not in issuers:
            return der, [d for d in certs if d is not der]
    return certs[0], certs[1:]


def _verify_value(cert_der: bytes, family: str, hash_name: str, data: bytes, value: bytes) -> bool:
    from cryptography import x509 as cx509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    key = cx509.load_der_x509_certificate(cert_der).public_key()
    algos: dict[str, hashes.HashAlgorithm] = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(),  # noqa: S303 - legacy input, reported
                                              "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
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
    digest = props.find(f".//{{{XADES}}}CertDigest")
    if digest is not None and result.certificate_der is not None:
        algo = DIGESTS.get(digest.find(_q(DS, "DigestMethod")).get("Algorithm"), hash_name)
        if _digest(algo, result.certificate_der) != _text_b64(digest.find(_q(DS, "DigestValue"))):
            result.format_problems.append("the signing certificate does not match SigningCertificateV2")
    stamp = signature.find(f".//{{{XADES}}}SignatureTimeStamp/{{{XADES}}}EncapsulatedTimeStamp")
    if stamp is not None:
        result.timestamp_token = _text_b64(stamp)
        result.timestamp_data = c14n(_children(signature, "SignatureValue")[0])
