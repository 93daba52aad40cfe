"""Verification in-process and through HTTP against pyHanko's validator, in one run.

    files  a 1-page letter and a 10 MB PDF, each signed B-LT by Kyso itself (POST
           /api/v1/sign/pdf, agency seal key RSA-3072 in SoftHSM2, PostgreSQL).
    base   pyHanko's validator in-process on the same files: PdfFileReader, then
           validate_pdf_signature (validate_pdf_timestamp for a /DocTimeStamp) with a fresh
           ValidationContext holding the same trust roots, CA certificates and Kyso CRLs that
           verification uses, no fetching, soft-fail revocation.
    in     verification.service.verify(sessions, settings, data, offline=True), in this process.
    HTTP   POST /api/v1/verify?offline=true with the PDF as body, 2 gunicorn workers, one
           request at a time.
    multi  the same as a multipart/form-data upload (part ``file``), as browsers and most
           clients send it.
    Each path is warmed first, then the three alternate round by round; p50 and p95 per
    file. Every Kyso report must be TOTAL-PASSED and every pyHanko bottom line True, so
    failures are never measured.

Goals (issue): in-process p50 <= 1.2x pyHanko; HTTP (raw body or multipart) p50 <= 1.5x pyHanko.

    .venv/bin/python bench/verify.py [--rounds 15] [--warmup 3]
"""

from __future__ import annotations

import argparse
import io
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
from bench.sign import AGENCY, _pdfs, _post  # noqa: E402

GOALS = {"in": 1.2, "HTTP": 1.5, "multi": 1.5}


def _multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "kyso-bench-boundary-7f3a9c"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"signed.pdf\"\r\n"
            "Content-Type: application/pdf\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _interleaved(fns: dict[str, Callable[[], None]], rounds: int, warmup: dict[str, int]) -> dict[str, list[float]]:
    """Sorted timings per path; each round runs every path once, so load from other
    processes falls on all of them alike."""
    for path, fn in fns.items():
        for _ in range(warmup[path]):
            fn()
    times: dict[str, list[float]] = {path: [] for path in fns}
    for _ in range(rounds):
        for path, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[path].append(time.perf_counter() - t0)
    return {path: sorted(t) for path, t in times.items()}


def _p95(times: list[float]) -> float:
    return times[max(int(len(times) * 0.95) - 1, 0)]


def pyhanko_verify(data: bytes, roots: list[Any], others: list[Any], crls: list[Any]) -> int:
    """pyHanko's validator on ``data`` with Kyso's trust inputs; the number of signatures."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(data), strict=False)  # strict=False as verification reads
    sigs = reader.embedded_signatures
    for sig in sigs:
        vc = ValidationContext(trust_roots=roots, other_certs=others, crls=crls, allow_fetching=False,
                               revocation_mode="soft-fail")
        if sig.sig_object_type == "/DocTimeStamp":
            ts = validate_pdf_timestamp(sig, validation_context=vc)
            ok = ts.intact and ts.valid and ts.trusted
        else:
            ok = validate_pdf_signature(sig, vc).bottom_line
        if not ok:
            raise SystemExit(f"pyHanko: signature {sig.field_name} does not validate")
    if not sigs:
        raise SystemExit("pyHanko: no signature found")
    return len(sigs)


def _passed(report: dict[str, Any], where: str) -> None:
    if report["indication"] != "TOTAL-PASSED" or not report["signatures"]:
        raise SystemExit(f"{where}: {report['indication']} {report.get('sub_indication')}: {report['summary_en']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=10)
    parser.add_argument("--database", default=os.environ.get(
        "KYSO_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()

    from app.services import build_services
    from app.settings import load_settings
    from verification import service, trust

    work = Path(tempfile.mkdtemp(prefix="kyso-bench-verify-"))
    conf, token, pin = throwaway_token(work)
    port = free_port()
    results: dict[tuple[str, str], list[float]] = {}
    gunicorn = None
    try:
        with pg_schema(args.database) as db_url:
            env = service_env(conf, token, pin, db_url, port, KYSO_CA__ROOT_KEY__KEY_TYPE="rsa-3072")
            key = agency_with_seal(env, AGENCY, "rsa-3072")
            gunicorn = start_gunicorn(env, work, port)
            signed: dict[str, bytes] = {}
            for name, pdf in _pdfs(args.big_mb).items():
                status, data, _t = _post(port, f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level=B-LT", key, pdf,
                                         "application/pdf")
                if status != 200:
                    raise SystemExit(f"sign/pdf failed: {status} {data[:300]!r}")
                signed[name] = data
            sizes = ", ".join(f"{n} = {len(d) / 2**20:.2f} MiB" for n, d in signed.items())
            print(f"B-LT PDFs signed by Kyso: {sizes}; agency seal rsa-3072 in SoftHSM2; PostgreSQL; 2 workers; "
                  f"{os.cpu_count()} CPUs")

            svc = build_services(load_settings(env))  # the service's own settings and sessions
            roots, others, crls = trust.trust(svc.sessions, svc.settings)
            print(f"trust inputs: {len(roots)} root(s), {len(others)} other CA certificate(s), {len(crls)} CRL(s)")

            for name, data in signed.items():
                def base(data: bytes = data) -> None:
                    pyhanko_verify(data, roots, others, crls)

                def inproc(data: bytes = data, name: str = name) -> None:
                    _passed(service.verify(svc.sessions, svc.settings, data, None, offline=True).to_json(),
                            f"Kyso in-process, {name}")

                def http(data: bytes = data, name: str = name) -> None:
                    status, body, _t = _post(port, "/api/v1/verify?offline=true", key, data, "application/pdf")
                    if status != 200:
                        raise SystemExit(f"verify failed: {status} {body[:300]!r}")
                    _passed(json.loads(body), f"Kyso HTTP, {name}")

                body, ctype = _multipart(data)

                def multi(body: bytes = body, ctype: str = ctype, name: str = name) -> None:
                    status, answer, _t = _post(port, "/api/v1/verify?offline=true", key, body, ctype)
                    if status != 200:
                        raise SystemExit(f"verify (multipart) failed: {status} {answer[:300]!r}")
                    _passed(json.loads(answer), f"Kyso HTTP multipart, {name}")

                # The HTTP warm-up goes round both workers: twice as many requests.
                timed = _interleaved({"base": base, "in": inproc, "HTTP": http, "multi": multi}, args.rounds,
                                     {"base": args.warmup, "in": args.warmup, "HTTP": 2 * args.warmup,
                                      "multi": 2 * args.warmup})
                results.update({(name, path): t for path, t in timed.items()})
            svc.engine.dispose()
    finally:
        stop(gunicorn)
        shutil.rmtree(work, ignore_errors=True)

    what = {"base": "pyHanko in-process", "in": "Kyso in-process", "HTTP": "Kyso HTTP", "multi": "Kyso multipart"}
    for name in signed:
        base_p50 = statistics.median(results[(name, "base")])
        for path in ("base", "in", "HTTP", "multi"):
            times = results[(name, path)]
            p50 = statistics.median(times)
            line = (f"{what[path]:>18} {name:>6} B-LT: p50 {p50 * 1000:8.1f} ms   p95 {_p95(times) * 1000:8.1f} ms"
                    f"   ({len(times)} runs)")
            if path in GOALS:
                ratio = p50 / base_p50
                line += (f"   /pyHanko = {ratio:.2f}x (goal <= {GOALS[path]}) "
                         f"{'met' if ratio <= GOALS[path] else 'not met'}")
            print(line)
    print("ratios to pyHanko in-process (p50): " + "; ".join(
        f"{name} {path} {statistics.median(results[(name, path)]) / statistics.median(results[(name, 'base')]):.2f}x"
        for name in signed for path in GOALS))


if __name__ == "__main__":
    main()
