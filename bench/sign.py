"""Signing through HTTP against its baselines, in one run.

    PDF   POST /api/v1/sign/pdf, 2 gunicorn workers, PostgreSQL, an agency seal key
          (RSA-3072) in SoftHSM2; a 1-page letter and a 10 MB PDF, at B-B and B-LT; p50 and
          p95 latency, one request at a time.
    base  in-process pyHanko on the same files with a software RSA-3072 key, tuned as
          pyHanko allows (signer and key loaded once, bytes_reserved set so it signs once).
    RSS   peak resident memory of the worker that signed the 10 MB file, above its idle size.
    hash  POST /api/v1/sign/hashes with 1,000 SHA-256 digests, 4 clients, against the raw
          KeyStore signing rate of the same key in 2 processes.

Goals (issue 6): PDF B-B p50 <= 1.5x the tuned pyHanko figure; peak RSS per worker for the
10 MB file <= 3x the file size above idle; hash batches >= 0.8x the raw KeyStore rate.

    .venv/bin/python bench/sign.py [--rounds 15] [--batches 6]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    agency_with_seal,
    free_port,
    kyso,
    pg_schema,
    service_env,
    start_gunicorn,
    stop,
    throwaway_token,
)
from bench.issuance import measure_keystore  # noqa: E402

AGENCY = "000.00.12.H31"


def _post(port: int, path: str, key: str, body: bytes, ctype: str) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Authorization": f"Bearer {key}", "Content-Type": ctype})
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.perf_counter() - t0
    conn.close()
    return resp.status, data, elapsed


def _pdfs(big_mb: int) -> dict[str, bytes]:
    from tests.signing.documents import letter_pdf

    return {"1 page": letter_pdf(), f"{big_mb} MB": letter_pdf(filler_bytes=big_mb * 1024 * 1024)}


def _worker_pids() -> list[int]:
    """gunicorn workers: processes whose parent is a gunicorn master we started."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmd = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if b"gunicorn" in cmd and b"app.web:create_app" in cmd:
            ppid = int(next(line.split()[1] for line in text.splitlines() if line.startswith("PPid:")))
            parent = Path(f"/proc/{ppid}/cmdline")
            if parent.exists() and b"gunicorn" in parent.read_bytes():
                out.append(int(status.parent.name))
    return out


def _mem(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def measure_pyhanko(pdf: bytes, rounds: int, with_chain: bool) -> float:
    """p50 seconds of tuned in-process pyHanko (software RSA-3072 key), B-B. ``with_chain``:
    the signer's certificate under an issuing CA and a root, both embedded, as Kyso's are;
    without, a bare self-signed certificate (the issue's figure)."""
    import datetime as dt

    from asn1crypto import keys, x509
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    now = dt.datetime.now(dt.UTC)

    def make(cn: str, key: Any, issuer: tuple[Any, Any] | None, ca: bool) -> Any:
        name = cx509.Name([cx509.NameAttribute(cx509.oid.NameOID.COMMON_NAME, cn)])
        issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (name, key)
        return (cx509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
                .serial_number(cx509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + dt.timedelta(days=2))
                .add_extension(cx509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(issuer_key, hashes.SHA256()))

    def der(c: Any) -> Any:
        return x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    key = rsa.generate_private_key(65537, 3072)
    chain: list[Any] = []
    if with_chain:
        root_key, issuing_key = rsa.generate_private_key(65537, 4096), rsa.generate_private_key(65537, 3072)
        root = make("bench root", root_key, None, True)
        issuing = make("bench issuing", issuing_key, (root, root_key), True)
        cert = make("bench signer", key, (issuing, issuing_key), False)
        chain = [der(issuing), der(root)]
    else:
        cert = make("bench", key, None, False)

    class TunedSigner(signers.SimpleSigner):
        """SimpleSigner reloads (and re-checks) the key for every signature; this one keeps
        the loaded key, as the issue's tuned figure does."""

        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    signer = TunedSigner(
        signing_cert=der(cert),
        signing_key=keys.PrivateKeyInfo.load(key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
        cert_registry=SimpleCertificateStore.from_certs(chain))
    meta = signers.PdfSignatureMetadata(field_name="Sig", subfilter=fields.SigSeedSubFilter.PADES)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = io.BytesIO()
        signers.PdfSigner(meta, signer=signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out,
                                                        bytes_reserved=16384)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_hashes(port: int, key: str, batches: int, clients: int) -> float:
    digests = [base64.b64encode(hashlib.sha256(secrets.token_bytes(8)).digest()).decode() for _ in range(1000)]
    body = json.dumps({"credential": f"agency:{AGENCY}", "hash_algorithm": "sha256", "hashes": digests}).encode()
    _post(port, "/api/v1/sign/hashes", key, body, "application/json")  # warm
    done = [0]
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(batches):
            status, _data, _t = _post(port, "/api/v1/sign/hashes", key, body, "application/json")
            if status != 200:
                raise SystemExit(f"hash batch failed: {status}")
            with lock:
                done[0] += 1000

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batches", type=int, default=4, help="1,000-digest batches per client")
    parser.add_argument("--hash-clients", type=int, default=4,
                        help="concurrent clients: enough that both workers are kept busy")
    parser.add_argument("--big-mb", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--database", default=os.environ.get(
        "KYSO_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kyso-bench-sign-"))
    conf, token, pin = throwaway_token(work)
    port = free_port()
    pdfs = _pdfs(args.big_mb)
    with pg_schema(args.database) as db_url:
        env = service_env(conf, token, pin, db_url, port, KYSO_CA__ROOT_KEY__KEY_TYPE="rsa-3072")
        key = agency_with_seal(env, AGENCY, "rsa-3072")
        label = next(line.split("\t")[0] for line in kyso(["hsm", "list"], env).splitlines()
                     if line.startswith("ee-"))
        print(f"agency seal key rsa-3072 in SoftHSM2 ({label}); PostgreSQL; 2 workers; {os.cpu_count()} CPUs")
        gunicorn = start_gunicorn(env, work, port)
        results: dict[str, float] = {}
        try:
            for level in ("B-B", "B-LT"):  # warm both workers (fonts, pyHanko imports, credentials)
                for _ in range(4):
                    _post(port, f"/api/v1/sign/pdf?credential=agency:{AGENCY}&level={level}", key, pdfs["1 page"],
                          "application/pdf")
            workers = _worker_pids()
            idle = {pid: _mem(pid, "VmRSS") for pid in workers}
            for name, pdf in pdfs.items():
                for level in ("B-B", "B-LT"):
                    times = []
                    for _ in range(args.rounds if name == "1 page" else max(args.rounds // 3, 3)):
                        status, data, elapsed = _post(port, f"/api/v1/sign/pdf?credential=agency:{AGENCY}"
                                                      f"&level={level}", key, pdf, "application/pdf")
                        if status != 200:
                            raise SystemExit(f"sign/pdf failed: {status} {data[:300]!r}")
                        times.append(elapsed)
                    times.sort()
                    results[f"{name} {level}"] = statistics.median(times)
                    print(f"ours  {name:>6} {level:5}: p50 {statistics.median(times) * 1000:8.1f} ms   "
                          f"p95 {times[int(len(times) * 0.95) - 1] * 1000:8.1f} ms   ({len(times)} requests)")
            peaks = {pid: _mem(pid, "VmHWM") - idle[pid] for pid in workers}
            big = len(pdfs[f"{args.big_mb} MB"])
            rss_ratio = max(peaks.values()) / big
            print(f"peak RSS above idle, worst worker, {args.big_mb} MB PDF: {max(peaks.values()) / 2**20:.1f} MiB "
                  f"= {rss_ratio:.2f}x the file (goal <= 3.0) {'ok' if rss_ratio <= 3 else 'BELOW GOAL'}")
            hashes_rate = measure_hashes(port, key, args.batches, args.hash_clients)
        finally:
            stop(gunicorn)
        os.environ["SOFTHSM2_CONF"] = str(conf)
        raw = measure_keystore(token, pin, label, "rsa-pkcs1-sha256", args.seconds)

    for name, pdf in pdfs.items():
        rounds = args.rounds if name == "1 page" else max(args.rounds // 3, 3)
        for with_chain in (False, True):
            base = measure_pyhanko(pdf, rounds, with_chain)
            ratio = results[f"{name} B-B"] / base
            what = "3-certificate chain embedded" if with_chain else "bare self-signed certificate"
            print(f"base  {name:>6} B-B  : p50 {base * 1000:8.1f} ms (pyHanko in-process, software key, tuned, "
                  f"{what})   ours/base = {ratio:.2f}x (goal <= 1.5) {'ok' if ratio <= 1.5 else 'BELOW GOAL'}")
    print(f"hash batches: {hashes_rate:8.1f} signatures/s; KeyStore, 2 processes: {raw:8.1f}/s; "
          f"ratio {hashes_rate / raw:.2f}x (goal >= 0.8) {'ok' if hashes_rate / raw >= 0.8 else 'BELOW GOAL'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
