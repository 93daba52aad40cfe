"""`kyso verify`: verify a signed document from the command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from kyso.cli import Context, handle_errors, pass_ctx, require_schema


def register(main: click.Group) -> None:
    main.add_command(verify_command)


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
