"""A certificate's public key, as the signature checks load it.

`cryptography` loads well-formed keys of the usual algorithms and curves only. Signing cards
of the past carry others: an RSA modulus encoded as a negative number (Estonian ID-card test
certificates of 2013, in digidoc4j's test containers), an elliptic-curve key with its curve
written out (explicit parameters), a curve or an algorithm it does not implement (GOST, say).
A key that cannot be loaded proves nothing about the signature: the check reports that the
certificate's key cannot be processed (INDETERMINATE, issue 14, item 5), never that the
signature is malformed or forged; a signed digest that differs from the data's still fails it.
"""

from __future__ import annotations

import re
from typing import Any

from asn1crypto import keys, x509

from verification.pdf_checks import Problem

_OID = re.compile(r"[0-9.]{1,80}")


class UnprocessableKey(Exception):
    """A certificate's public key that `cryptography` cannot load."""

    def __init__(self, what_en: str, what_vi: str) -> None:
        super().__init__(what_en)
        self.what_en, self.what_vi = what_en, what_vi

    def problem(self, whose_en: str = "the signer's certificate",
                whose_vi: str = "chứng thư số của người ký") -> Problem:
        return Problem("FORMAT_FAILURE",
                       f"{whose_en} holds a public key that Kyso cannot process ({self.what_en}), so the signature "
                       "value cannot be checked",
                       f"{whose_vi} chứa khóa công khai mà Kyso không xử lý được ({self.what_vi}) nên không kiểm "
                       "tra được giá trị chữ ký")


def _described(info: keys.PublicKeyInfo) -> tuple[str, str]:
    """The key's kind in words (the certificate's content: only known names or a bare OID)."""
    try:
        algorithm = info["algorithm"]["algorithm"]
        if algorithm.native == "ec":
            params = info["algorithm"]["parameters"]
            if params.name == "specified":
                return ("an elliptic-curve key with explicit curve parameters",
                        "khóa đường cong elliptic ghi tường minh tham số đường cong")
            if params.name == "named":
                curve = str(params.chosen.native)
                curve = curve if _OID.fullmatch(curve) or curve.isidentifier() else "?"
                return (f"an elliptic-curve key on the curve {curve}",
                        f"khóa đường cong elliptic trên đường cong {curve}")
            return "an elliptic-curve key without a curve", "khóa đường cong elliptic không ghi đường cong"
        if algorithm.native == "rsa":
            if info["public_key"].parsed["modulus"].native < 0:
                # DER INTEGER without the leading zero byte: some ID-card certificates of 2011-2014.
                return ("an RSA key whose modulus is encoded as a negative number",
                        "khóa RSA có modulus được mã hóa thành số âm")
            return "an RSA key that cannot be parsed", "khóa RSA không phân tích được"
        name = algorithm.native if algorithm.native != algorithm.dotted else algorithm.dotted
        name = name if _OID.fullmatch(name) or str(name).replace("_", "").isalnum() else "?"
        return f"a key of the algorithm {name}", f"khóa của thuật toán {name}"
    except (ValueError, TypeError, KeyError):
        return "a public key that cannot be parsed", "khóa công khai không phân tích được"


def load(info: keys.PublicKeyInfo) -> Any:
    """The `cryptography` public key of ``info``; UnprocessableKey when it cannot load it."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_public_key(info.dump())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise UnprocessableKey(*_described(info)) from None


def certificate_key(cert_der: bytes) -> Any:
    """The public key of the certificate ``cert_der`` (see load)."""
    return load(x509.Certificate.load(cert_der).public_key)


def key_problem(cert: x509.Certificate, whose_en: str = "the signer's certificate",
                whose_vi: str = "chứng thư số của người ký") -> Problem | None:
    """Why ``cert``'s key cannot be used to check a signature, or None when it loads."""
    try:
        load(cert.public_key)
    except UnprocessableKey as exc:
        return exc.problem(whose_en, whose_vi)
    return None
