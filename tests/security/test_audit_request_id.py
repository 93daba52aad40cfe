"""Item 26 of issue 13: a caller must not choose the request id the audit trail records.

Attack: send the X-Request-Id of someone else's request (or the same one twice) so that audit
records of different requests share an id, or so that one's own actions are filed under
another request. Kyso now makes its own id for every request and keeps the caller's beside it.
"""

from __future__ import annotations

from typing import Any

from kyso import audit
from kyso.db import read_transaction
from tests.conftest import make_user


def _denied_records(services: Any) -> list[dict[str, Any]]:
    with read_transaction(services.sessions) as session:
        return [r for r in audit.export(session) if r["action"] == "auth.denied"]


def test_caller_cannot_choose_the_audited_request_id(client: Any, services: Any) -> None:
    key = make_user(services, "eoffice", "client")
    forged = "victim-request-0001"
    for _ in range(2):
        resp = client.get("/api/v1/admin/audit", headers={"Authorization": f"Bearer {key}",
                                                          "X-Request-Id": forged})
        assert resp.status_code == 403
        assert resp.headers["X-Request-Id"] != forged
        assert resp.headers["X-Client-Request-Id"] == forged
    records = _denied_records(services)
    assert len(records) == 2
    ours = {r["request_id"] for r in records}
    assert forged not in ours and "" not in ours and len(ours) == 2
    assert [r["caller_request_id"] for r in records] == [forged, forged]


def test_caller_request_id_is_covered_by_the_hash(client: Any, services: Any) -> None:
    from sqlalchemy import text

    key = make_user(services, "eoffice", "client")
    client.get("/api/v1/admin/audit", headers={"Authorization": f"Bearer {key}",
                                               "X-Request-Id": "mine-1"})
    seq = _denied_records(services)[0]["seq"]
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET caller_request_id = 'other' WHERE seq = :s"),
                     {"s": seq})
    with read_transaction(services.sessions) as session:
        report = audit.verify_chain(session)
    assert not report.ok and report.first_bad_seq == seq


def test_malformed_caller_request_id_is_dropped(client: Any, services: Any) -> None:
    key = make_user(services, "eoffice", "client")
    resp = client.get("/api/v1/admin/audit", headers={"Authorization": f"Bearer {key}",
                                                      "X-Request-Id": "bad id <script>" + "x" * 80})
    assert resp.status_code == 403
    assert "X-Client-Request-Id" not in resp.headers
    assert _denied_records(services)[0]["caller_request_id"] == ""
