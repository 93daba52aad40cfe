"""One frozen, typed settings object, assembled from the sections each package declares.

Sources, later wins: ``config/default.toml`` (shipped with the code), the TOML file
named by ``KYSO_CONFIG``, then environment variables ``KYSO_<SECTION>__<KEY>``
(double underscore between section and key, e.g. ``KYSO_DATABASE__URL``).
An unknown section or key in any source is a start-up error naming it.

The platform's own tables (server, database, auth, audit, mail, logging) are fields of
``Settings``. Every other table is a ``Section`` that a package declares in its own
``settings.py`` (e.g. ``verification.settings``) with its checks; the
composition root (``app.settings``) hands the loader the list, and code reads its section
with ``settings.section(VerifySettings)``. The platform imports none of them.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Self, TypeVar, get_args, get_origin, get_type_hints

from kyso.errors import ConfigError
from kyso.messages import UNKNOWN_ENVIRONMENT_SETTING

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "default.toml"
ENV_PREFIX = "KYSO_"


class Section:
    """A package's own table of settings: a frozen dataclass naming its TOML table, e.g.
    ``table: ClassVar[str] = "verify"``, with the checks of its values. The composition root
    hands the loader every package's sections; code reads one with ``settings.section(cls)``."""

    table: ClassVar[str]

    @classmethod
    def parse(cls, data: Any, name: str) -> Self:
        """The section from its table (``name`` prefixes the keys in error messages)."""
        built: Self = _coerce(name, cls, data)
        return built

    def check(self, settings: Settings) -> None:
        """Refuse values a typo would otherwise turn into a silent fallback or a late traceback
        (``settings`` holds the platform's tables and the other sections)."""

    def anchored(self) -> Self:
        """The section with its relative paths made relative to the project root
        (``anchor_path``)."""
        return self


S = TypeVar("S", bound=Section)
T = TypeVar("T")


@dataclass(frozen=True)
class ServerSettings:
    bind: str = "127.0.0.1:8080"
    workers: int = 2
    threads: int = 4  # per worker (gunicorn gthread)
    max_body_bytes: int = 10 * 1024 * 1024
    public_base_url: str = "http://127.0.0.1:8080"
    trusted_proxies: tuple[str, ...] = ()
    # Header in which a trusted reverse proxy passes the TLS client certificate it verified
    # (PEM, URL-encoded as nginx's $ssl_client_escaped_cert); "" = off. Honoured only from
    # trusted_proxies; the certificate must be a good client-tls certificate issued here,
    # and it logs in as the client user it was issued to (never by its common name).
    client_cert_header: str = ""
    public_only: bool = False


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/kyso.db"
    echo: bool = False
    pool_size: int = 5


@dataclass(frozen=True)
class AuthSettings:
    # After a key is rotated, the old key keeps working this many hours (0: not at all).
    rotation_grace_hours: int = 24
    # New API keys expire after this many days (0: they do not expire).
    default_key_days: int = 0
    # Failed authentications with no key of ours (none, malformed, unknown key id) per client
    # address per minute and worker, before 429 too-many-requests (0: no limit). They are
    # logged, not audited; a real key with a wrong secret, revoked or expired is audited.
    unknown_key_failures_per_minute: int = 30


@dataclass(frozen=True)
class AuditSettings:
    # The chain's head is signed by the audit key in the HSM (a checkpoint) every this many
    # records, and at least every this many minutes while records are written, and with
    # every CRL (0 turns the trigger off).
    checkpoint_every_records: int = 1000
    checkpoint_every_minutes: int = 60
    # Key type of the audit key (label kyso-audit-checkpoint), made at CA init / setup.
    key_type: str = "ec-p256"
    # Largest page of records GET /api/v1/admin/audit returns (limit=), and its default.
    max_page: int = 1000


@dataclass(frozen=True)
class MailSettings:
    # Outgoing e-mail (activation codes for officials' consent enrolment). Off by default.
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 587
    from_address: str = ""
    starttls: bool = True
    user: str = ""
    password_file: str = ""
    timeout_seconds: int = 10


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    json: bool = True


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    # The packages' sections, by class (see Section); not a table of its own.
    sections: Mapping[type[Section], Section] = field(default_factory=lambda: MappingProxyType({}),
                                                      metadata={"table": False})

    def resolve_path(self, value: str) -> Path:
        """Relative paths in settings are relative to the current directory."""
        return Path(value).expanduser().resolve()

    def section(self, cls: type[S]) -> S:
        """A package's section, as the loader built it from its table."""
        found = self.sections.get(cls)
        if not isinstance(found, cls):
            raise LookupError(f"settings section [{cls.table}] was not handed to the loader")
        return found

    def with_sections(self, *replaced: Section) -> Settings:
        """A copy with these sections in place of those of the same class (tests, tools)."""
        return dataclasses.replace(self, sections=MappingProxyType(
            {**self.sections, **{type(sec): sec for sec in replaced}}))


def _coerce(name: str, tp: Any, value: Any) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError.invalid(name, "a table")
        return _build(tp, value, name)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError.invalid(name, "true or false")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError.invalid(name, "an integer")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError.invalid(name, "an integer") from None
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError.invalid(name, "a string")
        return unicodedata.normalize("NFC", value)
    if origin is dict:
        # Named tables ([profiles.NAME]). "_" and "-" are the same in names, so that environment
        # variables (no hyphens) reach a table named with hyphens in TOML.
        (_key_tp, item_tp) = get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError.invalid(name, "a table of tables")
        grouped: dict[str, Any] = {}
        for key, item in value.items():
            norm = str(key).replace("_", "-")
            grouped[norm] = _merge(grouped[norm], item) if norm in grouped else item
        return MappingProxyType({k: _coerce(f"{name}.{k}", item_tp, v) for k, v in grouped.items()})
    if origin is tuple:
        (item_tp, _ellipsis) = get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError.invalid(name, "a list")
        return tuple(_coerce(name, item_tp, v) for v in value)
    raise ConfigError.invalid(name, f"of type {tp}")  # pragma: no cover


def named_tables(item: type[T], data: Any, name: str) -> Mapping[str, T]:
    """A table of tables by name (``[profiles.NAME]``), each an ``item``; "_" and "-" are the
    same in names, so that environment variables reach a table named with hyphens."""
    tables: Mapping[str, T] = _coerce(name, dict[str, item], data)  # type: ignore[valid-type]
    return tables


def _build(cls: Any, data: Mapping[str, Any], prefix: str = "") -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.metadata.get("table", True)}
    for key in data:
        if key not in known:
            raise ConfigError.unknown_key(f"{prefix}{'.' if prefix else ''}{key}")
    kwargs = {}
    for f in fields(cls):
        if f.name in data and f.name in known:
            kwargs[f.name] = _coerce(f"{prefix}{'.' if prefix else ''}{f.name}", hints[f.name], data[f.name])
    return cls(**kwargs)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError.file_missing(str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.bad_file(str(path), str(exc)) from None


# KYSO_* variables that are not settings (no "__"): anything else is a mistyped setting.
NON_SETTING_VARIABLES = {
    "KYSO_CONFIG", "KYSO_OPERATOR", "KYSO_API_KEY", "KYSO_API_KEY_FILE",
    "KYSO_TEST_DATABASE_URL", "KYSO_TEST_REQUIRE_POSTGRES",
    "KYSO_SETUP_SO_PIN", "KYSO_SETUP_SKIP_CA", "KYSO_SETUP_SKIP_PACKAGES", "KYSO_SETUP_SKIP_VENV",
    "KYSO_SETUP_TEST_TOOLS",
}


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NON_SETTING_VARIABLES:
            continue
        if "__" not in name:
            raise ConfigError(
                UNKNOWN_ENVIRONMENT_SETTING.format(name=name),
                extra={"key": name},
            )
        path = name[len(ENV_PREFIX):].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def load_settings(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    sections: Sequence[type[Section]],
) -> Settings:
    """Load settings from the default file, ``KYSO_CONFIG``, the environment and overrides:
    the platform's tables and the ``sections`` the composition root names (``app.settings``)."""
    environ = os.environ if environ is None else environ
    data = _read_toml(DEFAULT_CONFIG)
    extra = environ.get("KYSO_CONFIG")
    if extra:
        data = _merge(data, _read_toml(Path(extra)))
    data = _merge(data, _env_overrides(environ))
    if overrides:
        data = _merge(data, overrides)
    tables = {cls.table: cls for cls in sections}
    platform = {f.name for f in fields(Settings)}
    if len(tables) != len(sections) or tables.keys() & platform:
        raise ValueError("two sections name the same table, or a section names a table of the platform's")
    built: dict[type[Section], Section] = {}
    for table, cls in tables.items():
        built[cls] = cls.parse(data.pop(table, {}), table)
    settings: Settings = _build(Settings, data)
    settings = dataclasses.replace(settings, sections=MappingProxyType(built))
    _check_values(settings)
    for sec in built.values():
        sec.check(settings)
    settings = _anchor_paths(settings)
    return settings.with_sections(*(sec.anchored() for sec in built.values()))


def anchor_path(path: str) -> str:
    """A relative path in settings, made relative to the project root (where config/ is)."""
    return path if not path or Path(path).expanduser().is_absolute() else str(PROJECT_ROOT / path)



def _anchor_paths(s: Settings) -> Settings:
    """Relative paths are relative to the project root (where config/ is), not to the
    directory a command happens to run in: `kyso` works from anywhere."""
    url = s.database.url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url[len(prefix):] not in ("", ":memory:"):
        url = prefix + anchor_path(url[len(prefix):])
    return dataclasses.replace(
        s,
        database=dataclasses.replace(s.database, url=url),
        mail=dataclasses.replace(s.mail, password_file=anchor_path(s.mail.password_file)),
    )


# Key types the HSM makes (hsm.KeySpec), for the settings that name one.
KEY_TYPES = frozenset({"rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"})


def _check_values(s: Settings) -> None:
    """Values a typo would otherwise turn into a silent fallback or a late traceback."""
    if not 0 <= s.auth.rotation_grace_hours <= 24 * 90:
        raise ConfigError.invalid("auth.rotation_grace_hours", "between 0 and 2160 (90 days)")
    if not 0 <= s.auth.default_key_days <= 3660:
        raise ConfigError.invalid("auth.default_key_days", "between 0 (no expiry) and 3660")
    a = s.audit
    if a.key_type not in KEY_TYPES:
        raise ConfigError.invalid("audit.key_type", f"one of {', '.join(sorted(KEY_TYPES))}")
    if a.checkpoint_every_records < 0 or a.checkpoint_every_minutes < 0 or not 1 <= a.max_page <= 10000:
        raise ConfigError.invalid("audit", "checkpoint intervals >= 0 and max_page 1-10000")
    if not 0 <= s.auth.unknown_key_failures_per_minute <= 100000:
        raise ConfigError.invalid("auth.unknown_key_failures_per_minute", "between 0 (off) and 100000")
    if s.mail.enabled and (not s.mail.host or not s.mail.from_address or not 1 <= s.mail.port <= 65535):
        raise ConfigError.invalid("mail", "host, port 1-65535 and from_address when enabled")
    if s.server.workers < 1 or s.server.max_body_bytes < 1024:
        raise ConfigError.invalid("server", "workers >= 1 and max_body_bytes >= 1024")
    if not 1 <= s.server.threads <= 64:
        raise ConfigError.invalid("server", "threads 1-64")
