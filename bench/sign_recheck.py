"""What re-checking the certificate when a signature is recorded costs (issue 13, item 10).

Each signature's record re-reads its certificate under a share lock (SELECT ... FOR SHARE on
PostgreSQL) in the recording transaction. This measures, in process through the Flask app
(no gunicorn, so the figure is the service's own time), the p50 of

    hashes  POST /api/v1/sign/hashes, one SHA-256 digest, agency seal (RSA-2048)
    cms     POST /api/v1/sign/cms, a 1 KB document, B-B

with the re-check (as shipped) and, as the baseline in the same run, with the re-check
replaced by nothing; requests alternate between the two so drift hits both alike. On SQLite
and on PostgreSQL (skipped when --database is not reachable).

    .venv/bin/python bench/sign_recheck.py [--rounds 300] [--database postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import agency_with_seal, pg_schema, throwaway_token  # noqa: E402

AGENCY = "000.00.12.H31"


def _env(conf: Path, label: str, pin: str, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env.update({"SOFTHSM2_CONF": str(conf), "KYSO_DATABASE__URL": url, "KYSO_HSM__TOKEN_LABEL": label,
                "KYSO_HSM__PIN": pin, "KYSO_LOGGING__LEVEL": "WARNING"})
    return env


def measure(env: dict[str, str], rounds: int) -> dict[str, tuple[float, float]]:
    """{endpoint: (p50 ms with the re-check, p50 ms without)}."""
    from app.services import build_services
    from app.settings import load_settings
    from app.web import create_app
    from signer import credentials

    key = agency_with_seal(env, AGENCY, "rsa-2048")
    settings = load_settings(environ=env)
    svc = build_services(settings)
    app = create_app(settings, services=svc, configure_logging=False)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    digest = base64.b64encode(hashlib.sha256(b"bench").digest()).decode()
    document = b"v\xc4\x83n b\xe1\xba\xa3n " * 100
    real = credentials.recheck

    def hashes() -> Any:
        return client.post("/api/v1/sign/hashes", headers=auth,
                           json={"credential": f"agency:{AGENCY}", "hashes": [digest]})

    def cms() -> Any:
        return client.post(f"/api/v1/sign/cms?credential=agency:{AGENCY}&level=B-B", data=document,
                           headers={**auth, "Content-Type": "application/octet-stream"})

    out = {}
    try:
        for name, call in (("hashes", hashes), ("cms", cms)):
            times: dict[bool, list[float]] = {True: [], False: []}
            for i in range(rounds * 2 + 10):
                on = i % 2 == 0
                credentials.recheck = real if on else (lambda *_a, **_k: None)  # type: ignore[assignment]
                t0 = time.perf_counter()
                r = call()
                elapsed = time.perf_counter() - t0
                if r.status_code != 200:
                    raise SystemExit(f"{name}: {r.status_code} {r.get_data()[:300]!r}")
                if i >= 10:  # warm-up
                    times[on].append(elapsed * 1000)
            out[name] = (statistics.median(times[True]), statistics.median(times[False]))
    finally:
        credentials.recheck = real  # type: ignore[assignment]
        svc.engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=300, help="requests per mode and endpoint")
    ap.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kyso-bench-") as tmp:
        work = Path(tmp)
        conf, label, pin = throwaway_token(work)
        os.environ["SOFTHSM2_CONF"] = str(conf)  # before this process first loads the module
        rows += [("sqlite", *r) for r in
                 measure(_env(conf, label, pin, f"sqlite:///{work / 'kyso.db'}"), args.rounds).items()]
        try:
            with pg_schema(args.database) as url:
                rows += [("postgresql", *r) for r in measure(_env(conf, label, pin, url), args.rounds).items()]
        except Exception as exc:  # noqa: BLE001 - the PostgreSQL half is optional
            print(f"postgresql skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    print(f"{'database':<11} {'endpoint':<8} {'re-check p50':>13} {'without p50':>12} {'ratio':>6}")
    for db, name, (on, off) in rows:
        print(f"{db:<11} {name:<8} {on:>10.2f} ms {off:>9.2f} ms {on / off:>5.3f}x")


if __name__ == "__main__":
    main()
