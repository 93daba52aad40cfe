"""Time stamps per second through HTTP (POST /tsa, 2 gunicorn workers, PostgreSQL) against
(a) the raw signing rate of the same TSA key through KeyStore in 2 processes and
(b) an `openssl ts -reply` loop (one process per reply, software key of the same type).

Goal (issue 5): ours >= 0.5x (a); both ratios printed.

    .venv/bin/python bench/tsa.py [--requests 600] [--clients 8]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
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
from bench.issuance import measure_keystore  # noqa: E402

TS_CNF = """
[ tsa ]
default_tsa = bench
[ bench ]
serial = {dir}/serial
signer_cert = {dir}/tsa.pem
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.2.1
digests = sha256, sha384, sha512
accuracy = secs:1
ess_cert_id_alg = sha256
ess_cert_id_chain = no
"""


def _queries(n: int) -> list[bytes]:
    from asn1crypto import tsp

    return [tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"},
        "hashed_message": hashlib.sha256(secrets.token_bytes(16)).digest()},
        "nonce": secrets.randbits(63), "cert_req": True}).dump() for _ in range(n)]


def measure_http(port: int, queries: list[bytes], clients: int) -> tuple[float, int]:
    work = list(queries)
    lock = threading.Lock()
    failures = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not work:
                    break
                q = work.pop()
            conn.request("POST", "/tsa", body=q, headers={"Content-Type": "application/timestamp-query"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200 or len(data) < 500:
                with lock:
                    failures[0] += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(queries) / (time.perf_counter() - start), failures[0]


def measure_openssl(work: Path, key_type: str, queries: list[bytes]) -> float:
    d = work / "openssl-tsa"
    d.mkdir()
    (d / "serial").write_text("01\n")
    (d / "ts.cnf").write_text(TS_CNF.format(dir=d))
    openssl_self_signed(d, "tsa", key_type, "/CN=bench openssl TSA", "extendedKeyUsage=critical,timeStamping")
    return time_openssl(d, queries, ".tsq",
                        ["openssl", "ts", "-reply", "-config", str(d / "ts.cnf"), "-queryfile", "{in}",
                         "-out", "{out}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--openssl-requests", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--key-type", default="rsa-3072", help="the TSA key, made in the HSM")
    parser.add_argument("--database", default=os.environ.get(
        "KYSO_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()

    from sqlalchemy import create_engine, text

    work = Path(tempfile.mkdtemp(prefix="kyso-bench-tsa-"))
    conf, token, pin = throwaway_token(work)
    port = free_port()
    key_type = args.key_type
    with pg_schema(args.database) as db_url:
        env = service_env(conf, token, pin, db_url, port, KYSO_CA__ROOT_KEY__KEY_TYPE="rsa-3072",
                          KYSO_PROFILES__TSA__HSM_KEY_TYPE=key_type)
        kyso(["db", "upgrade"], env)
        kyso(["ca", "init"], env)
        queries = _queries(args.requests + 20)
        gunicorn = start_gunicorn(env, work, port)
        try:
            measure_http(port, queries[:20], args.clients)  # warm up; makes the TSA certificate
            ours, failed = measure_http(port, queries[20:], args.clients)
        finally:
            stop(gunicorn)
        engine = create_engine(db_url)
        with engine.connect() as conn:
            label, = conn.execute(text("SELECT key_label FROM certificates WHERE profile = 'tsa' "
                                       "ORDER BY id DESC LIMIT 1")).one()
        engine.dispose()
        scheme = "ecdsa-sha256" if key_type.startswith("ec") else "rsa-pkcs1-sha256"
        os.environ["SOFTHSM2_CONF"] = str(conf)
        raw = measure_keystore(token, pin, label, scheme, args.seconds)
        openssl = measure_openssl(work, key_type, queries[: args.openssl_requests])

    print(f"TSA key {key_type} in SoftHSM2; PostgreSQL; 2 workers; {args.clients} clients; {os.cpu_count()} CPUs")
    print(f"ours: POST /tsa, token with certificate and nonce:   {ours:8.1f} stamps/s ({failed} failed)")
    print(f"(a) KeyStore signing with the TSA key, 2 processes:  {raw:8.1f} signatures/s")
    print(f"(b) openssl ts -reply, one process per request:      {openssl:8.1f} stamps/s")
    print(f"ours/(a) = {ours / raw:.2f}x (goal >= 0.50) {'ok' if ours / raw >= 0.5 else 'BELOW GOAL'}")
    print(f"ours/(b) = {ours / openssl:.2f}x")
    shutil.rmtree(work, ignore_errors=True)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
