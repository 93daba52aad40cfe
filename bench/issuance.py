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
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kyso(args: list[str], env: dict[str, str]) -> str:
    r = subprocess.run([str(BIN / "kyso"), *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"kyso {' '.join(args)} failed: {r.stderr}")
    return r.stdout


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
            body = json.dumps({"profile": "client-tls", "agency_code": "000.00.12.H31",
                               "common_name": "HP-EOFFICE", "csr": csr})
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
    if key_type.startswith("rsa-"):
        newkey = ["-newkey", f"rsa:{key_type[4:]}"]
    else:
        newkey = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:P-{key_type[4:]}"]
    subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(d / "ca.key"),
                    "-out", str(d / "ca.pem"), "-days", "3650", "-subj", "/CN=bench openssl CA",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"], check=True, capture_output=True)
    paths = []
    for i, csr in enumerate(csrs):
        p = d / f"r{i}.csr"
        p.write_text(csr)
        paths.append(p)
    start = time.perf_counter()
    for i, p in enumerate(paths):
        subprocess.run(["openssl", "ca", "-batch", "-config", str(d / "ca.cnf"), "-in", str(p),
                        "-out", str(d / f"c{i}.pem")], check=True, capture_output=True)
    return len(paths) / (time.perf_counter() - start)


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

    from sqlalchemy import create_engine, text

    work = Path(tempfile.mkdtemp(prefix="kyso-bench-issuance-"))
    (work / "tokens").mkdir()
    conf = work / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {work / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    token, pin = "kyso-bench", secrets.token_hex(8)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", token, "--pin", pin,
                    "--so-pin", secrets.token_hex(8)], check=True, capture_output=True,
                   env={**os.environ, "SOFTHSM2_CONF": str(conf)})
    schema = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(args.database)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db_url = f"{args.database}{'&' if '?' in args.database else '?'}options=-csearch_path%3D{schema}"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env.update({"SOFTHSM2_CONF": str(conf), "KYSO_DATABASE__URL": db_url, "KYSO_HSM__TOKEN_LABEL": token,
                "KYSO_HSM__PIN": pin, "KYSO_SERVER__BIND": f"127.0.0.1:{port}", "KYSO_SERVER__WORKERS": "2",
                "KYSO_LOGGING__LEVEL": "WARNING", "KYSO_CA__ROOT_KEY__KEY_TYPE": "rsa-3072",
                "KYSO_CA__ISSUING_KEY__KEY_TYPE": args.issuing_key})
    gunicorn = None
    try:
        _kyso(["db", "upgrade"], env)
        _kyso(["ca", "init"], env)
        _kyso(["users", "create", "admin", "--role", "ca-admin"], env)
        key = _kyso(["users", "create", "connector", "--role", "client"], env).strip()
        _kyso(["agencies", "add", "000.00.12.H31", "SỞ NỘI VỤ", "--as", "admin"], env)
        _kyso(["clients", "bind", "connector", "000.00.12.H31", "--as", "admin"], env)
        label = next(line.split("\t")[0] for line in _kyso(["hsm", "list"], env).splitlines()
                     if line.startswith("ca-issuing-"))
        scheme = "ecdsa-sha256" if args.issuing_key.startswith("ec") else "rsa-pkcs1-sha256"
        print(f"issuing CA key {args.issuing_key} in SoftHSM2; PostgreSQL schema {schema}; {os.cpu_count()} CPUs")

        csrs = _csrs(args.requests + 40)
        log = (work / "gunicorn.log").open("wb")
        gunicorn = subprocess.Popen([str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "kyso.app:create_app()"],
                                    cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.time() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or gunicorn.poll() is not None:
                raise SystemExit("gunicorn did not become ready; see " + str(work / "gunicorn.log"))
            time.sleep(0.3)
        measure_api(port, key, csrs[:40], args.clients)  # warm both workers
        ours, failed = measure_api(port, key, csrs[40:], args.clients)
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
        gunicorn = None

        os.environ["SOFTHSM2_CONF"] = str(conf)
        raw = measure_keystore(token, pin, label, scheme, args.seconds)
        openssl = measure_openssl(work, args.issuing_key, csrs[: args.openssl_requests])
    finally:
        if gunicorn is not None:
            gunicorn.kill()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

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
