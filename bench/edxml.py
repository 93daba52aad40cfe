"""edXML signing and verification through HTTP against signxml in-process, in one run.

    package  an edXML package for two recipients with one attachment, a 10 MB PDF (zipped,
             then base64, as the axis carries it), built with axis.building.
    ours     POST /api/v1/edxml/sign with the unsigned package (agency seal RSA-2048 in
             SoftHSM2, PostgreSQL, 2 gunicorn workers, one request at a time): parsed with
             limits, attachment unpacked and checked, rebuilt, TraceHeader appended, signed
             (enveloped, exc-c14n, RSA PKCS#1 v1.5 SHA-256), recorded with its audit entry.
             POST /api/v1/edxml/verify with the signed package: signature, chain and CRL
             (offline), axis rules, manifest, and the attached PDF read for its signatures.
    base     signxml in this process with a software RSA-2048 key on the same unsigned
             package: lxml parse, XMLSigner (enveloped, exc-c14n, rsa-sha256), serialise; and
             XMLVerifier on that output with the signer's certificate given (no chain).
    Sign and verify paths alternate round by round with their baseline; p50 and p95 each.
    Every result is checked (Kyso TOTAL-PASSED, signxml's verified data), so failures are
    never measured.
    Memory: each worker's peak RSS (VmHWM, reset after the warm-up) above its idle RSS, and
    the peak of the verification helpers the workers fork, against the package size.

Goals (issue): p50 <= 1.5x the in-process baseline for sign and for verify; peak RSS per
worker <= 4x the package size above idle.

    .venv/bin/python bench/edxml.py [--rounds 11] [--mb 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    agency_with_seal,
    free_port,
    pg_schema,
    service_env,
    start_gunicorn,
    stop,
    throwaway_token,
)
from bench.sign import AGENCY, _mem, _post, _worker_pids  # noqa: E402

GOAL = 1.5
RSS_GOAL = 4.0


def package_bytes(mb: int) -> bytes:
    from axis import building, model
    from tests.edxml.test_model import package
    from tests.signing.documents import letter_pdf

    pkg = package(1)
    pkg.header.sender = model.Organization(AGENCY, "Sở Nội vụ")
    pkg.header.document_id = f"{AGENCY},2026/11/25,123/SNV-VP"
    pkg.traces = []
    pkg.attachments[0].data = letter_pdf(filler_bytes=mb * 1024 * 1024)
    return building.to_bytes(building.build(pkg))


def software_signer() -> tuple[Callable[[bytes], bytes], Callable[[bytes], None]]:
    """signxml sign and verify functions with a fresh RSA-2048 key and certificate."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from lxml import etree
    from signxml import XMLSigner, XMLVerifier, methods

    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "bench seal")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)

    def sign(data: bytes) -> bytes:
        signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                           c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
        signer._parser = parser  # signxml re-parses its input; the attachment needs huge_tree
        root = signer.sign(etree.fromstring(data, parser), key=key_pem, cert=cert_pem)
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

    def verify(data: bytes) -> None:
        result = XMLVerifier().verify(data, x509_cert=cert_pem, parser=parser)
        if result.signed_xml is None:
            raise SystemExit("signxml: nothing verified")

    return sign, verify


def _children(pids: list[int]) -> list[int]:
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = int(next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("PPid:")))
        except (OSError, StopIteration):
            continue
        if ppid in pids:
            out.append(int(status.parent.name))
    return out


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--mb", type=int, default=10)
    parser.add_argument("--database", default=os.environ.get(
        "KYSO_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()

    unsigned = package_bytes(args.mb)
    base_sign, base_verify = software_signer()
    work = Path(tempfile.mkdtemp(prefix="kyso-bench-edxml-"))
    conf, token, pin = throwaway_token(work)
    port = free_port()
    times: dict[str, list[float]] = {"ours sign": [], "base sign": [], "ours verify": [], "base verify": []}
    gunicorn = None
    try:
        with pg_schema(args.database) as db_url:
            env = service_env(conf, token, pin, db_url, port)
            key = agency_with_seal(env, AGENCY, "rsa-2048")
            gunicorn = start_gunicorn(env, work, port)
            print(f"package: {len(unsigned) / 2**20:.2f} MiB ({args.mb} MB PDF attachment, zipped, base64); "
                  f"agency seal rsa-2048 in SoftHSM2; PostgreSQL; 2 workers; {os.cpu_count()} CPUs")

            def ours_sign() -> bytes:
                status, body, _t = _post(port, "/api/v1/edxml/sign", key, unsigned, "application/xml")
                if status != 200:
                    raise SystemExit(f"edxml/sign failed: {status} {body[:300]!r}")
                return body

            def ours_verify(data: bytes) -> None:
                status, body, _t = _post(port, "/api/v1/edxml/verify?offline=true", key, data, "application/xml")
                report = json.loads(body) if status == 200 else {}
                if report.get("indication") != "TOTAL-PASSED":
                    raise SystemExit(f"edxml/verify: {status} {body[:300]!r}")

            signed = ours_sign()
            base_signed = base_sign(unsigned)
            # Warm both workers: requests in pairs, so that each worker serves some (a worker's
            # first verification loads pyHanko's machinery once, which is not a request's cost).
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(2) as pool:
                for _ in range(args.warmup):
                    list(pool.map(lambda _i: ours_verify(ours_sign()), range(2)))
            for _ in range(args.warmup):
                base_verify(base_sign(unsigned))
            workers = _worker_pids()
            reset = all(_reset_peak(pid) for pid in workers)
            idle = {pid: _mem(pid, "VmRSS") for pid in workers}
            helper_peak = 0
            step_peak = {"ours sign": 0, "ours verify": 0}
            peaks_seen: dict[str, list[int]] = {name: [] for name in step_peak}
            for _ in range(args.rounds):
                steps: list[tuple[str, Callable[[], Any]]] = [
                    ("ours sign", ours_sign), ("base sign", lambda: base_sign(unsigned)),
                    ("ours verify", lambda: ours_verify(signed)), ("base verify", lambda: base_verify(base_signed))]
                for name, fn in steps:
                    if name in step_peak and reset:
                        before = {pid: (_reset_peak(pid), _mem(pid, "VmRSS"))[1] for pid in workers}
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
                    if name in step_peak and reset:
                        peaks_seen[name].append(max(_mem(pid, "VmHWM") - before[pid] for pid in workers))
                        step_peak[name] = max(step_peak[name], peaks_seen[name][-1])
                helper_peak = max([helper_peak] + [_mem(p, "VmHWM") for p in _children(workers)])
            peaks = {pid: _mem(pid, "VmHWM") - idle[pid] for pid in workers} if not reset else \
                {0: max(step_peak.values())}
            for name, peak in step_peak.items():
                print(f"  worker peak RSS during one request, {name}: worst +{peak / 2**20:.1f} MiB, median "
                      f"+{statistics.median(peaks_seen[name]) / 2**20:.1f} MiB over its RSS before")
    finally:
        stop(gunicorn)
        shutil.rmtree(work, ignore_errors=True)

    for what in ("sign", "verify"):
        ours, base = sorted(times[f"ours {what}"]), sorted(times[f"base {what}"])
        ratio = statistics.median(ours) / statistics.median(base)
        for label, t in ((f"Kyso HTTP, HSM key  {what:6}", ours), (f"signxml in-process {what:7}", base)):
            p95 = t[max(int(len(t) * .95) - 1, 0)]
            print(f"{label}: p50 {statistics.median(t) * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms   ({len(t)} runs)")
        print(f"  {what}: Kyso / signxml = {ratio:.2f}x (goal <= {GOAL}) {'met' if ratio <= GOAL else 'NOT MET'}")
    worst = max(peaks.values())
    rss_ratio = worst / len(unsigned)
    print(f"peak RSS above idle (the RSS before the request), worst worker and request: {worst / 2**20:.1f} MiB "
          f"= {rss_ratio:.2f}x the package "
          f"(goal <= {RSS_GOAL}) {'met' if rss_ratio <= RSS_GOAL else 'NOT MET'}"
          f"{'' if reset else ' (peak not reset after warm-up: includes warm-up)'}")
    print(f"verification helpers (forked by the workers), peak RSS: {helper_peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
