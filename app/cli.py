"""The ``kyso`` command: the platform's commands (database, audit, users, HSM) with each
domain's added, acting on services built by the composition root."""

from __future__ import annotations

from collections.abc import Sequence

from app.services import build_services
from app.settings import load_settings
from axis.cli import register as register_axis
from ca_admin.cli import register as register_ca
from kyso.cli import Context
from kyso.cli import main as command
from signer.cli import register as register_signer
from verification.cli import register as register_verification

register_ca(command)
register_signer(command)
register_verification(command)
register_axis(command)


def main(args: Sequence[str] | None = None) -> None:
    command.main(args=args, prog_name="kyso", obj=Context(build_services, load_settings))


if __name__ == "__main__":  # pragma: no cover
    main()
