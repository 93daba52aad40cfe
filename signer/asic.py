"""ASiC-E containers with CAdES signatures (ETSI EN 319 162-1): a zip whose first entry
``mimetype`` reads ``application/vnd.etsi.asic-e+zip``; each ``META-INF/ASiCManifest*.xml``
lists data objects with their digests and names the detached CMS signature
(``META-INF/signature*.p7s``) that signs the manifest.

The zip is read with limits (entries, total size, compression ratio) so that a zip bomb is
refused, and manifests are parsed with no DTD or entities allowed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree

from kyso.errors import KysoError

MIMETYPE = b"application/vnd.etsi.asic-e+zip"
ASIC_NS = "http://uri.etsi.org/02918/v1.2.1#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DIGESTS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
MAX_ENTRIES = 1000
MAX_TOTAL = 200 * 1024 * 1024
MAX_RATIO = 100
MAX_MANIFEST = 1024 * 1024


class InvalidContainer(KysoError):
    code = "invalid-container"
    status = 422
    title_en = "Invalid ASiC container"


@dataclass
class ManifestCheck:
    manifest: str
    signature: str
    signature_der: bytes
    manifest_bytes: bytes
    covered: list[str]
    mismatched: list[str]
    missing: list[str]


@dataclass
class Container:
    checks: list[ManifestCheck]
    uncovered: list[str]


def is_asic(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04" and data[30:38] == b"mimetype" and MIMETYPE in data[38:38 + 64]


def _read(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with zf.open(name) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidContainer(f"{name[:80]} is too large", f"{name[:80]} quá lớn")
    return data


def _parse_manifest(text: bytes) -> ElementTree.Element:
    if re.search(rb"<!(DOCTYPE|ENTITY)", text):
        raise InvalidContainer("a manifest may not carry a DTD or entities",
                               "tệp kê khai không được chứa DTD hay thực thể")
    try:
        return ElementTree.fromstring(text)  # noqa: S314 - no DTD, so no entity can be declared
    except ElementTree.ParseError:
        raise InvalidContainer("a manifest is not well-formed XML", "tệp kê khai không phải XML hợp lệ") from None


def open_container(data: bytes) -> Container:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidContainer("not a zip container", "không phải tệp nén ASiC") from None
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise InvalidContainer(f"more than {MAX_ENTRIES} entries", f"quá {MAX_ENTRIES} tệp bên trong")
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL or any(i.compress_size and i.file_size / i.compress_size > MAX_RATIO for i in infos):
        raise InvalidContainer("the container expands too much (zip bomb?)", "tệp nén giải nén quá lớn")
    names = [i.filename for i in infos]
    if names[:1] != ["mimetype"] or _read(zf, "mimetype", 100).strip() != MIMETYPE:
        raise InvalidContainer("the first entry must be mimetype = application/vnd.etsi.asic-e+zip",
                               "tệp đầu tiên phải là mimetype = application/vnd.etsi.asic-e+zip")
    data_files = [n for n in names if n != "mimetype" and not n.startswith("META-INF/") and not n.endswith("/")]
    checks = []
    covered_all: set[str] = set()
    for name in names:
        if not re.fullmatch(r"META-INF/ASiCManifest[^/]*\.xml", name):
            continue
        text = _read(zf, name, MAX_MANIFEST)
        root = _parse_manifest(text)
        sig_ref = root.find(f"{{{ASIC_NS}}}SigReference")
        if sig_ref is None or sig_ref.get("URI") not in names:
            raise InvalidContainer(f"{name} names no signature in the container",
                                   f"{name} không trỏ tới chữ ký nào trong tệp nén")
        signature = str(sig_ref.get("URI"))
        covered: list[str] = []
        mismatched: list[str] = []
        missing: list[str] = []
        for ref in root.iter(f"{{{ASIC_NS}}}DataObjectReference"):
            uri = ref.get("URI") or ""
            method = ref.find(f"{{{DS_NS}}}DigestMethod")
            value = ref.find(f"{{{DS_NS}}}DigestValue")
            alg = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
            if uri not in names:
                missing.append(uri)
                continue
            if alg is None or value is None or not value.text:
                mismatched.append(uri)
                continue
            digest = hashlib.new(alg, _read(zf, uri, MAX_TOTAL)).digest()
            try:
                expected = base64.b64decode(value.text.strip(), validate=True)
            except ValueError:
                expected = b""
            (covered if digest == expected else mismatched).append(uri)
        covered_all.update(covered)
        checks.append(ManifestCheck(name, signature, _read(zf, signature, MAX_MANIFEST), text, covered, mismatched,
                                    missing))
    if not checks:
        raise InvalidContainer("no META-INF/ASiCManifest*.xml (only ASiC-E with CAdES is supported so far)",
                               "không có META-INF/ASiCManifest*.xml (hiện chỉ hỗ trợ ASiC-E dùng CAdES)")
    return Container(checks, sorted(set(data_files) - covered_all))
