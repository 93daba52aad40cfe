"""CMS SignedData (RFC 5652) assembled from DER parts, signed through the HSM.

Building these structures with asn1crypto per signature re-encodes every embedded
certificate and cost most of a time stamp; here what a credential's signatures share (the
signer identifier, algorithms, ESS signing-certificate-v2, the certificates) is encoded once
and each signature only adds its own attributes. Used by the TSA (RFC 3161 tokens) and by
CAdES signing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core, x509

from ca_admin.facade import der_length, der_sequence
from hsm import SignatureScheme

OID_SIGNED_DATA = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()


def tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + der_length(len(body)) + body


def signer_algorithm(scheme: SignatureScheme | str) -> cms.SignedDigestAlgorithm:
    s = SignatureScheme(scheme)
    if s.family == "rsa-pkcs1":  # in CMS the signature algorithm is plain rsaEncryption
        return cms.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"})
    return cms.SignedDigestAlgorithm(s.signature_algorithm().native)


@dataclass(frozen=True)
class SignerPrefab:
    """What every signature of one credential shares, DER-encoded once."""

    scheme: SignatureScheme
    digest_name: str
    digest_algorithm: bytes
    signature_algorithm: bytes
    sid: bytes
    signing_certificate_attr: bytes
    certificates: bytes  # [0] IMPLICIT SET OF Certificate


_PREFABS: dict[tuple[bytes, tuple[bytes, ...], str], SignerPrefab] = {}


def prefab(certificate_der: bytes, chain_der: Sequence[bytes], scheme: SignatureScheme) -> SignerPrefab:
    key = (certificate_der, tuple(chain_der), scheme.value)
    found = _PREFABS.get(key)
    if found is None:
        cert = x509.Certificate.load(certificate_der)
        digest_name = scheme.hash_name  # the SignerInfo digest is the signature's hash
        signing_certificate = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{
            "certs": [{"cert_hash": hashlib.sha256(certificate_der).digest(),
                       "issuer_serial": {"issuer": [x509.GeneralName(name="directory_name", value=cert.issuer)],
                                         "serial_number": cert.serial_number}}]}]})
        found = SignerPrefab(
            scheme=scheme,
            digest_name=digest_name,
            digest_algorithm=algos.DigestAlgorithm({"algorithm": digest_name}).dump(),
            signature_algorithm=signer_algorithm(scheme).dump(),
            sid=cms.IssuerAndSerialNumber({"issuer": cert.issuer, "serial_number": cert.serial_number}).dump(),
            signing_certificate_attr=signing_certificate.dump(),
            certificates=tlv(0xA0, certificate_der + b"".join(chain_der)),
        )
        if len(_PREFABS) > 64:
            _PREFABS.clear()
        _PREFABS[key] = found
    return found


def attribute(kind: str, value: object) -> bytes:
    return bytes(cms.CMSAttribute({"type": kind, "values": [value]}).dump())


def signed_data(pre: SignerPrefab, sign: Callable[[bytes], bytes], *, content_type: str,
                content_digest: bytes, encapsulated: bytes | None, signing_time: dt.datetime | None,
                with_certificates: bool = True,
                unsigned_attrs: Callable[[bytes], list[bytes]] | None = None) -> bytes:
    """A ContentInfo holding SignedData with one SignerInfo.

    ``content_digest`` is the digest (with the prefab's digest algorithm) of the content;
    ``encapsulated`` is the content itself for an attached signature, None for detached.
    ``sign`` signs the DER of the signed attributes. ``unsigned_attrs``, given the signature
    value, returns encoded unsigned attributes (a signature time stamp)."""
    attrs = [attribute("content_type", content_type), attribute("message_digest", content_digest),
             pre.signing_certificate_attr]
    if signing_time is not None:
        attrs.append(attribute("signing_time", cms.Time({"utc_time": signing_time.replace(microsecond=0)})))
    body = b"".join(sorted(attrs))  # DER: a SET OF is sorted by its elements' encodings
    signature = sign(tlv(0x31, body))
    unsigned = b""
    if unsigned_attrs is not None:
        extra = unsigned_attrs(signature)
        if extra:
            unsigned = tlv(0xA1, b"".join(sorted(extra)))
    signer_info = der_sequence(b"\x02\x01\x01" + pre.sid + pre.digest_algorithm + tlv(0xA0, body)
                               + pre.signature_algorithm + tlv(0x04, signature) + unsigned)
    oid = cms.ContentType(content_type)
    encap = der_sequence(oid.dump() + (tlv(0xA0, tlv(0x04, encapsulated)) if encapsulated is not None else b""))
    version = b"\x02\x01\x01" if oid.native == "data" else b"\x02\x01\x03"  # RFC 5652, 5.1
    data = der_sequence(version + tlv(0x31, pre.digest_algorithm) + encap
                        + (pre.certificates if with_certificates else b"") + tlv(0x31, signer_info))
    return der_sequence(OID_SIGNED_DATA + tlv(0xA0, data))
