"""The legacy SHA-1 PDF signature formats (/adbe.x509.rsa_sha1 and /adbe.pkcs7.sha1): checked,
and never TOTAL-PASSED."""

from __future__ import annotations

import asyncio
from typing import Any

from asn1crypto import x509

from verification.indication import Indication
from verification.pdf_checks import unanalysed_problem
from verification.report import SignatureReport, cert_name, iso, met_certificates, summaries
from verification.verdict import signature_report, unprocessable_key

_WEAK_EN = ("legacy signature format {}: the document is digested with SHA-1, which no longer proves that it was not "
            "changed")


_WEAK_VI = ("định dạng chữ ký cũ {}: tài liệu được băm bằng SHA-1, thuật toán không còn đủ an toàn để chứng minh tài "
            "liệu không bị thay đổi")


def _weak(report: SignatureReport, subfilter: str) -> SignatureReport:
    """A legacy SHA-1 signature: the weak algorithm is a finding, and a signature that would
    otherwise pass (or only lacks a trusted chain) is INDETERMINATE, never TOTAL-PASSED."""
    from verification.pdf_checks import Problem

    weak = Problem("CRYPTO_CONSTRAINTS_FAILURE_NO_POE", _WEAK_EN.format(subfilter), _WEAK_VI.format(subfilter))
    report.problems.append(weak.to_json())
    if report.indication != Indication.TOTAL_FAILED:
        report.indication, report.sub_indication = Indication.INDETERMINATE, weak.sub_indication
        report.summary_en, report.summary_vi = summaries(Indication.INDETERMINATE, weak.sub_indication, report.signer,
                                                          report.claimed_signing_time, weak)
    return report


def x509_rsa_sha1(data: bytes, field_name: str | None, sig_object: Any, vc: Any) -> SignatureReport:
    """/adbe.x509.rsa_sha1 (ISO 32000-1, 12.8.3.2): /Contents is a DER OCTET STRING holding a
    PKCS#1 v1.5 RSA signature over the SHA-1 digest of the byte range, and /Cert the signer's
    certificate first, then others. Integrity and signature value are one check here."""
    from asn1crypto import core as asn1_core
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from pyhanko.sign.validation.pdf_embedded import extract_contents
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator.errors import PathBuildingError, RevokedError, ValidationError

    from verification.public_keys import UnprocessableKey, load

    raw = sig_object.get("/Cert")
    ders = [bytes(c.original_bytes if hasattr(c, "original_bytes") else c)
            for c in (raw if isinstance(raw, list) else [raw])]
    cert = x509.Certificate.load(ders[0])
    met_certificates().append(cert)
    # Not rstrip(b"\x00") of the padding: it would also take a signature value's own last zero
    # byte; a non-strict load ignores what follows the OCTET STRING.
    value = asn1_core.OctetString.load(extract_contents(sig_object), strict=False).native
    a, b, c = (int(v) for v in list(sig_object.raw_get("/ByteRange"))[1:])
    signed = data[:a] + data[b:b + c]
    try:
        key = load(cert.public_key)  # once: the same loader tells an unprocessable key
    except UnprocessableKey as exc:
        return unprocessable_key(field_name, exc.problem(), cert)
    try:
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidSignature
        key.verify(value, signed, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - legacy format, reported weak
        valid = True
    except InvalidSignature:
        valid = False
    sub: str | None = None
    path = None
    try:
        validator = CertificateValidator(cert, intermediate_certs=[x509.Certificate.load(d) for d in ders[1:]],
                                         validation_context=vc)
        path = asyncio.run(validator.async_validate_usage(set()))
    except PathBuildingError:
        sub = "NO_CERTIFICATE_CHAIN_FOUND"
    except RevokedError:
        sub = "REVOKED_NO_POE"
    except ValidationError:
        sub = "CHAIN_CONSTRAINTS_FAILURE"
    claimed = None
    if (when := sig_object.get("/M")) is not None:
        from pyhanko.pdf_utils.generic import parse_pdf_date
        from pyhanko.pdf_utils.misc import PdfReadError

        try:
            claimed = parse_pdf_date(str(when))
        except (PdfReadError, ValueError):
            claimed = None
    indication = (Indication.TOTAL_FAILED if not valid
                  else Indication.INDETERMINATE if sub else Indication.TOTAL_PASSED)
    sub = "SIG_CRYPTO_FAILURE" if not valid else sub
    signer = cert_name(cert)
    en, vi = summaries(indication, sub, signer, iso(claimed))
    whole = b + c == len(data)
    report = SignatureReport(
        kind="pdf", field=field_name, signer=signer, agency_code=None,
        chain=[cert_name(x) for x in path] if path is not None else [signer], claimed_signing_time=iso(claimed),
        timestamp_time=None, level="X.509 RSA-SHA1", integrity=valid, signature_valid=valid, trusted=sub is None,
        revocation={"revoked": sub == "REVOKED_NO_POE"},
        coverage={"coverage": "ENTIRE_FILE" if whole else "ENTIRE_REVISION", "modification_level": None,
                  "docmdp_ok": None, "changed_form_fields": [], "covers_whole_document": whole,
                  "changes_after_signing_allowed": whole},
        indication=indication, sub_indication=sub, summary_en=en, summary_vi=vi,
        signer_serial=format(cert.serial_number, "x"))
    if not whole and (unanalysed := unanalysed_problem(None)) is not None:
        report.problems.append(unanalysed.to_json())
    return _weak(report, "adbe.x509.rsa_sha1")


def legacy_pdf(sig: Any, vc: Any) -> SignatureReport:
    """/adbe.pkcs7.sha1 (ISO 32000-1, 12.8.3.3.1): the CMS signs, as its encapsulated content,
    the SHA-1 digest of the byte range. Integrity is that digest; the signature value is
    checked over it; SHA-1 no longer proves anything, so an otherwise good signature is
    INDETERMINATE with the weak algorithm named, never TOTAL-PASSED."""
    import types

    from asn1crypto import cms as asn1_cms
    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
    from pyhanko.sign.general import byte_range_digest
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
    from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
    from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy

    econtent = sig.signed_data["encap_content_info"]["content"].native
    _, digest = byte_range_digest(sig.reader.stream, sig.byte_range, "sha1")
    sig.compute_integrity_info(DEFAULT_DIFF_POLICY)
    detached = asn1_cms.SignedData.load(sig.signed_data.untag().dump())
    detached["encap_content_info"] = {"content_type": "data"}
    lenient = CMSAlgorithmUsagePolicy.lift_policy(DisallowWeakAlgorithmsPolicy(weak_hash_algos=frozenset()))
    checked = asyncio.run(async_validate_detached_cms(econtent or b"", detached, signer_validation_context=vc,
                                                      algorithm_policy=lenient))
    # The CMS status, with integrity meaning what it means here: the content signed is the
    # digest of the byte range.
    names = ("signing_cert", "signer_reported_dt", "valid", "trusted", "revoked", "revocation_details",
             "trust_problem_indic", "validation_path")
    status = types.SimpleNamespace(**{n: getattr(checked, n, None) for n in names}, timestamp_validity=None,
                                   intact=bool(checked.intact and econtent == digest))
    modification = getattr(sig.diff_result, "modification_level", None)
    allowed = modification is None or modification.name in ("NONE", "LTA_UPDATES", "FORM_FILLING")
    covered = sig.coverage.name if sig.coverage is not None else None
    coverage: dict[str, Any] = {
        "coverage": covered, "modification_level": getattr(modification, "name", None), "docmdp_ok": allowed,
        "changed_form_fields": [], "covers_whole_document": covered == "ENTIRE_FILE",
        "changes_after_signing_allowed": allowed}
    return _weak(signature_report(status, "pdf", sig.field_name, "PKCS#7 (SHA-1)", coverage, pdf_ok=allowed),
                 "adbe.pkcs7.sha1")
