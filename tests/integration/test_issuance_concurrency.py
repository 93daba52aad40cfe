"""Concurrent issuance, and a worker killed between the HSM signature and the commit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from ca_admin import registry
from ca_admin.models import CertificateRequest, IssuedCertificate
from kyso import audit
from kyso.db import transaction
from tests.conftest import ROOT, cli_env, cli_users, make_settings, make_user, run_kyso
from tests.pki import make_csr

pytestmark = pytest.mark.both_databases


@pytest.fixture
def settings(database: Any, hsm_token: Any) -> Any:
    # 200 certificates for one client: no per-owner quota here (tests/security tests the quota).
    return make_settings(database, hsm_token, profiles={"client-tls": {"max_active_per_owner": 0}})


def _count(services: Any, model: Any) -> int:
    with transaction(services.sessions) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_200_concurrent_issuances(app: Any, services: Any, ca: Any) -> None:
    with transaction(services.sessions) as session:
        registry.create_agency(session, {"code": "000.00.12.H31", "name": "SỞ NỘI VỤ"}, actor="t",
                               level1_letters="GHK")
    key = make_user(services, "connector", "client")
    with transaction(services.sessions) as session:
        registry.bind_client(session, "connector", "000.00.12.H31", actor="t")
    csrs = [make_csr("ec-p256") for _ in range(200)]
    audit_before = _count(services, audit.AuditRecord)

    def issue(csr: str) -> tuple[int, str]:
        client = app.test_client()
        r = client.post("/api/v1/admin/requests", headers={"Authorization": f"Bearer {key}"},
                        json={"profile": "client-tls", "agency_code": "000.00.12.H31", "csr": csr})
        body = r.get_json()
        return r.status_code, body.get("certificate", {}).get("serial", "") if r.status_code == 201 else str(body)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(issue, csrs))
    assert all(status == 201 for status, _ in results), [r for r in results if r[0] != 201][:3]
    serials = {serial for _, serial in results}
    assert len(serials) == 200
    assert _count(services, IssuedCertificate) == 200
    with transaction(services.sessions) as session:
        issued = session.execute(select(func.count()).select_from(audit.AuditRecord)
                                 .where(audit.AuditRecord.action == "cert.issue")).scalar_one()
        assert issued == 200
        report = audit.verify_chain(session)
    assert report.ok and report.records == audit_before + 400  # a request and an issue each


KILLER = textwrap.dedent("""
    import os, sys
    import ca_admin.issuance as issuance
    real = issuance.sign_certificate
    def sign_then_die(*args, **kwargs):
        cert = real(*args, **kwargs)        # the HSM has signed the certificate...
        sys.stdout.write("signed\\n"); sys.stdout.flush()
        os._exit(9)                         # ...and the worker dies before the commit
    issuance.sign_certificate = sign_then_die
    from app.cli import main
    sys.argv = ["kyso", "certs", "approve", sys.argv[1], "--as", "admin2"]
    main()
""")


def test_worker_killed_between_signature_and_commit(database: Any, hsm_token: Any, tmp_path: Any) -> None:
    # The seal's key comes from a CSR (no HSM key involved): its agency uses an external token.
    env = cli_env(database, hsm_token, KYSO_PROFILES__AGENCY_SEAL__EXTERNAL_TOKEN_AGENCIES="000.00.12.H31")
    for args in (["db", "upgrade"], ["ca", "init"]):
        r = run_kyso(args, env)
        assert r.returncode == 0, (args, r.stderr)
    op = cli_users(env, ("admin", "ca-admin"), ("admin2", "ca-admin"))
    for args in (["agencies", "add", "000.00.12.H31", "SỞ NỘI VỤ", "--as", "admin"],):
        r = run_kyso(args, op["admin"])
        assert r.returncode == 0, (args, r.stderr)
    csr = tmp_path / "seal.csr"
    csr.write_text(make_csr("ec-p256"))
    r = run_kyso(["certs", "request", "--profile", "agency-seal", "--agency", "000.00.12.H31",
                  "--csr", str(csr), "--as", "admin"], op["admin"])
    assert r.returncode == 0, r.stderr
    base = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    killed = subprocess.run([sys.executable, "-c", KILLER, "1"], env={**base, **op["admin2"]}, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == 9 and "signed" in killed.stdout, killed.stderr
    # Nothing the database does not know: no certificate row, the request still pending,
    # the audit chain intact; the certificate bytes died with the worker.
    from kyso import migrate  # noqa: F401 - the schema exists (made by the CLI above)
    from kyso.db import make_engine, make_sessionmaker

    engine = make_engine(database.url)
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        assert session.execute(select(func.count()).select_from(IssuedCertificate)).scalar_one() == 0
        assert session.execute(select(CertificateRequest.status)).scalar_one() == "pending"
        assert audit.verify_chain(session).ok
        assert "cert.issue" not in [rec["action"] for rec in audit.export(session)]
    engine.dispose()
    again = run_kyso(["certs", "approve", "1", "--as", "admin2"], op["admin2"])
    assert again.returncode == 0, again.stderr
    assert '"status": "issued"' in again.stdout
