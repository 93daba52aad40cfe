"""An unexpected exception in a CLI command is an incident, as over HTTP: the traceback is
logged under an incident id, the user sees the id and not the exception, and the exit code (4)
is none of the verdict or refusal codes."""

from __future__ import annotations

import logging

import click
import pytest
from click.testing import CliRunner

from kyso.cli import INTERNAL_ERROR_EXIT, handle_errors
from kyso.errors import KysoError


class _Refused(KysoError):
    code = "refused-for-test"
    status = 409
    title_en = "Refused"


@click.command()
@click.argument("what")
@handle_errors
def _cmd(what: str) -> None:
    if what == "bug":
        raise KeyError("secret-document-content")
    if what == "refused":
        raise _Refused("no", "không")
    if what == "usage":
        raise click.BadParameter("bad")
    click.echo("ok")


def test_a_bug_is_an_incident_with_its_traceback_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="kyso.cli"):
        r = CliRunner().invoke(_cmd, ["bug"])
    assert r.exit_code == INTERNAL_ERROR_EXIT
    assert "internal-error" in r.output and "incident" in r.output and "secret-document-content" not in r.output
    (record,) = [rec for rec in caplog.records if rec.name == "kyso.cli"]
    assert record.exc_info is not None and record.incident_id in r.output  # type: ignore[attr-defined]


def test_refusals_and_usage_errors_keep_their_codes() -> None:
    r = CliRunner().invoke(_cmd, ["refused"])
    assert r.exit_code == 1 and "refused-for-test" in r.output
    assert CliRunner().invoke(_cmd, ["usage"]).exit_code == 2
    assert CliRunner().invoke(_cmd, ["fine"]).exit_code == 0
