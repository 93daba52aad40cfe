"""One signature's verdict: the ETSI EN 319 102-1 indication from pyHanko's status, and the
SignatureReport that says it, or says why the signature could not be judged."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from asn1crypto import cms, core, x509

from verification.report import (
    Indication,
    SignatureReport,
    cert_info,
    cert_name,
    cert_organization,
    iso,
    met_certificates,
    path_info,
    summaries,
)
from verification.revocation import revoked_from, revoked_when_signed

log = logging.getLogger("kyso.verify")


def status_indication(status: Any, signing_time: dt.datetime | None,
                      pdf_ok: bool) -> tuple[Indication, str | None]:
    if not status.intact:
        return Indication.TOTAL_FAILED, "HASH_FAILURE"
    if not status.valid:
        return Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
    if status.revoked:
        details = status.revocation_details
        revoked_at = revoked_from(status.signing_cert, details.revocation_date, details.revocation_reason.native,
                                  details.ca_revoked)
        if revoked_when_signed(status.signing_cert, revoked_at, signing_time):
            return Indication.TOTAL_FAILED, "REVOKED"
        return Indication.INDETERMINATE, "REVOKED_NO_POE"
    if not pdf_ok:  # a document changed against its signer's will fails whoever signed it
        return Indication.TOTAL_FAILED, "SIG_CONSTRAINTS_FAILURE"
    if not status.trusted:
        indic = getattr(status.trust_problem_indic, "name", None)
        return Indication.INDETERMINATE, indic or "NO_CERTIFICATE_CHAIN_FOUND"
    ts = getattr(status, "timestamp_validity", None)
    if ts is not None and not (ts.intact and ts.valid and ts.trusted):
        return Indication.INDETERMINATE, "NO_POE"  # the time stamp proves nothing
    return Indication.TOTAL_PASSED, None


def signature_report(status: Any, kind: str, field_name: str | None, level: str,
            coverage: dict[str, Any], pdf_ok: bool = True) -> SignatureReport:
    cert = status.signing_cert
    met_certificates().append(cert)
    claimed = getattr(status, "signer_reported_dt", None)
    ts = getattr(status, "timestamp_validity", None)
    ts_time = ts.timestamp if ts is not None else None
    # A time stamp that does not verify proves nothing: the signer's own claim stands alone.
    signing_time = ts_time if ts is not None and ts.intact and ts.valid and ts.trusted else claimed
    indication, sub = status_indication(status, signing_time, pdf_ok)
    chain = [cert_name(c) for c in status.validation_path] if status.validation_path is not None else [cert_name(cert)]
    revocation: dict[str, Any] = {"revoked": status.revoked}
    if status.revoked:
        details = status.revocation_details
        revocation.update(date=iso(details.revocation_date), reason=details.revocation_reason.native,
                          ca_revoked=details.ca_revoked,
                          counts_from=iso(revoked_from(cert, details.revocation_date,
                                                        details.revocation_reason.native, details.ca_revoked)))
    signer = cert_name(cert)
    en, vi = summaries(indication, sub, signer, iso(signing_time))
    return SignatureReport(
        kind=kind, field=field_name, signer=signer, agency_code=None, chain=chain,
        signer_serial=format(cert.serial_number, "x"),
        claimed_signing_time=iso(claimed), timestamp_time=iso(ts_time), level=level,
        integrity=bool(status.intact), signature_valid=bool(status.valid), trusted=bool(status.trusted),
        revocation=revocation, coverage=coverage, indication=indication, sub_indication=sub,
        summary_en=en, summary_vi=vi, signer_organization=cert_organization(cert),
        certificates=path_info(status.validation_path, cert))


def broken(field_name: str | None, problem: Any, kind: str = "pdf") -> SignatureReport:
    """A signature that cannot even be checked: TOTAL-FAILED, with what is wrong."""
    en, vi = summaries(Indication.TOTAL_FAILED, problem.sub_indication, "", None, problem)
    return SignatureReport(
        kind=kind, field=field_name, signer="-", agency_code=None, chain=[], claimed_signing_time=None,
        timestamp_time=None, level="-", integrity=False, signature_valid=False, trusted=False,
        revocation={"revoked": False}, coverage={}, indication=Indication.TOTAL_FAILED,
        sub_indication=problem.sub_indication, summary_en=en, summary_vi=vi, problems=[problem.to_json()])


def not_checked(field_name: str | None, exc: BaseException, kind: str = "pdf") -> SignatureReport:
    """A signature whose check failed unexpectedly (a bug, or a part Kyso cannot read): that
    signature alone is INDETERMINATE with a finding, the others are judged normally (issue 14,
    item 3). Logged with its traceback under an incident id, as the app does for a 500."""
    from verification.pdf_checks import Problem

    incident = uuid.uuid4().hex[:12]
    log.error("verify.signature_not_checked %s", type(exc).__name__, exc_info=exc, extra={"incident_id": incident})
    problem = Problem("SIGNATURE_NOT_CHECKED", f"this signature could not be checked (incident {incident})",
                      f"không kiểm tra được chữ ký này (mã sự cố {incident})")
    report = indeterminate(field_name, problem, kind=kind)
    report.problems[0]["incident_id"] = incident
    return report


def with_problems(report: SignatureReport, problems: list[Any]) -> SignatureReport:
    """Kyso's own findings turn a verdict that would pass (or be indeterminate) into a failure."""
    if not problems:
        return report
    report.problems.extend(p.to_json() for p in problems)
    # A broken structure is the root cause of whatever else failed; other findings only
    # add to a failure that has its own reason.
    if report.indication != Indication.TOTAL_FAILED or problems[0].sub_indication == "FORMAT_FAILURE":
        report.indication, report.sub_indication = Indication.TOTAL_FAILED, problems[0].sub_indication
        report.summary_en, report.summary_vi = summaries(
            Indication.TOTAL_FAILED, report.sub_indication, report.signer,
            report.timestamp_time or report.claimed_signing_time, problems[0])
    return report


def indeterminate(field_name: str | None, problem: Any, kind: str = "pdf") -> SignatureReport:
    """A signature Kyso cannot judge (something it does not support, or that is missing):
    INDETERMINATE with a sentence saying what; never a failure without evidence."""
    report = broken(field_name, problem, kind=kind)
    report.indication = Indication.INDETERMINATE
    report.summary_en, report.summary_vi = summaries(Indication.INDETERMINATE, problem.sub_indication, "", None,
                                                     problem)
    return report


def unprocessable_key(field_name: str | None, problem: Any, cert: x509.Certificate,
                       kind: str = "pdf") -> SignatureReport:
    """A signature whose signer certificate holds a key Kyso cannot load (verification/public_keys.py):
    INDETERMINATE, naming who the certificate says signed."""
    met_certificates().append(cert)
    report = indeterminate(field_name, problem, kind=kind)
    report.signer, report.signer_serial = cert_name(cert), format(cert.serial_number, "x")
    report.signer_organization, report.certificates = cert_organization(cert), [cert_info(cert)]
    report.summary_en, report.summary_vi = summaries(Indication.INDETERMINATE, problem.sub_indication,
                                                     report.signer, None, problem)
    return report


def digest_differs(signer_info: cms.SignerInfo, digest: Any) -> bool:
    """Whether the signed messageDigest attribute differs from ``digest`` (evidence of a
    change that needs no key); False when there is nothing to compare."""
    attrs = signer_info["signed_attrs"]
    if isinstance(attrs, core.Void):
        return False
    values = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
    return len(values) == 1 and digest is not None and values[0] != digest


def unjudged_key(field_name: str | None, problem: Any, cert: x509.Certificate, changed: bool,
                  kind: str = "pdf") -> SignatureReport:
    """unprocessable_key, unless the signed digest already proves the content changed."""
    if changed:
        from verification.pdf_checks import Problem

        return broken(field_name, Problem("HASH_FAILURE", "the content changed after signing (its digest differs "
                                           "from the signed one)", "nội dung đã bị sửa đổi sau khi ký (giá trị băm "
                                           "khác với giá trị đã ký)"), kind=kind)
    return unprocessable_key(field_name, problem, cert, kind=kind)
