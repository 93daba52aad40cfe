"""PKCS#10 requests: parsed, proof of possession checked, and only the key kept."""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import csr as asn1_csr
from asn1crypto import pem
from cryptography import x509 as cx509

from kyso.errors import BadRequest

MAX_CSR_BYTES = 64 * 1024


class CsrMalformed(BadRequest):
    code = "csr-malformed"

    def __init__(self) -> None:
        super().__init__("the CSR is not a PKCS#10 request (PEM or DER)",
                         "CSR không phải yêu cầu PKCS#10 (PEM hoặc DER)")


class CsrSignatureInvalid(BadRequest):
    code = "csr-signature-invalid"

    def __init__(self) -> None:
        super().__init__("the CSR's signature does not verify: no proof of possession of the key",
                         "chữ ký của CSR không hợp lệ: không chứng minh được việc nắm giữ khóa")


@dataclass(frozen=True)
class ParsedCsr:
    der: bytes
    spki_der: bytes
    ignored: tuple[str, ...]  # what the CSR asked for that the profile decides instead


def parse_csr(data: bytes | str) -> ParsedCsr:
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    if not raw or len(raw) > MAX_CSR_BYTES:
        raise CsrMalformed()
    try:
        der = pem.unarmor(raw)[2] if pem.detect(raw) else raw
        req = asn1_csr.CertificationRequest.load(der, strict=True)
        info = req["certification_request_info"]
        spki_der = info["subject_pk_info"].dump()
        ignored = []
        if len(info["subject"].chosen):
            ignored.append("subject")
        for attr in info["attributes"]:
            if attr["type"].native == "extension_request":
                for ext_list in attr["values"]:
                    for ext in ext_list:
                        ignored.append(f"extension:{ext['extn_id'].native}")
        parsed = cx509.load_der_x509_csr(der)
    except Exception:  # noqa: BLE001 - any parse failure is the same error to the caller
        raise CsrMalformed() from None
    try:
        valid = parsed.is_signature_valid
    except Exception:  # noqa: BLE001 - unsupported algorithms cannot prove possession
        valid = False
    if not valid:
        raise CsrSignatureInvalid()
    return ParsedCsr(der, spki_der, tuple(ignored))
