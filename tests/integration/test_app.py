"""The web app: health, readiness, problem+json, callers and roles, CA certificates."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
from typing import Any

import pytest
from asn1crypto import pem, x509
from sqlalchemy import select

from hsm.keystore import verify_signature
from kyso import audit
from kyso.callers import ApiKey
from kyso.db import transaction
from tests.conftest import make_user, token_dir_of

pytestmark = pytest.mark.both_databases


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.content_type == "application/problem+json"
    body = resp.get_json(force=True)
    assert body["status"] == status and body["code"] == code
    assert body["detail"] and body["detail_vi"] and body["title"]
    return body


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_healthz_and_request_id(client: Any) -> None:
    resp = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.status_code == 200 and resp.get_json() == {"status": "alive"}
    # Ours, never the caller's (issue 13): the caller's is echoed beside it.
    assert resp.headers["X-Request-Id"] not in ("", "abc-123")
    assert resp.headers["X-Client-Request-Id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-Id": "bad id <script>"})
    assert generated.headers["X-Request-Id"] not in ("", "bad id <script>")


def test_readyz_ready(client: Any, ca: Any) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": {"ok": True}, "token": {"ok": True}, "ca": {"ok": True}}


def test_readyz_without_ca(client: Any) -> None:
    body = _problem(client.get("/readyz"), 503, "not-ready")
    assert body["checks"]["ca"]["code"] == "ca-not-initialised"
    assert body["checks"]["database"]["ok"] and body["checks"]["token"]["ok"]


def test_readyz_unmigrated_database(hsm_token: Any, keystore: Any, tmp_path: Any) -> None:
    from app.services import build_services
    from app.web import create_app
    from tests.conftest import DatabaseFixture, make_settings

    settings = make_settings(DatabaseFixture("sqlite", f"sqlite:///{tmp_path}/empty.db", {}),
                             hsm_token)
    app = create_app(settings, services=build_services(settings, keystore=keystore),
                     configure_logging=False)
    body = _problem(app.test_client().get("/readyz"), 503, "not-ready")
    assert body["checks"]["database"] == {"ok": False, "code": "schema-not-current"}


def test_readyz_database_unreachable(hsm_token: Any, keystore: Any) -> None:
    from app.services import build_services
    from app.web import create_app
    from tests.conftest import DatabaseFixture, make_settings

    db = DatabaseFixture("postgresql", "postgresql+psycopg://nobody@127.0.0.1:1/none", {})
    settings = make_settings(db, hsm_token)
    app = create_app(settings, services=build_services(settings, keystore=keystore),
                     configure_logging=False)
    body = _problem(app.test_client().get("/readyz"), 503, "not-ready")
    assert body["checks"]["database"]["code"] == "database-unavailable"


def test_ca_certificates_served(client: Any, ca: Any) -> None:
    root, issuing = ca
    der = client.get("/pki/ca/root.crt")
    assert der.status_code == 200 and der.content_type == "application/pkix-cert"
    assert der.data == root.certificate_der
    pem_resp = client.get("/pki/ca/issuing.crt?format=pem")
    assert pem.unarmor(pem_resp.data)[2] == issuing.certificate_der
    assert x509.Certificate.load(issuing.certificate_der).issuer == \
        x509.Certificate.load(der.data).subject
    cached = client.get("/pki/ca/root.crt", headers={"If-None-Match": der.headers["ETag"]})
    assert cached.status_code == 304
    _problem(client.get("/pki/ca/root.crt?format=txt"), 400, "bad-request")


def test_ca_certificates_before_init(client: Any) -> None:
    _problem(client.get("/pki/ca/root.crt"), 404, "ca-not-initialised")


def test_deny_by_default_and_audit(client: Any, services: Any) -> None:
    _problem(client.get("/api/v1/admin/whoami"), 401, "unauthenticated")
    forged = "kyso_0123456789abcdef_" + "A" * 43
    _problem(client.get("/api/v1/admin/whoami", headers=_auth(forged)), 401, "unauthenticated")
    # A key id never issued is a stranger: only logged (issue 13, item 12) ...
    real = make_user(services, "eoffice", "client")
    wrong = f"kyso_{real.split('_')[1]}_" + "A" * 43
    _problem(client.get("/api/v1/admin/whoami", headers=_auth(wrong)), 401, "unauthenticated")
    with transaction(services.sessions) as session:
        denied = [r for r in audit.export(session) if r["action"] == "auth.denied"]
    # ... while a presented key of ours that fails is a security event.
    assert [r["actor"] for r in denied] == [f"key:{real.split('_')[1]}"]
    assert all(forged not in json.dumps(r) and wrong not in json.dumps(r) for r in denied)


def test_roles(client: Any, services: Any, ca: Any) -> None:
    auditor = make_user(services, "kiểm toán viên", "auditor")
    admin = make_user(services, "admin", "ca-admin")
    who = client.get("/api/v1/admin/whoami", headers=_auth(auditor))
    assert who.get_json() == {"name": "kiểm toán viên", "role": "auditor"}
    assert client.get("/api/v1/admin/audit", headers=_auth(auditor)).status_code == 200
    _problem(client.post("/api/v1/admin/ca/self-test", headers=_auth(auditor)), 403, "forbidden")
    assert client.post("/api/v1/admin/ca/self-test", headers=_auth(admin)).status_code == 200
    client_key = make_user(services, "eoffice", "client")
    _problem(client.get("/api/v1/admin/audit", headers=_auth(client_key)), 403, "forbidden")


def test_api_keys_stored_hashed(services: Any) -> None:
    key = make_user(services, "ra", "ra-officer")
    # The secret is URL-safe base64 and may itself contain "_": split off the prefix and id only.
    secret = key.split("_", 2)[2]
    assert len(secret) == 43
    with transaction(services.sessions) as session:
        row = session.execute(select(ApiKey)).scalars().one()
        stored = [str(value) for value in vars(row).values()]
        assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
        assert not any(secret in value for value in stored)


def test_self_test_signs_in_the_hsm(client: Any, services: Any, ca: Any, admin_key: str) -> None:
    _root, issuing = ca
    body = client.post("/api/v1/admin/ca/self-test", headers=_auth(admin_key)).get_json()
    verify_signature(issuing.certificate.public_key.dump(), base64.b64decode(body["challenge"]),
                     base64.b64decode(body["signature"]), body["scheme"])
    with transaction(services.sessions) as session:
        assert [r["action"] for r in audit.export(session)][-1] == "hsm.self-test"


def test_problem_json_for_404_405_and_413(app: Any, client: Any) -> None:
    _problem(client.get("/nope"), 404, "http-404")
    _problem(client.delete("/healthz"), 405, "http-405")
    app.config["MAX_CONTENT_LENGTH"] = 10
    _problem(client.post("/api/v1/admin/ca/self-test", data=b"x" * 100,
                         headers={"Content-Type": "application/octet-stream"}),
             413, "payload-too-large")


def test_unexpected_error_gives_incident_id_and_no_internals(app: Any, client: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    from kyso.web import public

    @app.get("/boom")
    @public
    def boom() -> None:
        raise ValueError("secret internal detail /etc/passwd")

    with caplog.at_level(logging.ERROR):
        resp = client.get("/boom")
    body = _problem(resp, 500, "internal-error")
    assert "secret internal detail" not in resp.get_data(as_text=True)
    assert body["incident_id"] in body["detail"]
    assert any(getattr(r, "incident_id", None) == body["incident_id"] for r in caplog.records)


def test_logs_hold_no_secret(client: Any, services: Any, ca: Any, hsm_token: Any,
                             capsys: pytest.CaptureFixture[str]) -> None:
    from kyso import logs

    logs.configure("DEBUG", as_json=True)
    try:
        key = make_user(services, "admin2", "ca-admin")
        client.post("/api/v1/admin/ca/self-test", headers=_auth(key))
        client.get("/api/v1/admin/whoami", headers=_auth(key + "x"))
        logging.getLogger("kyso.test").info("login with pin=%s key %s", hsm_token.pin, key)
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert err, "no log output captured"
    for line in err.splitlines():
        if line.startswith("{"):
            json.loads(line)
    assert hsm_token.pin not in err
    assert key.split("_", 2)[2] not in err


def test_token_removed_gives_503_then_recovers(database: Any, hsm_token: Any, tmp_path: Any) -> None:
    """Its own token, so removing it does not disturb the other tests."""
    import secrets as _secrets

    from app.services import build_services
    from app.web import create_app
    from ca_admin import service
    from hsm import KeyStore
    from kyso import migrate
    from tests.conftest import MODULE, init_token, make_settings

    label = f"kyso-app-{_secrets.token_hex(3)}"
    pin, _ = init_token(hsm_token.conf, label)
    settings = make_settings(database, hsm_token, hsm={"token_label": label, "pin": pin})
    store = KeyStore(MODULE, label, pin)
    svc = build_services(settings, keystore=store)
    migrate.upgrade(svc.engine)
    service.init_ca(svc.sessions, store, settings, actor="test")
    app = create_app(settings, services=svc, configure_logging=False)
    c = app.test_client()
    admin = make_user(svc, "admin", "ca-admin")
    assert c.get("/readyz").status_code == 200
    svc.ready_cache = None  # readiness is cached for two seconds; look again now
    path = token_dir_of(hsm_token, label)
    away = tmp_path / "removed-token"
    shutil.move(path, away)
    try:
        body = _problem(c.get("/readyz"), 503, "not-ready")
        assert not body["checks"]["ca"]["ok"]
        _problem(c.post("/api/v1/admin/ca/self-test", headers=_auth(admin)), 503, "hsm-unavailable")
    finally:
        shutil.move(away, path)
    svc.ready_cache = None
    assert c.get("/readyz").status_code == 200
    assert c.post("/api/v1/admin/ca/self-test", headers=_auth(admin)).status_code == 200
    svc.engine.dispose()


def test_public_only_app_has_no_admin_api(services: Any, ca: Any) -> None:
    from app.web import create_app

    app = create_app(services.settings, services=services, public_only=True,
                     configure_logging=False)
    c = app.test_client()
    assert c.get("/pki/ca/root.crt").status_code == 200
    assert c.get("/api/v1/admin/whoami").status_code == 404


def test_readyz_is_cached_and_reveals_no_paths(client: Any, services: Any, ca: Any) -> None:
    first = client.get("/readyz")
    assert first.status_code == 200
    calls = {"n": 0}
    real = services.keystore.ping

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return real(*args, **kwargs)

    services.keystore.ping = counting  # type: ignore[method-assign]
    try:
        for _ in range(5):
            assert client.get("/readyz").status_code == 200
    finally:
        del services.keystore.ping
    assert calls["n"] == 0


def test_readyz_wrong_pin_gives_code_only(database: Any, hsm_token: Any, tmp_path: Any) -> None:
    from app.services import build_services
    from app.web import create_app
    from hsm import KeyStore
    from kyso import migrate
    from tests.conftest import MODULE, make_settings

    settings = make_settings(database, hsm_token, hsm={"module": MODULE})
    store = KeyStore(MODULE, hsm_token.label, "wrong-pin-value")
    svc = build_services(settings, keystore=store)
    migrate.upgrade(svc.engine)
    app = create_app(settings, services=svc, configure_logging=False)
    resp = app.test_client().get("/readyz")
    body = _problem(resp, 503, "not-ready")
    assert body["checks"]["token"] == {"ok": False, "code": "hsm-pin-incorrect"}
    assert MODULE not in resp.get_data(as_text=True)
    svc.engine.dispose()


def test_public_only_from_settings_serves_validation_endpoints(services: Any, ca: Any) -> None:
    import dataclasses

    from app.web import create_app

    settings = dataclasses.replace(services.settings,
                                   server=dataclasses.replace(services.settings.server, public_only=True))
    c = create_app(settings, services=services, configure_logging=False).test_client()
    assert c.get("/pki/crl/issuing.crl").status_code == 200
    assert c.post("/ocsp", data=b"x", content_type="application/ocsp-request").status_code == 200
    assert c.post("/tsa", data=b"x", content_type="application/timestamp-query").status_code == 200
    assert c.get("/api/v1/admin/certificates").status_code == 404
    assert c.post("/api/v1/admin/requests", json={}).status_code == 404


def test_hsm_down_ocsp_serves_cache_and_tsa_says_503(client: Any, services: Any, ca: Any,
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import subprocess

    from asn1crypto import ocsp as asn1_ocsp

    from ca_admin import ocsp
    from hsm import HsmUnavailable

    _root, issuing = ca
    ra, admin = make_user(services, "ra", "ra-officer"), make_user(services, "admin", "ca-admin")
    client.post("/api/v1/admin/agencies", headers=_auth(ra), json={"code": "000.00.12.H31", "name": "SỞ NỘI VỤ"})
    r = client.post("/api/v1/admin/requests", headers=_auth(ra),
                    json={"profile": "agency-seal", "agency_code": "000.00.12.H31", "generate_key": True,
                          "key_type": "ec-p256"})
    rid = r.get_json()["request"]["id"]
    body = client.post(f"/api/v1/admin/requests/{rid}/approve", headers=_auth(admin)).get_json()
    (tmp_path / "c.pem").write_text(body["certificate_pem"])
    (tmp_path / "i.pem").write_bytes(issuing.certificate_pem)
    subprocess.run(["openssl", "ocsp", "-issuer", str(tmp_path / "i.pem"), "-cert", str(tmp_path / "c.pem"),
                    "-no_nonce", "-reqout", str(tmp_path / "q.der")], check=True, capture_output=True)
    query = (tmp_path / "q.der").read_bytes()
    ocsp.refresh(services.sessions, services.keystore, services.settings)  # pre-produce

    def down(*args: Any, **kwargs: Any) -> bytes:
        raise HsmUnavailable()

    monkeypatch.setattr(services.keystore, "sign", down)
    cached = client.post("/ocsp", data=query, content_type="application/ocsp-request")
    assert asn1_ocsp.OCSPResponse.load(cached.data)["response_status"].native == "successful"
    # A nonce needs a fresh signature: tryLater while the HSM is down.
    subprocess.run(["openssl", "ocsp", "-issuer", str(tmp_path / "i.pem"), "-cert", str(tmp_path / "c.pem"),
                    "-nonce", "-reqout", str(tmp_path / "qn.der")], check=True, capture_output=True)
    fresh = client.post("/ocsp", data=(tmp_path / "qn.der").read_bytes(), content_type="application/ocsp-request")
    assert asn1_ocsp.OCSPResponse.load(fresh.data)["response_status"].native == "try_later"
    (tmp_path / "d.txt").write_text("x")
    subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "d.txt"), "-sha256", "-out",
                    str(tmp_path / "t.tsq")], check=True, capture_output=True)
    ts = client.post("/tsa", data=(tmp_path / "t.tsq").read_bytes(), content_type="application/timestamp-query")
    assert ts.status_code == 503 and ts.content_type == "application/timestamp-reply"
