"""What the benchmarks share: a throwaway SoftHSM2 token, a throwaway PostgreSQL schema,
the `kyso` CLI, and gunicorn started with the service's own configuration."""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kyso(args: list[str], env: dict[str, str]) -> str:
    r = subprocess.run([str(BIN / "kyso"), *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"kyso {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def throwaway_token(work: Path, label: str = "kyso-bench") -> tuple[Path, str, str]:
    """A SoftHSM2 token under ``work``: (SOFTHSM2_CONF path, label, user PIN)."""
    (work / "tokens").mkdir(exist_ok=True)
    conf = work / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {work / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    pin = secrets.token_hex(8)
    subprocess.run([sys.executable, "-m", "hsm.tokeninit", "--module", "/usr/lib/softhsm/libsofthsm2.so",
                    "--label", label], check=True, capture_output=True,
                   env={**os.environ, "SOFTHSM2_CONF": str(conf), "KYSO_HSM__PIN": pin,
                        "KYSO_SETUP_SO_PIN": secrets.token_hex(8)})
    return conf, label, pin


@contextmanager
def pg_schema(database: str) -> Iterator[str]:
    """A fresh schema in ``database``, dropped afterwards; yields a URL that uses it."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(database)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{database}{'&' if '?' in database else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def service_env(conf: Path, token: str, pin: str, db_url: str, port: int, **settings: str) -> dict[str, str]:
    """The environment of a 2-worker service on ``port`` (plus KYSO_* ``settings``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env.update({"SOFTHSM2_CONF": str(conf), "KYSO_DATABASE__URL": db_url, "KYSO_HSM__TOKEN_LABEL": token,
                "KYSO_HSM__PIN": pin, "KYSO_SERVER__BIND": f"127.0.0.1:{port}", "KYSO_SERVER__WORKERS": "2",
                "KYSO_LOGGING__LEVEL": "WARNING", **settings})
    return env


def start_gunicorn(env: dict[str, str], work: Path, port: int, ready_path: str = "/readyz") -> subprocess.Popen[bytes]:
    """gunicorn with config/gunicorn.conf.py, once it answers ``ready_path`` with 200."""
    log = (work / "gunicorn.log").open("wb")
    proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "app.web:create_app()"],
                            cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.time() + 60
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", ready_path)
            if c.getresponse().status == 200:
                return proc
        except OSError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("gunicorn did not become ready; see " + str(work / "gunicorn.log"))
        time.sleep(0.3)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def openssl_self_signed(d: Path, name: str, key_type: str, subject: str, *extensions: str) -> None:
    """``<d>/<name>.key`` and a self-signed ``<d>/<name>.pem`` for an openssl baseline, with a
    software key of Kyso's key type (rsa-N or ec-pN) and ``-addext`` extensions."""
    newkey = (["-newkey", f"rsa:{key_type[4:]}"] if key_type.startswith("rsa")
              else ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:P-{key_type[4:]}"])
    addext = [arg for ext in extensions for arg in ("-addext", ext)]
    subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(d / f"{name}.key"),
                    "-out", str(d / f"{name}.pem"), "-days", "3650", "-subj", subject, *addext],
                   check=True, capture_output=True)


def time_openssl(d: Path, inputs: list[bytes], suffix: str, command: list[str]) -> float:
    """Items per second of one openssl process per input; ``{in}`` and ``{out}`` in
    ``command`` stand for each input's file and its output file."""
    paths = []
    for i, data in enumerate(inputs):
        p = d / f"in{i}{suffix}"
        p.write_bytes(data)
        paths.append(p)
    start = time.perf_counter()
    for i, p in enumerate(paths):
        args = [a.replace("{in}", str(p)).replace("{out}", str(d / f"out{i}")) for a in command]
        subprocess.run(args, check=True, capture_output=True)
    return len(paths) / (time.perf_counter() - start)


def agency_with_seal(env: dict[str, str], agency: str, key_type: str) -> str:
    """Schema, CA, an admin, an RA officer and a client 'eoffice' bound to ``agency``, whose
    seal key (``key_type``) is made in the token; the client's API key."""
    import json

    kyso(["db", "upgrade"], env)
    kyso(["ca", "init"], env)
    # The first CA admin is created locally; admin commands act with the operator's own key.
    admin = {**env, "KYSO_API_KEY": kyso(["users", "create", "admin", "--role", "ca-admin"], env).strip()}
    ra = {**env, "KYSO_API_KEY": kyso(["users", "create", "ra", "--role", "ra-officer"], admin).strip()}
    key = kyso(["users", "create", "eoffice", "--role", "client"], admin).strip()
    kyso(["agencies", "add", agency, "SỞ NỘI VỤ"], admin)
    kyso(["clients", "bind", "eoffice", agency], admin)
    filed = json.loads(kyso(["certs", "request", "--profile", "agency-seal", "--agency", agency,
                             "--generate-key", "--key-type", key_type], ra))
    kyso(["certs", "approve", str(filed["request"]["id"])], admin)
    return key
