"""Item 6 of issue 13: someone with full database access rewrites the audit trail.

Attacks, each of which `kyso audit verify` passed before: delete the head row (it then said
"intact: 0 records" with an edited record behind it); delete the last rows and fix the head;
edit a record and re-chain everything after it with plain SHA-256 (the recipe is public).
The head is now checkpointed by a signature of the audit key in the HSM, and verify checks
every checkpoint, in the database and kept outside it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import text

from kyso import audit
from kyso.db import read_transaction, transaction
from tests.conftest import cli_env, run_kyso

pytestmark = pytest.mark.both_databases


def _append(services: Any, n: int) -> None:
    for i in range(n):
        with transaction(services.sessions) as session:
            audit.record(session, actor="user:ra", action="cert.revoke", target=f"cert:{i}",
                         details={"i": i})


def _verify(services: Any, external: list[dict[str, Any]] | None = None) -> audit.ChainReport:
    key = audit.audit_public_key(services.keystore)
    with read_transaction(services.sessions) as session:
        return audit.verify_chain(session, audit_key=key, external=external or [])


@pytest.fixture
def checkpointed(services: Any) -> Any:
    """Six records, a checkpoint at record 5 (the last one is not yet covered)."""
    audit.ensure_audit_key(services.sessions, services.keystore)
    _append(services, 5)
    cp = audit.make_checkpoint(services.sessions, services.keystore, "manual")
    assert cp is not None and cp.seq == 5 and cp.records == 5
    _append(services, 1)
    assert _verify(services).ok
    return services


def _rechain(conn: Any, start: int = 1) -> None:
    """What an attacker does after editing: recompute every hash from ``start`` on with the
    public recipe, and fix the head."""
    rows = conn.execute(text("SELECT seq FROM audit_records ORDER BY seq")).scalars().all()
    prev = audit.GENESIS
    from sqlalchemy.orm import Session

    with Session(bind=conn) as session:
        for seq in rows:
            rec = session.get(audit.AuditRecord, seq)
            assert rec is not None
            if seq >= start:
                rec.prev_hash = prev
                rec.record_hash = rec.compute_hash()
            prev = rec.record_hash
        session.flush()
    conn.execute(text("UPDATE audit_head SET last_seq = :s, last_hash = :h"),
                 {"s": rows[-1] if rows else 0, "h": prev})


def test_deleting_the_head_row_is_detected(checkpointed: Any) -> None:
    with checkpointed.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE seq = 2"))
        conn.execute(text("DELETE FROM audit_head"))
    report = _verify(checkpointed)
    assert not report.ok
    assert "head" in report.describe()


def test_deleting_the_head_row_is_detected_without_checkpoints(services: Any) -> None:
    _append(services, 3)
    with services.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    with read_transaction(services.sessions) as session:
        report = audit.verify_chain(session)
    assert not report.ok and "intact" not in report.describe()


def test_deleting_the_last_rows_and_fixing_the_head_is_detected(checkpointed: Any) -> None:
    with checkpointed.engine.begin() as conn:
        h3 = conn.execute(text("SELECT record_hash FROM audit_records WHERE seq = 3")).scalar_one()
        conn.execute(text("DELETE FROM audit_records WHERE seq > 3"))
        conn.execute(text("UPDATE audit_head SET last_seq = 3, last_hash = :h"), {"h": h3})
    report = _verify(checkpointed)
    assert not report.ok
    assert "deleted at the end" in report.describe()


def test_edit_and_rechain_with_plain_sha256_is_detected(checkpointed: Any) -> None:
    with checkpointed.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET actor = 'user:nobody' WHERE seq = 2"))
        _rechain(conn)
    with read_transaction(checkpointed.sessions) as session:
        assert audit.verify_chain(session).ok is False  # even without the key: hash mismatch
    report = _verify(checkpointed)
    assert not report.ok and report.first_bad_seq == 5
    assert "checkpoint 1" in report.describe()


def test_remove_records_and_rechain_is_detected(checkpointed: Any) -> None:
    with checkpointed.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE seq = 3"))
        for seq in (4, 5, 6):
            conn.execute(text("UPDATE audit_records SET seq = :n WHERE seq = :o"),
                         {"n": seq - 1, "o": seq})
        _rechain(conn)
    assert not _verify(checkpointed).ok


def test_rewrite_with_forged_checkpoints_is_detected(checkpointed: Any) -> None:
    """Full database access: edit, re-chain, and rewrite the checkpoint rows to match.
    Without the audit key the signature cannot follow."""
    with checkpointed.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET actor = 'user:nobody' WHERE seq = 2"))
        _rechain(conn)
        h5 = conn.execute(text("SELECT record_hash FROM audit_records WHERE seq = 5")).scalar_one()
        conn.execute(text("UPDATE audit_checkpoints SET record_hash = :h"), {"h": h5})
    report = _verify(checkpointed)
    assert not report.ok and "signature" in report.describe()


def test_deleting_checkpoints_is_caught_by_the_copy_outside(checkpointed: Any) -> None:
    with read_transaction(checkpointed.sessions) as session:
        kept = [c.to_json() for c in audit.list_checkpoints(session)]
    assert _verify(checkpointed, kept).ok
    with checkpointed.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
        conn.execute(text("UPDATE audit_records SET actor = 'user:nobody' WHERE seq = 2"))
        _rechain(conn)
    assert _verify(checkpointed).ok  # nothing left in the database to catch it ...
    report = _verify(checkpointed, kept)  # ... but the copy kept outside does
    assert not report.ok and "missing" in report.describe()


def test_checkpoints_follow_settings_and_crls(services: Any, caplog: Any) -> None:
    import dataclasses

    from app.services import build_services

    audit.ensure_audit_key(services.sessions, services.keystore)

    settings = dataclasses.replace(
        services.settings, audit=dataclasses.replace(services.settings.audit,
                                                     checkpoint_every_records=3))
    svc = build_services(settings, engine=services.engine, keystore=services.keystore)
    with caplog.at_level(logging.INFO, logger="kyso.audit"):
        _append(svc, 7)
    with read_transaction(svc.sessions) as session:
        assert [c.seq for c in audit.list_checkpoints(session)] == [3, 6]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit checkpoint ")]
    assert len(lines) == 2
    parsed = audit.parse_checkpoint_lines(lines)
    assert [c["seq"] for c in parsed] == [3, 6]
    # A JSON log line (as journald/syslog keep it) parses too.
    parsed_json = audit.parse_checkpoint_lines([json.dumps({"level": "INFO", "msg": lines[0]})])
    assert parsed_json[0]["seq"] == 3
    with transaction(svc.sessions) as session:
        audit.record(session, actor="system:crl", action="crl.publish")
        audit.request_checkpoint(session, "crl")
    with read_transaction(svc.sessions) as session:
        last = audit.list_checkpoints(session)[-1]
        assert (last.seq, last.reason) == (8, "crl")
    assert _verify(svc).ok


def test_cli_verify_against_a_file_kept_outside(checkpointed: Any, database: Any,
                                                hsm_token: Any, tmp_path: Any) -> None:
    env = cli_env(database, hsm_token)
    made = run_kyso(["audit", "checkpoint"], env)
    assert made.returncode == 0, made.stderr
    out = tmp_path / "checkpoints.jsonl"
    exported = run_kyso(["audit", "checkpoints", "-o", str(out)], env)
    assert exported.returncode == 0, exported.stderr
    assert len(out.read_text().splitlines()) == 2
    ok = run_kyso(["audit", "verify", "--against", str(out)], env)
    assert ok.returncode == 0, ok.stderr
    assert "6 records" in ok.stdout and "2 signed checkpoints" in ok.stdout
    with checkpointed.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
        conn.execute(text("DELETE FROM audit_records WHERE seq = 6"))
        h5 = conn.execute(text("SELECT record_hash FROM audit_records WHERE seq = 5")).scalar_one()
        conn.execute(text("UPDATE audit_head SET last_seq = 5, last_hash = :h"), {"h": h5})
    bad = run_kyso(["audit", "verify", "--against", str(out)], env)
    assert bad.returncode == 1, bad.stdout
    assert "broken" in bad.stderr


def test_many_records_after_the_newest_checkpoint_warn(checkpointed: Any) -> None:
    """Deleting the newest checkpoints leaves more records after the newest remaining one
    than the interval allows: verify says so (only a copy outside can prove it)."""
    key = audit.audit_public_key(checkpointed.keystore)
    _append(checkpointed, 6)
    with read_transaction(checkpointed.sessions) as session:
        report = audit.verify_chain(session, audit_key=key, every_records=2)
    assert report.ok and report.warnings and "checkpoints may have been deleted" in report.warnings[0]
    with read_transaction(checkpointed.sessions) as session:
        assert not audit.verify_chain(session, audit_key=key, every_records=1000).warnings
