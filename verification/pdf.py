"""PDF signatures (PAdES and PDF signatures, document time stamps): each signature field, each
SignerInfo of its CMS, judged by pyHanko's validator with Kyso's own findings on the file
(verification/pdf_checks.py)."""

from __future__ import annotations

import io
import logging
from typing import Any

from asn1crypto import cms, core

from kyso.errors import KysoError
from verification.indication import Indication
from verification.limits import check_signature_count
from verification.messages import (
    PDF_ENCRYPTED_FOR_RECIPIENTS,
    PDF_ENCRYPTION_UNREADABLE,
    PDF_PASSWORD_PROTECTED,
    PDF_STRUCTURE_UNREADABLE,
)
from verification.pdf_checks import unanalysed_problem
from verification.pdf_legacy import legacy_pdf, x509_rsa_sha1
from verification.report import (
    REPAIRED_PDF,
    DocumentUnreadable,
    SignatureReport,
    cert_name,
    cert_organization,
    document_notes,
    iso,
    path_info,
    summaries,
)
from verification.verdict import (
    broken,
    digest_differs,
    indeterminate,
    not_checked,
    signature_report,
    unjudged_key,
    with_problems,
)

log = logging.getLogger("kyso.verify")


def _timestamp_report(sig: Any, vc: Any) -> SignatureReport:
    from pyhanko.sign.validation import validate_pdf_timestamp

    ts, diff_error = _validated(lambda s, v, **kw: validate_pdf_timestamp(s, validation_context=v, **kw), sig, vc)
    unanalysed = unanalysed_problem(ts) if diff_error else None
    ok = ts.intact and ts.valid and ts.trusted
    ind, sub = (Indication.TOTAL_PASSED, None) if ok else (
        (Indication.TOTAL_FAILED, "HASH_FAILURE") if not ts.intact else
        (Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE") if not ts.valid else
        (Indication.INDETERMINATE, getattr(ts.trust_problem_indic, "name", None) or "NO_CERTIFICATE_CHAIN_FOUND"))
    if unanalysed is not None and ind == Indication.TOTAL_PASSED:
        ind = Indication.INDETERMINATE
    en, vi = summaries(ind, sub, cert_name(ts.signing_cert), iso(ts.timestamp), unanalysed if ok else None,
                        stamp=True)
    return SignatureReport(
        kind="pdf-timestamp", field=sig.field_name, signer=cert_name(ts.signing_cert), agency_code=None,
        chain=[cert_name(c) for c in ts.validation_path] if ts.validation_path else [],
        claimed_signing_time=None, timestamp_time=iso(ts.timestamp), level="document time stamp",
        integrity=bool(ts.intact), signature_valid=bool(ts.valid), trusted=bool(ts.trusted),
        revocation={"revoked": False}, coverage={"coverage": ts.coverage.name if ts.coverage else None},
        indication=ind, sub_indication=sub, summary_en=en, summary_vi=vi,
        problems=[unanalysed.to_json()] if unanalysed is not None else [],
        signer_organization=cert_organization(ts.signing_cert),
        certificates=path_info(ts.validation_path, ts.signing_cert))


_SIGNER_INDEX: Any = None  # contextvars.ContextVar[int | None], made on first use (see _embedded)


def _embedded(reader: Any, item: Any) -> list[Any]:
    """pyHanko's EmbeddedPdfSignature for a signature field: one per SignerInfo. A PDF
    signature's CMS may hold several (RFC 5652 5.1 allows it; some signing tools add a
    second signer); pyHanko accepts exactly one, so each SignerInfo is judged on its own,
    as a copy of the SignedData that holds only it."""
    import contextvars

    from asn1crypto import cms as asn1_cms
    from pyhanko.sign.validation import pdf_embedded

    global _SIGNER_INDEX
    if _SIGNER_INDEX is None:
        _SIGNER_INDEX = contextvars.ContextVar("kyso_signer_index", default=None)
        original = pdf_embedded.extract_signer_info

        def chosen(signed_data: Any) -> Any:
            index = _SIGNER_INDEX.get()
            return original(signed_data) if index is None else signed_data["signer_infos"][index]

        pdf_embedded.extract_signer_info = chosen  # only EmbeddedPdfSignature.__init__ looks it up there
    contents = pdf_embedded.extract_contents(item.sig_ref.get_object())
    count = len(asn1_cms.ContentInfo.load(contents)["content"]["signer_infos"])
    if count <= 1:
        sig = pdf_embedded.EmbeddedPdfSignature(reader, item.field, item.name)
        if _is_timestamp(sig) and sig.sig_object_type != "/DocTimeStamp":
            sig.__class__ = _any_type_timestamp()
        _plain_ecdsa_as_der(sig.signer_info)
        return [sig]
    out = []
    for index in range(count):
        token = _SIGNER_INDEX.set(index)
        try:
            sig = pdf_embedded.EmbeddedPdfSignature(reader, item.field, item.name)
        finally:
            _SIGNER_INDEX.reset(token)
        one = asn1_cms.SignedData.load(sig.signed_data.untag().dump())
        one["signer_infos"] = [asn1_cms.SignerInfo.load(sig.signer_info.dump())]
        sig.signed_data, sig.signer_info = one, one["signer_infos"][0]
        _plain_ecdsa_as_der(sig.signer_info)
        label = f"{item.name} (SignerInfo {index + 1} of {count})"
        sig.kyso_label = label  # type: ignore[attr-defined]
        out.append(sig)
    return out


# BSI TR-03111 "plain" ECDSA (r || s instead of a DER SEQUENCE), as German and other
# eIDAS signature cards make it: the same signature, another encoding.
_PLAIN_ECDSA = {f"0.4.0.127.0.7.1.1.4.1.{n}": f"{h}_ecdsa"
                for n, h in ((1, "sha1"), (2, "sha224"), (3, "sha256"), (4, "sha384"), (5, "sha512"))}


def _plain_ecdsa_as_der(signer_info: Any) -> None:
    """Re-encode a plain-ECDSA signature value as the DER ECDSA-Sig-Value pyHanko checks
    (in place: the SignedData that holds this SignerInfo is what pyHanko validates)."""
    from asn1crypto import algos

    algorithm = signer_info["signature_algorithm"]["algorithm"].dotted
    if algorithm not in _PLAIN_ECDSA:
        return
    value = signer_info["signature"].native
    signer_info["signature_algorithm"] = {"algorithm": _PLAIN_ECDSA[algorithm]}
    signer_info["signature"] = algos.DSASignature.from_p1363(value).dump()


_ANY_TYPE_TIMESTAMP: list[type] = []


def _any_type_timestamp() -> type:
    """EmbeddedPdfSignature for a document time stamp whose dictionary says /Type /Sig or
    nothing (DSS's test files, and tools that copy a signature dictionary): its RFC 3161
    /SubFilter makes it a time stamp, and pyHanko's time stamp check wants the type."""
    if not _ANY_TYPE_TIMESTAMP:
        from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

        class DocTimeStampOfAnyType(EmbeddedPdfSignature):
            @property
            def sig_object_type(self) -> Any:
                from pyhanko.pdf_utils.generic import pdf_name

                return pdf_name("/DocTimeStamp")

        _ANY_TYPE_TIMESTAMP.append(DocTimeStampOfAnyType)
    return _ANY_TYPE_TIMESTAMP[0]


def _open_encrypted(reader: Any) -> None:
    """An encrypted PDF opens with the empty user password (the common case: only an owner
    password restricts editing or printing). Anything else Kyso cannot read, and says why."""
    from pyhanko.pdf_utils.crypt import AuthStatus, StandardSecurityHandler
    from pyhanko.pdf_utils.misc import PdfError

    if not isinstance(reader.security_handler, StandardSecurityHandler):
        raise DocumentUnreadable(
            PDF_ENCRYPTED_FOR_RECIPIENTS)
    try:
        result = reader.decrypt(b"")
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise DocumentUnreadable(PDF_ENCRYPTION_UNREADABLE,
                                 log_detail=f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if result.status == AuthStatus.FAILED:
        raise DocumentUnreadable(PDF_PASSWORD_PROTECTED)


def verify_pdf(data: bytes, vc: Any) -> list[SignatureReport]:
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    from verification import pdf_checks

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            _open_encrypted(reader)
        found = pdf_checks.collect(reader)
        signature_fields = {name for name, _v, _f in enumerate_sig_fields(reader)}
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise DocumentUnreadable(PDF_STRUCTURE_UNREADABLE,
                                 log_detail=type(exc).__name__) from None
    if _repaired(data):
        document_notes().append(dict(REPAIRED_PDF))
    check_signature_count(len(found))
    file_problem = pdf_checks.tail_problem(data, reader)
    sigs: list[tuple[Any, Any]] = []
    out: list[SignatureReport] = []
    for item in found:
        try:
            sig_object = item.sig_ref.get_object()
            unsupported = pdf_checks.subfilter_problem(sig_object)
            if unsupported is not None:
                # Not judged, so INDETERMINATE; the file's own findings still fail it.
                out.append(with_problems(indeterminate(item.name, unsupported), _findings(item, file_problem)))
                continue
            problem = pdf_checks.byte_range_problem(data, sig_object)
            if problem is None and sig_object.get("/SubFilter") == "/adbe.x509.rsa_sha1":
                out.append(with_problems(x509_rsa_sha1(data, item.name, sig_object, vc),
                                          _findings(item, file_problem)))
                continue
            if problem is None:
                sigs.extend((item, sig) for sig in _embedded(reader, item))
                continue
        except (PdfError, ValueError, KeyError, TypeError, AttributeError):
            problem = pdf_checks.Problem("FORMAT_FAILURE", "the signature dictionary cannot be read",
                                         "không đọc được từ điển chữ ký")
        out.append(broken(item.name, problem))
    sigs.sort(key=lambda pair: pair[1].signed_revision)
    docmdp = min((e.docmdp_level for _i, e in sigs if e.docmdp_level is not None), default=None)
    doc_ts = [e for _i, e in sigs if _is_timestamp(e)]
    has_dss = "/DSS" in reader.root
    for index, (item, sig) in enumerate(sigs):
        try:
            report = _judge_pdf(index, item, sig, sigs, file_problem, doc_ts, has_dss, signature_fields, docmdp, vc)
        except (KysoError, MemoryError, RecursionError):
            raise  # a limit or a refusal is the whole document's answer
        except Exception as exc:  # noqa: BLE001 - one signature's failure is that signature's finding
            report = not_checked(item.name, exc)
        report.field = getattr(sig, "kyso_label", report.field)
        out.append(report)
    return out


def _repaired(data: bytes) -> bool:
    """Whether the PDF's cross-reference data reads only leniently: Kyso reads every PDF with
    pyHanko's non-strict reader (issue 14, item 4), which finds a misplaced xref section, and
    tolerates sizes and entries that break ISO 32000; the strict reader refuses such a file.
    The report says so: the document judged is the one the lenient reader rebuilt."""
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        PdfFileReader(io.BytesIO(data), strict=True)
    except (PdfReadError, ValueError, KeyError, TypeError):
        return True
    return False


def _findings(item: Any, file_problem: Any) -> list[Any]:
    """Kyso's findings on the file that hold for every signature in it: bytes after the last
    revision, and a signature removed or hidden by a later update."""
    from verification import pdf_checks

    problems = [p for p in (file_problem,) if p is not None]
    if not item.in_last_revision:
        problems.append(pdf_checks.removed_problem())
    return problems


def _is_timestamp(sig: Any) -> bool:
    """A document time stamp: /Type /DocTimeStamp, or the RFC 3161 /SubFilter in a dictionary
    whose /Type says otherwise or nothing (some tools write /Sig or leave it out)."""
    return bool(sig.sig_object_type == "/DocTimeStamp" or sig.sig_object.get("/SubFilter") == "/ETSI.RFC3161")


def _refused(field_name: str | None, exc: Any) -> SignatureReport:
    """pyHanko refused to validate a signature (SignatureValidationError): its AdES
    sub-indication says whether that is a failure with evidence (AdESFailure, e.g. a
    detached PDF signature that carries other content) or only something it cannot judge."""
    from pyhanko.sign.ades.report import AdESFailure

    from verification.pdf_checks import Problem

    sub = getattr(exc, "ades_subindication", None)
    name = getattr(sub, "name", None) or "FORMAT_FAILURE"
    why = str(getattr(exc, "failure_message", "") or exc)[:300]
    problem = Problem(name, f"the signature was refused: {why}", f"chữ ký bị từ chối: {why}")
    if isinstance(sub, AdESFailure):
        return broken(field_name, problem)
    return indeterminate(field_name, problem)


def _unsupported_digest(sig: Any) -> Any:
    """The digest or signature algorithm a signature names, when Kyso has no implementation
    of it: the signature cannot be checked, which is not evidence that it is false."""
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    from verification.pdf_checks import Problem

    try:
        get_pyca_cryptography_hash(sig.md_algorithm)
    except (AttributeError, ValueError, KeyError, TypeError):
        what = str(sig.md_algorithm)
        return Problem("FORMAT_FAILURE", f"the digest algorithm {what} is not supported, so the signed bytes cannot "
                       "be checked", f"thuật toán băm {what} không được hỗ trợ nên không kiểm tra được dữ liệu đã ký")
    algorithm = sig.signer_info["signature_algorithm"]
    try:
        algorithm.signature_algo  # noqa: B018 - asn1crypto raises ValueError for an algorithm it does not know
    except ValueError:
        what = algorithm["algorithm"].dotted
        return Problem("FORMAT_FAILURE", f"the signature algorithm {what} is not supported, so the signature cannot "
                       "be checked", f"thuật toán ký {what} không được hỗ trợ nên không kiểm tra được chữ ký")
    return None


class _MismatchedKey(Exception):
    """pyHanko's signature check asserts that a key fits the algorithm the signature names
    (an RSA algorithm with an EC key, say) instead of reporting it: a malformed signature or
    time stamp, which Kyso reports as one it cannot check."""

    def __init__(self) -> None:
        from verification.pdf_checks import Problem

        super().__init__("mismatched key")
        self.problem = Problem("FORMAT_FAILURE", "the signature or its time stamp names a signature algorithm that "
                               "does not fit its key, so it cannot be checked",
                               "chữ ký hoặc dấu thời gian của nó ghi thuật toán ký không khớp với khóa nên không "
                               "kiểm tra được")


def _validated(validate: Any, sig: Any, vc: Any) -> tuple[Any, BaseException | None]:
    """pyHanko's validation of one embedded signature or document time stamp. Its analysis of
    the updates made after signing fails on some files other tools wrote (an object it cannot
    resolve in an earlier revision, a stream without its end marker): the signature itself is
    then checked without that analysis, and the error is returned so that the report can say
    the later changes were not analysed."""
    import traceback

    from pyhanko.sign.general import CMSExtractionError
    from pyhanko.sign.validation.errors import SignatureValidationError

    def once(**kw: Any) -> Any:
        try:
            return validate(sig, vc, **kw)
        except AssertionError as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            if frames and frames[-1].filename.endswith("pyhanko_certvalidator/sig_validate.py"):
                raise _MismatchedKey() from exc
            raise

    try:
        return once(), None
    except (SignatureValidationError, CMSExtractionError, _MismatchedKey, KysoError, MemoryError, RecursionError):
        raise
    except Exception as exc:
        # Only a failure inside the change analysis is retried; anything else is a bug, the
        # caller's incident.
        frames = traceback.extract_tb(exc.__traceback__)
        if not any("pyhanko/sign/diff_analysis/" in f.filename for f in frames):
            raise
        log.warning("verify.pdf_diff_failed %s: %s", type(exc).__name__, str(exc)[:200], exc_info=exc)
        return once(skip_diff=True), exc


def _detach_enveloped(sig: Any) -> bool:
    """A PDF signature whose CMS carries as its content exactly the bytes its /ByteRange covers
    (EU DSS and some tools write them so) is checked as the detached signature it then is:
    the signed bytes are the same either way. Content that differs from the byte range stays,
    and pyHanko refuses it (FORMAT_FAILURE: which bytes were signed is then in doubt)."""
    from cryptography.hazmat.primitives import hashes
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    eci = sig.signed_data["encap_content_info"]
    if isinstance(eci["content"], core.Void) or eci["content_type"].native != "data":
        return False
    hasher = hashes.Hash(get_pyca_cryptography_hash(sig.md_algorithm))
    hasher.update(bytes(eci["content"].native or b""))
    if hasher.finalize() != sig.compute_digest():
        return False
    detached = cms.SignedData.load(sig.signed_data.untag().dump())
    detached["encap_content_info"] = {"content_type": "data"}
    sig.signed_data = detached
    return True


def _judge_pdf(index: int, item: Any, sig: Any, sigs: list[tuple[Any, Any]], file_problem: Any, doc_ts: list[Any],
               has_dss: bool, signature_fields: set[str], docmdp: Any, vc: Any) -> SignatureReport:
    """One PDF signature's report (the loop body of verify_pdf)."""
    from pyhanko.sign.fields import MDPPerm
    from pyhanko.sign.general import CMSExtractionError
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError

    from verification import pdf_checks
    from verification.public_keys import key_problem

    problems = _findings(item, file_problem)
    ranges = [int(v) for v in sig.byte_range]
    problems.extend(p for other, earlier in sigs[:index]
                    if other is not item  # SignerInfos of one CMS share its byte range
                    and (p := pdf_checks.ranges_problem([int(v) for v in earlier.byte_range], ranges)))
    if (unsupported := _unsupported_digest(sig)) is not None:
        return with_problems(indeterminate(sig.field_name, unsupported), problems)
    try:
        whose = ("the time stamp's certificate", "chứng thư số của dấu thời gian") if _is_timestamp(sig) else ()
        if (unloadable := key_problem(sig.signer_cert, *whose)) is not None:
            # A time stamp token's messageDigest is that of its TSTInfo, not of the document.
            differs = not whose and digest_differs(sig.signer_info, sig.compute_digest())
            return with_problems(unjudged_key(sig.field_name, unloadable, sig.signer_cert, differs), problems)
        if _is_timestamp(sig):
            return with_problems(_timestamp_report(sig, vc), problems)
        if str(sig.sig_object.get("/SubFilter")) in pdf_checks.LEGACY_SUBFILTERS:
            return with_problems(legacy_pdf(sig, vc), problems)
        enveloped = _detach_enveloped(sig)
        status, diff_error = _validated(validate_pdf_signature, sig, vc)
    except SignatureValidationError as exc:
        return with_problems(_refused(sig.field_name, exc), problems)
    except CMSExtractionError:
        return with_problems(indeterminate(sig.field_name, pdf_checks.Problem(
            "NO_SIGNING_CERTIFICATE_FOUND", "the signer's certificate is not in the signature",
            "chữ ký không kèm chứng thư số của người ký")), problems)
    except _MismatchedKey as exc:
        return with_problems(indeterminate(sig.field_name, exc.problem), problems)
    unanalysed = unanalysed_problem(status) if diff_error else None
    if enveloped:
        log.info("verify.pdf_enveloped_cms_checked_as_detached")
    later_ts = [t for t in doc_ts if t.signed_revision > sig.signed_revision]
    level = "B-B"
    if status.timestamp_validity is not None:
        level = "B-T"
        if has_dss:
            level = "B-LT"
            if later_ts:
                level = "B-LTA"
    modification = status.modification_level.name if status.modification_level is not None else None
    # pyHanko's rule: changes after signing are judged against the document's DocMDP
    # policy (form filling at most when none is set), and seed values must hold.
    allowed = bool((status.docmdp_ok or status.modification_level is None) and status.seed_value_ok)
    # A change the analysis cannot explain is not yet evidence (issue 14, item 5): it fails the
    # signature only when it is proven: the certifying signer allowed no change (DocMDP P=1),
    # pyHanko names the violation (a locked field, an approval-only change after
    # certification), what the signed pages show differs (Kyso's comparison), or the byte
    # range does not cover a whole revision. Otherwise INDETERMINATE, saying so; the signed
    # revision itself is intact.
    unclassified = None
    if (not allowed and status.seed_value_ok and status.diff_result is not None
            and status.coverage is not None and status.coverage.name == "ENTIRE_REVISION"
            and status.modification_level is not None and status.modification_level.name == "OTHER"
            and (docmdp is None or docmdp != MDPPerm.NO_CHANGES)
            and not pdf_checks.named_violation(status.diff_result)):
        if pdf_checks.signed_pages_changed(sig.reader, sig.signed_revision):
            problems.append(pdf_checks.pages_changed_problem())
        else:
            allowed, unclassified = True, pdf_checks.unclassified_problem()
    changed = set(getattr(status.diff_result, "changed_form_fields", None) or ())
    if (p := pdf_checks.form_filling_problem(changed, signature_fields, docmdp)) is not None:
        problems.append(p)
    covered = status.coverage.name if status.coverage is not None else None
    coverage = {"coverage": covered, "modification_level": modification,
                "docmdp_ok": status.docmdp_ok, "changed_form_fields": sorted(changed),
                "covers_whole_document": covered == "ENTIRE_FILE" and not problems,
                "changes_after_signing_allowed": allowed and not problems and unanalysed is None
                and unclassified is None,
                "changes_after_signing_unclassified": unclassified is not None and not problems}
    report = with_problems(signature_report(status, "pdf", sig.field_name, level, coverage, pdf_ok=allowed), problems)
    for doubt in (unanalysed, unclassified):
        if doubt is None:
            continue
        report.problems.append(doubt.to_json())
        if report.indication == Indication.TOTAL_PASSED:
            report.indication, report.sub_indication = Indication.INDETERMINATE, None
            report.summary_en, report.summary_vi = summaries(Indication.INDETERMINATE, None, report.signer,
                                                              report.timestamp_time or report.claimed_signing_time,
                                                              doubt)
    return report
