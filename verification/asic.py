"""The signatures of an ASiC container (verification/asic_container.py reads it): CAdES or XAdES,
each with the files it covers, the files it names that changed or are missing, and the files it
leaves uncovered."""

from __future__ import annotations

from typing import Any

from verification.cms import verify_cms
from verification.detection import as_cms, detect
from verification.indication import Indication
from verification.limits import check_signature_count
from verification.report import SignatureReport, UnsupportedFormat, summaries
from verification.verdict import broken, indeterminate, with_problems
from verification.xml import verify_xml


def _asic_verdict(report: SignatureReport, sig: Any, container: Any, covered: list[str], changed: list[str],
                  missing: list[str], unsupported: list[str], signed_manifest: str | None) -> SignatureReport:
    """What an ASiC signature covers, and its verdict with the container's evidence: a data
    file whose digest differs is TOTAL-FAILED (HASH_FAILURE); a file the signature names but
    the container lacks is INDETERMINATE (SIGNED_DATA_NOT_FOUND, EN 319 102-1 5.2.8: the data
    cannot be obtained, which proves no change); a digest algorithm Kyso does not know is
    INDETERMINATE with a sentence; a container that breaks EN 319 162-1 is a FORMAT_FAILURE."""
    from verification.pdf_checks import Problem

    label = "ASiC-S" if container.type == "asic-s" else "ASiC-E"
    not_covered = [f for f in container.data_files if f not in covered and f not in changed]
    report.kind = f"{container.type}-{sig.format}"
    report.coverage = {"container": label, "signature_file": sig.name, "files": covered, "changed_files": changed,
                       "missing_files": missing, "files_not_covered": not_covered,
                       "covers_whole_document": not not_covered and not changed and not missing}
    if signed_manifest:
        report.coverage["manifest"] = signed_manifest
    notes = [n for n in container.notes if not n.failure]
    if notes:
        report.coverage["container_notes"] = [{"en": n.en, "vi": n.vi} for n in notes]
    when = report.timestamp_time or report.claimed_signing_time
    problem = None
    if changed:
        problem = Problem("HASH_FAILURE", "a signed file changed: " + ", ".join(changed),
                          "tệp đã ký bị thay đổi: " + ", ".join(changed))
        if report.indication != Indication.TOTAL_FAILED or report.sub_indication != "HASH_FAILURE":
            report.indication, report.sub_indication = Indication.TOTAL_FAILED, "HASH_FAILURE"
    elif missing and report.indication != Indication.TOTAL_FAILED:
        problem = Problem("SIGNED_DATA_NOT_FOUND", "a signed file is not in the container: " + ", ".join(missing),
                          "tệp đã ký không có trong gói: " + ", ".join(missing))
        report.indication, report.sub_indication = Indication.INDETERMINATE, problem.sub_indication
    elif unsupported and report.indication != Indication.TOTAL_FAILED:
        what = ", ".join(unsupported)
        problem = Problem("CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
                          f"Kyso does not support the digest algorithm of the manifest: {what}",
                          f"Kyso chưa hỗ trợ thuật toán băm của tệp kê khai: {what}")
        report.indication, report.sub_indication = Indication.INDETERMINATE, problem.sub_indication
    if problem is not None:
        report.integrity = report.integrity and not changed and not missing
        report.problems = [p for p in report.problems if p.get("sub_indication") != problem.sub_indication]
        report.problems.append(problem.to_json())
        report.summary_en, report.summary_vi = summaries(report.indication, report.sub_indication, report.signer,
                                                          when, problem)
    failures = [Problem("FORMAT_FAILURE", n.en, n.vi) for n in [*sig.failures, *container.notes] if n.failure]
    return with_problems(report, failures)


def verify_asic(data: bytes, vc: Any) -> list[SignatureReport]:
    """Each signature in an ASiC container (verification/asic_container.py), judged on its own, with the
    files it covers, the files it names that changed or are missing, and the files it leaves
    uncovered."""
    from verification.asic_container import open_container
    from verification.pdf_checks import Problem

    container = open_container(data)
    check_signature_count(len(container.signatures))
    out = []
    for sig in container.signatures:
        kind = f"{container.type}-{sig.format}"
        if sig.format == "xades":
            out.extend(_verify_asic_xades(sig, container, vc))
            continue
        if sig.signed is None:
            no_data = Problem("SIGNED_DATA_NOT_FOUND", "the container holds no data file for the signature",
                              "gói không chứa tệp dữ liệu nào cho chữ ký")
            out.append(_asic_verdict(indeterminate(sig.name, no_data, kind), sig, container, [], [], [], [], None))
            continue
        found, info = "cms", as_cms(sig.data)
        if info is None:
            try:
                found, info = detect(sig.data)
            except UnsupportedFormat:
                found = "none"
        if found != "cms":
            bad = Problem("FORMAT_FAILURE", f"{sig.name} is not a CMS signature",
                          f"{sig.name} không phải chữ ký CMS")
            out.append(broken(sig.name, bad, kind=kind))
            continue
        signed = container.files[sig.signed]
        for report in verify_cms(info, signed, vc):
            report.field = sig.name + (f" ({report.field})" if report.field else "")
            if container.type == "asic-s":
                intact = report.integrity
                covered, changed = ([sig.signed], []) if intact else ([], [sig.signed])
                out.append(_asic_verdict(report, sig, container, covered, changed, [], [], None))
            else:
                out.append(_asic_verdict(report, sig, container, sig.covered, sig.mismatched, sig.missing,
                                         sig.unsupported, sig.signed))
    return out


def _verify_asic_xades(sig: Any, container: Any, vc: Any) -> list[SignatureReport]:
    """The XML signatures in one ``META-INF/*signatures*.xml``: each reference that names a
    container file is resolved from the container by verification.xmldsig (by its percent-decoded
    name), and the files it covers, changed or lacks are reported. Counter-signatures (a
    Signature inside another's unsigned properties) are left to their parent."""
    from lxml import etree

    from verification import xmldsig, xmlsafe

    root = xmlsafe.parse(sig.data)
    found = [(el, ns) for el, ns in xmldsig.find_signatures(root)
             if not any(etree.QName(a).localname == "Signature" for a in el.iterancestors())]
    external = {name: data for name, data in container.files.items() if name != sig.name}
    checks: list[Any] = []
    out = []
    for report, check in zip(verify_xml(root, vc, external, found, checks), checks, strict=True):
        named = []
        for ref in check.element.iter(f"{{{xmldsig.DS}}}Reference"):
            uri = ref.get("URI")
            parent = ref.getparent()
            if uri and not uri.startswith("#") and parent is not None and etree.QName(parent).localname == "SignedInfo":
                named.append((uri, xmldsig.external_key(uri)))
        changed = [key for uri, key in named if uri in check.changed]
        missing = [key for _uri, key in named if key not in external]
        covered = [key for _uri, key in named if key in external and key not in changed]
        report.field = f"{sig.name} ({report.field})" if report.field else sig.name
        out.append(_asic_verdict(report, sig, container, covered, changed, missing, [], None))
    return out
