"""The ``kyso`` command line."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from hsm.settings import HsmSettings
from kyso.errors import KysoError
from kyso.messages import (
    ANOTHER_USER_CREATED_MEANWHILE_CREATE,
    API_KEY_FILE_NOT_PRIVATE,
    API_KEY_FILE_UNREADABLE,
    API_KEY_GIVEN_TWICE,
    AS_NAMES_ANOTHER_USER,
    COMMAND_NEEDS_API_KEY,
    FIRST_USER_IS_CA_ADMIN,
)
from kyso.policy import Action

F = TypeVar("F", bound=Callable[..., Any])


def local_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in a bare container
        return "cli:unknown"


def _fail(code: str, en: str, vi: str, status: int = 1) -> None:
    click.echo(f"error [{code}]: {en}\n  ({vi})", err=True)
    sys.exit(status)


INTERNAL_ERROR_EXIT = 4  # an unexpected error: a bug with an incident id, never the user's fault


def handle_errors(fn: F) -> F:
    """A refusal (KysoError) prints its code and message and exits 1; anything unexpected is
    an incident, as over HTTP: the traceback goes to the log under an incident id, the user
    sees the id, and the command exits 4."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KysoError as exc:
            _fail(exc.code, exc.message_en, exc.message_vi)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence of every command
            import logging
            import uuid

            from kyso.errors import InternalError

            incident = uuid.uuid4().hex[:12]
            logging.getLogger("kyso.cli").error("unhandled %s", type(exc).__name__, exc_info=exc,
                                                extra={"incident_id": incident})
            err = InternalError(incident)
            _fail(err.code, err.message_en, err.message_vi, status=INTERNAL_ERROR_EXIT)
    return wrapper  # type: ignore[return-value]


class Context:
    """Settings and services, built on first use so `kyso --help` needs nothing. The
    composition root (``app.cli``) passes the loader of every package's settings and the
    builder that adds the domains' parts."""

    def __init__(self, build: Callable[[Any], Any] | None = None,
                 load: Callable[[], Any] | None = None) -> None:
        self._services: Any = None
        self._build = build
        self._load = load

    @property
    def services(self) -> Any:
        if self._services is None:
            from kyso import logs
            from kyso.services import Services

            if self._load is None:
                raise click.UsageError("run the kyso command (app.cli:main): it names every package's settings")
            settings = self._load()
            logs.configure(settings.logging.level, as_json=False)
            self._services = (self._build or Services.build)(settings)
        return self._services


pass_ctx = click.make_pass_decorator(Context, ensure=True)

operator_option = click.option(
    "--as", "operator", envvar="KYSO_OPERATOR", default=None,
    help="Optional check: the user you mean to act as; it must own the API key given in "
         "KYSO_API_KEY or KYSO_API_KEY_FILE (env KYSO_OPERATOR).")


def os_user() -> str:
    return local_actor().removeprefix("cli:")


def operator_key() -> str:
    """The operator's own API key: ``KYSO_API_KEY``, or ``KYSO_API_KEY_FILE`` naming a file
    that only its owner can read (0600). A name alone proves nothing (issue 13, item 7)."""
    import os
    import stat

    from kyso.errors import Unauthenticated

    key = os.environ.get("KYSO_API_KEY", "").strip()
    path = os.environ.get("KYSO_API_KEY_FILE", "").strip()
    if key and path:
        raise Unauthenticated(API_KEY_GIVEN_TWICE)
    if path:
        try:
            st = os.stat(path)
        except OSError:
            raise Unauthenticated(API_KEY_FILE_UNREADABLE) from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or st.st_uid != os.getuid():
            raise Unauthenticated(API_KEY_FILE_NOT_PRIVATE)
        with open(path, encoding="ascii", errors="replace") as fh:
            key = fh.read().strip()
    if not key:
        raise Unauthenticated(COMMAND_NEEDS_API_KEY)
    return key


def operator_caller(ctx: Context, name: str | None) -> Any:
    """The user an admin command acts for, authenticated by their own API key exactly as the
    HTTP API does (revoked, expired and disabled keys refused); the policy then applies to
    it, and the audit records it with the OS user who ran the command."""
    from kyso import audit
    from kyso.callers import UnknownApiKey, authenticate, key_id_of
    from kyso.db import read_transaction, transaction
    from kyso.errors import Forbidden, Unauthenticated
    from kyso.logs import origin_var

    require_schema(ctx)
    key = operator_key()
    origin_var.set({"via": "cli", "os_user": os_user()})
    try:
        with read_transaction(ctx.services.sessions) as session:
            caller = authenticate(session, key)
    except UnknownApiKey:
        raise Unauthenticated() from None
    except Unauthenticated:
        with transaction(ctx.services.sessions) as session:
            audit.record(session, actor=f"key:{key_id_of(key)}", action="auth.denied", target="cli",
                         outcome="denied", details={"reason": "unauthenticated"})
        raise
    if name and name != caller.name:
        raise Forbidden(AS_NAMES_ANOTHER_USER.format(name=name[:80]))
    return caller


def local_command(what: str) -> None:
    """Commands that must work before any user exists (or that the host's own jobs run) act
    with the token PIN and the database alone; they say so, and the audit records the OS user."""
    from kyso.logs import origin_var

    origin_var.set({"via": "cli-local", "os_user": os_user(), "command": what})


def require(caller: Any, action: Any) -> None:
    """The same policy the HTTP routes ask (kyso.policy), for a CLI operator."""
    from kyso import policy

    policy.require(caller, action)


@click.group()
@click.version_option(package_name="kyso")
def main() -> None:
    """Kyso: the city's certificate authority and signing service."""


# -- database ---------------------------------------------------------------

@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_ctx
@handle_errors
def db_upgrade(ctx: Context) -> None:
    """Migrate the database to the latest schema."""
    from sqlalchemy.exc import OperationalError

    from kyso import migrate
    from kyso.db import translate_operational_error

    try:
        migrate.upgrade(ctx.services.engine)
    except OperationalError as exc:
        raise translate_operational_error(exc) from exc
    click.echo(f"database at revision {migrate.head_revision()}")


@db.command("current")
@pass_ctx
@handle_errors
def db_current(ctx: Context) -> None:
    """Show the schema revision the database is at."""
    from kyso.db import schema_revision

    click.echo(schema_revision(ctx.services.engine) or "no schema")


def require_schema(ctx: Context) -> None:
    from kyso import migrate
    from kyso.db import schema_revision
    from kyso.errors import DatabaseNotInitialised

    if schema_revision(ctx.services.engine) != migrate.head_revision():
        raise DatabaseNotInitialised()


# -- audit -------------------------------------------------------------------

@main.group()
def audit() -> None:
    """The hash-chained audit trail."""


def _audit_key(ctx: Context) -> bytes | None:
    """The audit key's public key from the HSM; None (reported) when it is not there."""
    from kyso import audit as audit_log

    try:
        return audit_log.audit_public_key(ctx.services.keystore)
    except audit_log.AuditKeyMissing as exc:
        click.echo(f"warning: {exc.message_en}", err=True)
        return None


@audit.command("verify")
@click.option("--against", "against", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also check checkpoints kept outside the database: JSON lines from 'kyso audit "
                   "checkpoints', or log lines holding 'audit checkpoint {...}' (syslog, journald).")
@pass_ctx
@handle_errors
def audit_verify(ctx: Context, against: Path | None) -> None:
    """Check the whole chain and every signed checkpoint; name the first edited or missing
    record. Fails when the audit key is missing from the HSM while checkpoints exist."""
    from kyso import audit as audit_log
    from kyso.db import read_transaction

    require_schema(ctx)
    external: list[dict[str, Any]] = []
    if against is not None:
        try:
            with against.open(encoding="utf-8") as fh:
                external = audit_log.parse_checkpoint_lines(fh)
        except (ValueError, UnicodeDecodeError) as exc:
            _fail("bad-request", f"--against: {exc}", f"--against: tệp không đọc được ({exc})", 2)
        if not external:
            _fail("bad-request", f"--against: no checkpoint found in {against}",
                  f"--against: không có điểm kiểm tra nào trong {against}", 2)
    key = _audit_key(ctx)
    with read_transaction(ctx.services.sessions) as session:
        report = audit_log.verify_chain(
            session, audit_key=key, external=external,
            every_records=ctx.services.settings.audit.checkpoint_every_records)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.ok and key is None and (report.checkpoints or report.external_checkpoints):
        click.echo(report.describe(), err=True)
        _fail("audit-key-missing", "checkpoint signatures cannot be checked without the audit key",
              "không kiểm tra được chữ ký điểm kiểm tra khi thiếu khóa nhật ký")
    if report.ok:
        click.echo(report.describe())
        return
    click.echo(report.describe(), err=True)
    sys.exit(1)


@audit.command("checkpoint")
@pass_ctx
@handle_errors
def audit_checkpoint(ctx: Context) -> None:
    """Sign the chain's head now (e.g. from a daily timer); makes the audit key if absent."""
    from kyso import audit as audit_log

    require_schema(ctx)
    svc = ctx.services
    audit_log.ensure_audit_key(svc.sessions, svc.keystore, svc.settings.audit.key_type)
    cp = audit_log.make_checkpoint(svc.sessions, svc.keystore, "manual")
    if cp is None:
        click.echo("the newest checkpoint already covers the head; nothing to do")
    else:
        click.echo(f"checkpoint {cp.number}: record {cp.seq}, {cp.records} records, "
                   f"hash {cp.record_hash}")


@audit.command("checkpoints")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JSON lines here instead of standard output.")
@pass_ctx
@handle_errors
def audit_checkpoints(ctx: Context, output: Path | None) -> None:
    """Export the signed checkpoints as JSON lines, to keep outside the database."""
    from kyso import audit as audit_log
    from kyso.db import read_transaction

    require_schema(ctx)
    with read_transaction(ctx.services.sessions) as session:
        lines = [json.dumps(c.to_json(), ensure_ascii=False)
                 for c in audit_log.list_checkpoints(session)]
    text = "".join(line + "\n" for line in lines)
    if output:
        tmp = output.with_name(output.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
        click.echo(f"{len(lines)} checkpoints written to {output}", err=True)
    else:
        click.echo(text, nl=False)


@audit.command("export")
@click.option("--since", help="ISO 8601 date or date-time (UTC when no zone is given).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JSON lines here instead of standard output.")
@pass_ctx
@handle_errors
def audit_export(ctx: Context, since: str | None, output: Path | None) -> None:
    """Export records as JSON lines, with their hashes, in chain order."""
    from kyso import audit as audit_log

    require_schema(ctx)
    start = None
    if since:
        try:
            start = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            _fail("bad-request", "--since must be an ISO 8601 date or date-time",
                  "--since phải là ngày hoặc thời điểm theo ISO 8601", 2)
        assert start is not None
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
    # Streamed a page at a time, each page in a short read transaction: no row set in
    # memory, no lock held (issue 13, item 27).
    records = audit_log.stream(ctx.services.sessions, since=start)
    if output:
        tmp = output.with_name(output.name + ".part")
        count = 0
        with tmp.open("w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                count += 1
        tmp.replace(output)  # no partial file
        click.echo(f"{count} records written to {output}", err=True)
    else:
        for rec in records:
            click.echo(json.dumps(rec, ensure_ascii=False))


# -- users -------------------------------------------------------------------

@main.group()
def users() -> None:
    """Users and their API keys."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["ca-admin", "ra-officer", "auditor", "client"]))
@operator_option
@pass_ctx
@handle_errors
def users_create(ctx: Context, name: str, role: str, operator: str | None) -> None:
    """Create a user; print its API key (shown this once only). A CA admin does this with
    their own API key; only the very first user, a CA admin, is created locally."""
    from sqlalchemy import func, select

    from kyso import callers
    from kyso.db import transaction
    from kyso.errors import Forbidden

    require_schema(ctx)
    with transaction(ctx.services.sessions) as session:
        first = session.execute(select(func.count()).select_from(callers.User)).scalar_one() == 0
    if first:
        if callers.parse_role(role) != callers.Role.CA_ADMIN:
            raise Forbidden(FIRST_USER_IS_CA_ADMIN)
        local_command("users create (first user)")
        actor = local_actor()
    else:
        caller = operator_caller(ctx, operator)
        require(caller, Action.USERS_MANAGE)
        actor = caller.actor
    with transaction(ctx.services.sessions) as session:
        if first and session.execute(select(func.count()).select_from(callers.User)).scalar_one():
            raise Forbidden(ANOTHER_USER_CREATED_MEANWHILE_CREATE)
        user, key = callers.create_user(session, name, callers.parse_role(role), actor=actor,
                                        key_days=ctx.services.settings.auth.default_key_days)
        name, role = user.name, user.role
    click.echo(f"created {role} '{name}'. API key (shown once, store it now):", err=True)
    click.echo(key)


@users.command("add-key")
@click.argument("name")
@operator_option
@pass_ctx
@handle_errors
def users_add_key(ctx: Context, name: str, operator: str | None) -> None:
    """Give a user another API key (shown once). CA admins only."""
    from kyso import callers
    from kyso.db import transaction

    caller = operator_caller(ctx, operator)
    require(caller, Action.USERS_MANAGE)
    with transaction(ctx.services.sessions) as session:
        key = callers.add_api_key(session, name, actor=caller.actor,
                                  key_days=ctx.services.settings.auth.default_key_days)
    click.echo(key)


@users.command("show")
@click.argument("name")
@operator_option
@pass_ctx
@handle_errors
def users_show(ctx: Context, name: str, operator: str | None) -> None:
    """Show a user, its status and its keys (ids and dates, never secrets)."""
    from kyso import callers
    from kyso.db import transaction

    require(operator_caller(ctx, operator), Action.USERS_READ)
    with transaction(ctx.services.sessions) as session:
        click.echo(json.dumps(callers.user_view(callers.get_user(session, name)).to_json(),
                              ensure_ascii=False, indent=2))


def _set_status(ctx: Context, name: str, operator: str | None, status: Any) -> None:
    from kyso import callers
    from kyso.db import transaction

    caller = operator_caller(ctx, operator)
    require(caller, Action.USERS_MANAGE)
    with transaction(ctx.services.sessions) as session:
        user = callers.set_user_status(session, caller, name, status)
        click.echo(f"{user.name}\t{user.role}\t{user.status}")


@users.command("disable")
@click.argument("name")
@operator_option
@pass_ctx
@handle_errors
def users_disable(ctx: Context, name: str, operator: str | None) -> None:
    """Disable a user: every key and client certificate of theirs stops at once."""
    from kyso.callers import UserStatus

    _set_status(ctx, name, operator, UserStatus.DISABLED)


@users.command("enable")
@click.argument("name")
@operator_option
@pass_ctx
@handle_errors
def users_enable(ctx: Context, name: str, operator: str | None) -> None:
    """Enable a disabled user again."""
    from kyso.callers import UserStatus

    _set_status(ctx, name, operator, UserStatus.ACTIVE)


@users.command("revoke-key")
@click.argument("key_id")
@operator_option
@pass_ctx
@handle_errors
def users_revoke_key(ctx: Context, key_id: str, operator: str | None) -> None:
    """Revoke an API key at once (KEY_ID: the 16 hex digits after 'kyso_')."""
    from kyso import callers
    from kyso.db import transaction

    caller = operator_caller(ctx, operator)
    with transaction(ctx.services.sessions) as session:
        key = callers.revoke_api_key(session, caller, key_id)
        click.echo(f"key {key.key_id} of {key.user.name} revoked")


@users.command("rotate-key")
@click.argument("name")
@operator_option
@pass_ctx
@handle_errors
def users_rotate_key(ctx: Context, name: str, operator: str | None) -> None:
    """Give a user a new key (shown once); their other keys stop after [auth]
    rotation_grace_hours."""
    from kyso import callers
    from kyso.db import transaction

    caller = operator_caller(ctx, operator)
    require(caller, Action.USERS_MANAGE)
    auth = ctx.services.settings.auth
    with transaction(ctx.services.sessions) as session:
        plaintext, _key = callers.rotate_keys(session, name, grace_hours=auth.rotation_grace_hours,
                                              key_days=auth.default_key_days, actor=caller.actor)
    click.echo(f"new key for '{name}' (shown once); old keys stop in {auth.rotation_grace_hours} h:",
               err=True)
    click.echo(plaintext)


@users.command("list")
@pass_ctx
@handle_errors
def users_list(ctx: Context) -> None:
    """List users and roles (never keys)."""
    from kyso import callers
    from kyso.db import transaction

    require_schema(ctx)
    with transaction(ctx.services.sessions) as session:
        for u in callers.list_users(session):
            click.echo(f"{u.name}\t{u.role}\t{u.status}\t{len(u.api_keys)} key(s)")


# -- HSM ---------------------------------------------------------------------

@main.group()
def hsm() -> None:
    """The HSM token."""


@hsm.command("status")
@pass_ctx
@handle_errors
def hsm_status(ctx: Context) -> None:
    """Check the token answers."""
    info = ctx.services.keystore.ping()
    click.echo(f"token '{info['label']}' ({info['manufacturer']} {info['model']}) is reachable")
    root = ctx.services.settings.section(HsmSettings).root
    if root.token_label:
        # The root's own token is normally absent: say so, never fail for it.
        from hsm import HsmUnavailable

        try:
            ctx.services.root_keystore.ping()
            click.echo(f"root CA token '{root.token_label}' is connected (disconnect it after the ceremony)")
        except HsmUnavailable:
            click.echo(f"root CA token '{root.token_label}' is not connected (needed only for ceremonies)")


@hsm.command("list")
@pass_ctx
@handle_errors
def hsm_list(ctx: Context) -> None:
    """List key pairs in the token (labels and types; never key material)."""
    for key in ctx.services.keystore.list_keys():
        click.echo(f"{key.label}\t{key.spec}\t{key.key_id.hex()}")
