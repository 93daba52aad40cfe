"""`kyso consent`: an official's consent to personal signatures. Commands act for the caller
whose API key they are given (KYSO_API_KEY or a 0600 KYSO_API_KEY_FILE; ``--as`` only
cross-checks the name)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kyso.cli import Context, handle_errors, operator_caller, operator_option, pass_ctx


def register(main: click.Group) -> None:
    main.add_command(consent_group)


@click.group("consent")
def consent_group() -> None:
    """An official's consent to personal signatures: the official enrols a PIN or TOTP
    themself; staff start the enrolment and see its state, never a PIN or seed."""


@consent_group.command("start")
@click.argument("official_id", type=int)
@click.option("--channel", type=click.Choice(["email", "letter"]), required=True,
              help="email: the activation code goes to the official's address in the registry; letter: "
                   "the code is given to you once, to print and seal.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Letter only: write the letter here (.pdf for a PDF, else text; mode 0600).")
@operator_option
@pass_ctx
@handle_errors
def consent_start(ctx: Context, official_id: int, channel: str, output: Path | None, operator: str | None) -> None:
    """Start an official's enrolment, after checking their identity."""
    import os

    from signer import enrolment

    started = enrolment.start(ctx.services.sessions, ctx.services.settings, operator_caller(ctx, operator), official_id,
                              channel)
    if started.activation_code and output is not None:
        data = enrolment.letter_pdf(started) if output.suffix.lower() == ".pdf" else \
            (started.letter_text or "").encode("utf-8")
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        click.echo(f"enrolment {started.reference}: letter written to {output} (print, seal, then delete the file);"
                   f" expires {started.expires_at.isoformat()}")
    elif started.activation_code:
        click.echo(started.letter_text)
        click.echo(f"enrolment {started.reference}; expires {started.expires_at.isoformat()}", err=True)
    else:
        click.echo(f"enrolment {started.reference}: activation code sent to {started.sent_to}; "
                   f"expires {started.expires_at.isoformat()}")


@consent_group.command("status")
@click.argument("official_id", type=int)
@operator_option
@pass_ctx
@handle_errors
def consent_status(ctx: Context, official_id: int, operator: str | None) -> None:
    """The official's consent method, lock and pending enrolment."""
    from signer import enrolment

    state = enrolment.status(ctx.services.sessions, operator_caller(ctx, operator), official_id)
    click.echo(json.dumps(state.to_json(), ensure_ascii=False, indent=2))


@consent_group.command("unlock")
@click.argument("official_id", type=int)
@operator_option
@pass_ctx
@handle_errors
def consent_unlock(ctx: Context, official_id: int, operator: str | None) -> None:
    """Clear the lock after repeated wrong PINs or codes (CA admins only)."""
    from signer import consent

    consent.unlock(ctx.services.sessions, operator_caller(ctx, operator), official_id)
    click.echo(f"official {official_id}: consent unlocked")
