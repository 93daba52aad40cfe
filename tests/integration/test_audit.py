"""The hash-chained audit trail on both databases."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from sqlalchemy import text

from kyso import audit
from kyso.db import transaction
from tests.conftest import cli_env, run_kyso

pytestmark = pytest.mark.both_databases


def _append(services: Any, n: int, action: str = "test.event") -> None:
    for i in range(n):
        with transaction(services.sessions) as session:
            audit.record(session, actor="test", action=action, target=f"t:{i}",
                         details={"i": i, "ghi chú": "Sở Nội vụ"})


def test_chain_intact(services: Any) -> None:
    _append(services, 5)
    with transaction(services.sessions) as session:
        report = audit.verify_chain(session)
    assert report.ok and report.records == 5


def test_record_rolls_back_with_its_transaction(services: Any) -> None:
    _append(services, 1)
    try:
        with transaction(services.sessions) as session:
            audit.record(session, actor="test", action="will.rollback")
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    with transaction(services.sessions) as session:
        assert audit.verify_chain(session).records == 1
        assert not [r for r in audit.export(session) if r["action"] == "will.rollback"]


def test_edited_record_is_named(services: Any) -> None:
    _append(services, 5)
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE seq = 3"))
    with transaction(services.sessions) as session:
        report = audit.verify_chain(session)
    assert not report.ok and report.first_bad_seq == 3
    assert "edited" in report.describe()


def test_deleted_middle_record_is_named(services: Any) -> None:
    _append(services, 5)
    with services.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE seq = 2"))
    with transaction(services.sessions) as session:
        report = audit.verify_chain(session)
    assert not report.ok and report.first_bad_seq == 2
    assert "missing" in report.describe()


def test_deleted_last_record_is_named(services: Any) -> None:
    _append(services, 4)
    with services.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE seq = 4"))
    with transaction(services.sessions) as session:
        report = audit.verify_chain(session)
    assert not report.ok and report.first_bad_seq == 4


def test_recomputed_hash_still_breaks_the_next_link(services: Any) -> None:
    """An editor who recomputes the edited record's hash breaks the following link."""
    _append(services, 3)
    with transaction(services.sessions) as session:
        rec = session.get(audit.AuditRecord, 2)
        assert rec is not None
        rec.actor = "mallory"
        rec.record_hash = rec.compute_hash()
    with transaction(services.sessions) as session:
        report = audit.verify_chain(session)
    assert not report.ok and report.first_bad_seq == 3


def test_concurrent_appends_keep_one_chain(services: Any) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            _append(services, 10, "concurrent")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with transaction(services.sessions) as session:
        report = audit.verify_chain(session)
    assert report.ok and report.records == 40


def test_export_since(services: Any) -> None:
    old = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with transaction(services.sessions) as session:
        audit.record(session, actor="test", action="old", now=old)
        audit.record(session, actor="test", action="new")
    with transaction(services.sessions) as session:
        since = list(audit.export(session, dt.datetime(2026, 6, 1, tzinfo=dt.UTC)))
    assert [r["action"] for r in since] == ["new"]


def test_cli_verify_names_the_broken_record(services: Any, database: Any, hsm_token: Any,
                                            tmp_path: Any) -> None:
    _append(services, 3)
    env = cli_env(database, hsm_token)
    ok = run_kyso(["audit", "verify"], env)
    assert ok.returncode == 0, ok.stderr
    assert "3 records" in ok.stdout
    out = tmp_path / "audit.jsonl"
    exported = run_kyso(["audit", "export", "--since", "2000-01-01", "-o", str(out)], env)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["seq"] for r in lines] == [1, 2, 3]
    assert lines[0]["details"]["ghi chú"] == "Sở Nội vụ"
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET details = '{}' WHERE seq = 2"))
    bad = run_kyso(["audit", "verify"], env)
    assert bad.returncode == 1
    assert "record 2" in bad.stderr


def test_unparseable_details_are_named_not_a_crash(services: Any) -> None:
    _append(services, 3)
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET details = 'not json' WHERE seq = 2"))
    with transaction(services.sessions) as session:
        report = audit.verify_chain(session)
    assert not report.ok and report.first_bad_seq == 2


def test_verify_while_others_append_reports_no_false_tampering(services: Any) -> None:
    _append(services, 3)
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            _append(services, 1, "busy")

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(20):
            with transaction(services.sessions) as session:
                report = audit.verify_chain(session)
            assert report.ok, report.describe()
    finally:
        stop.set()
        t.join()
