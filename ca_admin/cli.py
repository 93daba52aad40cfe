"""CLI for the registry and the certificate lifecycle (`kyso agencies|officials|clients|certs`).

The CLI reaches the database and the token directly, so it acts for the user whose own API
key it is given (``KYSO_API_KEY`` or a 0600 ``KYSO_API_KEY_FILE``, checked as over HTTP;
``--as`` only cross-checks the name): that user's role is enforced and recorded with the OS
user, and four eyes apply to approvals exactly as over HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from ca_admin import lifecycle
from ca_admin.models import CaRole
from ca_admin.registry import AgencyStatus, OfficialStatus
from ca_admin.settings import OcspSettings, PkiSettings, RegistrySettings
from hsm.settings import HsmSettings
from kyso import policy
from kyso.callers import Caller
from kyso.cli import Context, handle_errors, local_actor, operator_caller, operator_option, pass_ctx, require_schema
from kyso.db import transaction
from kyso.policy import Action


def _caller(ctx: Context, name: str | None) -> Caller:
    caller: Caller = operator_caller(ctx, name)
    return caller


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def register(main: click.Group) -> None:
    main.add_command(ca_group)
    main.add_command(crl_group)
    main.add_command(ocsp_group)
    main.add_command(agencies)
    main.add_command(officials)
    main.add_command(clients)
    main.add_command(certs)
    hsm_group = main.commands.get("hsm")
    if isinstance(hsm_group, click.Group):
        hsm_group.add_command(hsm_sweep)


# -- the CAs -----------------------------------------------------------------------------------

@click.group("ca")
def ca_group() -> None:
    """The root and issuing certificate authorities."""


@ca_group.command("init")
@click.option("--if-absent", is_flag=True, help="Succeed without change when a CA exists.")
@click.option("--issuing-csr", "issuing_csr", type=click.Path(dir_okay=False, path_type=Path),
              help="Do not make a root: write a CSR for the issuing CA key, for an external root.")
@pass_ctx
@handle_errors
def ca_init(ctx: Context, if_absent: bool, issuing_csr: Path | None) -> None:
    """Create the root CA and the issuing CA, keys in the HSM token."""
    from ca_admin import service

    require_schema(ctx)
    svc = ctx.services
    if issuing_csr is not None:
        data = service.create_issuing_csr(svc.sessions, svc.keystore, svc.settings, actor=local_actor())
        tmp = issuing_csr.with_name(issuing_csr.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(issuing_csr)
        click.echo(f"issuing CA CSR written to {issuing_csr}; have the external root sign it, then run "
                   "'kyso ca import-issuing CERT CHAIN'")
        return
    try:
        # Checked before the root token is asked for: with the root in its own token, an
        # existing CA must not need that token (set-up runs 'ca init --if-absent').
        from kyso.db import read_transaction

        with read_transaction(svc.sessions) as session:
            if service.is_initialised(session):
                raise service.CaAlreadyInitialised()
        root, issuing = service.init_ca(svc.sessions, svc.keystore, svc.settings, actor=local_actor(),
                                        root_keystore=svc.root_keystore)
    except service.CaAlreadyInitialised:
        if if_absent:
            # A CA made before audit checkpoints existed gets its audit key here (setup).
            from kyso import audit as audit_log

            audit_log.ensure_audit_key(svc.sessions, svc.keystore, svc.settings.audit.key_type)
            click.echo("CA already initialised; nothing to do")
            return
        raise
    for c in (root, issuing):
        click.echo(f"{c.role:8} {c.subject}\n         serial {c.serial_hex}, key {c.key_label} "
                   f"({c.key_spec}), valid to {c.not_after:%Y-%m-%d}")
    from ca_admin import crl

    for role in (CaRole.ROOT, CaRole.ISSUING):
        crl.publish(svc.sessions, svc.root_keystore if role == CaRole.ROOT else svc.keystore, svc.settings, role,
                    actor=local_actor())
    hsm = svc.settings.section(HsmSettings)
    if hsm.separate_root:
        click.echo(f"the root key is in token '{hsm.root.token_label}': disconnect it until the next ceremony")


@ca_group.command("import-issuing")
@click.argument("cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("chain", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
@handle_errors
def ca_import_issuing(ctx: Context, cert: Path, chain: Path) -> None:
    """Install the issuing CA certificate signed by an external root (CHAIN: intermediates, then root)."""
    from ca_admin import service

    require_schema(ctx)
    svc = ctx.services
    root, issuing = service.import_issuing(svc.sessions, svc.keystore, svc.settings, cert.read_bytes(),
                                           chain.read_bytes(), actor=local_actor())
    from ca_admin import crl

    crl.publish(svc.sessions, svc.keystore, svc.settings, CaRole.ISSUING, actor=local_actor())
    click.echo(f"issuing  {issuing.subject}\n  under   {root.subject} (external root)")


@ca_group.command("show")
@click.option("--pem", "as_pem", is_flag=True, help="Print both certificates as PEM.")
@pass_ctx
@handle_errors
def ca_show(ctx: Context, as_pem: bool) -> None:
    """Show the CA certificates."""
    from ca_admin import service
    from kyso.db import transaction

    require_schema(ctx)
    with transaction(ctx.services.sessions) as session:
        pair = [service.active_ca(session, r) for r in (CaRole.ROOT, CaRole.ISSUING)]
    for c in pair:
        if as_pem:
            click.echo(c.certificate_pem.decode(), nl=False)
        else:
            click.echo(f"{c.role:8} {c.subject} serial {c.serial_hex} "
                       f"{c.not_before:%Y-%m-%d}..{c.not_after:%Y-%m-%d}")


# -- CRLs ---------------------------------------------------------------------------------------

@click.group("crl")
def crl_group() -> None:
    """Certificate revocation lists."""


@crl_group.command("publish")
@click.option("--role", type=click.Choice([CaRole.ISSUING.value, CaRole.ROOT.value, "all"]), default="all")
@pass_ctx
@handle_errors
def crl_publish(ctx: Context, role: str) -> None:
    """Publish full CRLs now (run from a timer; also done on every revocation).

    With the root in its own token ([hsm.root]), the root CRL is a ceremony: "all" publishes
    it only when that token is connected, "--role root" fails when it is not."""
    from ca_admin import crl
    from hsm import RootTokenUnavailable

    require_schema(ctx)
    svc = ctx.services
    for r in ((CaRole.ISSUING, CaRole.ROOT) if role == "all" else (CaRole(role),)):
        try:
            store = svc.root_keystore if r == CaRole.ROOT else svc.keystore
            info = crl.publish(svc.sessions, store, svc.settings, r, actor="cli:crl-publish")
        except crl.CrlNotFound:
            click.echo(f"{r}: external CA, publishes its own CRL")
            continue
        except RootTokenUnavailable:
            if role != "all":
                raise
            click.echo("root: its token is not connected; publish the root CRL at a ceremony "
                       "('kyso crl publish --role root')")
            continue
        click.echo(f"{r}: CRL number {info.crl_number}, {info.entries} entries, next update "
                   f"{info.next_update:%Y-%m-%dT%H:%M:%SZ}")


@click.group("ocsp")
def ocsp_group() -> None:
    """The OCSP responder."""


@ocsp_group.command("refresh")
@pass_ctx
@handle_errors
def ocsp_refresh(ctx: Context) -> None:
    """Pre-produce responses that are missing or due, and rotate the responder if needed
    (run from a timer, more often than ocsp.refresh_before_hours)."""
    from ca_admin import ocsp

    require_schema(ctx)
    svc = ctx.services
    made = ocsp.refresh(svc.sessions, svc.keystore, svc.settings)
    click.echo(f"{made} OCSP responses produced")
    static_dir = svc.settings.section(OcspSettings).static_dir
    if static_dir:
        click.echo(f"response files under {static_dir} written")


@ocsp_group.command("nginx-conf")
@click.option("--listen", default="80", show_default=True, help="nginx listen argument.")
@click.option("--upstream", default="127.0.0.1:8080", show_default=True, help="Where Kyso (gunicorn) listens.")
@pass_ctx
@handle_errors
def ocsp_nginx_conf(ctx: Context, listen: str, upstream: str) -> None:
    """Print the nginx server configuration that answers OCSP from the response files
    ([ocsp] static_dir) and passes everything else to Kyso (config/nginx/kyso.conf)."""
    from ca_admin.ocsp_files import nginx_server_conf

    static_dir = ctx.services.settings.section(OcspSettings).static_dir
    if not static_dir:
        raise click.UsageError("set [ocsp] static_dir (KYSO_OCSP__STATIC_DIR) first")
    click.echo(nginx_server_conf(static_dir, upstream, listen), nl=False)


# -- agencies -----------------------------------------------------------------------------

@click.group()
def agencies() -> None:
    """Agencies (cơ quan) and their electronic identification codes."""


@agencies.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--parent", "parent_code", help="Parent agency code.")
@click.option("--locality", default="")
@click.option("--tax-code", default="", help="MST, e.g. 0101234567 or 0100686209-199.")
@operator_option
@pass_ctx
@handle_errors
def agencies_add(ctx: Context, code: str, name: str, parent_code: str | None, locality: str,
                 tax_code: str, operator: str | None) -> None:
    """Register an agency."""
    from ca_admin import registry

    caller = _caller(ctx, operator)
    _staff_only(caller)
    with transaction(ctx.services.sessions) as session:
        a = registry.create_agency(session, {"code": code, "name": name, "parent_code": parent_code,
                                             "locality": locality, "tax_code": tax_code},
                                   actor=caller.actor,
                                   level1_letters=ctx.services.settings.section(RegistrySettings).level1_letters)
        _echo_json(registry.agency_view(session, a).to_json())


@agencies.command("list")
@click.option("-q", "--query", default="", help="Code or name, with or without diacritics.")
@pass_ctx
@handle_errors
def agencies_list(ctx: Context, query: str) -> None:
    """List or search agencies."""
    from ca_admin import registry

    require_schema(ctx)
    with transaction(ctx.services.sessions) as session:
        for a in registry.search_agencies(session, query):
            click.echo(f"{a.code}\t{a.name}\t{a.status}")


@agencies.command("status")
@click.argument("code")
@click.argument("status", type=click.Choice([s.value for s in AgencyStatus]))
@click.option("--revoke-certificates", is_flag=True,
              help="On dissolution: revoke the agency's certificates (reason cessationOfOperation).")
@operator_option
@pass_ctx
@handle_errors
def agencies_status(ctx: Context, code: str, status: str, revoke_certificates: bool, operator: str | None) -> None:
    """Activate, suspend or dissolve an agency. A suspended or dissolved agency's seal and
    its officials' keys no longer sign; dissolution is final."""

    svc = ctx.services
    change = lifecycle.set_agency_status(svc.sessions, svc.keystore, svc.settings, _caller(ctx, operator), code,
                                         status, revoke_certificates=revoke_certificates)
    _echo_json({"agency": change.agency.to_json(), "previous_status": change.previous,
                "revoked": [v.serial for v in change.revoked], "certificates_still_valid": change.still_valid})
    if status == AgencyStatus.DISSOLVED and change.still_valid:
        click.echo(f"{change.still_valid} certificate(s) of {change.agency.code} are still valid; revoke them "
                   f"with: kyso agencies status {change.agency.code} dissolved --revoke-certificates", err=True)


def _staff_only(caller: Caller) -> None:

    policy.require(caller, Action.REGISTRY_WRITE)


# -- officials --------------------------------------------------------------------------

@click.group()
def officials() -> None:
    """Officials (cán bộ) of the agencies."""


@officials.command("add")
@click.argument("agency_code")
@click.argument("full_name")
@click.option("--title", default="")
@click.option("--citizen-id", default="", help="CCCD, 12 digits.")
@click.option("--email", default="")
@operator_option
@pass_ctx
@handle_errors
def officials_add(ctx: Context, agency_code: str, full_name: str, title: str, citizen_id: str,
                  email: str, operator: str | None) -> None:
    """Register an official of an agency."""
    from ca_admin import registry

    caller = _caller(ctx, operator)
    _staff_only(caller)
    with transaction(ctx.services.sessions) as session:
        o = registry.create_official(session, {"agency_code": agency_code, "full_name": full_name,
                                               "title": title, "citizen_id": citizen_id, "email": email},
                                     actor=caller.actor)
        _echo_json(registry.official_view(session, o).to_json())


@officials.command("list")
@click.option("-q", "--query", default="")
@click.option("--agency", default="")
@pass_ctx
@handle_errors
def officials_list(ctx: Context, query: str, agency: str) -> None:
    """List or search officials."""
    from ca_admin import registry

    require_schema(ctx)
    with transaction(ctx.services.sessions) as session:
        for o in registry.search_officials(session, query, agency):
            v = registry.official_view(session, o)
            click.echo(f"{v.id}\t{v.full_name}\t{v.title}\t{v.agency_code}")


@officials.command("update")
@click.argument("official_id", type=int)
@click.option("--full-name", default=None)
@click.option("--title", default=None)
@click.option("--citizen-id", default=None, help="CCCD, 12 digits.")
@click.option("--email", default=None)
@click.option("--status", type=click.Choice([s.value for s in OfficialStatus]), default=None,
              help="inactive: the official's keys no longer sign.")
@operator_option
@pass_ctx
@handle_errors
def officials_update(ctx: Context, official_id: int, full_name: str | None, title: str | None,
                     citizen_id: str | None, email: str | None, status: str | None, operator: str | None) -> None:
    """Edit an official, or deactivate / reactivate them."""
    from ca_admin import registry

    caller = _caller(ctx, operator)
    _staff_only(caller)
    given = {"full_name": full_name, "title": title, "citizen_id": citizen_id, "email": email,
             "status": status}
    with transaction(ctx.services.sessions) as session:
        o = registry.update_official(session, official_id, {k: v for k, v in given.items() if v is not None},
                                     actor=caller.actor)
        _echo_json(registry.official_view(session, o).to_json())


# -- API clients ----------------------------------------------------------------------------

@click.group()
def clients() -> None:
    """API clients (eOffice, axis connectors) and the agencies they act for."""


@clients.command("bind")
@click.argument("user_name")
@click.argument("agency_code")
@operator_option
@pass_ctx
@handle_errors
def clients_bind(ctx: Context, user_name: str, agency_code: str, operator: str | None) -> None:
    """Let a client user act for an agency."""
    from ca_admin import registry

    caller = _caller(ctx, operator)
    policy.require(caller, Action.CLIENTS_BIND)
    with transaction(ctx.services.sessions) as session:
        registry.bind_client(session, user_name, agency_code, actor=caller.actor)
    click.echo(f"{user_name} may act for {agency_code}")


@clients.command("unbind")
@click.argument("user_name")
@click.argument("agency_code")
@operator_option
@pass_ctx
@handle_errors
def clients_unbind(ctx: Context, user_name: str, agency_code: str, operator: str | None) -> None:
    """Take back a client's right to act for an agency."""
    from ca_admin import registry

    caller = _caller(ctx, operator)
    policy.require(caller, Action.CLIENTS_BIND)
    with transaction(ctx.services.sessions) as session:
        was = registry.unbind_client(session, user_name, agency_code, actor=caller.actor)
    click.echo(f"{user_name} may no longer act for {agency_code}" if was
               else f"{user_name} was not bound to {agency_code}")


# -- certificates -----------------------------------------------------------------------------

@click.group()
def certs() -> None:
    """Certificate requests, issuance and lifecycle."""


def _print_issued(pair: tuple[Any, Any], out: Path | None) -> None:
    req, cert = pair
    _echo_json({"request": req.to_json(), "certificate": cert.to_json() if cert else None})
    if cert is not None and out is not None:
        tmp = out.with_name(out.name + ".part")
        tmp.write_bytes(cert.pem)
        tmp.replace(out)
        click.echo(f"certificate written to {out}", err=True)


@certs.command("request")
@click.option("--profile", required=True)
@click.option("--agency", "agency_code", required=True)
@click.option("--official", "official_id", type=int)
@click.option("--common-name", default="")
@click.option("--owner", default="", help="client-tls: the client user the certificate is for.")
@click.option("--csr", "csr_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--generate-key", is_flag=True, help="Generate the key in the HSM.")
@click.option("--key-type", default="")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the PEM here if issued.")
@operator_option
@pass_ctx
@handle_errors
def certs_request(ctx: Context, profile: str, agency_code: str, official_id: int | None, common_name: str,
                  owner: str, csr_file: Path | None, generate_key: bool, key_type: str, out: Path | None,
                  operator: str | None) -> None:
    """File a request (a CSR, or --generate-key for a key made in the HSM)."""
    from ca_admin import issuance

    caller = _caller(ctx, operator)
    svc = ctx.services
    data: dict[str, Any] = {"profile": profile, "agency_code": agency_code, "official_id": official_id,
                            "common_name": common_name, "generate_key": generate_key}
    if owner:
        data["owner"] = owner
    if key_type:
        data["key_type"] = key_type
    if csr_file:
        data["csr"] = csr_file.read_bytes().decode("ascii", "replace")
    _print_issued(issuance.file_request(svc.sessions, svc.keystore, svc.settings, caller, data), out)


@certs.command("requests")
@click.option("--status", default="")
@operator_option
@pass_ctx
@handle_errors
def certs_requests(ctx: Context, status: str, operator: str | None) -> None:
    """List requests."""
    from ca_admin import issuance

    for r in issuance.list_requests(ctx.services.sessions, _caller(ctx, operator), status):
        click.echo(f"{r.id}\t{r.status}\t{r.profile}\t{r.agency_code}\t{r.requested_by}\t"
                   f"{r.certificate_serial or ''}")


@certs.command("approve")
@click.argument("request_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@operator_option
@pass_ctx
@handle_errors
def certs_approve(ctx: Context, request_id: int, out: Path | None, operator: str | None) -> None:
    """Approve a request (a CA admin other than the requester) and issue."""

    svc = ctx.services
    _print_issued(lifecycle.approve_request(svc.sessions, svc.keystore, svc.settings, _caller(ctx, operator),
                                            request_id), out)


@certs.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", required=True)
@operator_option
@pass_ctx
@handle_errors
def certs_reject(ctx: Context, request_id: int, reason: str, operator: str | None) -> None:
    """Reject a request with a reason."""
    from ca_admin import issuance

    svc = ctx.services
    _echo_json(issuance.reject(svc.sessions, svc.keystore, svc.settings, _caller(ctx, operator),
                               request_id, reason).to_json())


@certs.command("revoke")
@click.argument("serial")
@click.option("--reason", default="unspecified")
@click.option("--invalidity-date", default=None, help="ISO 8601 date-time.")
@operator_option
@pass_ctx
@handle_errors
def certs_revoke(ctx: Context, serial: str, reason: str, invalidity_date: str | None, operator: str | None) -> None:
    """Revoke a certificate with an RFC 5280 reason."""
    from ca_admin import revocation
    from kyso.errors import BadRequest

    when = None
    if invalidity_date:
        try:
            when = dt.datetime.fromisoformat(invalidity_date.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest("--invalidity-date must be ISO 8601", "--invalidity-date phải theo ISO 8601") from None
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    svc = ctx.services
    result = lifecycle.revoke(svc.sessions, svc.keystore, svc.settings, _caller(ctx, operator), serial, reason, when)
    if isinstance(result, revocation.RevocationRequestView):
        _echo_json({"revocation_request": result.to_json()})
        click.echo(f"waiting for a second CA admin: kyso certs revocations approve {result.id}", err=True)
        return
    _echo_json(result.to_json())


@certs.group("revocations")
def certs_revocations() -> None:
    """Revocations of the CA's own service certificates, waiting for a second CA admin."""


@certs_revocations.command("list")
@click.option("--status", default="pending", type=click.Choice(["pending", "approved", "rejected", "all"]))
@operator_option
@pass_ctx
@handle_errors
def revocations_list(ctx: Context, status: str, operator: str | None) -> None:
    from ca_admin import revocation

    for r in revocation.list_requests(ctx.services.sessions, _caller(ctx, operator), status):
        _echo_json(r.to_json())


@certs_revocations.command("approve")
@click.argument("revocation_id", type=int)
@operator_option
@pass_ctx
@handle_errors
def revocations_approve(ctx: Context, revocation_id: int, operator: str | None) -> None:
    """Approve another CA admin's revocation request: the certificate is revoked now."""

    svc = ctx.services
    _echo_json(lifecycle.approve_revocation(svc.sessions, svc.keystore, svc.settings, _caller(ctx, operator),
                                            revocation_id).to_json())


@certs_revocations.command("reject")
@click.argument("revocation_id", type=int)
@click.option("--reason", required=True)
@operator_option
@pass_ctx
@handle_errors
def revocations_reject(ctx: Context, revocation_id: int, reason: str, operator: str | None) -> None:
    from ca_admin import revocation

    _echo_json(revocation.reject(ctx.services.sessions, _caller(ctx, operator), revocation_id, reason).to_json())


@certs.command("hold")
@click.argument("serial")
@operator_option
@pass_ctx
@handle_errors
def certs_hold(ctx: Context, serial: str, operator: str | None) -> None:
    """Suspend a certificate (certificateHold)."""

    svc = ctx.services
    _echo_json(lifecycle.hold(svc.sessions, svc.keystore, svc.settings, _caller(ctx, operator), serial).to_json())


@certs.command("release")
@click.argument("serial")
@operator_option
@pass_ctx
@handle_errors
def certs_release(ctx: Context, serial: str, operator: str | None) -> None:
    """Release a held certificate."""

    svc = ctx.services
    _echo_json(lifecycle.release(svc.sessions, svc.keystore, svc.settings, _caller(ctx, operator), serial).to_json())


@certs.command("renew")
@click.argument("serial")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@operator_option
@pass_ctx
@handle_errors
def certs_renew(ctx: Context, serial: str, out: Path | None, operator: str | None) -> None:
    """Request a renewal (same key)."""
    from ca_admin import issuance

    svc = ctx.services
    _print_issued(issuance.renew_or_rekey(svc.sessions, svc.keystore, svc.settings, _caller(ctx, operator),
                                          serial, "renew", {}), out)


@certs.command("rekey")
@click.argument("serial")
@click.option("--csr", "csr_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@operator_option
@pass_ctx
@handle_errors
def certs_rekey(ctx: Context, serial: str, csr_file: Path | None, out: Path | None, operator: str | None) -> None:
    """Request a rekey (a new CSR, or a new key in the HSM)."""

    svc = ctx.services
    data = {"csr": csr_file.read_text()} if csr_file else {}
    _print_issued(lifecycle.rekey(svc.sessions, svc.keystore, svc.settings, _caller(ctx, operator), serial, data),
                  out)


@certs.command("show")
@click.argument("serial")
@click.option("--format", "fmt", type=click.Choice(["json", "pem", "der", "p7b"]), default="json")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@operator_option
@pass_ctx
@handle_errors
def certs_show(ctx: Context, serial: str, fmt: str, out: Path | None, operator: str | None) -> None:
    """Show or download a certificate (json, pem, der, p7b chain)."""
    from ca_admin import issuance

    view = issuance.get_certificate(ctx.services.sessions, _caller(ctx, operator), serial)
    if fmt == "json":
        _echo_json(view.to_json())
        return
    data = {"pem": view.pem, "der": view.certificate_der}.get(fmt) or issuance.chain_p7b(
        ctx.services.sessions, view)
    if out:
        out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)


@certs.command("list")
@click.option("--agency", default="")
@click.option("--official", type=int, default=None)
@click.option("--serial", default="")
@click.option("--status", default="")
@operator_option
@pass_ctx
@handle_errors
def certs_list(ctx: Context, agency: str, official: int | None, serial: str, status: str, operator: str | None) -> None:
    """Search certificates by agency, official, serial and status."""
    from ca_admin import issuance

    for v in issuance.search_certificates(ctx.services.sessions, _caller(ctx, operator), agency_code=agency,
                                          official_id=official, serial=serial, status=status):
        click.echo(f"{v.serial}\t{v.status}\t{v.profile}\t{v.agency_code}\t{v.not_after:%Y-%m-%d}\t{v.subject}")


@certs.command("expiring")
@click.option("--days", type=int, default=None)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
@operator_option
@pass_ctx
@handle_errors
def certs_expiring(ctx: Context, days: int | None, fmt: str, operator: str | None) -> None:
    """Certificates expiring within N days (JSON or CSV)."""
    from ca_admin import issuance

    svc = ctx.services
    views = issuance.expiring(svc.sessions, _caller(ctx, operator),
                              svc.settings.section(PkiSettings).expiring_days if days is None else days)
    if fmt == "csv":
        click.echo(issuance.expiring_csv(views), nl=False)
    else:
        _echo_json({"certificates": [v.to_json() for v in views]})


# -- HSM keys of issuances that never committed ----------------------------------------------------

@click.command("sweep")
@click.option("--older-than", "older_than", type=click.IntRange(min=1), default=30, show_default=True,
              help="Minutes since the key was announced (younger issuances may still be running).")
@click.option("--destroy", is_flag=True, help="Delete the keys found (default: only list them).")
@operator_option
@pass_ctx
@handle_errors
def hsm_sweep(ctx: Context, older_than: int, destroy: bool, operator: str | None) -> None:
    """List (or --destroy) end-entity keys left in the token by an issuance that never
    committed (a process killed between key generation and the certificate's commit)."""
    from ca_admin import issuance

    require_schema(ctx)
    svc = ctx.services
    found = issuance.sweep_orphan_keys(svc.sessions, svc.keystore, _caller(ctx, operator),
                                       older_than=dt.timedelta(minutes=older_than), destroy=destroy)
    for key in found:
        state = "destroyed" if key.destroyed else ("in token" if key.in_token else "not in token")
        click.echo(f"{key.label}\tannounced {key.announced_at:%Y-%m-%dT%H:%M:%SZ}\t{state}")
    verb = "destroyed" if destroy else "found (dry run; --destroy deletes them)"
    click.echo(f"{sum(k.in_token for k in found)} orphan key(s) {verb}")
