"""Enveloped XML-DSig 1.1 signatures, with XAdES B-B/B-T qualifying properties (ETSI EN 319 132),
made with a key in the HSM: a namespaced ``ds:Signature`` with ``Reference URI=""``, the
enveloped-signature transform and exclusive C14N, SHA-256 or stronger, RSA PKCS#1 v1.5,
RSA-PSS (RFC 6931 MGF1 URIs) or ECDSA, and the chain in ``KeyInfo/X509Data``. The axis
connector signs edXML packages and status messages with it; verification/xmldsig.py checks."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml.builder import ElementMaker

from kyso.xmldsig import (
    DIGEST_URI,
    DS,
    ENVELOPED,
    EXC_C14N,
    SIGNATURE_URI,
    SIGNED_PROPS_TYPE,
    XADES,
    b64,
    c14n,
    digest_of,
    enveloped_digest,
    qname,
)


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
    # axis.building.Expander: attachments kept out of the tree).
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
    signature.append(E.KeyInfo(E.X509Data(*[E.X509Certificate(b64(der))
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
    reference.find(qname(DS, "DigestValue")).text = b64(enveloped_digest(root, signature, hash_name, True,
                                                                       req.expand))
    if extra_ref is not None:
        extra_ref.find(qname(DS, "DigestValue")).text = b64(digest_of(hash_name, c14n(extra_object)))
    if props_ref is not None:
        props = signature.find(f".//{{{XADES}}}SignedProperties")
        props_ref.find(qname(DS, "DigestValue")).text = b64(digest_of(hash_name, c14n(props)))
    value = req.sign(c14n(signed_info))
    if family == "ecdsa":
        value = _raw_ecdsa(value, req.certificate_der)
    sig_value = signature.find(qname(DS, "SignatureValue"))
    sig_value.text = b64(value)
    if req.xades and req.timestamp is not None:
        token = req.timestamp(c14n(sig_value))
        X = ElementMaker(namespace=XADES, nsmap={"xades": XADES})  # noqa: N806
        qp = signature.find(f".//{{{XADES}}}QualifyingProperties")
        qp.append(X.UnsignedProperties(X.UnsignedSignatureProperties(X.SignatureTimeStamp(
            E.CanonicalizationMethod(Algorithm=EXC_C14N), X.EncapsulatedTimeStamp(b64(token))))))
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
                                 E.DigestValue(b64(digest_of(hash_name, req.certificate_der)))),
                    X.IssuerSerialV2(b64(issuer_serial))))),
            Id=props_id),
        Target="#" + sig_id)
