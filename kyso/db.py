"""Database engine, sessions and the declarative base shared by every domain.

The same code runs on SQLite (default, a file in ``var/``) and PostgreSQL. On SQLite every
transaction starts with ``BEGIN IMMEDIATE`` so that two writers serialise instead of one of
them failing late; on PostgreSQL the audit chain head is locked with ``FOR UPDATE``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from kyso.errors import DatabaseNotInitialised, DatabaseUnavailable

log = logging.getLogger("kyso.db")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5,
                connect_args: dict[str, Any] | None = None) -> Engine:
    """An engine for ``url``; a relative SQLite path is relative to the current directory."""
    parsed = make_url(url)
    args: dict[str, Any] = dict(connect_args or {})
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database).expanduser().resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            restrict_sqlite_files(path)
            parsed = parsed.set(database=str(path))
        args.setdefault("timeout", 30)
        engine = create_engine(parsed, connect_args=args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the lock up front; read-only work (audit walks, authentication)
            # must not block every writer for its whole duration.
            readonly = conn.get_execution_options().get("kyso_readonly", False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    kwargs["pool_size"] = pool_size
    kwargs["pool_pre_ping"] = True
    return create_engine(parsed, connect_args=args, **kwargs)


def restrict_sqlite_files(path: Path) -> None:
    """The database holds API key hashes, consent state and the audit trail: create its file
    0600 before SQLite does (SQLite gives the -wal and -shm files the database file's mode),
    and take group and other access away from files an older version left 0644
    (issue 13, item 28)."""
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
    for suffix in ("", "-wal", "-shm", "-journal"):
        f = path.with_name(path.name + suffix)
        try:
            mode = f.stat().st_mode & 0o777
            if mode & 0o077:
                os.chmod(f, mode & 0o700)
                log.warning("database file %s was readable by others (mode %o); now %o", f, mode, mode & 0o700)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("database file %s is readable by others and cannot be changed", f)


def make_sessionmaker(engine: Engine, info: dict[str, object] | None = None) -> sessionmaker[Session]:
    """``info`` is handed to every session (for collaborators a transaction needs, such as
    the OCSP response files)."""
    return sessionmaker(bind=engine, expire_on_commit=False, info=dict(info or {}))


AFTER_COMMIT = "kyso_after_commit"  # session.info key: hooks run once the unit of work committed


def after_commit(session: Session, hook: Callable[[], None]) -> None:
    """Run ``hook`` once the unit of work ``session`` belongs to (``transaction``) has
    committed and its connection is back in the pool; never when it aborts. For work that
    follows a change but is no part of it (republishing, marking an HSM key as owned), so
    that it neither runs under the transaction's locks nor happens for a change that did
    not commit. A failing hook is logged: the change it follows stands."""
    session.info.setdefault(AFTER_COMMIT, []).append(hook)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error; then, after a commit,
    the hooks registered with ``after_commit``."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise translate_operational_error(exc) from exc
        except BaseException:
            session.rollback()
            raise
        hooks: list[Callable[[], None]] = session.info.pop(AFTER_COMMIT, [])
    for hook in hooks:
        try:
            hook()
        except Exception:  # noqa: BLE001 - committed: report, do not turn it into a failure
            log.exception("after-commit hook %r failed", hook)


@contextmanager
def read_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads (a deferred transaction on SQLite); rolled back."""
    bind = factory.kw["bind"]
    with factory(bind=bind.execution_options(kyso_readonly=True)) as session:
        try:
            yield session
        except OperationalError as exc:
            raise translate_operational_error(exc) from exc
        finally:
            session.rollback()


def advisory_lock(session: Session, key: int) -> None:
    """Serialise a critical section across processes for the rest of this transaction.

    On SQLite, transactions here begin with the database write lock (BEGIN IMMEDIATE); a
    statement is run so that the transaction, and so the lock, really starts here and not at
    the session's first query, which may come after work that must already be serialised."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    else:
        session.execute(text("SELECT 1"))


def translate_operational_error(exc: OperationalError) -> Exception:
    text = str(exc.orig).lower() if exc.orig is not None else ""
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return DatabaseNotInitialised()
    return DatabaseUnavailable(log_detail=type(exc.orig).__name__)


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None when it has no schema."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
            return row[0] if row else None
    except OperationalError as exc:
        raise translate_operational_error(exc) from exc
