"""`kyso verify` and `kyso trust`: documents verified from the command line, for connectors
that prefer files, and the trust anchors. Commands act for the caller whose API key they are
given (KYSO_API_KEY or a 0600 KYSO_API_KEY_FILE; ``--as`` only cross-checks the name)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from kyso.cli import Context, handle_errors, operator_caller, operator_option, pass_ctx, require_schema
from kyso.errors import KysoError


def register(main: click.Group) -> None:
    main.add_command(verify_command)
    main.add_command(trust_group)


@click.group("trust")
def trust_group() -> None:
    """Trust anchors: the roots verification trusts beside this CA's own (CA admins change
    them; every change is audited). Compare a root's SHA-256 fingerprint with the one its
    publisher announces before adding it."""


@trust_group.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fingerprint", default="",
              help="The SHA-256 fingerprint the publisher announces (hex, colons allowed). Without it, the "
                   "file's fingerprint and subject are printed and nothing is trusted.")
@click.option("--note", default="", help="Where the root comes from (e.g. the publisher's page).")
@operator_option
@pass_ctx
@handle_errors
def trust_add(ctx: Context, file: Path, fingerprint: str, note: str, operator: str | None) -> None:
    """Trust the CA certificate in FILE (PEM or DER) once its fingerprint matches --fingerprint."""
    from verification import anchors

    candidate = anchors.read_certificate(file.read_bytes())
    click.echo(f"subject: {candidate.subject}")
    click.echo(f"issuer:  {candidate.certificate.issuer.human_friendly}")
    click.echo(f"SHA-256: {candidate.spaced_sha256}")
    if not fingerprint:
        raise click.ClickException("not added: compare the SHA-256 above with the one the publisher announces, "
                                   "then run again with --fingerprint")
    info = anchors.add(ctx.services.sessions, operator_caller(ctx, operator), file.read_bytes(), fingerprint, note)
    click.echo(f"trusted: {info.subject} (added by {info.added_by} at {info.added_at})")


@trust_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@operator_option
@pass_ctx
@handle_errors
def trust_list(ctx: Context, as_json: bool, operator: str | None) -> None:
    """The trust anchors, with who added each and when."""
    from verification import anchors

    listed = anchors.list_anchors(ctx.services.sessions, operator_caller(ctx, operator))
    if as_json:
        click.echo(json.dumps([a.to_json() for a in listed], ensure_ascii=False, indent=2))
        return
    for a in listed:
        click.echo(f"{a.sha256}  {a.subject}  valid until {a.not_after}  added by {a.added_by} at {a.added_at}")


@trust_group.command("remove")
@click.argument("sha256")
@operator_option
@pass_ctx
@handle_errors
def trust_remove(ctx: Context, sha256: str, operator: str | None) -> None:
    """Stop trusting the anchor with this SHA-256 fingerprint."""
    from verification import anchors

    info = anchors.remove(ctx.services.sessions, operator_caller(ctx, operator), sha256)
    click.echo(f"no longer trusted: {info.subject}")


def quiet_validators() -> None:
    """pyHanko logs each chain it cannot build, and each fetch, at length: the report says it
    better."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.ERROR)


NOT_VERIFIED_EXIT = 3


@click.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The signed data, for a detached CMS signature.")
@click.option("--json", "as_json", is_flag=True, help="The full report as JSON.")
@click.option("--offline", is_flag=True, help="Fetch no OCSP/CRL over the network.")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@pass_ctx
@handle_errors
def verify_command(ctx: Context, file: Path, data_file: Path | None, as_json: bool, offline: bool,
                   lang: str) -> None:
    """Verify a signed document (PDF, CMS, XML, ASiC). Exit code: 0 passed, 1 failed,
    2 indeterminate, 3 not verified (the error says why: unreadable, unsupported, a limit),
    4 internal error (an incident id; the traceback is in the log)."""
    from verification.service import verify

    # pyHanko logs each chain it cannot build with a traceback: the report says it better.
    quiet_validators()
    require_schema(ctx)
    svc = ctx.services
    try:
        report = verify(svc.sessions, svc.settings, file.read_bytes(),
                        data_file.read_bytes() if data_file else None, offline=offline, bounded=True)
    except KysoError as exc:  # not a verdict: exit 1 would say "forged"
        click.echo(f"error [{exc.code}]: {exc.message_en}\n  ({exc.message_vi})", err=True)
        sys.exit(NOT_VERIFIED_EXIT)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"{report.indication}{' / ' + report.sub_indication if report.sub_indication else ''}")
        click.echo(report.summary_vi if lang == "vi" else report.summary_en)
        for i, s in enumerate(report.signatures, 1):
            click.echo(f"  #{i} {s.indication}{' / ' + s.sub_indication if s.sub_indication else ''} "
                       f"[{s.level}] {s.summary_vi if lang == 'vi' else s.summary_en}")
    sys.exit(report.exit_code)
