"""Signing's settings: the [signing] and [tsa] tables (assembled by the platform's loader)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kyso.errors import ConfigError
from kyso.settings import Section, Settings

_SCHEMES = {f"{family}-{h}" for family in ("rsa-pkcs1", "rsa-pss", "ecdsa") for h in ("sha256", "sha384", "sha512")}


@dataclass(frozen=True)
class SigningSettings(Section):
    """[signing]: what the signing endpoints accept, and officials' consent."""

    table: ClassVar[str] = "signing"

    # Largest document accepted by the signing endpoints, in bytes.
    max_document_bytes: int = 50 * 1024 * 1024
    # Most digests in one POST /api/v1/sign/hashes (and one CSC signHash).
    max_hashes: int = 1000
    # Signature schemes the policy allows; for an RSA key the first RSA one allowed is the
    # default, a caller may ask for another allowed one.
    allowed_schemes: tuple[str, ...] = ("rsa-pkcs1-sha256", "rsa-pss-sha256", "ecdsa-sha256",
                                        "rsa-pkcs1-sha384", "rsa-pss-sha384", "ecdsa-sha384",
                                        "rsa-pkcs1-sha512", "rsa-pss-sha512", "ecdsa-sha512")
    # Digest algorithms accepted for hashes and documents.
    allowed_digests: tuple[str, ...] = ("sha256", "sha384", "sha512")
    # An official's consent (PIN or TOTP): consecutive failures before the credential locks
    # (an administrator unlocks it), and wrong attempts per minute per official.
    consent_max_failures: int = 5
    consent_attempts_per_minute: int = 10
    # TOTP (RFC 6238): period, digits, and steps of clock drift accepted either side.
    totp_period: int = 30
    totp_digits: int = 6
    totp_drift_steps: int = 1
    # Consent enrolment by the official: a PIN has at least this many characters; an
    # activation code is good for this many hours and this many wrong tries; staff may
    # start an enrolment by printed letter (the code is shown once to the staff member who
    # starts it, for a sealed letter).
    consent_pin_min_length: int = 6
    enrolment_code_hours: int = 72
    enrolment_code_attempts: int = 5
    enrolment_by_letter: bool = True
    # Refuse consent that staff set before officials enrolled themselves (such PINs and
    # seeds may be known to staff); false only while officials re-enrol after an upgrade.
    require_self_enrolment: bool = True
    # Requests per minute from one address to the anonymous enrolment and PIN-change
    # endpoints (beyond: 429).
    enrolment_requests_per_minute: int = 10
    # Default PAdES level when the caller names none: B-B, B-T, B-LT or B-LTA.
    default_pdf_level: str = "B-LT"
    # Document and signature images: largest PNG accepted, in bytes and pixels a side.
    max_image_bytes: int = 2 * 1024 * 1024
    max_image_side: int = 4000

    def check(self, settings: Settings) -> None:
        for scheme in self.allowed_schemes:
            if scheme not in _SCHEMES:
                raise ConfigError.invalid("signing.allowed_schemes", f"among {', '.join(sorted(_SCHEMES))}")
        for digest in self.allowed_digests:
            if digest not in ("sha256", "sha384", "sha512"):
                raise ConfigError.invalid("signing.allowed_digests", "among sha256, sha384, sha512")
        if self.default_pdf_level not in ("B-B", "B-T", "B-LT", "B-LTA"):
            raise ConfigError.invalid("signing.default_pdf_level", "B-B, B-T, B-LT or B-LTA")
        if not 1 <= self.consent_max_failures <= 20 or not 4 <= self.totp_digits <= 10 or self.totp_period < 10:
            raise ConfigError.invalid("signing", "consent_max_failures 1-20, totp_digits 4-10, totp_period >= 10")
        if not 4 <= self.consent_pin_min_length <= 32 or not 1 <= self.enrolment_code_hours <= 24 * 30 \
                or not 1 <= self.enrolment_code_attempts <= 20 or not 1 <= self.enrolment_requests_per_minute <= 10000:
            raise ConfigError.invalid("signing", "consent_pin_min_length 4-32, enrolment_code_hours 1-720, "
                                      "enrolment_code_attempts 1-20, enrolment_requests_per_minute 1-10000")


@dataclass(frozen=True)
class TsaSettings(Section):
    """[tsa]: the time-stamping authority (RFC 3161); rotate_days is handed to the CA, which
    renews the TSA's and the report seal's certificates."""

    table: ClassVar[str] = "tsa"

    policy_oid: str = "1.3.6.1.4.1.99999.2.1"
    accuracy_seconds: int = 1
    max_request_bytes: int = 4096
    # The TSA certificate is replaced when fewer days than this remain.
    rotate_days: int = 90
    # Tokens are audited per period, not one by one (the TSA is public): the first token of a
    # period writes one tsa.tokens record for the tokens of the periods before it.
    audit_period_minutes: int = 60

    def check(self, settings: Settings) -> None:
        if not 1 <= self.audit_period_minutes <= 24 * 60:
            raise ConfigError.invalid("tsa.audit_period_minutes", "between 1 and 1440")
