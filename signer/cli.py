"""`kyso verify` and `kyso edxml build|sign|verify|status`: documents, edXML packages and
status messages from the command line, for connectors that prefer files. Signing and status
commands act for the client whose API key they are given (KYSO_API_KEY or a 0600
KYSO_API_KEY_FILE; ``--as`` only cross-checks the name), bound to its agencies as over HTTP."""

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
    main.add_command(edxml_group)
    main.add_command(consent_group)
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
    from signer import trust

    candidate = trust.read_certificate(file.read_bytes())
    click.echo(f"subject: {candidate.subject}")
    click.echo(f"issuer:  {candidate.certificate.issuer.human_friendly}")
    click.echo(f"SHA-256: {candidate.spaced_sha256}")
    if not fingerprint:
        raise click.ClickException("not added: compare the SHA-256 above with the one the publisher announces, "
                                   "then run again with --fingerprint")
    info = trust.add(ctx.services.sessions, operator_caller(ctx, operator), file.read_bytes(), fingerprint, note)
    click.echo(f"trusted: {info.subject} (added by {info.added_by} at {info.added_at})")


@trust_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@operator_option
@pass_ctx
@handle_errors
def trust_list(ctx: Context, as_json: bool, operator: str | None) -> None:
    """The trust anchors, with who added each and when."""
    from signer import trust

    anchors = trust.list_anchors(ctx.services.sessions, operator_caller(ctx, operator))
    if as_json:
        click.echo(json.dumps([a.to_json() for a in anchors], ensure_ascii=False, indent=2))
        return
    for a in anchors:
        click.echo(f"{a.sha256}  {a.subject}  valid until {a.not_after}  added by {a.added_by} at {a.added_at}")


@trust_group.command("remove")
@click.argument("sha256")
@operator_option
@pass_ctx
@handle_errors
def trust_remove(ctx: Context, sha256: str, operator: str | None) -> None:
    """Stop trusting the anchor with this SHA-256 fingerprint."""
    from signer import trust

    info = trust.remove(ctx.services.sessions, operator_caller(ctx, operator), sha256)
    click.echo(f"no longer trusted: {info.subject}")


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
    from signer import credentials

    credentials.unlock(ctx.services.sessions, operator_caller(ctx, operator), official_id)
    click.echo(f"official {official_id}: consent unlocked")


@click.group("edxml")
def edxml_group() -> None:
    """edXML packages for the National Document Exchange Axis."""


@edxml_group.command("build")
@click.option("--metadata", "metadata_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON header fields, as for POST /api/v1/edxml/sign.")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An attachment (repeat for more).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@handle_errors
def edxml_build(metadata_file: Path, files: tuple[Path, ...], output: Path) -> None:
    """Build an unsigned package from metadata and files (sign it with POST /api/v1/edxml/sign)."""
    import mimetypes

    from signer import edxml
    from signer.edxml_sign import metadata_package

    try:
        meta = json.loads(metadata_file.read_text(encoding="utf-8"))
    except ValueError:
        raise click.ClickException("the metadata file is not JSON") from None
    if not isinstance(meta, dict):
        raise click.ClickException("the metadata must be a JSON object")
    pkg = metadata_package(meta, [(f.name, mimetypes.guess_type(f.name)[0] or "", f.read_bytes()) for f in files])
    problems = pkg.findings()
    if problems:
        raise click.ClickException("; ".join(problems))
    _write(output, edxml.to_bytes(edxml.build(pkg)))
    click.echo(f"{output}: {len(pkg.attachments)} attachment(s), to "
               + ", ".join(r.organ_id for r in pkg.header.recipients))


@edxml_group.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The full report as JSON.")
@click.option("--offline", is_flag=True, help="Fetch no OCSP/CRL over the network.")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@pass_ctx
@handle_errors
def edxml_verify(ctx: Context, file: Path, as_json: bool, offline: bool, lang: str) -> None:
    """Verify an edXML package. Exit code: 0 passed, 1 failed, 2 indeterminate."""
    from signer.edxml_verify import verify_package

    _quiet_validators()
    require_schema(ctx)
    svc = ctx.services
    report = verify_package(svc.sessions, svc.settings, str(file.resolve()), offline=offline)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{report['indication']}{' / ' + report['sub_indication'] if report['sub_indication'] else ''}")
        click.echo(report["summary_vi"] if lang == "vi" else report["summary_en"])
        for finding in report["edxml"]["findings_vi" if lang == "vi" else "findings"]:
            click.echo(f"  - {finding}")
    sys.exit({"TOTAL-PASSED": 0, "TOTAL-FAILED": 1}.get(report["indication"], 2))


def _quiet_validators() -> None:
    """pyHanko logs each chain it cannot build, and each fetch, at length: the report says it
    better."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _write(output: Path, data: bytes) -> None:
    tmp = output.with_name(output.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(output)  # never a half-written file under the final name


@edxml_group.command("sign")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--level", type=click.Choice(["B-B", "B-T"]), default="B-B", show_default=True,
              help="B-T adds a XAdES signature time stamp from Kyso's TSA.")
@click.option("--xades", is_flag=True, help="XAdES qualifying properties (B-B).")
@click.option("--sign-pdfs", is_flag=True, help="Seal each PDF attachment first (PAdES B-T).")
@click.option("--pdf-appearance", default="seal", show_default=True)
@click.option("--scheme", default=None, help="Signature scheme (default: the policy's).")
@operator_option
@pass_ctx
@handle_errors
def edxml_sign(ctx: Context, file: Path, output: Path, level: str, xades: bool, sign_pdfs: bool,
               pdf_appearance: str, scheme: str | None, operator: str | None) -> None:
    """Sign a package (from 'kyso edxml build') with the seal of its From agency."""
    from signer import edxml
    from signer.edxml_sign import SignOptions, sign_package

    caller = operator_caller(ctx, operator)
    svc = ctx.services
    opts = SignOptions(xades=xades, level=level, sign_pdfs=sign_pdfs, pdf_appearance=pdf_appearance, scheme=scheme)
    with file.open("rb") as f:
        pkg = edxml.parse(f, keep_tree=False)
    out, sig_id = sign_package(svc.sessions, svc.keystore, svc.settings, caller, pkg, opts)
    with out:
        _write(output, out.read())
    click.echo(f"{output}: signed ({sig_id})")


@edxml_group.group("status")
def status_group() -> None:
    """Status messages (01 arrived ... 16 retrieval refused) and a document's history."""


@status_group.command("send")
@click.option("--document-id", required=True, help="The document the status is about (OrganId,yyyy/MM/dd,no.).")
@click.option("--from", "sender", required=True, help="OrganId of the agency reporting the status.")
@click.option("--code", required=True, help="Status code: 01 02 03 04 05 06 13 15 16.")
@click.option("--description", default="", help="Reason (required for 02 and 13) or note.")
@click.option("--to", "recipients", multiple=True, help="Recipient OrganId (for 13; repeat for more).")
@click.option("--staff", default="", help="The staff member handling the document.")
@click.option("--department", default="")
@click.option("--sign/--no-sign", default=True, show_default=True, help="Seal with the From agency's seal.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@operator_option
@pass_ctx
@handle_errors
def status_send(ctx: Context, document_id: str, sender: str, code: str, description: str,
                recipients: tuple[str, ...], staff: str, department: str, sign: bool, output: Path,
                operator: str | None) -> None:
    """Build, record and (by default) seal a status message."""
    from signer import edxml_status

    caller = operator_caller(ctx, operator)
    svc = ctx.services
    msg = edxml_status.message_from_json({"document_id": document_id, "from": sender, "status_code": code,
                                          "description": description, "to": list(recipients),
                                          "staff": {"staff": staff, "department": department}})
    out, sig_id = edxml_status.send(svc.sessions, svc.keystore, svc.settings, caller, msg, sign=sign)
    _write(output, out)
    click.echo(f"{output}: status {code} for {document_id}" + (f", signed ({sig_id})" if sig_id else ", unsigned"))


@status_group.command("receive")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--offline", is_flag=True, help="Fetch no OCSP/CRL over the network.")
@operator_option
@pass_ctx
@handle_errors
def status_receive(ctx: Context, file: Path, offline: bool, operator: str | None) -> None:
    """Check and record an incoming status message."""
    from signer import edxml_status

    _quiet_validators()
    caller = operator_caller(ctx, operator)
    out = edxml_status.receive(ctx.services.sessions, ctx.services.settings, caller, file.read_bytes(),
                               offline=offline)
    click.echo(f"{out['document_id']}: {out['status_code']} ({out['vi']}) from {out['from']}, signature "
               f"{out['signature']}" + (" (already recorded)" if out["already_recorded"] else ""))


@status_group.command("history")
@click.argument("document_id")
@click.option("--json", "as_json", is_flag=True)
@operator_option
@pass_ctx
@handle_errors
def status_history(ctx: Context, document_id: str, as_json: bool, operator: str | None) -> None:
    """A document's status history, per recipient."""
    from signer import edxml_status

    h = edxml_status.history(ctx.services.sessions, operator_caller(ctx, operator), document_id)
    if as_json:
        click.echo(json.dumps(h, ensure_ascii=False, indent=2))
        return
    click.echo(f"{h['document_id']} ({h['sender']}): {h['subject']}")
    for organ, track in h["recipients"].items():
        click.echo(f"  {organ}: {track['current'] or '-'} (next: {', '.join(track['next_allowed']) or '-'})")
    for e in h["history"]:
        click.echo(f"  #{e['seq']} {e['timestamp']} {e['recipient']} {e['code']} {e['vi']} "
                   f"[{e['direction']}, {e['signature']}] {e['description']}")


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
    from signer import verify

    # pyHanko logs each chain it cannot build with a traceback: the report says it better.
    _quiet_validators()
    require_schema(ctx)
    svc = ctx.services
    try:
        report = verify.verify(svc.sessions, svc.settings, file.read_bytes(),
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
