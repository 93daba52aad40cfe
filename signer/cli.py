"""`kyso verify` and `kyso edxml build|verify`: documents and edXML packages from the
command line, for connectors that prefer files."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from kyso.cli import Context, handle_errors, pass_ctx, require_schema


def register(main: click.Group) -> None:
    main.add_command(verify_command)
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
    tmp = output.with_name(output.name + ".part")
    tmp.write_bytes(edxml.to_bytes(edxml.build(pkg)))
    tmp.replace(output)  # never a half-written package under the final name
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

    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    require_schema(ctx)
    svc = ctx.services
    report = verify_package(svc.sessions, svc.settings, file.read_bytes(), offline=offline)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{report['indication']}{' / ' + report['sub_indication'] if report['sub_indication'] else ''}")
        click.echo(report["summary_vi"] if lang == "vi" else report["summary_en"])
        for finding in report["edxml"]["findings"]:
            click.echo(f"  - {finding}")
    sys.exit({"TOTAL-PASSED": 0, "TOTAL-FAILED": 1}.get(report["indication"], 2))


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
    """Verify a signed PDF or CMS signature. Exit code: 0 passed, 1 failed, 2 indeterminate."""
    from signer import verify

    # pyHanko logs each chain it cannot build with a traceback: the report says it better.
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    require_schema(ctx)
    svc = ctx.services
    report = verify.verify(svc.sessions, svc.settings, file.read_bytes(),
                           data_file.read_bytes() if data_file else None, offline=offline, bounded=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"{report.indication}{' / ' + report.sub_indication if report.sub_indication else ''}")
        click.echo(report.summary_vi if lang == "vi" else report.summary_en)
        for i, s in enumerate(report.signatures, 1):
            click.echo(f"  #{i} {s.indication}{' / ' + s.sub_indication if s.sub_indication else ''} "
                       f"[{s.level}] {s.summary_vi if lang == 'vi' else s.summary_en}")
    sys.exit(report.exit_code)
