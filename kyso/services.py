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
from hsm.settings import HsmSettings
from kyso import audit
from kyso.db import make_engine, make_sessionmaker
from kyso.errors import ErrorKind, KysoError
from kyso.logs import register_secret
from kyso.messages import (
    HSM_PIN_FILE_EMPTY,
    HSM_PIN_FILE_NOT_FOUND,
    ROOT_PIN_FILE_EMPTY,
    ROOT_PIN_FILE_NOT_FOUND,
    ROOT_PIN_NOT_CONFIGURED,
)
from kyso.settings import Settings

ReadinessCheck = Callable[["Services"], dict[str, Any]]


class SetupMissing(KysoError):
    code = "setup-missing"
    kind = ErrorKind.UNAVAILABLE
    title_en = "Not set up"


def read_pin(settings: Settings) -> str:
    """The user PIN from settings or its file; a clear error when neither is there."""
    hsm = settings.section(HsmSettings)
    if hsm.pin:
        return hsm.pin
    path = Path(hsm.pin_file).expanduser()
    try:
        pin = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SetupMissing(HSM_PIN_FILE_NOT_FOUND.format(path=path)) from None
    if not pin:
        raise SetupMissing(HSM_PIN_FILE_EMPTY.format(path=path))
    return pin


def read_root_pin(settings: Settings) -> str:
    """The root token's PIN ([hsm.root] pin or pin_file), read only for a ceremony."""
    root = settings.section(HsmSettings).root
    if root.pin:
        return root.pin
    if not root.pin_file:
        raise SetupMissing(ROOT_PIN_NOT_CONFIGURED)
    path = Path(root.pin_file).expanduser()
    try:
        pin = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SetupMissing(ROOT_PIN_FILE_NOT_FOUND.format(path=path)) from None
    if not pin:
        raise SetupMissing(ROOT_PIN_FILE_EMPTY.format(path=path))
    return pin


def apply_softhsm_conf(settings: Settings) -> None:
    """Point SoftHSM2 at the project's own configuration unless the environment already does."""
    conf = settings.section(HsmSettings).softhsm2_conf
    if conf and "SOFTHSM2_CONF" not in os.environ and Path(conf).is_file():
        os.environ["SOFTHSM2_CONF"] = str(Path(conf).resolve())


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    _keystore: KeyStore | None = None
    _root_keystore: KeyStore | None = None
    readiness_checks: list[tuple[str, ReadinessCheck]] = field(default_factory=list)
    ready_cache: tuple[float, dict[str, dict[str, Any]]] | None = None

    @classmethod
    def build(cls, settings: Settings, *, engine: Engine | None = None,
              keystore: KeyStore | None = None, session_info: dict[str, object] | None = None) -> Services:
        """The platform's part; ``app.services.build_services`` adds what the domains keep in
        ``session_info`` (every session's ``info``)."""
        if engine is None:
            engine = make_engine(settings.database.url, echo=settings.database.echo,
                                 pool_size=settings.database.pool_size)
        svc = cls(settings, engine, make_sessionmaker(engine, dict(session_info or {})), keystore)
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
            hsm = self.settings.section(HsmSettings)
            self._keystore = KeyStore(hsm.module, hsm.token_label, pin, open_retries=hsm.open_retries)
        return self._keystore

    @property
    def root_keystore(self) -> KeyStore:
        """The store holding the root CA key: [hsm.root]'s own token when configured (present
        only for ceremonies; its PIN is read only now), else the main one (demo layout)."""
        hsm = self.settings.section(HsmSettings)
        root = hsm.root
        if not root.token_label:
            return self.keystore
        if self._root_keystore is None:
            apply_softhsm_conf(self.settings)
            pin = read_root_pin(self.settings)
            register_secret(pin)
            self._root_keystore = KeyStore(root.module or hsm.module, root.token_label, pin,
                                           open_retries=hsm.open_retries)
        return self._root_keystore
