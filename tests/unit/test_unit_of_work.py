"""kyso.db's unit of work: after-commit hooks run once the transaction committed and its
connection is back in the pool, never for a transaction that aborted (issue 15 item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from kyso.db import after_commit, make_engine, make_sessionmaker, transaction


def test_after_commit_hooks_run_after_the_commit_and_never_on_abort(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'uow.db'}")
    factory = make_sessionmaker(engine)
    ran: list[str] = []
    with transaction(factory) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))

    def seen_committed() -> None:
        with engine.connect() as other:  # a writer's lock would make this wait; none is held
            ran.append(f"rows={other.execute(text('SELECT count(*) FROM t')).scalar_one()}")

    with transaction(factory) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        after_commit(session, seen_committed)
        assert ran == []
    assert ran == ["rows=1"]

    with pytest.raises(RuntimeError), transaction(factory) as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
        after_commit(session, lambda: ran.append("aborted"))
        raise RuntimeError("refused")
    assert ran == ["rows=1"]

    def broken() -> None:
        raise ValueError("republication failed")

    with transaction(factory) as session:  # a failing hook is logged; the change stands
        after_commit(session, broken)
        after_commit(session, lambda: ran.append("next"))
    assert ran == ["rows=1", "next"]
    assert "after-commit hook" in caplog.text
    engine.dispose()
