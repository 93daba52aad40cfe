"""The HSM's settings: the [hsm] table and its [hsm.root] (assembled by the platform's loader)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from kyso.errors import ConfigError
from kyso.settings import Section, Settings, anchor_path


@dataclass(frozen=True)
class HsmRootSettings:
    """The root CA key's own token, connected only for ceremonies; "" = in [hsm]'s token."""

    token_label: str = ""
    module: str = ""  # "" = [hsm] module
    pin: str = dataclasses.field(default="", repr=False)
    pin_file: str = ""



@dataclass(frozen=True)
class HsmSettings(Section):
    """[hsm]: the PKCS#11 token that holds the service's keys, and [hsm.root] the root CA key's."""

    table: ClassVar[str] = "hsm"

    module: str = "/usr/lib/softhsm/libsofthsm2.so"
    token_label: str = "kyso"
    pin: str = dataclasses.field(default="", repr=False)
    pin_file: str = "var/secrets/user.pin"
    softhsm2_conf: str = "var/softhsm2.conf"
    open_retries: int = 3
    root: HsmRootSettings = field(default_factory=HsmRootSettings)

    @property
    def separate_root(self) -> bool:
        """The root CA key lives in a token of its own (the production layout)."""
        return bool(self.root.token_label)

    def check(self, settings: Settings) -> None:
        r = self.root
        if r.token_label and r.token_label == self.token_label and r.module in ("", self.module):
            raise ConfigError.invalid("hsm.root.token_label", "another token than hsm.token_label (\"\" for "
                                      "the single-token layout)")
        if not r.token_label and (r.pin or r.pin_file or r.module):
            raise ConfigError.invalid("hsm.root", "a token_label when module, pin or pin_file is set")

    def anchored(self) -> HsmSettings:
        return dataclasses.replace(self, pin_file=anchor_path(self.pin_file),
                                   softhsm2_conf=anchor_path(self.softhsm2_conf),
                                   root=dataclasses.replace(self.root, pin_file=anchor_path(self.root.pin_file)))
