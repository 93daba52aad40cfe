"""Certificates per second issued through the HTTP API, against two baselines, in one run.

    ours  CSR in, certificate out: POST /api/v1/admin/requests with the auto-approved
          client-tls profile, 2 gunicorn workers, PostgreSQL, issuing CA key in SoftHSM2
    (a)   the raw signing rate of that same issuing CA key through KeyStore in 2 processes
          (the ceiling: every certificate needs one such signature)
    (b)   `openssl ca -batch`, one process per CSR, with a software key of the same type

Goal (issue 4): ours >= 0.5x (a) and >= 3x (b).

    .venv/bin/python bench/issuance.py [--requests 600] [--clients 8]
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    MODULE,
    free_port,
    kyso,
    openssl_self_signed,
    pg_schema,
    service_env,
    start_gunicorn,
    stop,
    throwaway_token,
    time_openssl,
)


def _csrs(n: int) -> list[str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench {i}")]))
               .sign(key, hashes.SHA256()))
        out.append(csr.public_bytes(serialization.Encoding.PEM).decode())
    return out


# -- ours -------------------------------------------------------------------------------------

def measure_api(port: int, key: str, csrs: list[str], clients: int) -> tuple[float, int]:
    """Issue every CSR through the API with ``clients`` keep-alive connections."""
    queue = list(enumerate(csrs))
    lock = threading.Lock()
    failures = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                _i, csr = queue.pop()
            body = json.dumps({"profile": "client-tls", "agency_code": "000.00.12.H31", "csr": csr})
            conn.request("POST", "/api/v1/admin/requests", body=body,
                         headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 201 or b"certificate_pem" not in data:
                with lock:
                    failures[0] += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return len(csrs) / elapsed, failures[0]


# -- (a) raw KeyStore signing with the issuing key, 2 processes ---------------------------------

def _sign_worker(token: str, pin: str, label: str, scheme: str, seconds: float, start: Any, out: Any) -> None:
    from hsm import KeyStore

    store = KeyStore(MODULE, token, pin)
    tbs = secrets.token_bytes(900)  # about the size of a TBSCertificate
    store.sign(label, tbs, scheme)
    start.wait()
    n, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        store.sign(label, tbs, scheme)
        n += 1
    out.put(n)


def measure_keystore(token: str, pin: str, label: str, scheme: str, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_sign_worker, args=(token, pin, label, scheme, seconds, start, out))
             for _ in range(2)]
    for p in procs:
        p.start()
    time.sleep(1.5)
    start.set()
    total = sum(out.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


# -- (b) openssl ca, one process per CSR -----------------------------------------------------------

OPENSSL_CNF = """
[ ca ]
default_ca = bench
[ bench ]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/certs
serial = {dir}/serial
certificate = {dir}/ca.pem
private_key = {dir}/ca.key
default_md = sha256
default_days = 397
policy = anything
unique_subject = no
copy_extensions = none
x509_extensions = client_ext
[ anything ]
commonName = supplied
[ client_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def measure_openssl(work: Path, key_type: str, csrs: list[str]) -> float:
    d = work / "openssl-ca"
    (d / "certs").mkdir(parents=True)
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    (d / "ca.cnf").write_text(OPENSSL_CNF.format(dir=d))
    openssl_self_signed(d, "ca", key_type, "/CN=bench openssl CA", "basicConstraints=critical,CA:TRUE",
                        "keyUsage=critical,keyCertSign,cRLSign")
    return time_openssl(d, [c.encode() for c in csrs], ".csr",
                        ["openssl", "ca", "-batch", "-config", str(d / "ca.cnf"), "-in", "{in}", "-out", "{out}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--openssl-requests", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=4.0, help="for the KeyStore baseline")
    parser.add_argument("--database", default=os.environ.get(
        "KYSO_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--issuing-key", default="rsa-3072")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kyso-bench-issuance-"))
    conf, token, pin = throwaway_token(work)
    port = free_port()
    with pg_schema(args.database) as db_url:
        env = service_env(conf, token, pin, db_url, port, KYSO_CA__ROOT_KEY__KEY_TYPE="rsa-3072",
                          KYSO_CA__ISSUING_KEY__KEY_TYPE=args.issuing_key,
                          # one client issues every certificate: no per-owner quota here
                          KYSO_PROFILES__CLIENT_TLS__MAX_ACTIVE_PER_OWNER="0")
        kyso(["db", "upgrade"], env)
        kyso(["ca", "init"], env)
        admin = {**env, "KYSO_API_KEY": kyso(["users", "create", "admin", "--role", "ca-admin"], env).strip()}
        key = kyso(["users", "create", "connector", "--role", "client"], admin).strip()
        kyso(["agencies", "add", "000.00.12.H31", "SỞ NỘI VỤ"], admin)
        kyso(["clients", "bind", "connector", "000.00.12.H31"], admin)
        label = next(line.split("\t")[0] for line in kyso(["hsm", "list"], env).splitlines()
                     if line.startswith("ca-issuing-"))
        scheme = "ecdsa-sha256" if args.issuing_key.startswith("ec") else "rsa-pkcs1-sha256"
        print(f"issuing CA key {args.issuing_key} in SoftHSM2; PostgreSQL; {os.cpu_count()} CPUs")
        csrs = _csrs(args.requests + 40)
        gunicorn = start_gunicorn(env, work, port)
        try:
            measure_api(port, key, csrs[:40], args.clients)  # warm both workers
            ours, failed = measure_api(port, key, csrs[40:], args.clients)
        finally:
            stop(gunicorn)
        os.environ["SOFTHSM2_CONF"] = str(conf)
        raw = measure_keystore(token, pin, label, scheme, args.seconds)
        openssl = measure_openssl(work, args.issuing_key, csrs[: args.openssl_requests])

    print(f"ours: HTTP API, CSR in -> certificate out, 2 workers, {args.clients} clients: "
          f"{ours:8.1f} certs/s ({args.requests} requests, {failed} failed)")
    print(f"(a) KeyStore signing with the issuing key, 2 processes:        {raw:8.1f} signatures/s")
    print(f"(b) openssl ca -batch, one process per CSR, software key:      {openssl:8.1f} certs/s")
    print(f"ours/(a) = {ours / raw:.2f}x (goal >= 0.50) {'ok' if ours / raw >= 0.5 else 'BELOW GOAL'}")
    print(f"ours/(b) = {ours / openssl:.2f}x (goal >= 3.00) {'ok' if ours / openssl >= 3 else 'BELOW GOAL'}")
    shutil.rmtree(work, ignore_errors=True)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
