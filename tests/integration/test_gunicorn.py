"""Two gunicorn workers, each with its own PKCS#11 session opened after the fork."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509

from hsm.keystore import verify_signature
from tests.conftest import ROOT, DatabaseFixture, cli_env, run_kyso


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], url: str) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if _call(f"{url}/readyz")[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _call(url: str, key: str | None = None, method: str = "GET") -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback only
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
def test_two_workers_sign_correctly(hsm_token: Any, tmp_path: Path) -> None:
    db = DatabaseFixture("sqlite", f"sqlite:///{tmp_path}/kyso.db", {})
    env = cli_env(db, hsm_token, KYSO_SERVER__WORKERS="2", KYSO_LOGGING__LEVEL="WARNING")
    for args in (["db", "upgrade"], ["ca", "init"]):
        r = run_kyso(args, env)
        assert r.returncode == 0, r.stderr
    key = run_kyso(["users", "create", "admin", "--role", "ca-admin"], env).stdout.strip()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    log_path = tmp_path / "gunicorn.log"
    proc, url = None, ""
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = _free_port()
        env["KYSO_SERVER__BIND"] = f"127.0.0.1:{port}"
        with log_path.open("ab") as log_file:
            proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "gunicorn"), "-c", "config/gunicorn.conf.py",
                 "app.web:create_app()"],
                cwd=ROOT, env={**base_env, **env}, stdout=log_file, stderr=log_file,
            )
        url = f"http://127.0.0.1:{port}"
        if _wait_ready(proc, url):
            break
        proc.terminate()
        proc.wait(timeout=20)
        proc = None
    assert proc is not None, log_path.read_text(errors="replace")[-3000:]
    try:
        with urllib.request.urlopen(f"{url}/pki/ca/issuing.crt", timeout=10) as resp:  # noqa: S310
            issuing = x509.Certificate.load(resp.read())
        pids: set[int] = set()
        # Concurrent requests, so that both workers get some whichever accepts first.
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _round in range(40):
                results = list(pool.map(
                    lambda _i: _call(f"{url}/api/v1/admin/ca/self-test", key, "POST"), range(16)))
                for status, body in results:
                    assert status == 200, body
                    verify_signature(issuing.public_key.dump(),
                                     base64.b64decode(body["challenge"]),
                                     base64.b64decode(body["signature"]), body["scheme"])
                    pids.add(body["pid"])
                if len(pids) == 2:
                    break
        assert len(pids) == 2, "requests never reached the second worker"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
