"""Issue 13 item 20: a token that is gone is 'hsm-unavailable', and no error names a server path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import MODULE, ROOT, cli_env, run_kyso

_PROBE = """
import json, sys
from hsm import KeyStore
from hsm.errors import HsmUnavailable
from kyso.problems import problem
try:
    KeyStore(sys.argv[1], "kyso-gone", "1234", open_retries=1).ping()
except HsmUnavailable as exc:
    print(json.dumps(problem(exc)))
"""


def _problem_in_fresh_worker(module: str, conf: Path) -> dict[str, Any]:
    """A new worker process (the module is initialised afresh, as after a restart)."""
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    out = subprocess.run([sys.executable, "-c", _PROBE, module], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True)
    body: dict[str, Any] = json.loads(out.stdout)
    return body


def test_token_directory_removed_is_unavailable_without_paths(tmp_path: Path) -> None:
    gone = tmp_path / "tokens-removed"  # SoftHSM2 then fails C_Initialize itself
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {gone}\nobjectstore.backend = file\n")
    body = _problem_in_fresh_worker(MODULE, conf)
    assert body["status"] == 503
    assert body["code"] == "hsm-unavailable"
    text = json.dumps(body)
    assert MODULE not in text and str(tmp_path) not in text and "/" not in body["detail"]


def test_missing_or_broken_module_names_no_server_path(tmp_path: Path) -> None:
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path}\n")
    broken = tmp_path / "broken.so"
    broken.write_bytes(b"not a shared object")
    for module in (str(tmp_path / "vendor" / "libpkcs11.so"), str(broken)):
        body = _problem_in_fresh_worker(module, conf)
        assert (body["status"], body["code"]) == (503, "hsm-module-missing")
        assert str(tmp_path) not in json.dumps(body)


def test_cli_with_token_gone_says_unavailable(database: Any, hsm_token: Any, tmp_path: Path) -> None:
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'gone'}\nobjectstore.backend = file\n")
    env = cli_env(database, hsm_token, SOFTHSM2_CONF=str(conf))
    result = run_kyso(["hsm", "status"], env)
    assert result.returncode != 0
    assert "[hsm-unavailable]" in result.stderr, result.stderr
    assert MODULE not in result.stderr and str(tmp_path) not in result.stderr
