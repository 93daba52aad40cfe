"""Shared by the revocation interop tests: a registered agency, an RA officer, a CA admin,
and the CA certificates on disk for openssl."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import make_user

AGENCY = "000.00.12.H31"


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def pki(client: Any, services: Any, ca: Any, tmp_path: Path) -> dict[str, Any]:
    root, issuing = ca
    (tmp_path / "root.pem").write_bytes(root.certificate_pem)
    (tmp_path / "issuing.pem").write_bytes(issuing.certificate_pem)
    (tmp_path / "chain.pem").write_bytes(root.certificate_pem + issuing.certificate_pem)
    keys = {"ra": make_user(services, "ra", "ra-officer"), "admin": make_user(services, "admin", "ca-admin")}
    assert client.post("/api/v1/admin/agencies", headers=H(keys["ra"]),
                       json={"code": AGENCY, "name": "SỞ NỘI VỤ"}).status_code == 201
    return {"dir": tmp_path, "keys": keys}


def issue_seal(client: Any, pki: dict[str, Any], name: str) -> str:
    """Issue an agency seal through the API; the PEM goes to <dir>/<name>.pem."""
    keys = pki["keys"]
    r = client.post("/api/v1/admin/requests", headers=H(keys["ra"]),
                    json={"profile": "agency-seal", "agency_code": AGENCY, "generate_key": True,
                          "key_type": "ec-p256"})
    body = client.post(f"/api/v1/admin/requests/{r.get_json()['request']['id']}/approve",
                       headers=H(keys["admin"])).get_json()
    (pki["dir"] / f"{name}.pem").write_text(body["certificate_pem"])
    return str(body["certificate"]["serial"])


@pytest.fixture
def server(app: Any) -> Iterator[str]:
    """The test app on a real loopback port, for clients we did not write (openssl, pyHanko)."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
