"""The certificate authority's settings: [ca], [profiles.NAME], [registry], [pki], [crl] and
[ocsp] (assembled by the platform's loader)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from asn1crypto import x509

from kyso.errors import ConfigError
from kyso.settings import KEY_TYPES, Section, Settings, anchor_path, named_tables

# Whose data fills a certificate's subject ([profiles.NAME] subject).
SUBJECT_KINDS = ("agency", "official", "client", "service", "ca")
# The names of the key usage bits (RFC 5280 4.2.1.3), as asn1crypto spells them.
KEY_USAGE_NAMES = frozenset(x509.KeyUsage._map.values())


@dataclass(frozen=True)
class CaNameSettings:
    common_name: str = ""
    organization: str = ""
    organizational_unit: str = ""
    locality: str = ""
    country: str = "VN"


@dataclass(frozen=True)
class CaKeySettings:
    key_type: str = "rsa-3072"
    validity_days: int = 3650
    signature_scheme: str = "rsa-pkcs1"
    hash: str = "sha256"


@dataclass(frozen=True)
class CaSettings(Section):
    """[ca]: the names and keys of the root and issuing CAs."""

    table: ClassVar[str] = "ca"

    root_name: CaNameSettings = field(default_factory=CaNameSettings)
    issuing_name: CaNameSettings = field(default_factory=CaNameSettings)
    root_key: CaKeySettings = field(default_factory=CaKeySettings)
    issuing_key: CaKeySettings = field(default_factory=CaKeySettings)
    issuing_path_length: int = 0

    def check(self, settings: Settings) -> None:
        for name, key in (("ca.root_key", self.root_key), ("ca.issuing_key", self.issuing_key)):
            if key.key_type not in KEY_TYPES:
                raise ConfigError.invalid(f"{name}.key_type", f"one of {', '.join(sorted(KEY_TYPES))}")
            if key.signature_scheme not in ("rsa-pkcs1", "rsa-pss"):
                raise ConfigError.invalid(f"{name}.signature_scheme", "rsa-pkcs1 or rsa-pss")
            if key.hash not in ("sha256", "sha384", "sha512"):
                raise ConfigError.invalid(f"{name}.hash", "sha256, sha384 or sha512")
            if not 1 <= key.validity_days <= 36525:
                raise ConfigError.invalid(f"{name}.validity_days", "between 1 and 36525")


@dataclass(frozen=True)
class ProfileSettings:
    """A certificate profile: what the CA puts in a certificate, whatever a CSR asks for."""

    description: str = ""
    # Whose data fills the subject: agency | official | client | service | ca
    subject: str = "official"
    key_types: tuple[str, ...] = ("rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384")
    hsm_key_type: str = "rsa-3072"
    validity_days: int = 730
    key_usage: tuple[str, ...] = ("digital_signature", "non_repudiation")
    extended_key_usage: tuple[str, ...] = ()
    eku_critical: bool = False
    policy_oids: tuple[str, ...] = ()
    aia: bool = True
    crl_distribution_point: bool = True
    ocsp_no_check: bool = False
    ca: bool = False
    path_length: int = 0
    auto_approve: bool = False
    # Roles that may file requests of this profile (ca-admin, ra-officer, client, auditor).
    requesters: tuple[str, ...] = ("ca-admin", "ra-officer")
    # Where the key may come from: "hsm" (generated in the token) and/or "csr" (the
    # requester's own key, in a PKCS#10 request).
    key_sources: tuple[str, ...] = ("hsm",)
    # Agencies (codes) whose keys for this profile may live on an external token: a CSR is
    # accepted for them even where key_sources does not list "csr" (seal and personal keys).
    external_token_agencies: tuple[str, ...] = ()
    # Most certificates of this profile one owner may hold at once (good or on hold, not
    # expired, plus pending requests); 0 = no limit. Over it: 409 certificate-quota-exceeded.
    max_active_per_owner: int = 0


@dataclass(frozen=True)
class ProfilesSettings(Section):
    """[profiles.NAME]: the certificate profiles, by name."""

    table: ClassVar[str] = "profiles"

    by_name: Mapping[str, ProfileSettings] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any, name: str) -> ProfilesSettings:
        return cls(named_tables(ProfileSettings, data, name))

    def check(self, settings: Settings) -> None:
        for pname, p in self.by_name.items():
            if p.subject not in SUBJECT_KINDS:
                raise ConfigError.invalid(f"profiles.{pname}.subject", f"one of {', '.join(SUBJECT_KINDS)}")
            # asn1crypto takes an unknown name without a word and leaves its bit out: check the names.
            if not set(p.key_usage) <= KEY_USAGE_NAMES:
                raise ConfigError.invalid(f"profiles.{pname}.key_usage", "asn1crypto key usage names")
            for k in (*p.key_types, p.hsm_key_type):
                if k not in KEY_TYPES:
                    raise ConfigError.invalid(f"profiles.{pname}.key_types", f"among {', '.join(sorted(KEY_TYPES))}")
            if not 1 <= p.validity_days <= 36525:
                raise ConfigError.invalid(f"profiles.{pname}.validity_days", "between 1 and 36525")
            if not set(p.requesters) <= {"ca-admin", "ra-officer", "client", "auditor"}:
                raise ConfigError.invalid(f"profiles.{pname}.requesters", "among ca-admin, ra-officer, client, auditor")
            # CA and service keys (sub-CA, OCSP responder, TSA, report seal) are the CA's own: in the HSM, and
            # asked for by CA administrators only. Seal and personal keys are made in the HSM; a CSR
            # only for the agencies named in external_token_agencies.
            if (p.ca or p.subject in ("ca", "service")) and (
                    not set(p.requesters) <= {"ca-admin"} or p.key_sources != ("hsm",)):
                raise ConfigError.invalid(f"profiles.{pname}", "for a CA or service profile: requesters at most "
                                          "[\"ca-admin\"] and key_sources = [\"hsm\"]")
            if p.subject in ("agency", "official") and "csr" in p.key_sources:
                raise ConfigError.invalid(f"profiles.{pname}.key_sources", "[\"hsm\"] for seal and personal "
                                          "keys (name agencies with external tokens in external_token_agencies)")
            if not p.key_sources or not set(p.key_sources) <= {"hsm", "csr"}:
                raise ConfigError.invalid(f"profiles.{pname}.key_sources", "among hsm, csr (at least one)")
            if p.max_active_per_owner < 0:
                raise ConfigError.invalid(f"profiles.{pname}.max_active_per_owner", "0 (no limit) or more")


@dataclass(frozen=True)
class RegistrySettings(Section):
    """[registry]: the city's organisation and its agencies' codes."""

    table: ClassVar[str] = "registry"

    # The city's organisation and locality, used in agency seal subjects (O, L).
    organization: str = "UBND THÀNH PHỐ HẢI PHÒNG"
    locality: str = "Hải Phòng"
    # The city's own electronic identification code (confirm against the national registry).
    city_code: str = ""
    # Letters allowed for the level-1 part of an agency code (G ministries, H provincial
    # People's Committees, K provincial People's Councils).
    level1_letters: str = "GHK"
    # organizationIdentifier of seal subjects: this prefix (ETSI EN 319 412-1 national
    # scheme "XX:CC-"), then the agency's code.
    organization_identifier_prefix: str = "MD:VN-"


@dataclass(frozen=True)
class PkiSettings(Section):
    """[pki]: the URLs placed in issued certificates, and the expiring report."""

    table: ClassVar[str] = "pki"

    # URLs placed in issued certificates; empty means derived from server.public_base_url.
    ocsp_url: str = ""
    crl_url: str = ""
    ca_issuers_url: str = ""
    # How many days before expiry the expiring report looks by default.
    expiring_days: int = 30


@dataclass(frozen=True)
class CrlSettings(Section):
    """[crl]: how long the CRLs the CA publishes stay current."""

    table: ClassVar[str] = "crl"

    # nextUpdate = thisUpdate + this many hours, for the issuing CA's CRL.
    issuing_validity_hours: int = 24
    # The same for the root's CRL (ARL), which changes rarely.
    root_validity_days: int = 90


@dataclass(frozen=True)
class OcspSettings(Section):
    """[ocsp]: the OCSP responder and its pre-produced responses."""

    table: ClassVar[str] = "ocsp"

    # nextUpdate of pre-produced responses, in hours after thisUpdate.
    validity_hours: int = 24
    # A cached response is produced again when less than this many hours remain.
    refresh_before_hours: int = 12
    # The responder certificate is replaced when less than this many days remain.
    responder_rotate_days: int = 10
    # Largest OCSP request body accepted (bytes).
    max_request_bytes: int = 4096
    # Answers that need a fresh HSM signature (nonce, unknown serial, nothing cached) per
    # second per worker; beyond it: tryLater. Cached answers are never limited.
    max_signatures_per_second: int = 200
    # Also write every pre-produced response as a file under this directory, named by the
    # request, for a front web server to answer from ("" = off; see config/nginx/).
    static_dir: str = ""

    def anchored(self) -> OcspSettings:
        return dataclasses.replace(self, static_dir=anchor_path(self.static_dir))
