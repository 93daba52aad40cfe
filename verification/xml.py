"""XML signatures (XML-DSig and XAdES; verification/xmldsig.py checks them): each one's report,
with its chain, its time stamp and what it covers."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from asn1crypto import x509

from verification.indication import Indication
from verification.limits import check_signature_count
from verification.report import SignatureReport, cert_name, iso, met_certificates, summaries
from verification.revocation import revoked_from, revoked_when_signed
from verification.verdict import broken, indeterminate, unprocessable_key


def _xml_chain(check: Any, vc: Any) -> tuple[str | None, Any, dict[str, Any]]:
    """(sub-indication or None, validation path, revocation) for an XML signer certificate."""
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator import errors as cv

    cert = x509.Certificate.load(check.certificate_der)
    validator = CertificateValidator(cert, intermediate_certs=[x509.Certificate.load(c) for c in check.other_certs],
                                     validation_context=vc)
    try:
        path = asyncio.run(validator.async_validate_usage(set()))
    except cv.RevokedError as exc:
        revoked_at = getattr(exc, "revocation_dt", None)
        reason = getattr(getattr(exc, "reason", None), "native", None)
        when = revoked_from(cert, revoked_at, reason) if revoked_at is not None else None
        signed = check.signing_time
        sub = "REVOKED" if when is None or revoked_when_signed(cert, when, signed) else "REVOKED_NO_POE"
        return sub, None, {"revoked": True, "date": iso(revoked_at), "reason": reason, "counts_from": iso(when)}
    except (cv.ExpiredError, cv.NotYetValidError):
        return "OUT_OF_BOUNDS_NO_POE", None, {"revoked": False}
    except cv.PathBuildingError:
        return "NO_CERTIFICATE_CHAIN_FOUND", None, {"revoked": False}
    except (cv.PathValidationError, cv.InvalidCertificateError):
        return "CHAIN_CONSTRAINTS_FAILURE", None, {"revoked": False}
    return None, path, {"revoked": False}


def _xml_timestamp(check: Any, vc: Any) -> tuple[bool, dt.datetime | None]:
    from asn1crypto import cms as asn1_cms
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data

    data = check.timestamp_data
    try:
        token = asn1_cms.ContentInfo.load(check.timestamp_token)
        kw = asyncio.run(validate_tst_signed_data(token["content"], vc,
                                                  lambda algo: hashlib.new(algo, data).digest()))
    except (SignatureValidationError, ValueError, TypeError, KeyError):
        return False, None
    ok = bool(kw.get("intact") and kw.get("valid") and kw.get("trust_problem_indic") is None)
    return ok, kw.get("timestamp")


def verify_xml(root: Any, vc: Any, external: Mapping[str, bytes] | None = None,
                found: list[tuple[Any, bool]] | None = None, checks: list[Any] | None = None) -> list[SignatureReport]:
    """Each XML-DSig signature in the document (see verification/xmldsig.py for what is accepted);
    ``external``: the data of detached references, by file name. ``found``: the signatures
    to check (default: all); ``checks``, when given, receives each one's XmlSignatureCheck."""
    from verification import xmldsig
    from verification.pdf_checks import Problem

    out = []
    found = xmldsig.find_signatures(root) if found is None else found
    check_signature_count(len(found))
    for index, (element, namespaced) in enumerate(found, 1):
        check = xmldsig.check(root, element, namespaced, external=external)
        if checks is not None:
            checks.append(check)
        label = element.get("Id") or f"Signature {index}"
        changed_en = ", ".join(c or "the document" for c in check.changed)
        changed_vi = ", ".join(c or "toàn bộ tài liệu" for c in check.changed)
        if check.format_problems:
            out.append(broken(label, Problem(
                "FORMAT_FAILURE", "the XML signature is malformed: " + "; ".join(en for en, _ in check.format_problems),
                "chữ ký XML sai cấu trúc: " + "; ".join(vi for _, vi in check.format_problems)), kind="xml"))
            continue
        if check.key_problem is not None and check.certificate_der is not None and not check.changed:
            out.append(unprocessable_key(label, check.key_problem, x509.Certificate.load(check.certificate_der),
                                          kind="xml"))
            continue
        if check.certificate_der is None or not check.value_checked:
            # Nothing proven either way about the signature value: only a changed digest is evidence.
            if check.changed:
                out.append(broken(label, Problem("HASH_FAILURE", "the signed content changed: " + changed_en,
                                                  "nội dung đã ký bị thay đổi: " + changed_vi), kind="xml"))
                continue
            missing = "SIGNED_DATA_NOT_FOUND" if check.unverifiable else "NO_SIGNING_CERTIFICATE_FOUND"
            reasons = check.unverifiable or [("the signature carries no signing certificate",
                                              "chữ ký không kèm chứng thư số của người ký")]
            why = Problem(missing, "; ".join(en for en, _ in reasons), "; ".join(vi for _, vi in reasons))
            out.append(indeterminate(label, why, kind="xml"))
            continue
        cert = x509.Certificate.load(check.certificate_der)
        met_certificates().append(cert)
        ts_ok, ts_time = _xml_timestamp(check, vc) if check.timestamp_token else (False, None)
        if ts_ok:
            check.signing_time = ts_time
        chain_sub, path, revocation = _xml_chain(check, vc)
        problem = None
        if check.changed:
            indication, sub = Indication.TOTAL_FAILED, "HASH_FAILURE"
            problem = Problem("HASH_FAILURE", "the signed content changed: " + changed_en,
                              "nội dung đã ký bị thay đổi: " + changed_vi)
        elif not check.signature_valid:
            indication, sub = Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
        elif chain_sub == "REVOKED":
            indication, sub = Indication.TOTAL_FAILED, "REVOKED"
        elif check.unverifiable:
            indication, sub = Indication.INDETERMINATE, "SIGNED_DATA_NOT_FOUND"
            problem = Problem(sub, "; ".join(en for en, _vi in check.unverifiable),
                              "; ".join(vi for _en, vi in check.unverifiable))
        elif check.covers_only_part:
            indication, sub = Indication.INDETERMINATE, "SIGNED_DATA_NOT_FOUND"
            part_en = ", ".join(check.covered)
            part_vi = ", ".join(c.replace("the document except ", "tài liệu trừ ") for c in check.covered)
            problem = Problem(sub,
                              f"the signature covers only part of the document ({part_en}); the rest is not signed",
                              f"chữ ký chỉ bao phủ một phần tài liệu ({part_vi}); phần còn lại không được ký")
        elif check.signing_certificate_mismatch:
            indication, sub = Indication.INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND"
            problem = Problem(sub, "the signed SigningCertificate names none of the certificates in the signature",
                              "SigningCertificate đã ký không trỏ tới chứng thư số nào trong chữ ký")
        elif chain_sub is not None:
            indication, sub = Indication.INDETERMINATE, chain_sub
        elif check.weak_algorithms:
            indication, sub = Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
            what = ", ".join(check.weak_algorithms)
            problem = Problem(sub, f"legacy algorithm (SHA-1), no longer accepted as proof: {what}",
                              f"thuật toán cũ (SHA-1), không còn được chấp nhận làm bằng chứng: {what}")
        elif not check.namespaced:
            indication, sub = Indication.INDETERMINATE, "FORMAT_FAILURE"
            problem = Problem(sub, "legacy signature: <Signature> without the XML-DSig namespace",
                              "chữ ký kiểu cũ: thẻ <Signature> không có namespace XML-DSig")
        elif check.timestamp_token and not ts_ok:
            indication, sub = Indication.INDETERMINATE, "NO_POE"
        else:
            indication, sub = Indication.TOTAL_PASSED, None
        level = "XML-DSig"
        if "SignedProperties" in check.covered:
            level = "XAdES-B-T" if ts_ok else "XAdES-B-B"
        signer = cert_name(cert)
        when = iso(check.signing_time)
        en, vi = summaries(indication, sub, signer, when, problem)
        out.append(SignatureReport(
            kind="xml", field=label, signer=signer, agency_code=None,
            chain=[cert_name(c) for c in path] if path is not None else [signer],
            claimed_signing_time=when, timestamp_time=iso(ts_time) if ts_ok else None, level=level,
            integrity=check.digests_valid and not check.unverifiable, signature_valid=check.signature_valid,
            trusted=chain_sub is None,
            revocation=revocation,
            coverage={"covered": check.covered, "covers_whole_document": check.covers_whole_document,
                      "manifest_entries_not_checked": check.not_checked,
                      "namespaced": check.namespaced, "weak_algorithms": check.weak_algorithms},
            indication=indication, sub_indication=sub, summary_en=en, summary_vi=vi,
            problems=[problem.to_json()] if problem else [], signer_serial=format(cert.serial_number, "x")))
    return out
