"""The CLI: set-up errors are clear, exit non-zero, and show no traceback or secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli_env, cli_users, run_kyso

pytestmark = pytest.mark.both_databases


def _clear_failure(result: Any, code: str) -> None:
    assert result.returncode != 0
    assert f"[{code}]" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_module_missing(database: Any, hsm_token: Any) -> None:
    env = cli_env(database, hsm_token, KYSO_HSM__MODULE="/nonexistent/libpkcs11.so")
    _clear_failure(run_kyso(["hsm", "status"], env), "hsm-module-missing")


def test_wrong_pin(database: Any, hsm_token: Any) -> None:
    env = cli_env(database, hsm_token, KYSO_HSM__PIN="not-the-pin")
    result = run_kyso(["hsm", "status"], env)
    _clear_failure(result, "hsm-pin-incorrect")
    assert "not-the-pin" not in result.stderr + result.stdout


def test_database_unreachable(hsm_token: Any) -> None:
    env = {"KYSO_DATABASE__URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
           "SOFTHSM2_CONF": str(hsm_token.conf)}
    _clear_failure(run_kyso(["db", "upgrade"], env), "database-unavailable")
    _clear_failure(run_kyso(["audit", "verify"], env), "database-unavailable")


def test_before_setup(tmp_path: Path) -> None:
    """`kyso` in a directory where `make run` never ran: no PIN file, no database."""
    env = {"KYSO_DATABASE__URL": f"sqlite:///{tmp_path}/kyso.db",
           "KYSO_HSM__PIN_FILE": str(tmp_path / "secrets" / "user.pin")}
    _clear_failure(run_kyso(["audit", "verify"], env, cwd=tmp_path), "database-not-initialised")
    result = run_kyso(["hsm", "status"], env, cwd=tmp_path)
    _clear_failure(result, "setup-missing")
    assert "make run" in result.stderr


def test_users_create_shows_key_once(database: Any, hsm_token: Any) -> None:
    env = cli_env(database, hsm_token)
    assert run_kyso(["db", "upgrade"], env).returncode == 0
    admin = cli_users(env, ("admin", "ca-admin"))["admin"]
    made = run_kyso(["users", "create", "Nguyễn Văn An", "--role", "ra-officer"], admin)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("kyso_")
    listed = run_kyso(["users", "list"], env)
    assert "Nguyễn Văn An\tra-officer" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout
    dup = run_kyso(["users", "create", "Nguyễn Văn An", "--role", "auditor"], admin)
    _clear_failure(dup, "conflict")
    bad_role = run_kyso(["users", "create", "x", "--role", "root"], admin)
    assert bad_role.returncode == 2


def test_crl_publish_and_ocsp_refresh_commands(database: Any, hsm_token: Any, tmp_path: Path) -> None:
    """Regression: `kyso crl publish` failed with NoReferencedTableError (agencies) when the
    command imported only the CRL module."""
    env = cli_env(database, hsm_token)
    for args in (["db", "upgrade"], ["ca", "init"]):
        r = run_kyso(args, env)
        assert r.returncode == 0, (args, r.stderr)
    op = cli_users(env, ("admin", "ca-admin"), ("ra", "ra-officer"))
    r = run_kyso(["agencies", "add", "000.00.12.H31", "SỞ NỘI VỤ", "--as", "ra"], op["ra"])
    assert r.returncode == 0, r.stderr
    assert run_kyso(["certs", "request", "--profile", "agency-seal", "--agency", "000.00.12.H31",
                     "--generate-key", "--key-type", "ec-p256", "--as", "ra"], op["ra"]).returncode == 0
    r = run_kyso(["certs", "approve", "1", "--as", "admin", "--out", str(tmp_path / "s.pem")], op["admin"])
    assert r.returncode == 0, r.stderr
    published = run_kyso(["crl", "publish"], env)
    assert published.returncode == 0, published.stderr
    assert "root: CRL number" in published.stdout and "issuing: CRL number" in published.stdout
    refreshed = run_kyso(["ocsp", "refresh"], env)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "OCSP responses produced" in refreshed.stdout
