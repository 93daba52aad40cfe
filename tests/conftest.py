"""Test fixtures: a throwaway SoftHSM2 token for the session, a clean database per test.

Tests whose subject is the database (transactions, locks, triggers, constraints, numbering,
text storage, the CLI reaching the database by URL) are marked ``both_databases`` and run
twice, on SQLite and on PostgreSQL (``KYSO_TEST_DATABASE_URL``); the others run on SQLite,
or on both when ``KYSO_TEST_BACKENDS=both`` (a nightly run). PostgreSQL gets a fresh schema
per test. When it cannot be reached the PostgreSQL cases are skipped with the reason shown,
except when ``KYSO_TEST_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PG_URL = os.environ.get(
    "KYSO_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("KYSO_TEST_REQUIRE_POSTGRES") == "1"

# Never let a developer's own settings leak into the tests.
for _name in list(os.environ):
    if _name.startswith("KYSO_") and ("__" in _name or _name in ("KYSO_CONFIG", "KYSO_OPERATOR",
                                                                 "KYSO_API_KEY", "KYSO_API_KEY_FILE")):
        del os.environ[_name]


@dataclass(frozen=True)
class TokenFixture:
    conf: Path
    tokendir: Path
    label: str
    pin: str
    so_pin: str

    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}


def init_token(conf: Path, label: str) -> tuple[str, str]:
    pin, so_pin = secrets.token_hex(8), secrets.token_hex(8)
    # As scripts/setup.sh does: the PINs reach the module from the environment, never argv.
    subprocess.run(
        [sys.executable, "-m", "hsm.tokeninit", "--module", MODULE, "--label", label],
        check=True, capture_output=True, cwd=ROOT,
        env={**os.environ, "SOFTHSM2_CONF": str(conf), "KYSO_HSM__PIN": pin, "KYSO_SETUP_SO_PIN": so_pin},
    )
    return pin, so_pin


def token_dir_of(token: TokenFixture, label: str | None = None) -> Path:
    """The SoftHSM2 directory holding the token with ``label`` (to 'remove' it)."""
    label = label or token.label
    for d in token.tokendir.iterdir():
        token_object = d / "token.object"
        if token_object.exists() and label.encode() in token_object.read_bytes():
            return d
    raise LookupError(label)


@pytest.fixture(scope="session")
def hsm_token(tmp_path_factory: pytest.TempPathFactory) -> TokenFixture:
    if not Path(MODULE).exists():
        pytest.fail(f"SoftHSM2 module {MODULE} missing: run 'make test' (installs softhsm2)")
    base = tmp_path_factory.mktemp("softhsm")
    tokendir = base / "tokens"
    tokendir.mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    # Must be set before the module is first initialised in this process.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin, so_pin = init_token(conf, "kyso-test")
    return TokenFixture(conf, tokendir, "kyso-test", pin, so_pin)


@pytest.fixture(scope="session")
def keystore(hsm_token: TokenFixture) -> Any:
    from hsm import KeyStore

    return KeyStore(MODULE, hsm_token.label, hsm_token.pin)


def _pg_available() -> str | None:
    from sqlalchemy import create_engine, text

    try:
        with create_engine(PG_URL).connect() as conn:
            conn.execute(text("select 1"))
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


_PG_PROBLEM: list[str | None] = []


@dataclass(frozen=True)
class DatabaseFixture:
    backend: str
    url: str
    connect_args: dict[str, Any]

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (CLI, gunicorn) to reach this same database."""
        env = {"KYSO_DATABASE__URL": self.url}
        return env


BACKENDS = ("sqlite", "postgresql")
ALL_ON_BOTH = os.environ.get("KYSO_TEST_BACKENDS") == "both"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" in metafunc.fixturenames:
        both = ALL_ON_BOTH or metafunc.definition.get_closest_marker("both_databases") is not None
        metafunc.parametrize("database", BACKENDS if both else BACKENDS[:1], indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseFixture]:
    if request.param == "sqlite":
        yield DatabaseFixture("sqlite", f"sqlite:///{tmp_path / 'kyso.db'}", {})
        return
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(_pg_available())
    if _PG_PROBLEM[0]:
        msg = f"PostgreSQL at {PG_URL} unreachable ({_PG_PROBLEM[0]})"
        if REQUIRE_PG:
            pytest.fail(msg + "; it is required here (CI)")
        pytest.skip(msg)
    from sqlalchemy import create_engine, text

    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # The schema is chosen with the libpq "options" parameter, which also works from a
    # subprocess through the URL.
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    try:
        yield DatabaseFixture("postgresql", url, {})
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_settings(database: DatabaseFixture, token: TokenFixture, **sections: dict[str, Any]) -> Any:
    from app.settings import load_settings

    overrides: dict[str, Any] = {
        "database": {"url": database.url},
        "hsm": {"module": MODULE, "token_label": token.label, "pin": token.pin,
                "softhsm2_conf": str(token.conf)},
        # Small keys keep the suite fast; the shipped defaults are tested on their own.
        "ca": {"root_key": {"key_type": "rsa-2048"}, "issuing_key": {"key_type": "ec-p256"}},
        "logging": {"json": True, "level": "INFO"},
    }
    for name, values in sections.items():
        overrides[name] = {**overrides.get(name, {}), **values}
    return load_settings(environ={}, overrides=overrides)


@pytest.fixture
def settings(database: DatabaseFixture, hsm_token: TokenFixture) -> Any:
    return make_settings(database, hsm_token)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None for another backend or an in-memory one)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def restore_sqlite(image: Path, target: Path) -> None:
    """A fresh database that is a copy of ``image`` (a closed SQLite file: its WAL was
    checkpointed when its last connection closed), private to its owner as
    ``kyso.db.restrict_sqlite_files`` makes it."""
    shutil.copyfile(image, target)
    os.chmod(target, 0o600)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the head revision, migrated once per worker: each test's own
    database starts as a copy of it (running them took most of a second a test). They still
    run in full here, for each PostgreSQL schema and for each database the CLI sets up."""
    from kyso import migrate
    from kyso.db import make_engine

    path = tmp_path_factory.mktemp("schema") / "head.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture
def services(settings: Any, keystore: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    from app.services import build_services
    from kyso import migrate

    target = sqlite_file(settings.database.url)
    restored = target is not None and not target.exists()
    if restored:
        assert target is not None
        restore_sqlite(request.getfixturevalue("migrated_sqlite"), target)
    svc = build_services(settings, keystore=keystore)
    if not restored:
        migrate.upgrade(svc.engine)
    yield svc
    svc.engine.dispose()


# Worlds made once per worker and restored per test (SQLite): (world, settings, the database
# it was made on) -> (the image's file, what the world's builder returned).
_IMAGES: dict[tuple[str, str, str], tuple[Path, Any]] = {}
_IMAGE_DIR: list[Path] = []


def _image_dir() -> Path:
    if not _IMAGE_DIR:
        import atexit
        import tempfile

        _IMAGE_DIR.append(Path(tempfile.mkdtemp(prefix="kyso-test-images-")))
        atexit.register(shutil.rmtree, _IMAGE_DIR[0], ignore_errors=True)
    return _IMAGE_DIR[0]


def _contents(services: Any) -> str:
    """A digest of everything in the database: a world is restored only onto the very
    database it was made on (a test that made users before asking for it gets its own)."""
    import hashlib

    from sqlalchemy import inspect, text

    digest = hashlib.sha256()
    with services.engine.connect() as conn:
        conn = conn.execution_options(kyso_readonly=True)
        for name in sorted(inspect(conn).get_table_names()):
            digest.update(f"\0{name}\0".encode())
            for row in sorted(repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{name}"'))):
                digest.update(row.encode())
    return digest.hexdigest()


def _drop_connections(services: Any, path: Path) -> None:
    """Close the pool's connections: SQLite checkpoints the WAL into the file when the last
    one closes (and what is left of -wal/-shm must not outlive a file replaced under it)."""
    services.engine.dispose()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def world_image(services: Any, name: str, build: Any) -> Any:
    """``build(services)`` (which makes a world through the services and returns what the
    test needs to know of it), made once per worker and settings on SQLite, then restored in
    each test as a copy of the database file it left. Each test still has its own database;
    the keys it put in the session's token are shared, which they can be: every key has a
    random label, nothing deletes a committed certificate's key, and tokens a test breaks
    are its own. On PostgreSQL ``build`` runs in the test's own database, as it always did;
    so it does, in effect, on a database a test changed before asking for the world (its
    contents differ, the image made on it serves that test only)."""
    import dataclasses

    from app.services import build_services

    target = sqlite_file(services.settings.database.url)
    if target is None:
        return build(services)
    settings = services.settings
    # The database's URL is the test's own, and so is the port of a test's own SMTP server;
    # no world sends mail (the signing world enrols by letter), so neither tells worlds apart.
    keyed = dataclasses.replace(settings, database=dataclasses.replace(settings.database, url=""),
                                mail=dataclasses.replace(settings.mail, port=0))
    key = (name, repr(keyed), _contents(services))
    found = _IMAGES.get(key)
    if found is None:
        _drop_connections(services, target)
        image = _image_dir() / f"{name}-{secrets.token_hex(4)}.db"
        restore_sqlite(target, image)
        image_settings = dataclasses.replace(settings, database=dataclasses.replace(
            settings.database, url=f"sqlite:///{image}"))
        made = build_services(image_settings, keystore=services.keystore)
        try:
            value = build(made)
        finally:
            _drop_connections(made, image)
        if len(_IMAGES) >= 32:  # settings made per test (paths under tmp_path) never meet again
            old = _IMAGES.pop(next(iter(_IMAGES)))
            old[0].unlink(missing_ok=True)
        found = _IMAGES[key] = (image, value)
    _drop_connections(services, target)
    restore_sqlite(found[0], target)
    # Parsed CRLs are kept per process by (CA serial, number, thisUpdate): the tests restored
    # from one image share their CA, and may publish the same number in the same second.
    from verification import trust

    trust._PARSED.clear()
    return found[1]


@pytest.fixture
def ca(services: Any) -> Any:
    from ca_admin import service

    return world_image(services, "ca", lambda svc: service.init_ca(svc.sessions, svc.keystore, svc.settings,
                                                                   actor="test"))


def _compile_url_builders_once() -> None:
    """Werkzeug compiles two URL builders (ast, then compile()) for every rule each time an
    app registers its routes: 0.2 s of every test's app. A builder is a function of the
    rule's text and the way it is split (the rule object comes as an argument), so one per
    process serves every app's copy of the rule. Rules with defaults that fill a variable
    are compiled as werkzeug always did."""
    from werkzeug.routing.rules import Rule

    original = getattr(Rule, "_compile_builder", None)
    if original is None or getattr(original, "kyso_once", False):
        return
    built: dict[tuple[Any, ...], Any] = {}

    def compile_builder(self: Any, append_unknown: bool = True) -> Any:
        defaults = self.defaults or {}
        if any(dynamic and data in defaults for dynamic, data in self._trace):
            return original(self, append_unknown)
        key = (self.rule, tuple(self._trace), tuple(map(str, defaults)), append_unknown)
        if key not in built:
            built[key] = original(self, append_unknown)
        return built[key]

    compile_builder.kyso_once = True  # type: ignore[attr-defined]
    Rule._compile_builder = compile_builder


_compile_url_builders_once()


@pytest.fixture
def app(services: Any) -> Any:
    from app.web import create_app

    application = create_app(services.settings, services=services, configure_logging=False)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def make_user(services: Any, name: str, role: str) -> str:
    from kyso import callers
    from kyso.db import transaction

    with transaction(services.sessions) as session:
        _user, key = callers.create_user(session, name, callers.Role(role), actor="test")
    return key


@pytest.fixture
def admin_key(services: Any) -> str:
    return make_user(services, "admin", "ca-admin")


def run_kyso(args: list[str], env: dict[str, str], cwd: Path | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `kyso` CLI in a subprocess with only the given settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "kyso"), *args],
        env={**base, **env}, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout,
    )


def cli_users(env: dict[str, str], *users: tuple[str, str]) -> dict[str, dict[str, str]]:
    """Create users through the CLI as an operator would: the first (a CA admin) locally, the
    others with that admin's API key. Returns, per user name, ``env`` with that user's key
    (KYSO_API_KEY): admin commands act with the operator's own key (issue 13, item 7)."""
    out: dict[str, dict[str, str]] = {}
    for name, role in users:
        made = run_kyso(["users", "create", name, "--role", role], next(iter(out.values()), env))
        assert made.returncode == 0, made.stderr
        out[name] = {**env, "KYSO_API_KEY": made.stdout.strip()}
    return out


def cli_env(database: DatabaseFixture, token: TokenFixture, **extra: str) -> dict[str, str]:
    return {
        **database.env(),
        "SOFTHSM2_CONF": str(token.conf),
        "KYSO_HSM__TOKEN_LABEL": token.label,
        "KYSO_HSM__PIN": token.pin,
        "KYSO_CA__ROOT_KEY__KEY_TYPE": "rsa-2048",
        "KYSO_CA__ISSUING_KEY__KEY_TYPE": "ec-p256",
        **extra,
    }


# The edit loop (`make test-fast`): what needs no database world and starts no process.
FAST = os.environ.get("KYSO_TEST_FAST") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not FAST:
        return
    keep, drop = [], []
    for item in items:
        slow = "database" in getattr(item, "fixturenames", ()) or item.get_closest_marker("slow")
        (drop if slow else keep).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


__all__ = ["ROOT", "MODULE", "TokenFixture", "DatabaseFixture", "make_settings", "make_user",
           "run_kyso", "cli_env", "cli_users", "init_token", "token_dir_of", "shutil"]
