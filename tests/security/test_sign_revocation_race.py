"""Item 10 of issue 13: signing raced revocation. On PostgreSQL four signatures were recorded
after the revocation had committed: the certificate was checked only before signing.

The status is checked again when the signature is recorded, under a share lock on the
certificate row; a revocation or hold that committed meanwhile withholds the result
(409 certificate-not-valid, audited with outcome 'withheld'), and a revocation that starts
while a signature is being recorded waits for it."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from ca_admin import issuance
from kyso import audit
from kyso.callers import Caller, Role
from kyso.db import transaction
from tests.signing.conftest import AGENCY, PIN, H, signing  # noqa: F401 - the signing world fixture

pytestmark = pytest.mark.both_databases

STAFF = Caller(user_id=0, name="ra", role=Role.RA_OFFICER)


def _records(services: Any) -> int:
    from signer.credentials import SignatureRecord

    with transaction(services.sessions) as session:
        return int(session.execute(select(func.count()).select_from(SignatureRecord)).scalar_one())


def _withheld(services: Any) -> list[dict[str, Any]]:
    with transaction(services.sessions) as session:
        return [r for r in audit.export(session, None) if r["outcome"] == "withheld"]


def _hashes_body(serial: str) -> dict[str, Any]:
    return {"credential": serial, "hash_algorithm": "sha256",
            "hashes": [base64.b64encode(hashlib.sha256(b"x").digest()).decode()]}


@pytest.mark.parametrize("change", ["revoke", "hold"])
def test_revoked_while_signing_is_withheld(client: Any, services: Any, signing: dict[str, Any],  # noqa: F811
                                           monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """The certificate was good at the pre-sign check; it is revoked (or held) while the HSM
    signs: the signature made is not returned, not recorded, and the refusal is audited."""
    keystore = services.keystore
    real = keystore.sign_digests

    def revoked_meanwhile(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        if change == "revoke":
            issuance.revoke(services.sessions, STAFF, signing["seal"], "key_compromise")
        else:
            issuance.hold(services.sessions, STAFF, signing["seal"])
        return out

    before = _records(services)
    monkeypatch.setattr(keystore, "sign_digests", revoked_meanwhile)
    r = client.post("/api/v1/sign/hashes", headers=H(signing["keys"]["eoffice"]), json=_hashes_body(signing["seal"]))
    assert r.status_code == 409, r.get_json()
    body = r.get_json()
    assert body["code"] == "certificate-not-valid" and body["withheld"] is True
    assert body["status"] == ("revoked" if change == "revoke" else "on-hold")
    assert "signatures" not in body
    assert _records(services) == before
    withheld = _withheld(services)
    assert len(withheld) == 1 and withheld[0]["action"] == "sign.hashes"
    assert withheld[0]["details"]["reason"] == "certificate-not-valid"
    assert withheld[0]["details"]["agency"] == AGENCY


def test_revoked_while_signing_a_pdf_with_a_personal_key(
        client: Any, services: Any, signing: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from signer import pades
    from tests.signing.documents import letter_pdf

    real = pades.sign

    def revoked_meanwhile(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        issuance.revoke(services.sessions, STAFF, signing["personal"], "superseded")
        return out

    monkeypatch.setattr(pades, "sign", revoked_meanwhile)
    before = _records(services)
    r = client.post(f"/api/v1/sign/pdf?credential={signing['personal']}&level=B-B", data=letter_pdf(),
                    headers=H(signing["keys"]["eoffice"], **{"X-Kyso-Consent": PIN,
                                                             "Content-Type": "application/pdf"}))
    assert r.status_code == 409 and r.get_json()["code"] == "certificate-not-valid", r.get_json()
    assert r.mimetype == "application/problem+json"
    assert _records(services) == before
    assert [w["action"] for w in _withheld(services)] == ["sign.pdf"]


def test_concurrent_revocation_never_follows_a_recorded_signature(
        services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    """A revocation in progress (its transaction open, the row changed) when the signature is
    recorded: the recording waits for it and withholds. Without the re-check the signature
    was recorded after the revocation committed."""
    from signer import credentials
    from signer.credentials import SignatureWithheld

    caller = Caller(user_id=_user_id(services, "eoffice"), name="eoffice", role=Role.CLIENT)
    credential = credentials.resolve(services.sessions, caller, signing["seal"])
    scheme = credentials.choose_scheme(services.settings, credential)
    in_revocation, go_on = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def hold_open(_session: Any, _row: Any) -> None:
        in_revocation.set()
        assert go_on.wait(30)

    def revoke() -> None:
        issuance.revoke(services.sessions, STAFF, signing["seal"], "key_compromise", on_change=hold_open)

    def record() -> None:
        try:
            outcome["id"] = credentials.record(services.sessions, caller, credential, fmt="hashes", level="raw",
                                               scheme=scheme, digest_alg="sha256", digest=b"\0" * 32)
        except SignatureWithheld as exc:
            outcome["error"] = exc
        outcome["done_at"] = time.monotonic()

    revoker = threading.Thread(target=revoke)
    revoker.start()
    assert in_revocation.wait(30)
    signer = threading.Thread(target=record)
    signer.start()
    signer.join(0.5)
    assert signer.is_alive(), "the record must wait for the revocation in progress"
    released_at = time.monotonic()
    go_on.set()
    revoker.join(30)
    signer.join(30)
    assert "id" not in outcome and isinstance(outcome.get("error"), SignatureWithheld)
    assert outcome["done_at"] >= released_at
    assert len(_withheld(services)) == 1


def test_revocation_waits_for_a_signature_being_recorded(services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    """The other order: a signature recorded while a revocation starts. The revocation waits
    for the share lock, so the record and audit entry precede the revocation's."""
    from signer import credentials

    caller = Caller(user_id=_user_id(services, "eoffice"), name="eoffice", role=Role.CLIENT)
    credential = credentials.resolve(services.sessions, caller, signing["seal"])
    scheme = credentials.choose_scheme(services.settings, credential)
    in_record, go_on = threading.Event(), threading.Event()

    def hold_open(_session: Any, _sig_id: str) -> None:
        in_record.set()
        assert go_on.wait(30)

    sig: dict[str, str] = {}

    def record() -> None:
        sig["id"] = credentials.record(services.sessions, caller, credential, fmt="hashes", level="raw",
                                       scheme=scheme, digest_alg="sha256", digest=b"\0" * 32, also=hold_open)

    signer = threading.Thread(target=record)
    signer.start()
    assert in_record.wait(30)
    revoker = threading.Thread(
        target=lambda: issuance.revoke(services.sessions, STAFF, signing["seal"], "key_compromise"))
    revoker.start()
    revoker.join(0.5)
    assert revoker.is_alive(), "the revocation must wait for the signature being recorded"
    go_on.set()
    signer.join(30)
    revoker.join(30)
    assert sig["id"]
    with transaction(services.sessions) as session:
        order = [r["action"] for r in audit.export(session, None) if r["action"] in ("sign.hashes", "cert.revoke")]
    assert order == ["sign.hashes", "cert.revoke"]


def _user_id(services: Any, name: str) -> int:
    from kyso.callers import User

    with transaction(services.sessions) as session:
        return int(session.execute(select(User.id).where(User.name == name)).scalar_one())
