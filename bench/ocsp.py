"""OCSP responses/s and p99 latency, GET and POST, over 10,000 issued certificates (10%
revoked), 4 concurrent clients on loopback, against `openssl ocsp -multi 2` serving the
same index, with the same client, in one run.

Everything runs inside a private network namespace with only loopback (`unshare -n`, as
root): `openssl ocsp -port` binds every interface. The database is SQLite for that reason.

Goal (issue 5): GET >= 10x openssl's rate, POST >= 3x. "ours" is nginx answering from the
response files Kyso writes ([ocsp] static_dir, config/nginx/), gunicorn behind it.

    .venv/bin/python bench/ocsp.py [--certs 10000] [--requests 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from base64 import b64encode
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import free_port, kyso, service_env, start_gunicorn, throwaway_token  # noqa: E402


def _one_client(port: int, wires: list[bytes], out: Any) -> None:
    """One client process: a new connection per request (as OCSP clients usually make), the
    request bytes prepared beforehand so that the client costs as little as it can."""
    latencies, failures = [], 0
    for wire in wires:
        t0 = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(wire)
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            data = b"".join(chunks)
            head, _, body = data.partition(b"\r\n\r\n")
            ok = head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")) and len(body) > 100
        except OSError:
            ok = False
        latencies.append(time.perf_counter() - t0)
        failures += not ok
    out.put((latencies, failures))


def _client(port: int, requests: list[bytes], method: str, clients: int, prefix: str = "/ocsp",
            ) -> tuple[float, float, int]:
    """Requests/s, p99 latency (ms) and failures of ``clients`` concurrent client processes
    (processes, not threads: a threaded Python client tops out below what nginx serves)."""
    wires = []
    for body in requests:
        if method == "GET":
            path = f"{prefix}/" + quote(b64encode(body).decode(), safe="")
            wires.append(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        else:
            wires.append(f"POST {prefix or '/'} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                         f"Content-Type: application/ocsp-request\r\nContent-Length: {len(body)}\r\n\r\n"
                         .encode() + body)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_one_client, args=(port, wires[i::clients], out)) for i in range(clients)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    total = time.perf_counter() - start
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _f in results for x in lat)
    failures = sum(f for _lat, f in results)
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0
    return len(requests) / total, p99, failures


def inside(args: argparse.Namespace) -> None:
    from asn1crypto import ocsp, pem, x509
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from sqlalchemy import create_engine, insert, select

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    work = Path(tempfile.mkdtemp(prefix="kyso-bench-ocsp-"))
    conf, token, pin = throwaway_token(work)
    db_url = f"sqlite:///{work / 'kyso.db'}"
    port, oport, nport = free_port(), free_port(), free_port()
    env = service_env(conf, token, pin, db_url, port, KYSO_CA__ROOT_KEY__KEY_TYPE="rsa-3072",
                      KYSO_OCSP__STATIC_DIR=str(work / "static"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        kyso(["db", "upgrade"], env)
        kyso(["ca", "init"], env)
        engine = create_engine(db_url)
        from ca_admin.crl import entry_der
        from ca_admin.models import CertificateAuthority, IssuedCertificate

        with engine.connect() as conn:
            issuer_id, issuing_der = conn.execute(select(CertificateAuthority.id, CertificateAuthority.certificate_der)
                                                  .where(CertificateAuthority.role == "issuing")).one()
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        serials = [secrets.randbits(150) | (1 << 140) for _ in range(args.certs)]
        revoked = set(random.sample(range(args.certs), args.certs // 10))
        rows, index = [], []
        for i, serial in enumerate(serials):
            row = {"serial_hex": format(serial, "x"), "issuer_id": issuer_id, "profile": "agency-seal",
                   "agency_id": None, "subject": f"bench {i}", "spki_sha256": "0" * 64,
                   "not_before": now - dt.timedelta(days=1), "not_after": now + dt.timedelta(days=365),
                   "certificate_der": b"\x30\x00", "status": "good", "created_at": now,
                   "revoked_at": None, "revocation_reason": None, "crl_entry_der": None}
            hexs = format(serial, "X")
            hexs = hexs if len(hexs) % 2 == 0 else "0" + hexs
            if i in revoked:
                row.update(status="revoked", revoked_at=now, revocation_reason="key_compromise",
                           crl_entry_der=entry_der(serial, now, "key_compromise", None))
                index.append(f"R\t{now + dt.timedelta(days=365):%y%m%d%H%M%SZ}\t{now:%y%m%d%H%M%SZ},keyCompromise"
                             f"\t{hexs}\tunknown\t/CN=bench {i}\n")
            else:
                index.append(f"V\t{now + dt.timedelta(days=365):%y%m%d%H%M%SZ}\t\t{hexs}\tunknown\t/CN=bench {i}\n")
            rows.append(row)
        with engine.begin() as conn:
            for s in range(0, len(rows), 2000):
                conn.execute(insert(IssuedCertificate), rows[s:s + 2000])
        t0 = time.perf_counter()
        kyso(["ocsp", "refresh"], env)
        print(f"{args.certs} certificates ({len(revoked)} revoked); responses pre-produced in "
              f"{time.perf_counter() - t0:.1f} s (SHA-1 and SHA-256 CertIDs)")

        # openssl's responder: same index, a software responder key, 2 processes.
        issuing = x509.Certificate.load(issuing_der)
        (work / "issuing.pem").write_bytes(pem.armor("CERTIFICATE", issuing_der))
        rkey = ec.generate_private_key(ec.SECP256R1())
        name = cx509.Name([cx509.NameAttribute(cx509.oid.NameOID.COMMON_NAME, "bench openssl responder")])
        rcert = (cx509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(rkey.public_key())
                 .serial_number(1).not_valid_before(now - dt.timedelta(days=1))
                 .not_valid_after(now + dt.timedelta(days=30)).sign(rkey, hashes.SHA256()))
        (work / "resp.pem").write_bytes(rcert.public_bytes(serialization.Encoding.PEM))
        (work / "resp.key").write_bytes(rkey.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
        (work / "index.txt").write_text("".join(index))
        osl = subprocess.Popen(["openssl", "ocsp", "-index", str(work / "index.txt"), "-CA", str(work / "issuing.pem"),
                                "-rsigner", str(work / "resp.pem"), "-rkey", str(work / "resp.key"),
                                "-port", str(oport), "-multi", "2", "-nmin", "60"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # -multi forks: stop the whole group
        procs.append(osl)
        procs.append(start_gunicorn(env, work, port, ready_path="/healthz"))
        # nginx in front, answering from the response files (config/nginx/kyso.conf).
        from ca_admin.ocsp_files import nginx_server_conf, nginx_standalone_conf

        (work / "nginx").mkdir()
        (work / "nginx.conf").write_text(nginx_standalone_conf(
            nginx_server_conf(str(work / "static"), f"127.0.0.1:{port}", f"127.0.0.1:{nport}"), work / "nginx", 2))
        nginx_log = str(work / "nginx" / "error.log")
        procs.append(subprocess.Popen(["nginx", "-c", str(work / "nginx.conf"), "-e", nginx_log],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.0)  # openssl ocsp has no health path; it answers once listening

        import hashlib

        name_hash = hashlib.sha1(issuing.subject.dump()).digest()  # noqa: S324 - OCSP CertID (RFC 5019)
        key_hash = hashlib.sha1(issuing.public_key["public_key"].contents[1:]).digest()  # noqa: S324
        requests = []
        for _ in range(args.requests):
            serial = random.choice(serials)
            requests.append(ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": {
                "hash_algorithm": {"algorithm": "sha1"}, "issuer_name_hash": name_hash,
                "issuer_key_hash": key_hash, "serial_number": serial}}]}}).dump())
        _client(port, requests[:200], "GET", 4)  # warm both workers
        deadline = time.time() + 60  # openssl reads the index before it answers
        while _client(oport, requests[:4], "POST", 1, prefix="")[2] and time.time() < deadline:
            time.sleep(0.5)
        _client(nport, requests[:200], "POST", 4)  # warm nginx
        results = {}
        # openssl answers at its root path; ours at /ocsp. "ours" is the deployment: nginx
        # answering from Kyso's files; gunicorn alone is shown for comparison.
        for label, p, method, prefix in (("ours GET", nport, "GET", "/ocsp"), ("ours POST", nport, "POST", "/ocsp"),
                                         ("gunicorn GET", port, "GET", "/ocsp"),
                                         ("gunicorn POST", port, "POST", "/ocsp"),
                                         ("openssl GET", oport, "GET", ""), ("openssl POST", oport, "POST", "")):
            results[label] = _client(p, requests, method, 4, prefix)
        for label, (rate, p99, failed) in results.items():
            print(f"{label:13} {rate:9.1f} responses/s   p99 {p99:7.2f} ms   {failed} failed")
        g = results["ours GET"][0] / results["openssl GET"][0]
        post = results["ours POST"][0] / results["openssl POST"][0]
        print(f"GET  ours/openssl = {g:.2f}x (goal >= 10) {'ok' if g >= 10 else 'BELOW GOAL'}")
        print(f"POST ours/openssl = {post:.2f}x (goal >= 3) {'ok' if post >= 3 else 'BELOW GOAL'}")
    finally:
        for p in procs:
            if p.args[0] == "openssl":
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
            else:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args)
        return
    if os.geteuid() != 0:
        raise SystemExit("bench/ocsp.py needs root for a private network namespace (unshare -n)")
    os.execvp("unshare", ["unshare", "-n", "--", sys.executable, __file__, "--inside",
                          "--certs", str(args.certs), "--requests", str(args.requests)])


if __name__ == "__main__":
    main()
