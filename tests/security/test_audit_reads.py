"""Item 27 of issue 13: audit verify and listing ran in a write transaction, holding SQLite's
writer lock for the whole walk (signing waited up to 3.2 s), and export loaded every row.
Now they read in read transactions, list with keyset pages and validated limits, and export
streams. (The bad limits were also item 18's 500s.)"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from kyso import audit
from kyso.db import transaction
from tests.conftest import make_user

pytestmark = pytest.mark.both_databases


def _append(services: Any, n: int) -> None:
    with transaction(services.sessions) as session:
        for i in range(n):
            audit.record(session, actor="test", action="test.event", target=f"t:{i}")


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("query", ["limit=abc", "limit=-5", "limit=0", "limit=1001",
                                   "limit=99999999999999999999999", "after_seq=x",
                                   "after_seq=-1", f"after_seq={2**70}", "format=xml"])
def test_bad_paging_arguments_are_400(client: Any, services: Any, query: str) -> None:
    key = make_user(services, "auditor", "auditor")
    resp = client.get(f"/api/v1/admin/audit?{query}", headers=H(key))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["code"] == "bad-request"


def test_keyset_pages_cover_the_trail_once(client: Any, services: Any) -> None:
    key = make_user(services, "auditor", "auditor")
    _append(services, 24)  # + user.create = 25 records
    seen: list[int] = []
    after = 0
    while True:
        body = client.get(f"/api/v1/admin/audit?limit=10&after_seq={after}", headers=H(key)).get_json()
        seen += [r["seq"] for r in body["records"]]
        if body["next_after_seq"] is None:
            break
        after = body["next_after_seq"]
    assert seen == list(range(1, 26))


def test_export_streams_json_lines(client: Any, services: Any, monkeypatch: Any) -> None:
    key = make_user(services, "auditor", "auditor")
    _append(services, 30)
    pages: list[int] = []
    real_page = audit.page

    def counting_page(session: Any, **kw: Any) -> list[dict[str, Any]]:
        pages.append(kw["limit"])
        return real_page(session, **kw)

    monkeypatch.setattr(audit, "page", counting_page)
    real_stream = audit.stream
    monkeypatch.setattr(audit, "stream", lambda factory, **kw: real_stream(factory, **kw, batch=7))
    resp = client.get("/api/v1/admin/audit?format=jsonl", headers=H(key))
    assert resp.status_code == 200 and resp.mimetype == "application/x-ndjson"
    assert resp.is_streamed
    lines = [json.loads(line) for line in resp.get_data(as_text=True).splitlines()]
    assert [r["seq"] for r in lines] == list(range(1, 32))
    assert pages == [7] * 5  # read a page at a time, never the whole table


def _writer_not_blocked(services: Any, pause_in: Callable[[threading.Event, threading.Event], None],
                        call: Callable[[], Any]) -> None:
    """While ``call`` is paused inside its read, another transaction can append and commit."""
    paused, release, appended = threading.Event(), threading.Event(), threading.Event()
    pause_in(paused, release)
    result: list[Any] = []
    reader = threading.Thread(target=lambda: result.append(call()))
    reader.start()
    try:
        assert paused.wait(30), "the reader never reached its walk"

        def append() -> None:
            _append(services, 1)
            appended.set()

        writer = threading.Thread(target=append)
        writer.start()
        assert appended.wait(10), "an audit append waited for a reader to finish"
    finally:
        release.set()
        reader.join(60)
    writer.join(30)
    assert result and result[0].status_code == 200


def test_verify_does_not_hold_the_writer_lock(client: Any, services: Any, monkeypatch: Any) -> None:
    key = make_user(services, "auditor", "auditor")
    _append(services, 5)
    real_iter = audit._iter_records

    def pause_in(paused: threading.Event, release: threading.Event) -> None:
        def slow_iter(*args: Any) -> Any:
            for i, rec in enumerate(real_iter(*args)):
                if i == 2:
                    paused.set()
                    release.wait(30)
                yield rec

        monkeypatch.setattr(audit, "_iter_records", slow_iter)

    _writer_not_blocked(services, pause_in,
                        lambda: client.get("/api/v1/admin/audit/verify", headers=H(key)))


def test_listing_does_not_hold_the_writer_lock(app: Any, services: Any, monkeypatch: Any) -> None:
    key = make_user(services, "auditor", "auditor")
    _append(services, 5)
    real_page = audit.page

    def pause_in(paused: threading.Event, release: threading.Event) -> None:
        def slow_page(session: Any, **kw: Any) -> list[dict[str, Any]]:
            rows = real_page(session, **kw)
            paused.set()
            release.wait(30)
            return rows

        monkeypatch.setattr(audit, "page", slow_page)

    c = app.test_client()
    _writer_not_blocked(services, pause_in, lambda: c.get("/api/v1/admin/audit", headers=H(key)))
