"""openssl and pkilint judge the CA certificates made with the shipped defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.services import build_services
from ca_admin import service
from kyso import migrate
from tests.conftest import DatabaseFixture, make_settings

LINT = str(Path(sys.executable).parent / "lint_pkix_cert")


@pytest.fixture(params=["defaults", "ec"])
def ca_files(request: pytest.FixtureRequest, hsm_token: Any, keystore: Any,
             tmp_path: Path) -> tuple[Path, Path]:
    # Certificate content does not depend on the database: judged once, on SQLite.
    database = DatabaseFixture("sqlite", f"sqlite:///{tmp_path / 'kyso.db'}", {})
    ca = {"root_key": {"key_type": "rsa-4096"}, "issuing_key": {"key_type": "rsa-3072"}}
    if request.param == "ec":
        ca = {"root_key": {"key_type": "ec-p384", "hash": "sha384"},
              "issuing_key": {"key_type": "ec-p256"}}
    settings = make_settings(database, hsm_token, ca=ca)
    svc = build_services(settings, keystore=keystore)
    migrate.upgrade(svc.engine)
    root, issuing = service.init_ca(svc.sessions, keystore, settings, actor="test")
    svc.engine.dispose()
    root_pem, issuing_pem = tmp_path / "root.pem", tmp_path / "issuing.pem"
    root_pem.write_bytes(root.certificate_pem)
    issuing_pem.write_bytes(issuing.certificate_pem)
    return root_pem, issuing_pem


def test_openssl_verifies_the_chain(ca_files: tuple[Path, Path]) -> None:
    root, issuing = ca_files
    out = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(root), str(issuing)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK" in out.stdout
    selfcheck = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(root), str(root)],
                               capture_output=True, text=True)
    assert selfcheck.returncode == 0, selfcheck.stdout + selfcheck.stderr


def test_pkilint_finds_no_error_or_warning(ca_files: tuple[Path, Path]) -> None:
    for cert in ca_files:
        out = subprocess.run([LINT, "lint", "-s", "WARNING", str(cert)], capture_output=True,
                             text=True)
        assert out.returncode == 0 and not out.stdout.strip(), f"{cert.name}: {out.stdout}"
        # And pkilint really ran: at INFO level it reports its SKI finding.
        info = subprocess.run([LINT, "lint", "-s", "INFO", str(cert)], capture_output=True,
                              text=True)
        assert "subject_key_identifier" in info.stdout
