"""A full CRL of 100,000 revoked entries, made and signed in the HSM, against
`openssl ca -gencrl` over the same entries with a software key of the same type.

Ours is the whole publication: the query of the kept entries, the TBSCertList, the HSM
signature, the software check of that signature, and storing the CRL with its audit record.

Goal (issue 5): ours no slower than openssl (ratio <= 1.0).

    .venv/bin/python bench/crl.py [--entries 100000] [--database URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import MODULE, pg_schema, throwaway_token  # noqa: E402

OPENSSL_CNF = """
[ ca ]
default_ca = bench
[ bench ]
dir = {dir}
database = {dir}/index.txt
crlnumber = {dir}/crlnumber
certificate = {dir}/ca.pem
private_key = {dir}/ca.key
default_md = sha256
default_crl_hours = 24
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid
"""


def _even_hex(n: int) -> str:
    text = format(n, "X")
    return text if len(text) % 2 == 0 else "0" + text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--key-type", default="rsa-3072")
    parser.add_argument("--database", default=os.environ.get(
        "KYSO_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()

    from sqlalchemy import insert

    work = Path(tempfile.mkdtemp(prefix="kyso-bench-crl-"))
    conf, _label, pin = throwaway_token(work)
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        with pg_schema(args.database) as url:
            from app.services import build_services
            from app.settings import load_settings
            from ca_admin import crl, registry, service
            from ca_admin.models import IssuedCertificate
            from hsm import KeyStore
            from kyso import migrate
            from kyso.db import transaction

            settings = load_settings(environ={}, overrides={
                "database": {"url": url},
                "hsm": {"token_label": "kyso-bench", "pin": pin, "softhsm2_conf": ""},
                "ca": {"root_key": {"key_type": "rsa-2048"}, "issuing_key": {"key_type": args.key_type}},
            })
            store = KeyStore(MODULE, "kyso-bench", pin)
            svc = build_services(settings, keystore=store)
            migrate.upgrade(svc.engine)
            service.init_ca(svc.sessions, store, settings, actor="bench")
            with transaction(svc.sessions) as session:
                agency = registry.create_agency(session, {"code": "000.00.12.H31", "name": "SỞ NỘI VỤ"},
                                                actor="bench", level1_letters="GHK")
                issuing = service.active_ca(session, "issuing")
                agency_id = agency.id
                from sqlalchemy import select

                from ca_admin.models import CertificateAuthority

                issuer_id = session.execute(select(CertificateAuthority.id).where(
                    CertificateAuthority.role == "issuing")).scalar_one()

            # The revoked certificates, as revocation leaves them: each with its kept CRL entry.
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            reasons = ["key_compromise", "superseded", "cessation_of_operation", "affiliation_changed", "unspecified"]
            serials = [secrets.randbits(159) | (1 << 100) for _ in range(args.entries)]
            rows = []
            index_lines = []
            for i, serial in enumerate(serials):
                revoked_at = now - dt.timedelta(minutes=i % 10000)
                reason = reasons[i % len(reasons)]
                rows.append({
                    "serial_hex": format(serial, "x"), "issuer_id": issuer_id, "profile": "agency-seal",
                    "agency_id": agency_id, "subject": "bench", "spki_sha256": "0" * 64,
                    "not_before": now - dt.timedelta(days=1), "not_after": now + dt.timedelta(days=365),
                    "certificate_der": b"\x30\x00", "status": "revoked", "revoked_at": revoked_at,
                    "revocation_reason": reason, "created_at": now,
                    "crl_entry_der": crl.entry_der(serial, revoked_at, reason, None),
                })
                reason_txt = {"key_compromise": ",keyCompromise", "superseded": ",superseded",
                              "cessation_of_operation": ",cessationOfOperation",
                              "affiliation_changed": ",affiliationChanged", "unspecified": ""}[reason]
                index_lines.append(f"R\t{(now + dt.timedelta(days=365)):%y%m%d%H%M%SZ}\t"
                                   f"{revoked_at:%y%m%d%H%M%SZ}{reason_txt}\t{_even_hex(serial)}"
                                   f"\tunknown\t/CN=bench {i}\n")
            with svc.engine.begin() as conn:
                for start in range(0, len(rows), 5000):
                    conn.execute(insert(IssuedCertificate), rows[start:start + 5000])
            print(f"{args.entries} revoked entries; issuing key {args.key_type} in SoftHSM2; "
                  f"database {svc.engine.dialect.name}; CA {issuing.subject[:40]}...")

            crl.publish(svc.sessions, store, settings, "issuing")  # warm: session, caches
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                info = crl.publish(svc.sessions, store, settings, "issuing")
                runs.append(time.perf_counter() - t0)
            ours = min(runs)
            assert info.entries == args.entries
            (work / "ours.crl").write_bytes(info.der)

            d = work / "openssl-ca"
            d.mkdir()
            (d / "index.txt").write_text("".join(index_lines))
            (d / "crlnumber").write_text("01\n")
            (d / "ca.cnf").write_text(OPENSSL_CNF.format(dir=d))
            newkey = (["-newkey", f"rsa:{args.key_type[4:]}"] if args.key_type.startswith("rsa")
                      else ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:P-{args.key_type[4:]}"])
            subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(d / "ca.key"), "-out",
                            str(d / "ca.pem"), "-days", "365", "-subj", "/CN=bench openssl CA",
                            "-addext", "keyUsage=critical,keyCertSign,cRLSign"], check=True, capture_output=True)
            oruns = []
            for _ in range(3):
                t0 = time.perf_counter()
                res = subprocess.run(["openssl", "ca", "-gencrl", "-config", str(d / "ca.cnf"), "-out",
                                      str(d / "crl.pem")], capture_output=True, text=True)
                if res.returncode != 0:
                    raise SystemExit(f"openssl ca -gencrl failed: {res.stderr[-2000:]}")
                oruns.append(time.perf_counter() - t0)
            theirs = min(oruns)
            check = subprocess.run(["openssl", "crl", "-in", str(work / "ours.crl"), "-inform", "DER", "-noout"],
                                   capture_output=True)
            print(f"ours:    {ours:6.3f} s  (best of 3; {len(info.der) / 1e6:.1f} MB DER; openssl parses it: "
                  f"{'yes' if check.returncode == 0 else 'NO'})")
            print(f"openssl: {theirs:6.3f} s  (best of 3, openssl ca -gencrl, software key)")
            print(f"ours/openssl = {ours / theirs:.2f} (goal <= 1.00) {'ok' if ours <= theirs else 'SLOWER'}")
            svc.engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
