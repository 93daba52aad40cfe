"""The settings of every package: the platform's loader with the sections the domains declare."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ca_admin.settings import (
    CaSettings,
    CrlSettings,
    OcspSettings,
    PkiSettings,
    ProfilesSettings,
    RegistrySettings,
)
from hsm.settings import HsmSettings
from kyso import settings as platform
from kyso.settings import Section, Settings
from signer.settings import SigningSettings, TsaSettings
from verification.settings import VerifySettings

# Each package's own tables, beside the platform's (server, database, auth, audit, mail, logging).
SECTIONS: tuple[type[Section], ...] = (
    HsmSettings,
    CaSettings, ProfilesSettings, RegistrySettings, PkiSettings, CrlSettings, OcspSettings,
    SigningSettings, TsaSettings,
    VerifySettings,
)


def load_settings(environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """The settings of the whole service (see ``kyso.settings.load_settings``)."""
    return platform.load_settings(environ, overrides, sections=SECTIONS)
