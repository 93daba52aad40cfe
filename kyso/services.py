"""The per-process collaborators every request and command uses.

Built from settings, never at import time; the key store opens its PKCS#11 session lazily in
the process that first uses it, which under gunicorn is the worker, after the fork.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hsm import KeyStore
from kyso import audit
from kyso.db import make_engine, make_sessionmaker
from kyso.errors import KysoError
from kyso.logs import register_secret
from kyso.settings import Settings

ReadinessCheck = Callable[["Services"], dict[str, Any]]


class SetupMissing(KysoError):
    code = "setup-missing"
    status = 503
    title_en = "Not set up"


def read_pin(settings: Settings) -> str:
    """The user PIN from settings or its file; a clear error when neither is there."""
    if settings.hsm.pin:
        return settings.hsm.pin
    path = Path(settings.hsm.pin_file).expanduser()
    try:
        pin = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SetupMissing(
            f"HSM PIN file {path} not found: run 'make run' first, or set KYSO_HSM__PIN "
            "or KYSO_HSM__PIN_FILE",
            f"không tìm thấy tệp PIN của HSM {path}: hãy chạy 'make run' trước, hoặc đặt "
            "KYSO_HSM__PIN hay KYSO_HSM__PIN_FILE",
        ) from None
    if not pin:
        raise SetupMissing(f"HSM PIN file {path} is empty", f"tệp PIN của HSM {path} trống")
    return pin


def apply_softhsm_conf(settings: Settings) -> None:
    """Point SoftHSM2 at the project's own configuration unless the environment already does."""
    conf = settings.hsm.softhsm2_conf
    if conf and "SOFTHSM2_CONF" not in os.environ and Path(conf).is_file():
        os.environ["SOFTHSM2_CONF"] = str(Path(conf).resolve())


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    _keystore: KeyStore | None = None
    readiness_checks: list[tuple[str, ReadinessCheck]] = field(default_factory=list)
    ready_cache: tuple[float, dict[str, dict[str, Any]]] | None = None

    @classmethod
    def build(cls, settings: Settings, *, engine: Engine | None = None,
              keystore: KeyStore | None = None) -> Services:
        if engine is None:
            engine = make_engine(settings.database.url, echo=settings.database.echo,
                                 pool_size=settings.database.pool_size)
        info: dict[str, object] = {}
        if settings.ocsp.static_dir:
            from ca_admin.ocsp_files import SESSION_KEY, StaticResponses

            info[SESSION_KEY] = StaticResponses(Path(settings.ocsp.static_dir))
        svc = cls(settings, engine, make_sessionmaker(engine, info), keystore)
        # The audit chain's head is signed by the audit key after commits (issue 13, item 6).
        audit.install_checkpoints(svc.sessions, lambda: svc.keystore,
                                  every_records=settings.audit.checkpoint_every_records,
                                  every_minutes=settings.audit.checkpoint_every_minutes)
        return svc

    @property
    def keystore(self) -> KeyStore:
        if self._keystore is None:
            apply_softhsm_conf(self.settings)
            pin = read_pin(self.settings)
            register_secret(pin)
            self._keystore = KeyStore(
                self.settings.hsm.module, self.settings.hsm.token_label, pin,
                open_retries=self.settings.hsm.open_retries,
            )
        return self._keystore
