"""/healthz under eight hostile uploads to the public page /verify (issue 13, item 11).

The hostile document: an edXML package signed by Kyso whose one signature is copied until
it holds --copies of it (1,500 by default: each copy digests the whole document again).
Eight of them are posted at once to the anonymous page while /healthz is asked every 0.2 s.
The service runs twice on the same database, token and document, 2 gunicorn workers of 4
threads:

    before  the limits off (verify.max_signatures = 0, max_concurrent = server.threads,
            public_max_seconds = max_seconds = 30, public_per_minute = 0): what the issue met
    after   the shipped defaults (50 signatures at most, 2 verifications per worker, 10 s for
            the public page, 10 uploads per address per minute)

and prints /healthz p50 and worst latency in each, and the ratio.

    .venv/bin/python bench/verify_dos.py [--copies 1500] [--uploads 8]
"""

from __future__ import annotations

import argparse
import copy
import http.client
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    agency_with_seal,
    free_port,
    service_env,
    start_gunicorn,
    stop,
    throwaway_token,
)

AGENCY = "000.00.12.H31"
DS = "http://www.w3.org/2000/09/xmldsig#"
BEFORE = {"KYSO_VERIFY__MAX_SIGNATURES": "0", "KYSO_VERIFY__MAX_CONCURRENT": "4", "KYSO_VERIFY__MAX_SECONDS": "30",
          "KYSO_VERIFY__PUBLIC_MAX_SECONDS": "30", "KYSO_VERIFY__PUBLIC_PER_MINUTE": "0"}


def _multipart(fields: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, (filename, data, ctype) in fields.items():
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"".encode())
        if filename:
            out.write(f"; filename=\"{filename}\"".encode())
        out.write(f"\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
             timeout: float = 300) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.perf_counter() - t0
    conn.close()
    return resp.status, data, elapsed


def hostile_document(port: int, key: str, copies: int) -> bytes:
    """A package Kyso signs, with its signature copied ``copies`` times in place."""
    from lxml import etree

    meta = {"from": {"organ_id": AGENCY, "organ_name": "Sở Nội vụ"}, "to": [{"organ_id": "000.00.13.H31"}],
            "document_id": f"{AGENCY},2026/11/25,1/SNV-VP", "subject": "V/v thử tải", "code_number": "1",
            "code_notation": "SNV-VP", "promulgation_date": "2026/11/25"}
    body, ctype = _multipart({"metadata": ("", json.dumps(meta).encode(), "application/json"),
                              "file": ("phu-luc.txt", b"noi dung " * 2000, "text/plain")})
    status, data, _t = _request(port, "POST", "/api/v1/edxml/sign", body,
                                {"Authorization": f"Bearer {key}", "Content-Type": ctype})
    if status != 200:
        raise SystemExit(f"edxml/sign failed: {status} {data[:300]!r}")
    root = etree.fromstring(data)
    sig = root.find(f".//{{{DS}}}Signature")
    for _ in range(copies - 1):
        sig.addnext(copy.deepcopy(sig))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def under_attack(port: int, document: bytes, uploads: int) -> tuple[list[float], list[tuple[int, float]]]:
    """/healthz latencies (s) while ``uploads`` hostile uploads run, and each upload's status
    and duration."""
    body, ctype = _multipart({"file": ("goi-tin.xml", document, "application/xml")})
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def upload() -> None:
        try:
            status, _d, took = _request(port, "POST", "/verify", body, {"Content-Type": ctype}, timeout=120)
        except OSError:
            status, took = 0, float("nan")
        with lock:
            results.append((status, took))

    threads = [threading.Thread(target=upload) for _ in range(uploads)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    health = []
    while any(t.is_alive() for t in threads) or len(health) < 5:
        status, _d, took = _request(port, "GET", "/healthz", timeout=120)
        if status != 200:
            raise SystemExit(f"/healthz answered {status}")
        health.append(took)
        time.sleep(0.2)
    for t in threads:
        t.join()
    return health, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=1500)
    parser.add_argument("--uploads", type=int, default=8)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kyso-bench-dos-") as tmp:
        work = Path(tmp)
        conf, token, pin = throwaway_token(work)
        port = free_port()
        base = service_env(conf, token, pin, f"sqlite:///{work / 'kyso.db'}", port)
        key = agency_with_seal(base, AGENCY, "rsa-2048")
        document = b""
        for label, extra in (("before", BEFORE), ("after", {})):
            gunicorn = start_gunicorn({**base, **extra}, work, port)
            try:
                if not document:
                    document = hostile_document(port, key, args.copies)
                    print(f"hostile document: {len(document) / 2**20:.1f} MiB, {args.copies} copies of one "
                          f"signature; {args.uploads} uploads at once; 2 workers x 4 threads; {os.cpu_count()} CPUs")
                health, uploads = under_attack(port, document, args.uploads)
            finally:
                stop(gunicorn)
            codes = ", ".join(f"{c}" for c in sorted({s for s, _t in uploads}))
            rows.append((label, statistics.median(health), max(health), len(health), codes,
                         max(t for _s, t in uploads)))
    print(f"{'':<7} {'/healthz p50':>13} {'worst':>9} {'probes':>7}  uploads: status, slowest")
    for label, p50, worst, n, codes, slowest in rows:
        print(f"{label:<7} {p50 * 1000:>10.1f} ms {worst:>7.2f} s {n:>7}  {codes}, {slowest:.1f} s")
    (_b, before_p50, before_worst, *_), (_a, after_p50, after_worst, *_) = rows
    print(f"after/before: p50 {after_p50 / before_p50:.3f}x, worst {after_worst / before_worst:.3f}x")


if __name__ == "__main__":
    main()
