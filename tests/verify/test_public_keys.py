"""A signer certificate whose public key `cryptography` cannot load (verification/public_keys.py):
INDETERMINATE saying the key cannot be processed, in every format, never TOTAL-FAILED
(issue 14, item 5). Before, CMS and legacy PDF signatures said "malformed" (TOTAL-FAILED),
and XML "a part of the signature cannot be read"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asn1crypto import keys, x509

from tests.signing.documents import letter_pdf
from tests.verify import attacks
from tests.verify.test_agreement import ForeignCA, _pyhanko_pdf

CORPUS = Path(__file__).parent.parent / "corpus" / "foreign" / "asic" / "digidoc4j"
NO_TRUST: tuple[tuple[bytes, ...], ...] = ((), (), ())

# NIST P-256 written out (SEC 2, 2.4.2), with 2G as its base point: explicit parameters of a
# curve no library names (cryptography 50 loads explicit parameters only when they are a named
# curve's; Estonian ID cards of 2015-2018 carry such certificates). The signer's key stays a
# point of the curve.
_P256 = {
    "p": 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    "a": 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
    "b": 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    "g": bytes.fromhex("047CF27B188D034F7E8A52380304B51AC3C08969E277F21B35A60B48FC47669978"
                       "07775510DB8ED040293D9AC69F7430DBBA7DADE63CE982299E04B79D227873D1"),
    "n": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}


def _explicit(cert: x509.Certificate) -> x509.Certificate:
    """``cert`` with its P-256 key's curve written out, with another base point (its issuer's
    signature no longer matches: the key check comes first, and that is what is tested)."""
    params = keys.ECDomainParameters(name="specified", value=keys.SpecifiedECDomain({
        "version": "ecdpVer1",
        "field_id": {"field_type": "prime_field", "parameters": _P256["p"]},
        "curve": {"a": _P256["a"].to_bytes(32, "big"), "b": _P256["b"].to_bytes(32, "big")},
        "base": _P256["g"], "order": _P256["n"], "cofactor": 1}))
    spki = keys.PublicKeyInfo({"algorithm": {"algorithm": "ec", "parameters": params},
                               "public_key": cert.public_key["public_key"]})
    tbs = cert["tbs_certificate"].copy()
    tbs["subject_public_key_info"] = spki
    return x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": cert["signature_algorithm"],
                             "signature_value": cert["signature_value"]})


def test_the_unloadable_key_is_described(tmp_path: Path) -> None:
    from verification.public_keys import key_problem

    cert = _foreign_signer(tmp_path).signing_cert
    assert key_problem(cert) is None
    problem = key_problem(_explicit(cert))
    assert problem is not None and problem.sub_indication == "FORMAT_FAILURE"
    assert "explicit curve parameters" in problem.en and "tham số đường cong" in problem.vi


def _foreign_signer(d: Path) -> Any:
    return ForeignCA(d).signer()


def _unloadable_signer(d: Path) -> Any:
    """A pyHanko signer whose certificate carries its key with explicit curve parameters (the
    signed attributes name that certificate, as a card's middleware would)."""
    from pyhanko.sign import signers

    signer = _foreign_signer(d)
    return signers.SimpleSigner(signing_cert=_explicit(signer.signing_cert), signing_key=signer.signing_key,
                                cert_registry=signer.cert_registry)


def test_a_cms_signature_by_an_unloadable_key_is_indeterminate(tmp_path: Path) -> None:
    from verification.service import check_with_ders

    doc = b"Cong van so 12/UBND-VP"
    data = attacks.sign_cms(_unloadable_signer(tmp_path), doc)
    report, _ = check_with_ders(data, doc, NO_TRUST, False)
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "FORMAT_FAILURE")
    sig = report.signatures[0]
    assert sig.signer == "Foreign signer"
    assert "public key that Kyso cannot process (an elliptic-curve key with explicit" in sig.summary_en
    assert "khóa công khai mà Kyso không xử lý được" in sig.summary_vi
    # Evidence still wins: the signed digest proves other data changed, whatever the key.
    changed, _ = check_with_ders(data, doc + b"!", NO_TRUST, False)
    assert (changed.indication, changed.sub_indication) == ("TOTAL-FAILED", "HASH_FAILURE")


def test_a_pdf_signature_by_an_unloadable_key_is_indeterminate(tmp_path: Path) -> None:
    from verification.service import check_with_ders

    pdf = _pyhanko_pdf(_unloadable_signer(tmp_path), letter_pdf())
    report, _ = check_with_ders(pdf, None, NO_TRUST, False)
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "FORMAT_FAILURE")
    assert "cannot process (an elliptic-curve key" in report.signatures[0].summary_en
    assert pdf[9:10] == b"%"
    tampered = pdf[:11] + bytes([pdf[11] ^ 1]) + pdf[12:]  # a signed byte of the header's binary comment
    changed, _ = check_with_ders(tampered, None, NO_TRUST, False)
    assert (changed.indication, changed.sub_indication) == ("TOTAL-FAILED", "HASH_FAILURE")


def test_an_xades_signature_by_an_unloadable_key_is_indeterminate() -> None:
    """digidoc4j's KS-18 container: a 2013 Estonian test ID card whose RSA modulus is a
    negative INTEGER."""
    from verification.service import check_with_ders

    report, _ = check_with_ders((CORPUS / "KS-18_lisatudfail.4.asice").read_bytes(), None, NO_TRUST, False)
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "FORMAT_FAILURE")
    sig = report.signatures[0]
    assert sig.signer == "MÄNNIK,MARI-LIIS,47101010033"
    assert "an RSA key whose modulus is encoded as a negative number" in sig.summary_en
    assert "khóa RSA có modulus được mã hóa thành số âm" in sig.summary_vi
    assert sig.coverage["files_not_covered"] == ["test1.txt"]
