"""The per-process services, with what each domain adds to them."""

from __future__ import annotations

from sqlalchemy import Engine

from ca_admin import facade as ca
from hsm import KeyStore
from kyso.services import Services
from kyso.settings import Settings


def build_services(settings: Settings, *, engine: Engine | None = None,
                   keystore: KeyStore | None = None) -> Services:
    """Engine, sessions and key store (built lazily), with the CA's pre-signed OCSP answers
    in the sessions' info when configured."""
    return Services.build(settings, engine=engine, keystore=keystore, session_info=ca.session_info(settings))
