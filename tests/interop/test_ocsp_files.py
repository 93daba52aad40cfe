"""OCSP answered by nginx from the response files Kyso writes ([ocsp] static_dir), judged by
`openssl ocsp`: the files follow every status change, and what nginx has no file for goes to
Kyso."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem, x509

from ca_admin.settings import OcspSettings
from tests.conftest import make_settings
from tests.interop.conftest import H, issue_seal
from tests.interop.test_ocsp import _openssl_ocsp

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def settings(database: Any, hsm_token: Any, tmp_path: Path) -> Any:
    return make_settings(database, hsm_token, ocsp={"static_dir": str(tmp_path / "static")})


def _nginx_available() -> bool:
    from ca_admin.ocsp_files import NJS_MODULE

    return Path(NGINX).exists() and NJS_MODULE.exists()


@pytest.fixture
def nginx(server: str, settings: Any, tmp_path: Path) -> Iterator[str]:
    from bench.harness import free_port
    from ca_admin.ocsp_files import nginx_server_conf, nginx_standalone_conf

    if not _nginx_available():
        if os.environ.get("CI") == "true":
            pytest.fail("nginx with its njs module is required in CI (setup installs nginx-light and "
                        "libnginx-mod-http-js as root)")
        pytest.skip("nginx or libnginx-mod-http-js is not installed")
    work = tmp_path / "nginx"
    work.mkdir()
    port = free_port()
    conf = nginx_server_conf(settings.section(OcspSettings).static_dir, urlparse(server).netloc, f"127.0.0.1:{port}")
    (work / "nginx.conf").write_text(nginx_standalone_conf(conf, work))
    proc = subprocess.Popen([NGINX, "-c", str(work / "nginx.conf"), "-e", str(work / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "nginx died") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _request(pki: dict[str, Any], name: str, alg: str = "sha1") -> bytes:
    """The nonce-less request openssl sends for one certificate."""
    out = pki["dir"] / f"{name}-{alg}.req"
    d = pki["dir"]
    digest = ["-sha256"] if alg == "sha256" else []
    subprocess.run(["openssl", "ocsp", "-issuer", str(d / "issuing.pem"), *digest, "-cert", str(d / f"{name}.pem"),
                    "-no_nonce", "-reqout", str(out)], check=True, capture_output=True)
    return out.read_bytes()


def _file_for(settings: Any, request: bytes) -> Path:
    return Path(settings.section(OcspSettings).static_dir) / "ocsp" / base64.b64encode(request).decode()


def _status_of(der: bytes) -> str:
    basic = asn1_ocsp.OCSPResponse.load(der).basic_ocsp_response
    return str(basic["tbs_response_data"]["responses"][0]["cert_status"].name)


def test_files_follow_the_cached_responses(client: Any, services: Any, settings: Any, pki: dict[str, Any]) -> None:
    from ca_admin import ocsp

    serial = issue_seal(client, pki, "seal")
    ocsp.refresh(services.sessions, services.keystore, services.settings)
    for alg in ("sha1", "sha256"):
        path = _file_for(settings, _request(pki, "seal", alg))
        assert path.is_file() and _status_of(path.read_bytes()) == "good"
        assert path.stat().st_mode & 0o777 == 0o644
    # The same answer, from Kyso, for the same request.
    body = _request(pki, "seal")
    assert client.post("/ocsp", data=body, content_type="application/ocsp-request").data == \
        _file_for(settings, body).read_bytes()

    # A revocation deletes the files in its own transaction; even when producing the new
    # answer afterwards fails, no file says "good" once the call has returned.
    original = ocsp.refresh_after_change
    ocsp.refresh_after_change = lambda *a, **k: None  # type: ignore[assignment]
    try:
        assert client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=H(pki["keys"]["ra"]),
                           json={"reason": "superseded"}).status_code == 200
    finally:
        ocsp.refresh_after_change = original  # type: ignore[assignment]
    assert not _file_for(settings, body).exists()
    ocsp.refresh(services.sessions, services.keystore, services.settings)
    assert _status_of(_file_for(settings, body).read_bytes()) == "revoked"


def test_write_files_rebuilds_them_from_the_database(client: Any, services: Any, settings: Any,
                                                     pki: dict[str, Any]) -> None:
    from ca_admin import ocsp

    issue_seal(client, pki, "seal")
    ocsp.refresh(services.sessions, services.keystore, services.settings)
    shutil.rmtree(settings.section(OcspSettings).static_dir)
    assert ocsp.write_files(services.sessions) >= 2
    assert _file_for(settings, _request(pki, "seal")).is_file()


def test_nginx_answers_from_files_and_passes_the_rest_to_kyso(client: Any, services: Any, settings: Any,
                                                              pki: dict[str, Any], nginx: str) -> None:
    from ca_admin import ocsp

    d = pki["dir"]
    serial = issue_seal(client, pki, "seal")
    ocsp.refresh(services.sessions, services.keystore, services.settings)
    body = _request(pki, "seal")
    expected = _file_for(settings, body).read_bytes()

    get = urllib.request.urlopen(f"{nginx}/ocsp/" + quote(base64.b64encode(body).decode(), safe=""), timeout=10)
    assert get.headers["Content-Type"] == "application/ocsp-response" and get.read() == expected
    post = urllib.request.urlopen(urllib.request.Request(
        f"{nginx}/ocsp", data=body, headers={"Content-Type": "application/ocsp-request"}), timeout=10)
    assert post.headers["Content-Type"] == "application/ocsp-response" and post.read() == expected
    # Moving the file away proves it was nginx that answered from it, and Kyso answers without it.
    moved = _file_for(settings, body).rename(Path(settings.section(OcspSettings).static_dir) / "moved")
    assert _status_of(urllib.request.urlopen(urllib.request.Request(
        f"{nginx}/ocsp", data=body, headers={"Content-Type": "application/ocsp-request"}), timeout=10).read()) == "good"
    moved.rename(_file_for(settings, body))

    for nonce in (False, True):  # with a nonce there is no file: Kyso signs a fresh answer
        r = _openssl_ocsp(pki, nginx, "-cert", str(d / "seal.pem"), nonce=nonce)
        assert f"{d / 'seal.pem'}: good" in r.stdout, r.stdout + r.stderr
        assert "Response verify OK" in r.stderr + r.stdout
    r = _openssl_ocsp(pki, nginx, "-serial", "0x1234567890abcdef", nonce=False)
    assert "unknown" in r.stdout and "Response verify OK" in r.stderr + r.stdout, r.stdout + r.stderr

    assert client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=H(pki["keys"]["ra"]),
                       json={"reason": "key_compromise"}).status_code == 200
    for nonce in (False, True):
        r = _openssl_ocsp(pki, nginx, "-cert", str(d / "seal.pem"), nonce=nonce)
        assert f"{d / 'seal.pem'}: revoked" in r.stdout and "Reason: keyCompromise" in r.stdout, r.stdout + r.stderr

    # Anything else nginx passes on untouched: garbage is Kyso's malformedRequest.
    garbage = urllib.request.urlopen(urllib.request.Request(
        f"{nginx}/ocsp", data=b"\x30\x03\x02\x01", headers={"Content-Type": "application/ocsp-request"}), timeout=10)
    assert asn1_ocsp.OCSPResponse.load(garbage.read())["response_status"].native == "malformed_request"
    issuing = x509.Certificate.load(pem.unarmor((d / "issuing.pem").read_bytes())[2])
    assert urllib.request.urlopen(f"{nginx}/pki/ca/issuing.crt", timeout=10).read() == issuing.dump()
