"""Test helpers: CSRs from software keys (tests only; the service never holds a private key)."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def software_key(kind: str = "ec-p256") -> Any:
    if kind.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    curve = {"ec-p256": ec.SECP256R1(), "ec-p384": ec.SECP384R1(), "ec-p192": ec.SECP192R1()}[kind]
    return ec.generate_private_key(curve)


def make_csr(kind: str = "ec-p256", *, cn: str = "ignored by the CA", ask_ca: bool = False,
             extra_eku: bool = False, key: Any = None) -> str:
    key = key or software_key(kind)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if ask_ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    if extra_eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CODE_SIGNING]),
            critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def tamper_csr_signature(pem_text: str) -> str:
    """Flip one bit in the CSR's signature: the structure parses, the proof of possession fails."""
    import base64

    lines = pem_text.strip().splitlines()
    der = bytearray(base64.b64decode("".join(lines[1:-1])))
    der[-5] ^= 0x01
    body = base64.b64encode(bytes(der)).decode()
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(
        body[i:i + 64] for i in range(0, len(body), 64)) + "\n-----END CERTIFICATE REQUEST-----\n"


def csr_with_spki(key: Any, spki_der: bytes) -> str:
    """A CSR signed by ``key`` that carries ``spki_der`` as is (e.g. another encoding of the
    key's public key, which the cryptography builder would normalise)."""
    from asn1crypto import csr as asn1_csr
    from asn1crypto import keys as asn1_keys
    from asn1crypto import pem as asn1_pem
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.asymmetric import padding

    info = asn1_csr.CertificationRequestInfo({
        "version": "v1", "subject": asn1_x509.Name.build({"common_name": "ignored by the CA"}),
        "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki_der), "attributes": []})
    if isinstance(key, rsa.RSAPrivateKey):
        signature, algorithm = key.sign(info.dump(), padding.PKCS1v15(), hashes.SHA256()), "sha256_rsa"
    else:
        signature, algorithm = key.sign(info.dump(), ec.ECDSA(hashes.SHA256())), "sha256_ecdsa"
    req = asn1_csr.CertificationRequest({"certification_request_info": info,
                                         "signature_algorithm": {"algorithm": algorithm}, "signature": signature})
    return bytes(asn1_pem.armor("CERTIFICATE REQUEST", req.dump())).decode()
