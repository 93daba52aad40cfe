"""Verification of an edXML package (issue 8): the XML signature as in verification/xml.py, and
on top of it the package's own rules: exactly one signature, the last child of
edXMLHeader, covering the whole document; header fields well formed; the manifest matching
the attachments; each attached PDF's own signatures. A rule broken makes the package
TOTAL-FAILED/FORMAT_FAILURE whatever the cryptography says: a signature moved elsewhere
still verifies (xmlsec1 accepts it), but it is not the signature the axis defines.

The header values in the report are read from the parsed package only when the signature
covers the whole document and verifies; otherwise they are withheld.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from axis import building, model, parsing
from axis.model import Finding, joined
from kyso.errors import KysoError
from kyso.settings import Settings
from verification import xmldsig
from verification.indication import Indication
from verification.service import call_bounded, check_with_ders, name_agencies


def position_problems(root: Any) -> list[Finding]:
    """Exactly one signature, the last child of edXMLHeader (messages and status messages)."""
    sigs = xmldsig.find_signatures(root)
    if len(sigs) != 1:
        return [Finding(f"an edXML package carries exactly one signature, this one has {len(sigs)}",
                        f"gói tin edXML phải có đúng một chữ ký, gói này có {len(sigs)}")]
    element, _namespaced = sigs[0]
    header = building.header_element(root)
    if element.getparent() is not header or header[-1] is not element:
        return [Finding("the signature is not the last child of edXMLHeader",
                        "chữ ký không phải phần tử con cuối cùng của edXMLHeader")]
    return []


def not_whole(what_en: str, what_vi: str) -> Finding:
    """The signature does not cover the whole package or message."""
    return Finding(f'the signature does not cover the whole {what_en} (Reference URI="" required)',
                   f'chữ ký không bao phủ toàn bộ {what_vi} (cần Reference URI="")')


def _what_changed(pkg: model.Package) -> list[Finding]:
    """When the package no longer verifies: which attachments changed, by the digests Kyso
    signed along with it (used only if their own reference and the signature value hold)."""
    sigs = xmldsig.find_signatures(pkg.root)
    if len(sigs) != 1:
        return []
    element, namespaced = sigs[0]
    found = building.signed_digests(element)
    if found is None:
        return []
    object_id, digests = found
    check = xmldsig.check(pkg.root, element, namespaced)
    refs = [r.get("URI") for r in element.iter(f"{{{xmldsig.DS}}}Reference")]
    if not check.signature_valid or f"#{object_id}" not in refs or f"#{object_id}" in check.changed:
        return []
    have = {model.content_key(a.content_id): a for a in pkg.attachments}
    digests = {model.content_key(cid): value for cid, value in digests.items()}
    out = [Finding(f"attachment {cid} ({a.name}) changed after signing",
                   f"tệp đính kèm {cid} ({a.name}) bị thay đổi sau khi ký") for cid, a in have.items()
           if cid in digests and not a.error and hashlib.sha256(a.data).digest() != digests[cid]]
    out.extend(Finding(f"attachment {cid}, signed, is missing", f"tệp đính kèm {cid} đã được ký nhưng bị thiếu")
               for cid in digests if cid not in have)
    if not out and all(cid in digests or a.error for cid, a in have.items()):
        out.append(Finding("every attachment matches its signed digest: the header or body changed after signing",
                           "mọi tệp đính kèm khớp giá trị băm đã ký: phần đầu hoặc nội dung gói tin bị thay đổi "
                           "sau khi ký"))
    return out


def check_package(source: bytes | str, ders: tuple[tuple[bytes, ...], ...], fetch: bool) -> tuple[Any, ...]:
    """The whole check, in one bounded helper (verification.service.call_bounded): the package parsed
    with limits, its signature verified, each attached PDF verified. Returns the header, the
    traces, the findings, the report, the attachment entries and the signer certificates.
    ``source``: the package, or the path of a file holding it (read here, in the helper, so
    that the worker never holds a large package)."""
    if isinstance(source, str):
        with open(source, "rb") as f:
            pkg = parsing.parse(f)
    else:
        pkg = parsing.parse(source)
    report, certs = check_with_ders(b"", None, ders, fetch, pkg.root)
    problems = position_problems(pkg.root) + pkg.findings()
    # What a generic XML signature leaves INDETERMINATE (content in the signature that no
    # reference signs, a second SignedProperties) breaks the package's own signature rules.
    problems.extend(Finding(p["en"], p["vi"]) for s in report.signatures
                    if s.kind == "xml" and s.sub_indication == "SIGNED_DATA_NOT_FOUND" for p in s.problems)
    if report.signatures and not any(s.kind == "xml" and s.coverage.get("covers_whole_document")
                                     for s in report.signatures):
        problems.append(not_whole("package", "gói tin"))
    if report.sub_indication == "HASH_FAILURE":
        problems.extend(_what_changed(pkg))
    attachments = []
    for att in pkg.attachments:
        entry: dict[str, Any] = {"content_id": att.content_id, "name": att.name, "content_type": att.content_type,
                                 "size": len(att.data), "sha256": hashlib.sha256(att.data).hexdigest(),
                                 "zipped": att.zipped}
        if att.data[:1024].find(b"%PDF-") >= 0:
            try:
                entry["pdf_report"], pdf_certs = check_with_ders(att.data, None, ders, fetch)
                certs.update(pdf_certs)
            except KysoError as exc:  # an unreadable PDF is a finding about the package, not a 422
                entry["pdf_error"] = {"code": exc.code, "en": exc.message_en, "vi": exc.message_vi}
        attachments.append(entry)
    return pkg.header, pkg.traces, problems, report, attachments, certs


def verify_package(factory: sessionmaker[Session], settings: Settings, source: bytes | str, *,
                   offline: bool = False) -> dict[str, Any]:
    """The report on a package (bytes, or the path of a file that holds it)."""
    header, traces, problems, report, attachments, certs = call_bounded(
        factory, settings, "axis.verify:check_package", source, offline=offline)
    name_agencies(factory, report.signatures + [s for a in attachments if "pdf_report" in a
                                                       for s in a["pdf_report"].signatures], certs)
    for a in attachments:
        if "pdf_report" in a:
            a["pdf_report"] = a["pdf_report"].to_json()
    if problems and report.indication != Indication.TOTAL_FAILED:
        report.indication, report.sub_indication = Indication.TOTAL_FAILED, "FORMAT_FAILURE"
        report.summary_en = "The package breaks the edXML rules: " + joined(problems, "en") + "."
        report.summary_vi = "Gói tin vi phạm quy định edXML: " + joined(problems, "vi") + "."
    signed = report.indication != Indication.TOTAL_FAILED and any(
        s.kind == "xml" and s.coverage.get("covers_whole_document") for s in report.signatures)
    body = report.to_json()
    body["edxml"] = {
        "findings": [str(p) for p in problems],
        "findings_vi": [p.vi for p in problems],
        "header": asdict(header) if signed else None,
        "traces": [asdict(t) for t in traces] if signed else None,
        "attachments": attachments,
        "values_from_signed_data": signed,
    }
    return body
