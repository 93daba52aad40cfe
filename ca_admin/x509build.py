"""Certificates built with asn1crypto and signed in the HSM.

The to-be-signed structure is built here, its DER signed by the key store, and the
certificate assembled; ``cryptography`` is only used afterwards to check the result.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from asn1crypto import core, keys, x509

from hsm import KeyStore, SignatureScheme

UTC_TIME_LIMIT = dt.datetime(2050, 1, 1, tzinfo=dt.UTC)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def build_name(
    *,
    common_name: str,
    organization: str = "",
    organizational_unit: str = "",
    locality: str = "",
    country: str = "VN",
) -> x509.Name:
    """An X.500 name; every attribute but the country as UTF8String, NFC-normalised."""
    attrs: dict[str, str] = {}
    if country:
        attrs["country_name"] = country
    if locality:
        attrs["locality_name"] = nfc(locality)
    if organization:
        attrs["organization_name"] = nfc(organization)
    if organizational_unit:
        attrs["organizational_unit_name"] = nfc(organizational_unit)
    attrs["common_name"] = nfc(common_name)
    return x509.Name.build(attrs, use_printable=False)


def random_serial() -> int:
    """A positive serial of at most 20 octets with 159 bits from the CSPRNG."""
    while True:
        value = secrets.randbits(159)
        if value >= 1 << 64:  # at least 64 bits of entropy in practice, never zero
            return value


def key_identifier(spki_der: bytes) -> bytes:
    """RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING value."""
    info = keys.PublicKeyInfo.load(spki_der)
    return hashlib.sha1(info["public_key"].contents[1:]).digest()  # noqa: S324 - RFC 5280 4.2.1.2


def uri(url: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=url)


def x509_time(value: dt.datetime) -> x509.Time:
    value = value.astimezone(dt.UTC).replace(microsecond=0)
    if value < UTC_TIME_LIMIT:
        return x509.Time({"utc_time": value})
    return x509.Time({"general_time": value})


def scheme_for(spki_der: bytes, family: str, hash_name: str) -> SignatureScheme:
    """The signature scheme a key signs with: ECDSA for EC keys, else the configured RSA one."""
    algorithm = keys.PublicKeyInfo.load(spki_der).algorithm
    if algorithm == "ec":
        return SignatureScheme(f"ecdsa-{hash_name}")
    if family not in {"rsa-pkcs1", "rsa-pss"}:
        family = "rsa-pkcs1"
    return SignatureScheme(f"{family}-{hash_name}")


@dataclass(frozen=True)
class CaCertificateRequest:
    subject: x509.Name
    subject_spki_der: bytes
    not_before: dt.datetime
    not_after: dt.datetime
    path_length: int | None
    issuer: x509.Name | None = None  # None: self-signed
    issuer_spki_der: bytes | None = None
    crl_urls: tuple[str, ...] = ()
    ca_issuer_urls: tuple[str, ...] = ()


def build_ca_certificate(
    keystore: KeyStore,
    signer_label: str,
    scheme: SignatureScheme,
    request: CaCertificateRequest,
) -> x509.Certificate:
    """A CA certificate (self-signed when ``request.issuer`` is None), signed in the HSM."""
    issuer = request.issuer or request.subject
    issuer_spki = request.issuer_spki_der or request.subject_spki_der
    basic: dict[str, object] = {"ca": True}
    if request.path_length is not None:
        basic["path_len_constraint"] = request.path_length
    extensions = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": basic},
        {
            "extn_id": "key_usage",
            "critical": True,
            "extn_value": x509.KeyUsage({"key_cert_sign", "crl_sign"}),
        },
        {
            "extn_id": "key_identifier",
            "critical": False,
            "extn_value": core.OctetString(key_identifier(request.subject_spki_der)),
        },
    ]
    if request.issuer is not None:
        extensions.append(
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": key_identifier(issuer_spki)},
            }
        )
    if request.crl_urls:
        extensions.append(
            {
                "extn_id": "crl_distribution_points",
                "critical": False,
                "extn_value": [
                    {
                        "distribution_point": {
                            "full_name": [
                                uri(url) for url in request.crl_urls
                            ]
                        }
                    }
                ],
            }
        )
    if request.ca_issuer_urls:
        extensions.append(
            {
                "extn_id": "authority_information_access",
                "critical": False,
                "extn_value": [
                    {
                        "access_method": "ca_issuers",
                        "access_location": uri(url),
                    }
                    for url in request.ca_issuer_urls
                ],
            }
        )
    return sign_certificate(
        keystore, signer_label, scheme,
        subject=request.subject, subject_spki_der=request.subject_spki_der,
        issuer=issuer, issuer_spki_der=issuer_spki,
        not_before=request.not_before, not_after=request.not_after,
        extensions=extensions, serial=random_serial(),
    )


def sign_certificate(
    keystore: KeyStore,
    signer_label: str,
    scheme: SignatureScheme,
    *,
    subject: x509.Name,
    subject_spki_der: bytes,
    issuer: x509.Name,
    issuer_spki_der: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
    extensions: list[Any],
    serial: int,
) -> x509.Certificate:
    """Build the TBSCertificate, sign its DER in the HSM, assemble, and check the signature."""
    sig_alg = scheme.signature_algorithm()
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": sig_alg,
            "issuer": issuer,
            "validity": {"not_before": x509_time(not_before), "not_after": x509_time(not_after)},
            "subject": subject,
            "subject_public_key_info": keys.PublicKeyInfo.load(subject_spki_der),
            "extensions": extensions,
        }
    )
    tbs_der = tbs.dump()
    signature = keystore.sign(signer_label, tbs_der, scheme)
    # Assemble from the exact bytes that were signed (no re-encoding of the TBS), and check
    # the signature in software before anything is stored or returned.
    from hsm.keystore import verify_signature

    verify_signature(issuer_spki_der, tbs_der, signature, scheme)
    return x509.Certificate.load(der_sequence(tbs_der + sig_alg.dump() + bit_string(signature)))


def der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der_sequence(body: bytes) -> bytes:
    return b"\x30" + der_length(len(body)) + body


def bit_string(data: bytes) -> bytes:
    return b"\x03" + der_length(len(data) + 1) + b"\x00" + data


def check_signature(cert: x509.Certificate, issuer_spki_der: bytes, scheme: SignatureScheme) -> None:
    """Verify in software what the HSM signed, before anything is stored or returned."""
    from hsm.keystore import verify_signature

    verify_signature(
        issuer_spki_der, cert["tbs_certificate"].dump(), cert["signature_value"].native, scheme
    )
