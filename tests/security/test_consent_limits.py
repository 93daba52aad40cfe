"""Item 25 of issue 13: the consent rate limit counted right PINs too, so an official could
not sign more than ten times a minute; and accepting the next step's TOTP code used up the
current step, so the official's own next code was refused. Only failures count; every step
is used once, whichever order the codes come in."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
import struct
from typing import Any

import pytest

from kyso.callers import Caller, Role
from kyso.db import transaction
from signer import consent, credentials
from signer.consent import ConsentFailed, ConsentRateLimited, SigningConsent
from signer.settings import SigningSettings
from tests.signing.conftest import PIN, H, signing  # noqa: F401  (fixture)

pytestmark = pytest.mark.both_databases

T0 = dt.datetime(2026, 12, 3, 8, 0, 0, tzinfo=dt.UTC)


def _hashes_body(official_id: int) -> dict[str, Any]:
    return {"credential": f"official:{official_id}", "hash_algorithm": "sha256",
            "hashes": [base64.b64encode(hashlib.sha256(b"x").digest()).decode()]}


def test_right_pins_are_not_rate_limited(client: Any, services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    limit = services.settings.section(SigningSettings).consent_attempts_per_minute
    headers = H(signing["keys"]["eoffice"], **{"X-Kyso-Consent": PIN})
    for i in range(limit + 3):
        r = client.post("/api/v1/sign/hashes", headers=headers, json=_hashes_body(signing["official_id"]))
        assert r.status_code == 200, (i, r.get_json())


def _caller_and_credential(services: Any, world: dict[str, Any]) -> tuple[Caller, Any]:
    caller = Caller(user_id=0, name="eoffice", role=Role.CLIENT)
    with transaction(services.sessions) as session:
        from kyso.callers import User

        caller = dataclasses.replace(caller, user_id=session.query(User).filter_by(name="eoffice").one().id)
    return caller, credentials.resolve(services.sessions, caller, f"official:{world['official_id']}")


def test_wrong_attempts_are_still_rate_limited(services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    settings = services.settings.with_sections(dataclasses.replace(
        services.settings.section(SigningSettings), consent_max_failures=20, consent_attempts_per_minute=3))
    caller, cred = _caller_and_credential(services, signing)
    check = consent.check_consent
    for i in range(3):
        check(services.sessions, services.keystore, settings, caller, cred, PIN, now=T0 + dt.timedelta(seconds=i))
        with pytest.raises(ConsentFailed):
            check(services.sessions, services.keystore, settings, caller, cred, "135790", now=T0)
    with pytest.raises(ConsentRateLimited):
        check(services.sessions, services.keystore, settings, caller, cred, PIN, now=T0 + dt.timedelta(seconds=5))
    # A minute later the window is new.
    check(services.sessions, services.keystore, settings, caller, cred, PIN, now=T0 + dt.timedelta(seconds=61))


def _code(seed: bytes, step: int) -> str:
    mac = hmac.new(seed, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return str((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**6).zfill(6)


def test_next_step_code_does_not_use_up_the_current_one(services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    seed = secrets.token_bytes(20)
    label = f"totp-test-{secrets.token_hex(4)}"
    services.keystore.import_hmac_secret(label, seed)
    with transaction(services.sessions) as session:
        row = session.get(SigningConsent, signing["official_id"])
        row.method, row.pin_hash, row.totp_label = "totp", None, label
    caller, cred = _caller_and_credential(services, signing)
    period = services.settings.section(SigningSettings).totp_period
    now = T0
    t = int(now.timestamp()) // period

    def check(code: str, at: dt.datetime = now) -> None:
        consent.check_consent(services.sessions, services.keystore, services.settings, caller, cred, code, now=at)

    check(_code(seed, t + 1))  # the official's phone runs a little ahead
    check(_code(seed, t))  # ... and the current code is still good once
    for used in (t, t + 1):
        with pytest.raises(ConsentFailed):
            check(_code(seed, used))  # no replay
    later = now + dt.timedelta(seconds=period)
    with pytest.raises(ConsentFailed):
        check(_code(seed, t + 1), later)  # still used when it is the current step
    check(_code(seed, t + 2), later)
    with pytest.raises(ConsentFailed):
        check(_code(seed, t - 1))  # older than the last step used: never good after newer ones
