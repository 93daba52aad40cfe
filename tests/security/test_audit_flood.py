"""Item 12 of issue 13: anonymous callers grew the audit trail at will.

Attack: send requests with well-formed API keys that were never issued; each wrote an
``auth.denied`` record (2,386 requests, 2,396 rows) and contended for the chain's lock, so
signing slowed down (p50 11 -> 38 ms). Now only keys of ours are audited (a real user's key
with a wrong secret, revoked, ...); strangers are logged and limited per address (429).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest

from kyso import audit
from kyso.db import read_transaction
from tests.conftest import make_settings, make_user

pytestmark = pytest.mark.both_databases


def _fake_key() -> str:
    return f"kyso_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"


def _denied(services: Any) -> list[dict[str, Any]]:
    with read_transaction(services.sessions) as session:
        return [r for r in audit.export(session) if r["action"] == "auth.denied"]


def _rows(services: Any) -> int:
    with read_transaction(services.sessions) as session:
        return sum(1 for _ in audit.export(session))


@pytest.fixture
def settings(database: Any, hsm_token: Any) -> Any:
    return make_settings(database, hsm_token, auth={"unknown_key_failures_per_minute": 20},
                         server={"trusted_proxies": ["10.0.0.1"]})


def _get(client: Any, key: str | None, addr: str = "203.0.113.7", **headers: str) -> Any:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return client.get("/api/v1/admin/whoami", headers=headers,
                      environ_base={"REMOTE_ADDR": addr})


def test_fake_keys_write_no_audit_rows_and_are_limited(client: Any, services: Any,
                                                       caplog: Any) -> None:
    before = _rows(services)
    statuses = []
    with caplog.at_level(logging.WARNING, logger="kyso.auth"):
        for _ in range(60):
            statuses.append(_get(client, _fake_key()).status_code)
    assert _rows(services) == before  # nothing written for strangers
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
    limited = _get(client, _fake_key())
    assert limited.status_code == 429
    assert limited.get_json()["code"] == "too-many-requests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "unknown API key id" in text
    assert "kyso_" not in text  # never the key, let alone its secret
    # Beyond the access log, one line per refusal up to the limit, then one.
    assert len([r for r in caplog.records if r.name == "kyso.auth"]) == 21
    # Another address is not affected, and neither is a real key from the limited one.
    assert _get(client, _fake_key(), addr="198.51.100.9").status_code == 401
    key = make_user(services, "eoffice", "client")
    assert _get(client, key).status_code == 200


def test_no_key_and_malformed_keys_are_limited_too(client: Any, services: Any) -> None:
    codes = [_get(client, None).status_code for _ in range(20)]
    codes += [_get(client, "kyso_nothex_" + "A" * 43).status_code for _ in range(5)]
    assert codes[:20] == [401] * 20 and codes[20:] == [429] * 5
    assert _denied(services) == []


def test_a_real_key_with_a_wrong_secret_is_audited(client: Any, services: Any) -> None:
    key = make_user(services, "eoffice", "client")
    key_id = key.split("_")[1]
    # (token_urlsafe may hold '_': take the secret as made, not by splitting the key.)
    secret = secrets.token_urlsafe(32)
    forged = f"kyso_{key_id}_{secret}"
    assert _get(client, forged).status_code == 401
    denied = _denied(services)
    assert [r["actor"] for r in denied] == [f"key:{key_id}"]
    assert secret not in str(denied)


def test_a_revoked_key_is_audited(client: Any, services: Any) -> None:
    admin = make_user(services, "admin", "ca-admin")
    key = make_user(services, "eoffice", "client")
    key_id = key.split("_")[1]
    assert client.post(f"/api/v1/admin/keys/{key_id}/revoke",
                       headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    assert _get(client, key).status_code == 401
    assert [r["actor"] for r in _denied(services)] == [f"key:{key_id}"]


def test_limit_is_per_client_behind_a_trusted_proxy(client: Any, services: Any) -> None:
    for _ in range(20):
        assert _get(client, _fake_key(), addr="10.0.0.1",
                    **{"X-Forwarded-For": "192.0.2.1"}).status_code == 401
    assert _get(client, _fake_key(), addr="10.0.0.1",
                **{"X-Forwarded-For": "192.0.2.1"}).status_code == 429
    # Another client behind the same proxy still gets its plain 401.
    assert _get(client, _fake_key(), addr="10.0.0.1",
                **{"X-Forwarded-For": "192.0.2.2"}).status_code == 401


def test_client_certificate_header_from_anyone_is_not_audited(client: Any, services: Any) -> None:
    import dataclasses

    from app.web import create_app

    settings = dataclasses.replace(services.settings, server=dataclasses.replace(
        services.settings.server, client_cert_header="X-SSL-Client-Cert"))
    services.settings = settings
    app = create_app(settings, services=services, configure_logging=False)
    c = app.test_client()
    for _ in range(25):
        c.get("/api/v1/admin/whoami", headers={"X-SSL-Client-Cert": "junk"},
              environ_base={"REMOTE_ADDR": "203.0.113.8"})
    assert _denied(services) == []
    assert c.get("/api/v1/admin/whoami", headers={"X-SSL-Client-Cert": "junk"},
                 environ_base={"REMOTE_ADDR": "203.0.113.8"}).status_code == 429
