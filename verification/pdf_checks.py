"""Checks on a signed PDF that pyHanko's validator leaves out, against the published attacks.

pyHanko judges each signature it finds in the last revision: the bytes, the chain and the
changes made after it. What it does not look at, and what this module does:

- **Signatures it never sees.** pyHanko lists the signature fields of the last revision
  only, and skips a /SubFilter it does not know. An update that swaps the catalog for a
  "shadow" one (hide-and-replace, Rohlmann et al., NDSS 2021) leaves a file in which
  pyHanko finds no signature at all. Kyso collects the signature fields of every revision:
  a signature missing from the last one was removed or hidden after signing.
- **The byte range itself** (universal signature forgery and signature wrapping, Mladenov
  et al., CCS 2019): /ByteRange must be four integers [0 a b c] inside the file, and the gap
  [a, b) must hold exactly the /Contents hex string of that signature dictionary, nothing
  more. pyHanko only compares the gap's length with the signature's.
- **Signatures over each other**: a later signature's gap must lie after everything the
  earlier one signed, or the second signature's range sits inside the first's contents.
- **Bytes nobody signed**: after the last revision the file may hold only white space.
  Anything else (objects appended without an xref, the incremental saving attack in its
  "repair" form) is shown by lenient viewers and judged by no one; pyHanko ignores it.
- **Form filling the signer did not allow** (shadow "replace"): pyHanko allows form
  filling after any signature without a DocMDP policy. Kyso allows a non-signature field to
  change after signing only when a certification signature permits it (DocMDP P=2 or 3):
  an official document is not a form, and a changed field value over a signed page is
  exactly how the replace attack shows other text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SUPPORTED_SUBFILTERS = {"/adbe.pkcs7.detached", "/ETSI.CAdES.detached", "/ETSI.RFC3161"}
# Legacy PDF signatures over a SHA-1 digest (ISO 32000-1, 12.8.3.3): their integrity and
# signature value are verified, and the weak algorithm is reported.
LEGACY_SUBFILTERS = {"/adbe.pkcs7.sha1", "/adbe.x509.rsa_sha1"}
WHITE = b" \t\r\n\f\x00"
_HEX = re.compile(rb"<[0-9A-Fa-f\s]*>")


@dataclass
class Problem:
    sub_indication: str  # FORMAT_FAILURE or SIG_CONSTRAINTS_FAILURE
    en: str
    vi: str

    def to_json(self) -> dict[str, str]:
        return {"sub_indication": self.sub_indication, "en": self.en, "vi": self.vi}


@dataclass
class FoundSignature:
    name: str
    field: Any  # the signature field dictionary, from the revision it was last seen in
    sig_ref: Any  # the signature dictionary's reference (or the dictionary, if direct)
    in_last_revision: bool
    last_seen_revision: int


def _key(ref: Any) -> Any:
    return (ref.idnum, ref.generation) if hasattr(ref, "idnum") else id(ref)


def collect(reader: Any) -> list[FoundSignature]:
    """Filled signature fields of every revision, by signature dictionary, oldest first."""
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.sign.fields import enumerate_sig_fields

    found: dict[Any, FoundSignature] = {}
    last = reader.xrefs.total_revisions - 1
    for rev in range(last + 1):
        try:
            resolver = reader if rev == last else reader.get_historical_resolver(rev)
            fields = list(enumerate_sig_fields(resolver, filled_status=True))
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:  # noqa: BLE001 - see below
            # An earlier revision need not be a readable document on its own: the first
            # section of a linearized file, or an update that Acrobat, iText or LibreOffice
            # wrote, often holds no catalog, or refers to objects that only later revisions
            # define (pyHanko then fails an assertion or a lookup). Such a revision shows no
            # signature field; its signed bytes are still checked through the signatures that
            # cover it. The last revision is the document itself: unreadable there is
            # unreadable.
            if rev == last:
                raise PdfReadError(f"the signature fields cannot be read: {type(exc).__name__}") from exc
            continue
        for name, sig_ref, field in fields:
            key = _key(sig_ref)
            found[key] = FoundSignature(name, field, sig_ref, rev == last, rev)
    for item in found.values():
        item.in_last_revision = item.last_seen_revision == last
    return list(found.values())


_NAME_SHOWN = 64  # characters of an unknown /SubFilter a report repeats
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._+/-]")


def shown_name(name: str) -> str:
    """A PDF name from the file, as a report may repeat it: the signer (or an attacker) chose
    it, so only name-like ASCII is kept (anything else becomes '?', no markup, no control or
    bidirectional characters) and it is cut to a bounded length."""
    safe = _NAME_UNSAFE.sub("?", name)
    return safe if len(safe) <= _NAME_SHOWN else safe[:_NAME_SHOWN] + "..."


def subfilter_problem(sig_object: Any) -> Problem | None:
    """A /SubFilter Kyso does not implement: what the signature holds is unknown, which is
    not evidence against it (issue 14, item 5), so the caller reports it INDETERMINATE."""
    subfilter = str(sig_object.get("/SubFilter", ""))
    if subfilter in SUPPORTED_SUBFILTERS or subfilter in LEGACY_SUBFILTERS:
        return None
    if not subfilter:
        return Problem("FORMAT_FAILURE", "the signature names no format (/SubFilter), so Kyso cannot check it",
                       "chữ ký không ghi định dạng (/SubFilter) nên Kyso không kiểm tra được")
    shown = shown_name(subfilter)
    return Problem("FORMAT_FAILURE", f"the signature format {shown} is not supported by Kyso, so it cannot be checked",
                   f"Kyso chưa hỗ trợ định dạng chữ ký {shown} nên không kiểm tra được chữ ký này")


def byte_range_problem(data: bytes, sig_object: Any) -> Problem | None:
    """/ByteRange must be [0 a b c] inside the file with exactly the /Contents string in [a, b)."""
    bad = Problem("FORMAT_FAILURE", "the signature's byte range is malformed or does not match its /Contents",
                  "vùng dữ liệu được ký (ByteRange) sai hoặc không khớp với giá trị chữ ký (/Contents)")
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.sign.validation.pdf_embedded import extract_contents

    try:
        values = [int(v) for v in sig_object.raw_get("/ByteRange")]
        contents = extract_contents(sig_object)  # as written: /Contents is never encrypted
    except (KeyError, TypeError, ValueError, AttributeError, PdfReadError):
        return bad
    if len(values) != 4 or values[0] != 0 or min(values) < 0:
        return bad
    _, a, b, c = values
    if not (0 < a < b) or b + c > len(data):
        return bad
    gap = data[a:b]
    if not _HEX.fullmatch(gap) or bytes.fromhex(re.sub(rb"\s", b"", gap[1:-1]).decode()) != contents:
        return bad
    if not data[max(0, a - 256):a].rstrip(WHITE).endswith(b"/Contents"):
        return bad
    return None


def ranges_problem(earlier: list[int], later: list[int]) -> Problem | None:
    """The later signature's gap must come after all the earlier signature signed."""
    if later[1] >= earlier[2] + earlier[3]:
        return None
    return Problem("FORMAT_FAILURE", "this signature's byte range overlaps what an earlier signature covers",
                   "vùng ký của chữ ký này chồng lên vùng của một chữ ký trước đó")


def tail_problem(data: bytes, reader: Any) -> Problem | None:
    """After the last revision's %%EOF, only white space: nothing unsigned and unparsed."""
    xrefs = reader.xrefs
    last = xrefs.total_revisions - 1
    try:
        # The section that ends last in the file: in a linearized file (Acrobat's "fast web
        # view") the newest section is the first-page xref near the start, and the rest of
        # the file follows it.
        end = max(xrefs.get_xref_container_info(rev).end_location for rev in range(last + 1))
    except (KeyError, ValueError, AttributeError):
        return None
    eof = data.find(b"%%EOF", end)
    if eof < 0:
        rest = data[end:]
    else:
        rest = data[eof + 5:]
    startxref = xrefs.get_startxref_for_revision(last)
    marker = data.rfind(b"startxref", 0, eof if eof >= 0 else len(data))
    declared = re.match(rb"startxref\s+(\d+)", data[marker:]) if marker >= 0 else None
    if rest.strip(WHITE) or declared is None or int(declared.group(1)) != startxref:
        return Problem("SIG_CONSTRAINTS_FAILURE",
                       "the file has bytes after its last revision that no signature covers and that are not a "
                       "valid update (a lenient viewer may show them)",
                       "tệp có dữ liệu sau phiên bản cuối cùng không được ký và không phải bản cập nhật hợp lệ "
                       "(một số trình xem vẫn có thể hiển thị)")
    return None


def removed_problem() -> Problem:
    return Problem("SIG_CONSTRAINTS_FAILURE",
                   "a later update removed or hid this signature (the document shown is not the one signed)",
                   "một bản cập nhật sau đã gỡ hoặc che chữ ký này (tài liệu hiển thị không phải tài liệu đã ký)")


def form_filling_problem(changed: set[str], signature_fields: set[str], docmdp: Any) -> Problem | None:
    """Non-signature fields changed after signing, unless a certification signature allows it."""
    from pyhanko.sign.fields import MDPPerm

    others = sorted(changed - signature_fields)
    if not others or (docmdp is not None and docmdp >= MDPPerm.FILL_FORMS):
        return None
    names = ", ".join(others)
    return Problem("SIG_CONSTRAINTS_FAILURE",
                   f"form fields changed after signing without the signer's permission: {names}",
                   f"trường biểu mẫu bị thay đổi sau khi ký mà người ký không cho phép: {names}")


# What pyHanko's difference analysis names as a violation when it stops (SuspiciousModification):
# a locked field changed, a change only an approval signature allows made after a certification
# signature, or an object the signed revision uses overwritten by a later one (it names the
# object and where the signed revision used it; pyHanko's "sneaky" appearance overrides). Any
# other reason (a DSS dictionary it cannot read, freed objects, a dictionary it cannot compare)
# is "could not explain", not "forbidden".
_NAMED_VIOLATIONS = ("is locked", "not a certification signature", "were replaced in revision",
                     "used in multiple contexts")
_MAX_PAGES = 5000


def _shown_pages(resolver: Any) -> list[tuple[bytes, ...]] | None:
    """Per page of one revision: the bytes of its content streams and of the XObjects its own
    resources name, as stored (what a viewer draws). None when the page tree cannot be read.
    Every reference is resolved in that revision (``resolver``), not in the file's last one."""
    from pyhanko.pdf_utils import generic

    def get(obj: Any) -> Any:
        return resolver(obj.reference) if isinstance(obj, generic.IndirectObject) else obj

    def data(obj: Any) -> bytes:
        obj = get(obj)
        return bytes(obj.encoded_data) if isinstance(obj, generic.StreamObject) else repr(obj).encode()

    pages: list[tuple[bytes, ...]] = []
    try:
        todo = [get(get(resolver.trailer_view.raw_get("/Root")).raw_get("/Pages"))]
        visited = 0
        while todo and len(pages) < _MAX_PAGES:
            node, visited = todo.pop(), visited + 1
            if visited > 2 * _MAX_PAGES:  # a page tree with a cycle
                return None
            if "/Kids" in node:
                todo.extend(get(k) for k in reversed(list(get(node.raw_get("/Kids")))))
                continue
            contents = get(node.raw_get("/Contents")) if "/Contents" in node else None
            parts = [] if contents is None else list(contents) if isinstance(contents, generic.ArrayObject) \
                else [contents]
            resources = get(node.raw_get("/Resources")) if "/Resources" in node else generic.DictionaryObject()
            xobjects = get(resources.raw_get("/XObject")) if "/XObject" in resources else generic.DictionaryObject()
            pages.append(tuple(data(p) for p in parts) + tuple(data(xobjects.raw_get(k)) for k in sorted(xobjects)))
    except Exception:  # noqa: BLE001 - an unreadable page tree proves nothing either way
        return None
    return pages


def signed_pages_changed(reader: Any, signed_revision: int) -> bool:
    """Whether a later revision changed what the signed revision's pages show: a page added or
    removed, a content stream or a page's XObject redefined (the incremental saving attack, the
    shadow "hide" overlay swapped). Evidence, unlike a change the difference analysis only
    fails to explain. False when either revision's pages cannot be read."""
    last = reader.xrefs.total_revisions - 1
    if signed_revision >= last:
        return False
    before = _shown_pages(reader.get_historical_resolver(signed_revision))
    after = _shown_pages(reader.get_historical_resolver(last))
    return before is not None and after is not None and before != after


def named_violation(diff_result: Any) -> bool:
    """pyHanko stopped its difference analysis on a change it names as forbidden."""
    from pyhanko.sign.diff_analysis import SuspiciousModification

    return isinstance(diff_result, SuspiciousModification) and any(s in str(diff_result) for s in _NAMED_VIOLATIONS)


def unclassified_problem() -> Problem:
    return Problem("SIG_CONSTRAINTS_FAILURE",
                   "the document was changed after this signature in a way Kyso could not classify as allowed; "
                   "the signed revision itself is intact",
                   "tài liệu đã bị thay đổi sau chữ ký này mà Kyso không xác định được đó có phải là thay đổi "
                   "được phép hay không; phần tài liệu đã ký vẫn nguyên vẹn")


def pages_changed_problem() -> Problem:
    return Problem("SIG_CONSTRAINTS_FAILURE",
                   "a later update changed what the signed pages show",
                   "một bản cập nhật sau đã thay đổi nội dung hiển thị của các trang đã ký")


def unanalysed_problem(status: Any) -> Problem | None:
    """The finding for a signature whose later changes could not be analysed (see verification.pdf._validated):
    none when it covers the whole file (there are no later changes)."""
    if status is not None and status.coverage is not None and status.coverage.name == "ENTIRE_FILE":
        return None
    return Problem("SIG_CONSTRAINTS_FAILURE", "the changes made to the document after this signature could not be "
                   "analysed, so whether its signer allowed them is not known",
                   "không phân tích được các thay đổi sau chữ ký này nên không biết người ký có cho phép hay không")
