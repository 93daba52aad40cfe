"""Verification's settings: the [verify] table (assembled by the platform's loader)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from kyso.errors import ConfigError
from kyso.settings import Section, Settings, anchor_path


@dataclass(frozen=True)
class VerifySettings(Section):
    """[verify]: verification of documents others signed."""

    table: ClassVar[str] = "verify"

    # Extra trust roots (PEM or DER files; glob patterns), e.g. the national government CA's
    # published certificates. The city's own root is always trusted.
    trust_roots: tuple[str, ...] = ()
    # Fetch OCSP/CRL over the network for certificates of other CAs when the document has
    # no revocation data (the CLI's --offline turns it off per run).
    fetch_revocation: bool = True
    # Where verification may fetch from (OCSP, CRLs, issuer certificates named in uploaded
    # certificates): host names, ".suffix" for a domain and its subdomains, or IP networks.
    # Addresses that are not public (loopback, private, link-local...) only when their network
    # is listed. Empty: nothing is fetched.
    fetch_hosts: tuple[str, ...] = ()
    # Largest upload on the public page /verify, in bytes. The page never fetches revocation
    # data over the network (a document's certificates must not make the server call out).
    public_max_bytes: int = 20 * 1024 * 1024
    # Each verification through the API, the public page or the CLI runs in a child process
    # stopped after this many seconds, with at most this much memory above the worker's.
    max_seconds: int = 30
    max_memory_mb: int = 1024
    # Verifications running at once per worker: keep it below server.threads so that a flood
    # of hostile uploads always leaves threads for everything else (equal to it removes the
    # cap). A request finding every slot taken waits up to busy_wait_seconds, then gets 503.
    max_concurrent: int = 2
    busy_wait_seconds: int = 2
    # Most signatures one document may carry (422 too-many-signatures); 0 = no limit.
    max_signatures: int = 50
    # The anonymous public page: its own, shorter time limit, and uploads per client address
    # per minute (per worker; 429 beyond); 0 = no limit.
    public_max_seconds: int = 10
    public_per_minute: int = 10

    def check(self, settings: Settings) -> None:
        if not 1 <= self.max_seconds <= 600 or self.max_memory_mb < 64:
            raise ConfigError.invalid("verify", "max_seconds 1-600 and max_memory_mb >= 64")
        if (not 1 <= self.max_concurrent <= settings.server.threads or not 0 <= self.busy_wait_seconds <= 60
                or self.max_signatures < 0 or not 1 <= self.public_max_seconds <= self.max_seconds
                or self.public_per_minute < 0):
            raise ConfigError.invalid("verify", "max_concurrent 1 to server.threads, busy_wait_seconds 0-60, "
                                      "max_signatures >= 0, public_max_seconds 1 to max_seconds, "
                                      "public_per_minute >= 0")

    def anchored(self) -> VerifySettings:
        return dataclasses.replace(self, trust_roots=tuple(anchor_path(p) for p in self.trust_roots))
