"""ASiC containers (ETSI EN 319 162-1): a zip holding data files and, under ``META-INF/``,
their signatures.

- ASiC-S: one data file at the root, signed by ``META-INF/signature.p7s`` (a detached CAdES
  over that file) or ``META-INF/signatures.xml`` (XAdES whose references name the file).
- ASiC-E with CAdES: each ``META-INF/ASiCManifest*.xml`` lists data files with their digests
  and names the detached CMS signature (``META-INF/signature*.p7s``) that signs the manifest.
- ASiC-E with XAdES: each ``META-INF/*signatures*.xml`` holds XML signatures whose references
  name container files by URI.

The ``mimetype`` entry (first, uncompressed) says which type; it is optional (EN 319 162-1
4.3.1, 4.4.1), and without it the type is told from the content. This module reads the
container only: which files exist, which manifest digests hold; the signatures themselves are
judged by verification/asic.py.

The zip is read with limits (entries, total size, compression ratio) so that a zip bomb is
refused, and manifests are parsed with no DTD or entities allowed. Entry names are only keys:
nothing is written to disk, so a name such as ``../x`` reaches no file.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import urllib.parse
import zipfile
import zlib
from dataclasses import dataclass, field
from xml.etree import ElementTree

from kyso.errors import ErrorKind, KysoError
from verification.messages import (
    CONTAINER_DUPLICATE_NAMES,
    CONTAINER_ENTRY_TOO_LARGE,
    CONTAINER_EXPANDS_TOO_MUCH,
    CONTAINER_TOO_MANY_ENTRIES,
    MANIFEST_HAS_DTD,
    MANIFEST_MALFORMED,
    MANIFEST_NAMES_NO_SIGNATURE,
    NOT_A_ZIP_CONTAINER,
)

MIMETYPES = {"application/vnd.etsi.asic-e+zip": "asic-e", "application/vnd.etsi.asic-s+zip": "asic-s",
             "application/vnd.bdoc-1.0": "asic-e"}  # BDOC (Estonia) is an ASiC-E profile
DIGESTS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    "http://www.w3.org/2001/04/xmldsig-more#sha224": "sha224",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-224": "sha3_224",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-256": "sha3_256",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-384": "sha3_384",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-512": "sha3_512",
}
MAX_ENTRIES = 1000
MAX_TOTAL = 200 * 1024 * 1024
MAX_RATIO = 100
MAX_MANIFEST = 1024 * 1024
CADES_NAME = re.compile(r"META-INF/[^/]*signature[^/]*\.p7s")
XADES_NAME = re.compile(r"META-INF/[^/]*signatures[^/]*\.xml")
MANIFEST_NAME = re.compile(r"META-INF/ASiCManifest[^/]*\.xml")
# Signatures of other zip formats that carry a META-INF (OpenDocument), not ASiC signatures.
NOT_ASIC = {"META-INF/documentsignatures.xml", "META-INF/macrosignatures.xml"}


class InvalidContainer(KysoError):
    code = "invalid-container"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Invalid ASiC container"


@dataclass
class Note:
    """Something about the container a reader should know (en, vi); ``failure`` when it
    breaks the container's format (EN 319 162-1), as an ASiC-S with two data files does."""

    en: str
    vi: str
    failure: bool = False


@dataclass
class Signature:
    """One signature file. For ASiC-E with CAdES, the manifest it signs and the manifest's
    digests over the data files; for ASiC-S with CAdES, ``signed`` is the data file."""

    name: str
    format: str  # cades | xades
    data: bytes
    signed: str | None = None  # the file a CAdES signature signs (manifest or data file)
    covered: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # digest algorithms Kyso does not know
    failures: list[Note] = field(default_factory=list)  # what breaks this signature's format


@dataclass
class Container:
    type: str  # asic-e | asic-s
    files: dict[str, bytes]  # every entry but mimetype and directories, by name
    data_files: list[str]  # the data objects: entries outside META-INF/
    signatures: list[Signature]
    notes: list[Note] = field(default_factory=list)


def container_type(data: bytes) -> str | None:
    """'asic-e', 'asic-s' or None: the mimetype entry when it names an ASiC type, else (no
    mimetype, or another) a zip whose META-INF holds ASiC signatures or manifests. Only the
    central directory and the mimetype entry are read."""
    if data[:4] != b"PK\x03\x04":
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()[:MAX_ENTRIES + 1]
            names = [i.filename for i in infos]
            mime = b""
            if "mimetype" in names and zf.getinfo("mimetype").file_size <= 100:
                mime = _read(zf, "mimetype", 100).strip()
    except (zipfile.BadZipFile, InvalidContainer, ValueError, EOFError, OSError, RuntimeError,
            NotImplementedError, zlib.error):
        return None
    kind = MIMETYPES.get(mime.decode("ascii", "replace"))
    if kind is not None:
        return kind
    if mime.startswith(b"application/vnd.oasis.opendocument"):
        return None
    return _infer(names) if any(_role(n) for n in names) else None


def _role(name: str) -> str | None:
    if name in NOT_ASIC:
        return None
    if MANIFEST_NAME.fullmatch(name):
        return "manifest"
    if CADES_NAME.fullmatch(name):
        return "cades"
    if XADES_NAME.fullmatch(name):
        return "xades"
    return None


def _data_names(names: list[str]) -> list[str]:
    return [n for n in names if n != "mimetype" and not n.startswith("META-INF/") and not n.endswith("/")]


def _infer(names: list[str]) -> str:
    """The type of a container without a (known) mimetype: ASiC-S when it has the ASiC-S
    signature names and one data file, ASiC-E otherwise."""
    if any(_role(n) == "manifest" for n in names):
        return "asic-e"
    if ("META-INF/signature.p7s" in names or "META-INF/signatures.xml" in names) and len(_data_names(names)) == 1:
        return "asic-s"
    return "asic-e"


def _read(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with zf.open(name) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidContainer(CONTAINER_ENTRY_TOO_LARGE.format(name=name[:80]))
    return data


def _parse_manifest(text: bytes) -> ElementTree.Element:
    if re.search(rb"<!(DOCTYPE|ENTITY)", text):
        raise InvalidContainer(MANIFEST_HAS_DTD)
    try:
        return ElementTree.fromstring(text)  # noqa: S314 - no DTD, so no entity can be declared
    except ElementTree.ParseError:
        raise InvalidContainer(MANIFEST_MALFORMED) from None


def _unreadable(text: bytes) -> bool:
    try:
        _parse_manifest(text)
    except InvalidContainer:
        return True
    return False


def resolve(uri: str, files: dict[str, bytes] | list[str]) -> str | None:
    """The container entry a (relative, maybe percent-encoded) URI names, or None."""
    for candidate in (uri, urllib.parse.unquote(uri)):
        if candidate in files:
            return candidate
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check_manifest(name: str, text: bytes, files: dict[str, bytes]) -> Signature | None:
    """The CAdES signature an ASiCManifest names, with the manifest's digests checked; None
    when it names no signature (a time assertion's manifest, ``timestamp*.tst``). The
    namespace is not insisted on (DSS test files use custom ones); names are local."""
    try:
        root = _parse_manifest(text)
    except InvalidContainer:
        if re.search(rb"<!(DOCTYPE|ENTITY)", text):
            raise
        return None
    sig_ref = next((el for el in root if _local(el.tag) == "SigReference"), None)
    uri = sig_ref.get("URI") if sig_ref is not None else None
    target = resolve(uri, files) if uri else None
    if uri and uri.lower().endswith((".tst", ".ers", ".xml")) and not (target and _role(target) == "cades"):
        return None
    if target is None:
        raise InvalidContainer(MANIFEST_NAMES_NO_SIGNATURE.format(name=name))
    sig = Signature(target, "cades", files[target], signed=name)
    for ref in (el for el in root if _local(el.tag) == "DataObjectReference"):
        ref_uri = ref.get("URI") or ""
        method = next((el for el in ref if _local(el.tag) == "DigestMethod"), None)
        value = next((el for el in ref if _local(el.tag) == "DigestValue"), None)
        algorithm = method.get("Algorithm", "") if method is not None else ""
        entry = resolve(ref_uri, files)
        if entry is None:
            sig.missing.append(ref_uri)
            continue
        alg = DIGESTS.get(algorithm)
        if alg is None:
            sig.unsupported.append(algorithm or "(none)")
            continue
        try:
            expected = base64.b64decode((value.text or "").strip() if value is not None else "", validate=True)
        except ValueError:
            expected = b""
        (sig.covered if hashlib.new(alg, files[entry]).digest() == expected else sig.mismatched).append(entry)
    return sig


def open_container(data: bytes) -> Container:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidContainer(NOT_A_ZIP_CONTAINER) from None
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise InvalidContainer(CONTAINER_TOO_MANY_ENTRIES.format(max_entries=MAX_ENTRIES))
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL or any(i.compress_size and i.file_size / i.compress_size > MAX_RATIO for i in infos):
        raise InvalidContainer(CONTAINER_EXPANDS_TOO_MUCH)
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise InvalidContainer(CONTAINER_DUPLICATE_NAMES)
    notes: list[Note] = []
    kind = None
    if "mimetype" in names:
        mime = _read(zf, "mimetype", 100)
        kind = MIMETYPES.get(mime.decode("ascii", "replace").strip())
        if names[0] != "mimetype" or infos[0].compress_type != zipfile.ZIP_STORED:
            notes.append(Note("the mimetype entry is not the first, uncompressed entry (EN 319 162-1)",
                              "tệp mimetype không phải tệp đầu tiên, không nén (EN 319 162-1)"))
        elif kind is None:
            notes.append(Note("the mimetype entry names no ASiC type", "tệp mimetype không ghi loại ASiC"))
    else:
        notes.append(Note("the container has no mimetype entry; its type was told from its content",
                          "gói không có tệp mimetype; loại gói được xác định theo nội dung"))
    if kind is None:
        kind = _infer(names)
    files: dict[str, bytes] = {}
    left = MAX_TOTAL
    for info in infos:
        if info.filename == "mimetype" or info.filename.endswith("/"):
            continue
        files[info.filename] = _read(zf, info.filename, left)
        left -= len(files[info.filename])
    data_files = _data_names(names)
    signatures: list[Signature] = []
    if kind == "asic-s":
        root_files = [n for n in data_files if "/" not in n]
        if len(data_files) != 1 or len(root_files) != 1:
            notes.append(Note(
                f"an ASiC-S container holds exactly one data file at its root; this one holds {len(data_files)}"
                + (" (not at the root)" if data_files and not root_files else ""),
                f"gói ASiC-S chỉ được chứa đúng một tệp dữ liệu ở thư mục gốc; gói này có {len(data_files)}"
                + (" (không ở thư mục gốc)" if data_files and not root_files else ""), failure=True))
        signature_files = [n for n in names if _role(n) in ("cades", "xades")]
        if len(signature_files) > 1:
            notes.append(Note(
                f"an ASiC-S container holds one signature file; this one holds {len(signature_files)}",
                f"gói ASiC-S chỉ được chứa một tệp chữ ký; gói này có {len(signature_files)}", failure=True))
        data_file = next(iter(root_files or data_files), None)
        for name in names:
            role = _role(name)
            if role == "cades":
                signatures.append(Signature(name, "cades", files[name], signed=data_file))
            elif role == "xades":
                signatures.append(Signature(name, "xades", files[name]))
    else:
        if not data_files:
            notes.append(Note("an ASiC-E container holds at least one data file; this one holds none",
                              "gói ASiC-E phải chứa ít nhất một tệp dữ liệu; gói này không có", failure=True))
        for name in names:
            role = _role(name)
            if role == "manifest":
                sig = _check_manifest(name, files[name], files)
                if sig is not None:
                    signatures.append(sig)
            elif role == "xades":
                signatures.append(Signature(name, "xades", files[name]))
        named = {s.name for s in signatures}
        broken = [n for n in names if _role(n) == "manifest" and n not in {s.signed for s in signatures}
                  and _unreadable(files[n])]
        for name in names:
            if _role(name) == "cades" and name not in named and len(broken) == 1:
                # The one manifest that cannot be read is what this signature signed: the
                # signature is judged over it, and the container's format is broken.
                signatures.append(Signature(name, "cades", files[name], signed=broken[0], failures=[
                    Note(f"{broken[0]} is not well-formed XML, so the files it lists cannot be known",
                         f"{broken[0]} không phải XML hợp lệ nên không biết được các tệp nó liệt kê", True)]))
            elif _role(name) == "cades" and name not in named:
                notes.append(Note(f"{name} is a signature that no ASiCManifest names; it was not checked",
                                  f"{name} là chữ ký không có tệp kê khai ASiCManifest nào trỏ tới; chưa kiểm tra"))
    return Container(kind, files, data_files, signatures, notes)
