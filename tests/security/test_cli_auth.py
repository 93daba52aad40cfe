"""Item 7 of issue 13: `--as NAME` / KYSO_OPERATOR took a name without a credential, so one
shell user approved as any admin and four eyes was nominal.

Admin commands now act for the user whose own API key they are given (KYSO_API_KEY, or
KYSO_API_KEY_FILE readable by its owner alone), checked as the HTTP API checks it; `--as` is
only a cross-check; the audit records the OS user beside the user. Only the first user (a CA
admin) is created locally; every later user or key needs a CA admin's key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kyso.db import make_engine, make_sessionmaker, transaction
from tests.conftest import cli_env, cli_users, run_kyso


def _failed(r: Any, code: str) -> None:
    assert r.returncode != 0, r.stdout
    assert f"[{code}]" in r.stderr, r.stderr


def test_a_name_alone_no_longer_acts(database: Any, hsm_token: Any, tmp_path: Path) -> None:
    env = cli_env(database, hsm_token)
    for args in (["db", "upgrade"], ["ca", "init"]):
        assert run_kyso(args, env).returncode == 0
    op = cli_users(env, ("admin", "ca-admin"), ("admin2", "ca-admin"), ("ra", "ra-officer"))

    # Later users and extra keys need a CA admin's own key; the first-user path is closed.
    _failed(run_kyso(["users", "create", "mallory", "--role", "ca-admin"], env), "unauthenticated")
    _failed(run_kyso(["users", "add-key", "admin"], env), "unauthenticated")
    _failed(run_kyso(["users", "add-key", "admin"], op["ra"]), "forbidden")

    # The RA officer files a request; naming an admin without the admin's key approves nothing.
    assert run_kyso(["agencies", "add", "000.00.12.H31", "SỞ NỘI VỤ"], op["ra"]).returncode == 0
    filed = run_kyso(["certs", "request", "--profile", "agency-seal", "--agency", "000.00.12.H31",
                      "--generate-key", "--key-type", "ec-p256"], op["ra"])
    assert filed.returncode == 0, filed.stderr
    rid = str(json.loads(filed.stdout)["request"]["id"])
    _failed(run_kyso(["certs", "approve", rid, "--as", "admin"], {**env, "KYSO_OPERATOR": "admin"}),
            "unauthenticated")
    _failed(run_kyso(["certs", "approve", rid, "--as", "admin"], op["ra"]), "forbidden")
    bogus = {**env, "KYSO_API_KEY": "kyso_0123456789abcdef_" + "A" * 43}
    _failed(run_kyso(["certs", "approve", rid], bogus), "unauthenticated")

    # A key file readable by others is refused; the owner's 0600 file works.
    key_file = tmp_path / "admin2.key"
    key_file.write_text(op["admin2"]["KYSO_API_KEY"] + "\n")
    key_file.chmod(0o644)
    from_file = {**env, "KYSO_API_KEY_FILE": str(key_file)}
    _failed(run_kyso(["certs", "approve", rid], from_file), "unauthenticated")
    key_file.chmod(0o600)
    approved = run_kyso(["certs", "approve", rid], from_file)
    assert approved.returncode == 0, approved.stderr

    # A revoked key stops at once.
    kid = op["ra"]["KYSO_API_KEY"].split("_")[1]
    assert run_kyso(["users", "revoke-key", kid], op["admin"]).returncode == 0
    _failed(run_kyso(["agencies", "add", "000.00.12.H32", "SỞ TÀI CHÍNH"], op["ra"]), "unauthenticated")

    # The audit names the authenticated user and the OS user who ran the command.
    engine = make_engine(database.url)
    try:
        from kyso import audit

        with transaction(make_sessionmaker(engine)) as session:
            records = list(audit.export(session, None))
    finally:
        engine.dispose()
    issue = [r for r in records if r["action"] == "cert.issue"]
    assert issue and issue[-1]["actor"] == "user:admin2", issue
    assert issue[-1]["details"]["origin"]["via"] == "cli"
    assert issue[-1]["details"]["origin"]["os_user"]
    assert any(r["action"] == "auth.denied" and r["target"] == "cli" for r in records)
    first = [r for r in records if r["action"] == "user.create"][0]
    assert first["details"]["origin"]["via"] == "cli-local"
    assert os.environ.get("KYSO_API_KEY") is None  # nothing leaked into this process


def test_the_first_user_is_a_ca_admin(database: Any, hsm_token: Any) -> None:
    env = cli_env(database, hsm_token)
    assert run_kyso(["db", "upgrade"], env).returncode == 0
    _failed(run_kyso(["users", "create", "eoffice", "--role", "client"], env), "forbidden")
    assert run_kyso(["users", "create", "admin", "--role", "ca-admin"], env).returncode == 0
