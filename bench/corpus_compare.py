"""Kyso beside the other tools on the foreign corpus (tests/corpus/foreign/README.md).

For every file, each tool that handles its format gives a verdict, judged by the same rule as
Kyso's (tests/verify/foreign.py `right`): the verdict the file's own project asserts. Prints,
per format and tool, right / applicable, the attacks passed and the crashes.

- Kyso: the production path (bounded helper, verification.service:check_with_ders).
- pyHanko's validator (PDF, CMS): validate_pdf_signature / validate_pdf_timestamp per embedded
  signature; async_validate_detached_cms per SignerInfo.
- pdfsig (PDF): an NSS database trusting the entry's roots; run under faketime when the entry
  validates at a past time.
- openssl cms -verify (CMS): -noverify for integrity, then -CAfile for trust, -attime.
- xmlsec1 --verify (XML): --insecure for integrity, then --trusted-pem, --verification-time.
  python-xmlsec is a binding of the same library (libxmlsec1): its verdicts are xmlsec1's.
- signxml (XML): XAdESVerifier (XMLVerifier without QualifyingProperties) with the file's
  first certificate, as signxml's own interop test calls it: SHA-1 allowed, the reference
  count taken from SignedInfo, detached data through uri_resolver, at a time that certificate
  was valid; no trust (x509_cert).

Usage: .venv/bin/python bench/corpus_compare.py [--format pdf|cms|xml|asic] [--verbose]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import io
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.verify import foreign  # noqa: E402

Verdict = foreign.Outcome
NA = None  # the tool does not handle this format


def _context(entry: foreign.Entry) -> Any:
    from asn1crypto import x509
    from pyhanko_certvalidator import ValidationContext

    roots = [x509.Certificate.load(d) for d in entry.trust_ders()]
    return ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail",
                             moment=entry.moment)


def _combine(results: list[tuple[bool | None, bool | None, bool]]) -> Verdict:
    """(intact, valid, trusted) per signature -> one verdict; None: the tool could not tell."""
    if not results:
        return Verdict("NO-SIGNATURE")
    if any(i is False or v is False for i, v, _t in results):
        return Verdict("TOTAL-FAILED")
    intact = all(i and v for i, v, _t in results)
    if intact and all(t for _i, _v, t in results):
        return Verdict("TOTAL-PASSED", intact=True)
    return Verdict("INDETERMINATE", intact=intact)


def pyhanko_pdf(entry: foreign.Entry) -> Verdict:
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp

    try:
        reader = PdfFileReader(io.BytesIO(entry.file.read_bytes()), strict=False)
        sigs = reader.embedded_signatures
    except (PdfError, ValueError, KeyError) as exc:
        return Verdict("UNREADABLE", type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - a tool's crash is its verdict here
        return Verdict("CRASH", type(exc).__name__)
    results = []
    for sig in sigs:
        try:
            if sig.sig_object_type == "/DocTimeStamp":
                ts = validate_pdf_timestamp(sig, validation_context=_context(entry))
                results.append((ts.intact, ts.valid, ts.trusted))
            else:
                st = validate_pdf_signature(sig, _context(entry))
                allowed = bool((st.docmdp_ok or st.modification_level is None) and st.seed_value_ok)
                results.append((st.intact and allowed, st.valid, st.bottom_line))
        except Exception as exc:  # noqa: BLE001
            return Verdict("CRASH", type(exc).__name__)
    return _combine(results)


def pyhanko_cms(entry: foreign.Entry) -> Verdict:
    from asn1crypto import cms
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms

    from verification.detection import detect
    from verification.report import UnsupportedFormat

    try:
        kind, info = detect(entry.file.read_bytes())
    except UnsupportedFormat:
        return Verdict("UNREADABLE")
    if kind != "cms":
        return Verdict("UNREADABLE", kind)
    signed = info["content"]
    try:  # asn1crypto cannot read some encapsulated contents (e.g. octets declared as signedData)
        content = signed["encap_content_info"]["content"]
        data = entry.data_path(entry.detached).read_bytes() if entry.detached else (
            bytes(content.native) if content.native is not None else None)
    except Exception as exc:  # noqa: BLE001 - a tool's crash is its verdict here
        return Verdict("CRASH", type(exc).__name__)
    if data is None:
        return Verdict("UNREADABLE", "no data")
    results = []
    for si in signed["signer_infos"]:
        one = cms.SignedData.load(signed.untag().dump())
        one["encap_content_info"] = {"content_type": one["encap_content_info"]["content_type"].native}
        one["signer_infos"] = [si]
        try:
            st = asyncio.run(async_validate_detached_cms(data, one, signer_validation_context=_context(entry)))
            results.append((st.intact, st.valid, st.bottom_line))
        except Exception as exc:  # noqa: BLE001
            return Verdict("CRASH", type(exc).__name__)
    return _combine(results)


def _nss(entry: foreign.Entry, tmp: Path) -> Path:
    nss = tmp / ("nss-" + "-".join(entry.trust).replace("/", "_") if entry.trust else "nss-empty")
    if not nss.exists():
        nss.mkdir()
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
        for i, name in enumerate(entry.trust):
            subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", f"root{i}", "-t", "CT,C,C", "-i",
                            str(entry.trust_path(name))], check=True, capture_output=True)
    return nss


def _faketime(entry: foreign.Entry) -> list[str]:
    if entry.at and shutil.which("faketime"):
        return ["faketime", entry.moment.strftime("%Y-%m-%d %H:%M:%S")]  # type: ignore[union-attr]
    return []


def pdfsig(entry: foreign.Entry, tmp: Path) -> Verdict:
    cmd = [*_faketime(entry), "pdfsig", "-nssdir", f"sql:{_nss(entry, tmp)}", str(entry.file)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return Verdict("CRASH", "timeout")
    text = out.stdout + out.stderr
    if "does not contain any signatures" in text:
        return Verdict("NO-SIGNATURE")
    sigs = [b for b in text.split("Signature #")[1:]]
    if not sigs:
        return Verdict("UNREADABLE", text.strip().splitlines()[-1] if text.strip() else str(out.returncode))
    results: list[tuple[bool | None, bool | None, bool]] = []
    for block in sigs:
        if "Signature is Valid" in block:
            valid: bool | None = True
        elif "Digest Mismatch" in block or "Signature is Invalid" in block:
            valid = False
        else:  # "Unknown Validation Failure", "not yet verified", ...: pdfsig cannot tell
            valid = None
        trusted = "Certificate is Trusted" in block and "Total document signed" in block
        results.append((valid, valid, trusted))
    return _combine(results)


def openssl_cms(entry: foreign.Entry, tmp: Path) -> Verdict:
    data = entry.file.read_bytes()
    inform = "PEM" if data.lstrip().startswith(b"-----") else "DER"
    base = ["openssl", "cms", "-verify", "-binary", "-in", str(entry.file), "-inform", inform, "-out", "/dev/null"]
    if entry.detached:
        base += ["-content", str(entry.data_path(entry.detached))]
    if entry.moment:
        base += ["-attime", str(int(entry.moment.timestamp()))]
    loose = subprocess.run([*base, "-noverify"], capture_output=True, text=True, timeout=60)
    if loose.returncode != 0:
        err = loose.stderr
        if "digest failure" in err or "signature failure" in err or "content verify error" in err.lower():
            return Verdict("TOTAL-FAILED")
        return Verdict("UNREADABLE", err.strip().splitlines()[-1][:80] if err.strip() else "")
    if not entry.trust:
        return Verdict("INDETERMINATE", intact=True)
    bundle = tmp / ("roots-" + "-".join(entry.trust).replace("/", "_"))
    bundle.write_bytes(b"".join(_pem(entry.trust_path(n)) for n in entry.trust))
    strict = subprocess.run([*base, "-CAfile", str(bundle), "-purpose", "any"], capture_output=True, timeout=60)
    return Verdict("TOTAL-PASSED" if strict.returncode == 0 else "INDETERMINATE", intact=True)


def _pem(path: Path) -> bytes:
    from asn1crypto import pem

    from verification.trust import load_certs

    return b"".join(pem.armor("CERTIFICATE", c.dump()) for c in load_certs(path))


def xmlsec1(entry: foreign.Entry, tmp: Path) -> Verdict:
    from verification import xmldsig, xmlsafe

    try:
        root = xmlsafe.parse(entry.file.read_bytes())
    except Exception:  # noqa: BLE001
        return Verdict("UNREADABLE")
    count = len(xmldsig.find_signatures(root))
    if count == 0:
        return Verdict("NO-SIGNATURE")
    base = ["xmlsec1", "--verify", "--id-attr:Id", "SignedProperties",
            "--enabled-reference-uris", "empty,same-doc,local"]
    if entry.moment:
        base += ["--verification-time", entry.moment.strftime("%Y-%m-%d %H:%M:%S")]
    loose = subprocess.run([*base, "--insecure", str(entry.file)], capture_output=True, text=True, timeout=60,
                           cwd=entry.file.parent)
    if loose.returncode != 0:
        err = loose.stderr
        if "verification failed" in err.lower() or "FAIL" in loose.stdout + err:
            return Verdict("TOTAL-FAILED")
        return Verdict("UNREADABLE", err.strip().splitlines()[-1][:80] if err.strip() else "")
    if not entry.trust:
        return Verdict("INDETERMINATE", intact=True)
    trusted = [a for n in entry.trust for a in ("--trusted-pem", str(entry.trust_path(n)))]
    strict = subprocess.run([*base, *trusted, str(entry.file)], capture_output=True, timeout=60, cwd=entry.file.parent)
    return Verdict("TOTAL-PASSED" if strict.returncode == 0 else "INDETERMINATE", intact=True)


def signxml_verify(entry: foreign.Entry, tmp: Path) -> Verdict:
    from lxml import etree
    from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
    from signxml.exceptions import InvalidCertificate, InvalidSignature
    from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

    from verification import xmldsig, xmlsafe

    try:
        root = xmlsafe.parse(entry.file.read_bytes())
    except Exception:  # noqa: BLE001
        return Verdict("UNREADABLE")
    sigs = xmldsig.find_signatures(root)
    if not sigs:
        return Verdict("NO-SIGNATURE")
    first = sigs[0][0]
    certs = [c for c in first.iter() if isinstance(c.tag, str) and etree.QName(c).localname == "X509Certificate"]
    refs = [r for r in first.iter() if isinstance(r.tag, str) and etree.QName(r).localname == "Reference"
            and etree.QName(r.getparent()).localname == "SignedInfo"]
    xades = first.find(f".//{{{xmldsig.XADES}}}QualifyingProperties") is not None
    methods = {"signature_methods": list(SignatureMethod), "digest_algorithms": list(DigestAlgorithm)}
    if certs:  # signxml refuses an expired x509_cert: judge at a moment the certificate was valid
        from cryptography import x509 as cx509

        pinned = cx509.load_der_x509_certificate(base64.b64decode("".join((certs[0].text or "").split())))
        methods["verification_time"] = entry.moment or pinned.not_valid_before_utc + dt.timedelta(seconds=1)
    config = XAdESSignatureConfiguration(**methods) if xades else SignatureConfiguration(**methods)
    external = {name: path.read_bytes() for name, path in entry.external_paths().items()}
    verifier = XAdESVerifier() if xades else XMLVerifier()
    try:
        verifier.verify(entry.file.read_bytes(), x509_cert=certs[0].text if certs else None, expect_config=config,
                        expect_references=len(refs), uri_resolver=lambda uri: external.get(xmldsig.external_key(uri)))
    except InvalidCertificate:
        return Verdict("INDETERMINATE")
    except InvalidSignature:  # InvalidDigest too
        return Verdict("TOTAL-FAILED")
    except Exception as exc:  # noqa: BLE001 - InvalidInput, schema errors: not processed
        return Verdict("INDETERMINATE", type(exc).__name__)
    return Verdict("INDETERMINATE", intact=True)


TOOLS: dict[str, dict[str, Any]] = {
    "pdf": {"pyHanko": lambda e, t: pyhanko_pdf(e), "pdfsig": pdfsig},
    "cms": {"pyHanko": lambda e, t: pyhanko_cms(e), "openssl": openssl_cms},
    "xml": {"xmlsec1": xmlsec1, "signxml": signxml_verify},
    "asic": {},
}


def main() -> int:
    import logging

    logging.disable(logging.CRITICAL)  # pyHanko logs each failed path build; the table is the output
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=foreign.FORMATS)
    parser.add_argument("--verbose", action="store_true", help="one line per file and tool")
    args = parser.parse_args()
    table: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seconds: dict[str, float] = defaultdict(float)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for entry in foreign.entries(args.format):
            tools = {"Kyso": lambda e, t: foreign.run(e), **TOOLS[entry.format]}
            line = [entry.id, entry.expect]
            for name, tool in tools.items():
                start = time.perf_counter()
                try:
                    verdict = tool(entry, tmp)
                except Exception as exc:  # noqa: BLE001 - the harness keeps going
                    verdict = Verdict("CRASH", f"harness: {type(exc).__name__}")
                seconds[name] += time.perf_counter() - start
                row = table[(entry.format, name)]
                row["applicable"] += 1
                row["right"] += foreign.right(entry, verdict)
                row["crashes"] += verdict.verdict == "CRASH"
                row["attacks"] += entry.kind == "attack"
                row["attacks passed"] += entry.kind == "attack" and verdict.verdict == "TOTAL-PASSED"
                line.append(f"{name}={verdict.verdict}{'' if foreign.right(entry, verdict) else '(wrong)'}")
            if args.verbose:
                print("  ".join(line))
    print(f"{'format':6} {'tool':8} {'right':>11} {'attacks passed':>15} {'crashes':>8}")
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (fmt, name), row in sorted(table.items(), key=lambda kv: (foreign.FORMATS.index(kv[0][0]), kv[0][1] != "Kyso")):
        pct = 100 * row["right"] / row["applicable"] if row["applicable"] else 0
        print(f"{fmt:6} {name:8} {row['right']:>4}/{row['applicable']:<4}{pct:3.0f}% "
              f"{row['attacks passed']:>7}/{row['attacks']:<7} {row['crashes']:>8}")
        totals[name][0] += row["right"]
        totals[name][1] += row["applicable"]
    for name, (r, n) in totals.items():
        print(f"all    {name:8} {r:>4}/{n:<4}{100 * r / n if n else 0:3.0f}%   ({seconds[name]:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
