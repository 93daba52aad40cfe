"""`kyso edxml build|sign|verify|status`: edXML packages and status messages from the
command line, for connectors that prefer files. Signing and status commands act for the
client whose API key they are given (KYSO_API_KEY or a 0600 KYSO_API_KEY_FILE; ``--as`` only
cross-checks the name), bound to its agencies as over HTTP."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kyso.cli import Context, handle_errors, operator_caller, operator_option, pass_ctx, require_schema
from verification.cli import quiet_validators
from verification.indication import Indication


def register(main: click.Group) -> None:
    main.add_command(edxml_group)


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

    from axis import building
    from axis.sign import metadata_package

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
    _write(output, building.to_bytes(building.build(pkg)))
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
    from axis.verify import verify_package

    quiet_validators()
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
    sys.exit({Indication.TOTAL_PASSED: 0, Indication.TOTAL_FAILED: 1}.get(report["indication"], 2))


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
    from axis import parsing
    from axis.sign import SignOptions, sign_package

    caller = operator_caller(ctx, operator)
    svc = ctx.services
    opts = SignOptions(xades=xades, level=level, sign_pdfs=sign_pdfs, pdf_appearance=pdf_appearance, scheme=scheme)
    with file.open("rb") as f:
        pkg = parsing.parse(f, keep_tree=False)
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
    from axis import status

    caller = operator_caller(ctx, operator)
    svc = ctx.services
    msg = status.message_from_json({"document_id": document_id, "from": sender, "status_code": code,
                                    "description": description, "to": list(recipients),
                                    "staff": {"staff": staff, "department": department}})
    out, sig_id = status.send(svc.sessions, svc.keystore, svc.settings, caller, msg, sign=sign)
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
    from axis import status

    quiet_validators()
    caller = operator_caller(ctx, operator)
    out = status.receive(ctx.services.sessions, ctx.services.settings, caller, file.read_bytes(),
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
    from axis import status

    h = status.history(ctx.services.sessions, operator_caller(ctx, operator), document_id)
    if as_json:
        click.echo(json.dumps(h, ensure_ascii=False, indent=2))
        return
    click.echo(f"{h['document_id']} ({h['sender']}): {h['subject']}")
    for organ, track in h["recipients"].items():
        click.echo(f"  {organ}: {track['current'] or '-'} (next: {', '.join(track['next_allowed']) or '-'})")
    for e in h["history"]:
        click.echo(f"  #{e['seq']} {e['timestamp']} {e['recipient']} {e['code']} {e['vi']} "
                   f"[{e['direction']}, {e['signature']}] {e['description']}")
