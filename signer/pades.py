"""PAdES signatures (ETSI EN 319 142-1, B-B to B-LTA) with Decree 30 appearances.

pyHanko does the PDF work (incremental updates, /SubFilter ETSI.CAdES.detached, DSS,
document time stamps, DocMDP); the HSM is plugged in once, as a pyHanko ``Signer`` whose
only job is the raw signature through ``KeyStore``. Time stamps come from Kyso's own TSA
and revocation data from Kyso's own OCSP responder and CRLs, in-process.

Appearance profiles (shared/DOMAIN.md, Decree 30/2020):
- ``leader``: the official's title line, the signature image, the official's name;
- ``seal``: the agency's seal image at true size, overlapping the left third of the
  leader's signature (the previous signature on the page) when there is one;
- ``copy``: top right of page 1, no image, the document number, the agency and the time
  as 2026-11-25T09:30:00+07:00, in Liberation Serif (Times New Roman metrics) 10 pt;
- ``none``: an invisible signature.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import shutil
import subprocess
import tempfile
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp, x509
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from ca_admin import facade as ca
from hsm import KeyStore, SignatureScheme
from kyso.bounded import TooComplex
from kyso.db import read_transaction
from kyso.errors import BadRequest, ErrorKind, KysoError
from kyso.limits import bool_option
from kyso.settings import Settings
from signer import cmsbuild, images
from signer.cades import tsa_reply
from signer.credentials import Credential
from signer.messages import (
    ANCHOR_EMPTY,
    ANCHOR_NOT_ON_PAGE,
    APPEARANCE_INVALID,
    FIELD_NAME_INVALID,
    FONT_MISSING,
    LEADER_NEEDS_PERSONAL_CREDENTIAL,
    NO_SEAL_IMAGE,
    NOT_A_PDF,
    PADES_LEVEL_INVALID,
    PAGE_HAS_NO_TEXT,
    PAGE_INVALID,
    PAGE_OUT_OF_RANGE,
    PDF_CANNOT_BE_SIGNED,
    PDF_ENCRYPTED,
    PDF_NESTED_TOO_DEEPLY,
    PDF_PAGES_UNREADABLE,
    PDF_TEXT_UNREADABLE,
    PDF_UNREADABLE,
    RECT_INVALID,
)
from signer.settings import SigningSettings, TsaSettings

if TYPE_CHECKING:
    from signer.signing import Grant

PDF_LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
PROFILES = ("leader", "seal", "copy", "none")
FONT = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")
VN = ZoneInfo("Asia/Ho_Chi_Minh")
SEAL_MM = 40.0  # a round agency seal is about 40 mm across when the PNG states no size
MM = 72 / 25.4


class InvalidPdf(KysoError):
    code = "invalid-pdf"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Invalid PDF"


class EncryptedPdf(InvalidPdf):
    code = "pdf-encrypted"


class SignatureFieldInvalid(KysoError):
    """A signature field name that could not be carried back safely (it goes into the
    X-Kyso-Signature-Field response header): refused before anything is signed."""

    code = "signature-field-invalid"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Invalid signature field name"


FIELD_NAME = re.compile(r"[\x20-\x7e]{1,100}")  # printable ASCII: safe in an HTTP header


def check_field_name(name: str) -> str:
    if not FIELD_NAME.fullmatch(name):
        raise SignatureFieldInvalid(
            FIELD_NAME_INVALID)
    return name


class AnchorNotFound(KysoError):
    code = "anchor-not-found"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Anchor text not found"


@dataclass(frozen=True)
class PdfOptions:
    level: str = "B-LT"
    profile: str = "none"
    page: int | None = None  # 1-based; None: last page (leader, seal, none), 1 (copy)
    rect: tuple[float, float, float, float] | None = None
    anchor: str | None = None
    certify: bool = False
    reason: str = ""
    location: str = ""
    document_number: str = ""


def parse_options(options: dict[str, Any], settings: Settings) -> PdfOptions:
    level = str(options.get("level") or settings.section(SigningSettings).default_pdf_level).upper()
    if level not in PDF_LEVELS:
        raise BadRequest(PADES_LEVEL_INVALID)
    profile = str(options.get("appearance") or options.get("profile") or "none").lower()
    if profile not in PROFILES:
        raise BadRequest(APPEARANCE_INVALID)
    page = options.get("page")
    if page not in (None, ""):
        try:
            page = int(page)
        except (TypeError, ValueError):
            raise BadRequest(PAGE_INVALID) from None
        if page < 1:
            raise BadRequest(PAGE_INVALID)
    else:
        page = None
    rect = options.get("rect")
    if rect not in (None, ""):
        try:
            values = [float(v) for v in (rect.split(",") if isinstance(rect, str) else rect)]
        except (TypeError, ValueError):
            values = []
        if len(values) != 4 or values[2] <= values[0] or values[3] <= values[1]:
            raise BadRequest(RECT_INVALID)
        rect = tuple(values)
    else:
        rect = None
    anchor = options.get("anchor")
    anchor = str(anchor).strip()[:200] if anchor not in (None, "") else None
    return PdfOptions(level=level, profile=profile, page=page, rect=rect, anchor=anchor,
                      certify=bool_option(options, "certify"), reason=str(options.get("reason") or "")[:200],
                      location=str(options.get("location") or "")[:200],
                      document_number=str(options.get("document_number") or "")[:100])


# -- the HSM as a pyHanko signer ---------------------------------------------------------------------

@lru_cache(maxsize=1)
def _signer_class() -> Any:
    from pyhanko.sign.signers.pdf_cms import Signer

    class HsmSigner(Signer):
        """pyHanko asks; the HSM signs (through ``sign``, the request's key). Nothing else."""

        def __init__(self, sign: Callable[[bytes], bytes], credential: Credential, scheme: SignatureScheme) -> None:
            cert, registry, self._size = _parsed_chain(credential)
            self._sign = sign
            super().__init__(
                signing_cert=cert,
                cert_registry=registry,
                signature_mechanism=cmsbuild.signer_algorithm(scheme),
                prefer_pss=scheme.family == "rsa-pss",
            )

        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            if dry_run:
                return bytes(self._size)
            return self._sign(data)

    return HsmSigner


_CHAINS: dict[tuple[int, str], tuple[Any, Any, int]] = {}


def _parsed_chain(credential: Credential) -> tuple[Any, Any, int]:
    """The signer's certificate, its chain as pyHanko's store, and the signature size; parsed
    once per certificate and kept."""
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = (credential.certificate_id, credential.key_label)
    parsed = _CHAINS.get(key)
    if parsed is None:
        if len(_CHAINS) > 64:
            _CHAINS.clear()
        cert = x509.Certificate.load(credential.certificate_der)
        parsed = _CHAINS[key] = (cert, SimpleCertificateStore.from_certs(
            [x509.Certificate.load(c) for c in credential.chain_der]), _signature_size(cert))
    return parsed


def _hsm_signer(sign: Callable[[bytes], bytes], credential: Credential, scheme: SignatureScheme) -> Any:
    """A pyHanko signer whose raw signatures come from ``sign`` (a SigningKey's, or a
    service key's); one per use, so that concurrent requests never share a key."""
    return _signer_class()(sign, credential, scheme)


def _signature_size(cert: x509.Certificate) -> int:
    key = cert.public_key
    if key.algorithm == "rsa":
        return (key.bit_size + 7) // 8
    return 2 * ((key.bit_size + 7) // 8) + 9  # DER ECDSA at its longest


@lru_cache(maxsize=1)
def _timestamper_class() -> Any:
    from pyhanko.sign.timestamps.api import TimeStamper

    class KysoTimeStamper(TimeStamper):
        """Kyso's own TSA, called in-process."""

        def __init__(self, factory: sessionmaker[Session], keystore: KeyStore, settings: Settings) -> None:
            super().__init__()
            self._args = (factory, keystore, settings)

        async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
            return tsa_reply(*self._args, req.dump())

    return KysoTimeStamper


# -- revocation data from Kyso's own responder and CRLs -----------------------------------------------

def validation_context(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings,
                       credential: Credential) -> Any:
    """Trust in the city root, with the OCSP responses (signer and TSA certificates) and the
    CRLs (issuing CA, root) that B-LT embeds, and no fetching over the network."""
    from pyhanko_certvalidator import ValidationContext

    chain = [x509.Certificate.load(c) for c in credential.chain_der]
    ocsps = []
    tsa_cred = ca.service_credential(factory, keystore, settings, "tsa", "Kyso TSA",
                                     rotate_days=settings.section(TsaSettings).rotate_days)
    for der in (credential.certificate_der, tsa_cred.certificate_der):
        resp = ca.ocsp_response_der(factory, keystore, settings, der)
        if resp is not None:
            ocsps.append(asn1_ocsp.OCSPResponse.load(resp))
    crls = []
    for role in (ca.CaRole.ISSUING, ca.CaRole.ROOT):
        crls.append(asn1_crl.CertificateList.load(ca.current_crl_der(factory, keystore, settings, role)))
    return ValidationContext(trust_roots=[chain[-1]], other_certs=chain[:-1], ocsps=ocsps, crls=crls,
                             allow_fetching=False, revocation_mode="hard-fail")


# -- placement and appearance -----------------------------------------------------------------------

def find_anchor(source: IO[bytes], page: int, anchor: str) -> tuple[float, float, float, float, float]:
    """The box (x1, y1, x2, y2 in PDF points, origin bottom left) of the first line on
    ``page`` that contains ``anchor``, and the page height (poppler's pdftotext)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        position = source.tell()
        source.seek(0)
        shutil.copyfileobj(source, tmp, 1 << 20)
        source.seek(position)
        tmp.flush()
        try:
            out = subprocess.run(["pdftotext", "-q", "-bbox-layout", "-f", str(page), "-l", str(page), tmp.name, "-"],
                                 capture_output=True, timeout=60, check=True).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise InvalidPdf(PDF_TEXT_UNREADABLE, log_detail=str(exc)[:200]) from None
    # poppler's own XHTML, the PDF's text escaped in it; its doctype is dropped so that no
    # DTD is ever read (expat resolves no external entities either).
    root = ElementTree.fromstring(re.sub(rb"<!DOCTYPE[^>]*>", b"", out))  # noqa: S314
    ns = {"x": "http://www.w3.org/1999/xhtml"}
    page_el = root.find(".//x:page", ns)
    if page_el is None:
        raise AnchorNotFound(PAGE_HAS_NO_TEXT.format(page=page))
    height = float(page_el.get("height", "842"))
    parts = unicodedata.normalize("NFC", anchor).split()
    if not parts:
        raise AnchorNotFound(ANCHOR_EMPTY)
    pattern = re.compile(r"\s+".join(re.escape(p) for p in parts), re.IGNORECASE)
    for line in page_el.iterfind(".//x:line", ns):
        # Each character's x range, spread evenly over its word's box (a "word" may carry
        # leading spaces), joined by single spaces between words.
        chars: list[tuple[str, float, float]] = []
        for word in line.iterfind("x:word", ns):
            word_text = unicodedata.normalize("NFC", word.text or "")
            wx1, wx2 = float(word.get("xMin", 0)), float(word.get("xMax", 0))
            weights = [_char_weight(c) for c in word_text]
            unit = (wx2 - wx1) / max(sum(weights), 1e-6)
            if chars:
                chars.append((" ", chars[-1][2], wx1))
            x = wx1
            for c, w in zip(word_text, weights, strict=True):
                chars.append((c, x, x + w * unit))
                x += w * unit
        match = pattern.search("".join(c for c, _a, _b in chars))
        if match:
            x1, x2 = chars[match.start()][1], chars[match.end() - 1][2]
            y1, y2 = float(line.get("yMin", 0)), float(line.get("yMax", 0))
            return x1, height - y2, x2, height - y1, height
    raise AnchorNotFound(ANCHOR_NOT_ON_PAGE.format(anchor=anchor[:60], page=page))


def _char_weight(c: str) -> float:
    """A rough advance width in em, to place a match inside a word's box."""
    if c.isspace():
        return 0.25
    if c in "iljtfr.,:;'!|()[]-":
        return 0.3
    return 0.72 if c.isupper() or c in "mwMW" else 0.5


def _png(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    img.load()
    return img


def _true_size(img: Image.Image, default_mm: float) -> tuple[float, float]:
    """The image's size in points, from its stated resolution, else ``default_mm`` wide."""
    dpi = img.info.get("dpi")
    if dpi and dpi[0] and dpi[0] > 30:
        return img.width / float(dpi[0]) * 72, img.height / float(dpi[1] or dpi[0]) * 72
    width = default_mm * MM
    return width, width * img.height / img.width


@lru_cache(maxsize=4)
def font_file(path: Path = FONT) -> str:
    """The font, rescaled to 1000 units per em, as a file for pyHanko.

    pyHanko 0.38 writes a CIDFont's /W widths in the font's own units, which PDF reads as
    thousandths of an em: with a 2048-unit TrueType font (Liberation, DejaVu, Times New
    Roman) every glyph then advances twice its width and text spreads out. Rescaling the
    font to 1000 units once per process makes the two agree."""
    from fontTools.ttLib import TTFont
    from fontTools.ttLib.scaleUpem import scale_upem

    if not path.is_file():
        raise KysoError(FONT_MISSING, log_detail=str(path))
    font = TTFont(str(path))
    if font["head"].unitsPerEm != 1000:
        scale_upem(font, 1000)
    out = Path(tempfile.mkdtemp(prefix="kyso-font-")) / path.name
    font.save(str(out))
    return str(out)


def _font_factory() -> Any:
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory

    return GlyphAccumulatorFactory(font_file(FONT))


def _text_style(size: int) -> Any:
    from pyhanko.pdf_utils.text import TextBoxStyle

    return TextBoxStyle(font=_font_factory(), font_size=size, leading=round(size * 1.25))


@dataclass(frozen=True)
class Appearance:
    style: Any
    page_index: int
    box: tuple[int, int, int, int] | None
    params: dict[str, str]
    existing_field: str | None = None  # an empty signature field prepared for this one
    seal_field: tuple[int, int, int, int] | None = None  # prepare an empty field for the seal here


SEAL_FIELD_PREFIX = "Kyso-seal-"


def _seal_box(leader: tuple[float, float, float, float], w: float, h: float) -> tuple[float, float, float, float]:
    """The seal's box: centred on the middle of the left third of the leader's signature."""
    lx1, ly1, lx2, ly2 = leader
    cx, cy = lx1 + (lx2 - lx1) / 6, (ly1 + ly2) / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def appearance(factory: sessionmaker[Session], data: IO[bytes], reader: Any, credential: Credential,
               opts: PdfOptions, now: dt.datetime) -> Appearance:
    from pyhanko.pdf_utils import layout
    from pyhanko.pdf_utils.images import PdfImage
    from pyhanko.stamp import StaticStampStyle, TextStampStyle

    pages = int(reader.root["/Pages"]["/Count"])
    page = opts.page or (1 if opts.profile == "copy" else pages)
    if page > pages:
        raise BadRequest(PAGE_OUT_OF_RANGE.format(pages=pages))
    mediabox = [float(v) for v in reader.get_object(reader.find_page_for_modification(page - 1)[0])["/MediaBox"]]
    page_w, page_h = mediabox[2] - mediabox[0], mediabox[3] - mediabox[1]
    signed_at = now.astimezone(VN).isoformat(timespec="seconds")
    params = {"title": (credential.official_title or "").upper(), "name": credential.official_name,
              "agency": credential.agency_name, "number": opts.document_number, "time": signed_at}
    if opts.profile == "none":
        return Appearance(None, page - 1, None, params)
    with read_transaction(factory) as session:
        kind, owner = ("seal", credential.agency_id) if opts.profile == "seal" else ("signature",
                                                                                       credential.official_id)
        png = images.load(session, kind, owner) if owner is not None and opts.profile != "copy" else None
    box: tuple[float, float, float, float]
    if opts.profile == "copy":
        text = "Số: %(number)s\n%(agency)s\nThời gian ký: %(time)s" if opts.document_number else \
            "%(agency)s\nThời gian ký: %(time)s"
        style = TextStampStyle(stamp_text=text, text_box_style=_text_style(10), border_width=0,
                               background=None)
        width, height = 75 * MM, 16 * MM
        box = opts.rect or (page_w - width - 10 * MM, page_h - height - 8 * MM, page_w - 10 * MM, page_h - 8 * MM)
        return Appearance(style, page - 1, _ints(box), params)
    if opts.profile == "leader":
        if credential.official_id is None:
            raise BadRequest(LEADER_NEEDS_PERSONAL_CREDENTIAL)
        background = PdfImage(_png(png)) if png else None
        # Anchored to the document's own title line, the appearance holds the signature
        # image and the name below it; placed elsewhere, the title line too.
        text = "\n\n\n\n\n%(name)s" if opts.anchor and not opts.rect else "%(title)s\n\n\n\n\n%(name)s"
        style = TextStampStyle(
            stamp_text=text, text_box_style=_text_style(12), border_width=0,
            background=background, background_opacity=1.0,
            background_layout=layout.SimpleBoxLayoutRule(x_align=layout.AxisAlignment.ALIGN_MID,
                                                          y_align=layout.AxisAlignment.ALIGN_MID,
                                                          margins=layout.Margins(0, 0, 18, 18)),
            inner_content_layout=layout.SimpleBoxLayoutRule(x_align=layout.AxisAlignment.ALIGN_MID,
                                                            y_align=layout.AxisAlignment.ALIGN_MID))
        width, height = 70 * MM, 38 * MM
        if opts.rect:
            box = opts.rect
        elif opts.anchor:
            x1, y1, x2, _y2, _h = find_anchor(data, page, opts.anchor)
            cx = (x1 + x2) / 2
            box = (cx - width / 2, y1 - height - 2, cx + width / 2, y1 - 2)
        else:
            box = (page_w - width - 20 * MM, 40 * MM, page_w - 20 * MM, 40 * MM + height)
        seal_field = None
        if opts.certify:
            # After a certification (DocMDP, form filling allowed) only existing signature
            # fields may be signed: prepare the seal's field now, where the seal goes.
            with read_transaction(factory) as session:
                seal_png = images.load(session, "seal", credential.agency_id)
            sw, sh = _true_size(_png(seal_png), SEAL_MM) if seal_png else (SEAL_MM * MM, SEAL_MM * MM)
            seal_field = _ints(_seal_box(box, sw, sh))
        return Appearance(style, page - 1, _ints(box), params, seal_field=seal_field)
    # seal
    if not png:
        raise BadRequest(NO_SEAL_IMAGE.format())  # format() turns its {{code}} into {code}
    img = _png(png)
    w, h = _true_size(img, SEAL_MM)
    seal_style = StaticStampStyle(background=PdfImage(img), border_width=0, background_opacity=1.0)
    prepared = _prepared_seal_field(reader, page - 1)
    if prepared is not None and not opts.rect:
        return Appearance(seal_style, page - 1, None, params, existing_field=prepared)
    if opts.rect:
        box = opts.rect
    else:
        leader = _last_signature_box(reader, page - 1)
        if leader is not None:  # overlap the left third of the leader's signature
            box = _seal_box(leader, w, h)
        elif opts.anchor:
            x1, y1, x2, _y2, _h = find_anchor(data, page, opts.anchor)
            box = _seal_box((x1, y1 - h, x2, y1), w, h)
        else:
            box = _seal_box((page_w - 90 * MM, 40 * MM, page_w - 20 * MM, 40 * MM + h), w, h)
    return Appearance(seal_style, page - 1, _ints(box), params)


def _ints(box: tuple[float, ...]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (round(v) for v in box)
    return x1, y1, x2, y2


def _prepared_seal_field(reader: Any, page_index: int) -> str | None:
    """The name of an empty seal field prepared on this page by a certifying leader."""
    from pyhanko.sign.fields import enumerate_sig_fields

    page_ref = reader.find_page_for_modification(page_index)[0]
    for name, _value, ref in enumerate_sig_fields(reader, filled_status=False):
        field = ref.get_object()
        page = field.get_value_as_reference("/P") if "/P" in field else None
        if name.startswith(SEAL_FIELD_PREFIX) and (page is None or page.idnum == page_ref.idnum):
            return str(name)
    return None


def _last_signature_box(reader: Any, page_index: int) -> tuple[float, float, float, float] | None:
    """The rectangle of the last visible signature widget on the page, if any."""
    from pyhanko.sign.fields import enumerate_sig_fields

    page_ref = reader.find_page_for_modification(page_index)[0]
    found = None
    for _name, _value, ref in enumerate_sig_fields(reader, filled_status=True):
        field = ref.get_object()
        rect = field.get("/Rect")
        page = field.get_value_as_reference("/P") if "/P" in field else None
        if rect is None or (page is not None and page.idnum != page_ref.idnum):
            continue
        values = [float(v) for v in rect]
        if values[2] - values[0] > 1 and values[3] - values[1] > 1:
            found = (values[0], values[1], values[2], values[3])
    return found


# -- signing --------------------------------------------------------------------------------------------

def sign(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, grant: Grant,
         source: IO[bytes] | bytes, opts: PdfOptions, now: dt.datetime) -> tuple[IO[bytes], str]:
    """The signed PDF (an incremental update of ``source``) in a temporary file, positioned
    at its start, and the signature field name, signed with ``grant``'s key (the signing
    pipeline's, signer.signing). Neither document is held whole in memory. ``keystore``
    serves the time stamps and the validation data only.

    pyHanko reads and writes nested objects recursively: a PDF whose objects nest thousands
    deep ends in 422 document-too-complex (as verification does), before anything is signed."""
    try:
        return _sign(factory, keystore, settings, grant, source, opts, now)
    except RecursionError:
        raise TooComplex(PDF_NESTED_TOO_DEEPLY) from None


def _sign(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, grant: Grant,
          source: IO[bytes] | bytes, opts: PdfOptions, now: dt.datetime) -> tuple[IO[bytes], str]:
    credential, scheme = grant.credential, grant.scheme
    data: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter

    data.seek(0)
    head = data.read(1024)
    data.seek(0)
    if not head.lstrip()[:5].startswith(b"%PDF-"):
        raise InvalidPdf(NOT_A_PDF)
    try:
        writer = IncrementalPdfFileWriter(data, strict=False)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidPdf(PDF_UNREADABLE, log_detail=type(exc).__name__) from None
    if writer.prev.encrypted:
        raise EncryptedPdf(PDF_ENCRYPTED)
    try:
        look = appearance(factory, data, writer.prev, credential, opts, now)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidPdf(PDF_PAGES_UNREADABLE,
                         log_detail=type(exc).__name__) from None
    name = check_field_name(look.existing_field or f"Kyso-{opts.profile}-{uuid.uuid4().hex[:8]}")
    if look.seal_field is not None:
        fields.append_signature_field(writer, SigFieldSpec(
            SEAL_FIELD_PREFIX + uuid.uuid4().hex[:8], on_page=look.page_index, box=look.seal_field))
    level = opts.level
    meta = signers.PdfSignatureMetadata(
        field_name=name, md_algorithm=scheme.hash_name, subfilter=SigSeedSubFilter.PADES,
        embed_validation_info=level in ("B-LT", "B-LTA"), use_pades_lta=level == "B-LTA",
        validation_context=(validation_context(factory, keystore, settings, credential)
                            if level in ("B-LT", "B-LTA") else None),
        certify=opts.certify, docmdp_permissions=MDPPerm.FILL_FORMS,
        reason=opts.reason or None, location=opts.location or None,
        name=credential.official_name or credential.agency_name)
    timestamper = _timestamper_class()(factory, keystore, settings) if level != "B-B" else None
    if look.existing_field:
        spec = None
    elif look.box:
        spec = SigFieldSpec(name, on_page=look.page_index, box=look.box)
    else:
        spec = SigFieldSpec(name)
    pdf_signer = signers.PdfSigner(meta, signer=_hsm_signer(grant.key.sign, credential, scheme),
                                   timestamper=timestamper, stamp_style=look.style, new_field_spec=spec)
    out = tempfile.TemporaryFile()
    try:
        asyncio.run(pdf_signer.async_sign_pdf(writer, output=out, appearance_text_params=look.params,
                                              bytes_reserved=_reserve(credential, level)))
    except KysoError:
        out.close()
        raise
    except PdfError as exc:
        out.close()
        raise InvalidPdf(PDF_CANNOT_BE_SIGNED,
                         log_detail=f"{type(exc).__name__}: {str(exc)[:200]}") from None
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out, name


def _reserve(credential: Credential, level: str) -> int:
    """Bytes for the CMS blob, so that pyHanko signs once instead of a dry run first: the
    certificates, the signature, the attributes, and a time stamp token (with the TSA's
    chain) from B-T up. pyHanko counts the hex digits of /Contents: twice the bytes."""
    certs = len(credential.certificate_der) + sum(len(c) for c in credential.chain_der)
    size = 2048 + certs + 2 * 512
    if level != "B-B":
        size += 2048 + 2 * certs + 512
    return 2 * size
