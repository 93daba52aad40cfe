"""Signatures per second through KeyStore against raw python-pkcs11, in 1 and 2 processes.

The baseline is python-pkcs11 used as well as it can be: one session opened once, the key
object looked up once, then ``sign`` in a loop (for ECDSA the message is hashed in Python
and the token gets CKM_ECDSA, exactly as KeyStore does, since SoftHSM2 2.6 has no
CKM_ECDSA_SHA256). KeyStore adds its lock, its session and generation checks, and DER
encoding of ECDSA signatures. Both run in the same invocation on a throwaway token.

Goals (issue 3): KeyStore >= 0.9x raw in one process; 2 processes >= 1.8x one.
Then a stress run: 8 threads of one process sign through one KeyStore for 10 s; every
signature is checked, and the process must not crash.

    .venv/bin/python bench/hsm_sign.py [--seconds 3] [--stress-seconds 10]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import MODULE, throwaway_token  # noqa: E402

SCHEMES = [("rsa-2048", "rsa-pkcs1-sha256"), ("rsa-2048", "rsa-pss-sha256"), ("ec-p256", "ecdsa-sha256")]
DATA = b"Kyso benchmark: ky so van ban " * 4  # 120 bytes, like a small signed-attributes block


def _raw_worker(label: str, scheme: str, pin: str, seconds: float, start: Any, out: Any) -> None:
    import pkcs11
    from pkcs11 import Mechanism, ObjectClass

    lib = pkcs11.lib(MODULE)
    session = lib.get_token(token_label=TOKEN).open(user_pin=pin)
    priv = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
    if scheme == "rsa-pkcs1-sha256":
        def sign() -> bytes:
            return bytes(priv.sign(DATA, mechanism=Mechanism.SHA256_RSA_PKCS))
    elif scheme == "rsa-pss-sha256":
        param = (Mechanism.SHA256, pkcs11.MGF.SHA256, 32)

        def sign() -> bytes:
            return bytes(priv.sign(DATA, mechanism=Mechanism.SHA256_RSA_PKCS_PSS, mechanism_param=param))
    else:
        def sign() -> bytes:
            return bytes(priv.sign(hashlib.sha256(DATA).digest(), mechanism=Mechanism.ECDSA))
    sign()
    out.put(_timed(sign, seconds, start))
    session.close()


def _keystore_worker(label: str, scheme: str, pin: str, seconds: float, start: Any, out: Any) -> None:
    from hsm import KeyStore

    store = KeyStore(MODULE, TOKEN, pin)
    store.sign(label, DATA, scheme)

    def sign() -> bytes:
        return store.sign(label, DATA, scheme)

    out.put(_timed(sign, seconds, start))
    store.close()


def _timed(sign: Any, seconds: float, start: Any) -> int:
    start.wait()
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            sign()
        count += 20
    return count


def measure(kind: str, label: str, scheme: str, pin: str, procs: int, seconds: float) -> float:
    """Signatures per second summed over ``procs`` fresh processes (spawned: each
    initialises the module itself, as a gunicorn worker does)."""
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    target = _raw_worker if kind == "raw" else _keystore_worker
    workers = [ctx.Process(target=target, args=(label, scheme, pin, seconds, start, out))
               for _ in range(procs)]
    for w in workers:
        w.start()
    time.sleep(1.0)  # let every process open its session before the clock starts
    start.set()
    total = sum(out.get(timeout=seconds + 60) for _ in workers)
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise SystemExit(f"{kind} worker failed with exit code {w.exitcode}")
    return total / seconds


def stress(pin: str, labels: dict[str, Any], seconds: float) -> tuple[int, int]:
    """8 threads, one KeyStore, mixed schemes; returns (signatures, invalid)."""
    from hsm import KeyStore
    from hsm.keystore import verify_signature

    store = KeyStore(MODULE, TOKEN, pin)
    counts = [0] * 8
    bad = [0] * 8
    errors: list[BaseException] = []
    deadline = time.monotonic() + seconds

    def run(i: int) -> None:
        spec, scheme = SCHEMES[i % len(SCHEMES)]
        key = labels[spec]
        try:
            while time.monotonic() < deadline:
                data = secrets.token_bytes(48)
                sig = store.sign(key.label, data, scheme)
                try:
                    verify_signature(key.public_key_der, data, sig, scheme)
                except Exception:  # noqa: BLE001
                    bad[i] += 1
                counts[i] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"stress: {len(errors)} thread(s) failed: {errors[0]!r}")
    return sum(counts), sum(bad)


TOKEN = "kyso-bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    parser.add_argument("--stress-seconds", type=float, default=10.0)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kyso-bench-"))
    conf, _label, pin = throwaway_token(tmp, TOKEN)
    os.environ["SOFTHSM2_CONF"] = str(conf)

    from hsm import KeyStore

    store = KeyStore(MODULE, TOKEN, pin)
    keys = {spec: store.generate_key_pair(f"bench-{spec}", spec) for spec in {s for s, _ in SCHEMES}}
    store.close()

    print(f"SoftHSM2 token in {tmp}; {args.seconds:.0f} s per figure; {os.cpu_count()} CPUs")
    print(f"{'scheme':18} {'raw 1p':>9} {'ks 1p':>9} {'ks/raw':>7} {'raw 2p':>9} {'ks 2p':>9} "
          f"{'ks/raw':>7} {'raw 2p/1p':>9} {'ks 2p/1p':>9}")
    results = []
    for spec, scheme in SCHEMES:
        label = keys[spec].label
        raw1 = measure("raw", label, scheme, pin, 1, args.seconds)
        ks1 = measure("keystore", label, scheme, pin, 1, args.seconds)
        raw2 = measure("raw", label, scheme, pin, 2, args.seconds)
        ks2 = measure("keystore", label, scheme, pin, 2, args.seconds)
        results.append((scheme, ks1 / raw1, ks2 / ks1))
        print(f"{scheme:18} {raw1:9.0f} {ks1:9.0f} {ks1 / raw1:7.2f} {raw2:9.0f} {ks2:9.0f} "
              f"{ks2 / raw2:7.2f} {raw2 / raw1:9.2f} {ks2 / ks1:9.2f}")
    print()
    for scheme, ratio, scale in results:
        print(f"{scheme:18} KeyStore/raw (1 process) {ratio:.2f}x (goal >= 0.90) "
              f"{'ok' if ratio >= 0.9 else 'BELOW GOAL'}; "
              f"KeyStore 2 processes/1 {scale:.2f}x (goal >= 1.80) {'ok' if scale >= 1.8 else 'BELOW GOAL'}")

    print(f"\nstress: 8 threads, one KeyStore, {args.stress_seconds:.0f} s ...", flush=True)
    total, invalid = stress(pin, keys, args.stress_seconds)
    print(f"stress: {total} signatures, {invalid} invalid, no crash")
    if invalid:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
