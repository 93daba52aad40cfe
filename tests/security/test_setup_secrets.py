"""Issue 13 item 28: set-up puts no PIN on a command line, the database and PIN files are
0600, and the nginx examples set the client-certificate header on the TLS server only and
clear it everywhere else."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MODULE, ROOT

NGINX_DIR = ROOT / "config" / "nginx"
HEADER = "X-SSL-Client-Cert"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run_setup_token_part(root: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """scripts/setup.sh in a scratch project root (token and PINs only), under `bash -x`:
    the trace shows every command with its arguments as ps would see them."""
    (root / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    (root / ".venv").symlink_to(ROOT / ".venv")
    # Every external command the script could pass a PIN to, logged with its argv.
    shims = root / "shims"
    shims.mkdir()
    log = root / "argv.log"
    for tool in ("softhsm2-util", "pkcs11-tool"):
        real = shutil.which(tool)
        if real is None:
            continue
        (shims / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >>{log}\nexec {real} "$@"\n')
        (shims / tool).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYSO_", "SOFTHSM2_CONF"))}
    env.update({"PATH": f"{shims}:{env['PATH']}", "KYSO_SETUP_SKIP_PACKAGES": "1",
                "KYSO_SETUP_SKIP_VENV": "1", "KYSO_SETUP_SKIP_CA": "1", **env_extra})
    return subprocess.run(["bash", "-c", "umask 022; exec bash -x scripts/setup.sh"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_setup_creates_token_without_pins_on_any_command_line(tmp_path: Path) -> None:
    root = tmp_path / "kyso"
    result = _run_setup_token_part(root, {"KYSO_HSM__TOKEN_LABEL": "kyso-setup-test"})
    assert result.returncode == 0, result.stderr[-2000:]
    secrets_dir = root / "var" / "secrets"
    user_pin = (secrets_dir / "user.pin").read_text().strip()
    so_pin = (secrets_dir / "so.pin").read_text().strip()
    assert len(user_pin) >= 16 and len(so_pin) >= 16
    trace = result.stderr + ((root / "argv.log").read_text() if (root / "argv.log").exists() else "")
    assert "tokeninit" in trace  # the trace did see the token being made
    assert user_pin not in trace and so_pin not in trace
    # Everything under var/ is the service user's alone, though the caller's umask was 022.
    for path in (root / "var", secrets_dir, root / "var" / "tokens"):
        assert _mode(path) == 0o700, path
    for path in (secrets_dir / "user.pin", secrets_dir / "so.pin", root / "var" / "softhsm2.conf"):
        assert _mode(path) == 0o600, path
    # The token works with the PIN from the file.
    probe = ("import sys; from hsm import KeyStore; "
             "print(KeyStore(sys.argv[1], 'kyso-setup-test', sys.argv[2], open_retries=1).ping()['label'])")
    out = subprocess.run([sys.executable, "-c", probe, MODULE, user_pin], cwd=ROOT, capture_output=True,
                         text=True, timeout=60,
                         env={**os.environ, "SOFTHSM2_CONF": str(root / "var" / "softhsm2.conf")})
    assert out.stdout.strip() == "kyso-setup-test", out.stderr[-2000:]


def test_token_init_reads_pins_from_environment_not_argv(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), "KYSO_HSM__PIN": "env-user-pin-4711",
           "KYSO_SETUP_SO_PIN": "env-so-pin-4712"}
    argv = [sys.executable, "-m", "hsm.tokeninit", "--module", MODULE, "--label", "kyso-env"]
    assert not any("4711" in a or "4712" in a for a in argv)
    made = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    # A second token with the same label is refused, and says nothing secret.
    again = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "exists" in again.stderr and "4711" not in again.stderr
    probe = ("import sys; from hsm import KeyStore; "
             "print(KeyStore(sys.argv[1], 'kyso-env', 'env-user-pin-4711', open_retries=1).ping()['label'])")
    out = subprocess.run([sys.executable, "-c", probe, MODULE], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env={**os.environ, "SOFTHSM2_CONF": str(conf)})
    assert out.stdout.strip() == "kyso-env", out.stderr[-2000:]


def test_setup_script_passes_no_pin_option() -> None:
    text = (ROOT / "scripts" / "setup.sh").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"--(so-)?pin\s", code)


def test_sqlite_database_files_are_private(tmp_path: Path) -> None:
    from sqlalchemy import text

    from kyso.db import make_engine

    old = os.umask(0o022)
    try:
        path = tmp_path / "kyso.db"
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        files = [path, path.with_name("kyso.db-wal"), path.with_name("kyso.db-shm")]
        assert all(f.exists() for f in files)
        for f in files:
            assert _mode(f) == 0o600, f
        engine.dispose()
        # A database an older version left 0644 is tightened at the next start.
        old_db = tmp_path / "old.db"
        old_db.touch()
        old_db.chmod(0o644)
        make_engine(f"sqlite:///{old_db}").dispose()
        assert _mode(old_db) == 0o600
    finally:
        os.umask(old)


def _blocks(conf: str) -> list[tuple[str, str]]:
    """(server header, body) for each top-level server block."""
    out = []
    for m in re.finditer(r"^server\s*\{", conf, re.M):
        depth, i = 0, m.end() - 1
        while True:
            depth += {"{": 1, "}": -1}.get(conf[i], 0)
            if depth == 0:
                break
            i += 1
        out.append((m.group(0), conf[m.end():i]))
    return out


def _locations(body: str) -> list[str]:
    out = []
    for m in re.finditer(r"location\s[^{]*\{", body):
        depth, i = 0, m.end() - 1
        while True:
            depth += {"{": 1, "}": -1}.get(body[i], 0)
            if depth == 0:
                break
            i += 1
        out.append(body[m.start():i])
    return out


@pytest.mark.parametrize("name", ["kyso.conf", "kyso-tls.conf"])
def test_nginx_sets_client_certificate_header_only_on_tls(name: str) -> None:
    conf = re.sub(r"#.*", "", (NGINX_DIR / name).read_text())
    servers = _blocks(conf)
    assert servers
    proxying = 0
    for _head, body in servers:
        tls = re.search(r"listen\s+[^;]*\bssl\b", body) is not None
        for loc in _locations(body):
            if "proxy_pass" not in loc:
                continue
            proxying += 1
            values = re.findall(rf"proxy_set_header\s+{HEADER}\s+([^;]+);", loc)
            assert values == (["$ssl_client_escaped_cert"] if tls else ['""']), (name, loc[:60], values)
    assert proxying


def test_tls_example_has_a_tls_server_with_client_verification() -> None:
    conf = re.sub(r"#.*", "", (NGINX_DIR / "kyso-tls.conf").read_text())
    tls = [body for _h, body in _blocks(conf) if re.search(r"listen\s+[^;]*\bssl\b", body)]
    assert len(tls) == 1
    assert re.search(r"ssl_verify_client\s+(on|optional);", tls[0])
    assert "ssl_client_certificate" in tls[0]


def test_tls_example_is_valid_nginx(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx not installed (KYSO_SETUP_TEST_TOOLS=1 make setup)")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kyso.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    server = (NGINX_DIR / "kyso-tls.conf").read_text()
    for k, v in {"UPSTREAM": "127.0.0.1:8080", "SERVER_NAME": "kyso.test", "TLS_CERT": tmp_path / "c.pem",
                 "TLS_KEY": tmp_path / "k.pem", "CLIENT_CA": tmp_path / "c.pem"}.items():
        server = server.replace(f"@@{k}@@", str(v))
    server = server.replace("listen 443 ssl;", "listen 127.0.0.1:18443 ssl;").replace(
        "listen 80;", "listen 127.0.0.1:18080;")  # `nginx -t` binds nothing
    temps = "\n".join(f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                        "uwsgi", "scgi"))
    whole = (f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'} warn;\nevents {{}}\n"
             f"http {{\naccess_log off;\n{temps}\n{server}\n}}\n")
    (tmp_path / "nginx.conf").write_text(whole)
    result: Any = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                                 capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
