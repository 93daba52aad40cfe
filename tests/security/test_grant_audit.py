"""Item 17 of issue 13: consent given, CSC credentials/authorize (a SAD good for up to 1,000
signatures) and TSA tokens left no audit record. Now consent given is audited (with what it
was for), every SAD is audited (by a reference, never the SAD or the PIN), and time-stamp
tokens are audited in aggregate per period (the TSA is public: a record per token would let
anyone grow the trail), with a digest binding the token table to the chain."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

from asn1crypto import algos, tsp

from kyso import audit
from kyso.db import read_transaction
from tests.signing.conftest import PIN, H, signing  # noqa: F401  (fixture)


def _records(services: Any, action: str) -> list[dict[str, Any]]:
    with read_transaction(services.sessions) as session:
        return [r for r in audit.export(session) if r["action"] == action]


def test_consent_given_is_audited_without_the_pin(client: Any, services: Any,
                                                  signing: dict[str, Any]) -> None:  # noqa: F811
    body = {"credential": f"official:{signing['official_id']}", "hash_algorithm": "sha256",
            "hashes": [base64.b64encode(hashlib.sha256(b"x").digest()).decode()]}
    r = client.post("/api/v1/sign/hashes", json=body,
                    headers=H(signing["keys"]["eoffice"], **{"X-Kyso-Consent": PIN}))
    assert r.status_code == 200, r.get_json()
    given = _records(services, "consent.given")
    assert len(given) == 1
    rec = given[0]
    assert rec["actor"] == "user:eoffice" and rec["target"] == f"official:{signing['official_id']}"
    assert rec["details"]["method"] == "pin" and rec["details"]["credential"] == signing["personal"]
    assert PIN not in json.dumps(rec)


def test_csc_authorize_audits_the_sad_never_its_value(client: Any, services: Any,
                                                      signing: dict[str, Any]) -> None:  # noqa: F811
    key = H(signing["keys"]["eoffice"])
    r = client.post("/csc/v1/credentials/authorize", headers=key,
                    json={"credentialID": signing["personal"], "numSignatures": 1000, "PIN": PIN})
    assert r.status_code == 200, r.get_json()
    sad = r.get_json()["SAD"]
    grants = _records(services, "csc.authorize")
    assert len(grants) == 1
    g = grants[0]
    assert g["target"] == f"credential:{signing['personal']}" and g["actor"] == "user:eoffice"
    assert g["details"]["num_signatures"] == 1000 and g["details"]["personal"] is True
    assert g["details"]["sad_ref"] == hashlib.sha256(sad.encode()).hexdigest()[:16]
    dumped = json.dumps(_records(services, "csc.authorize") + _records(services, "consent.given"))
    assert sad not in dumped and PIN not in dumped
    assert [c["details"]["for"] for c in _records(services, "consent.given")] == ["csc.authorize"]
    # A seal needs no consent; its SAD is a grant all the same.
    r = client.post("/csc/v1/credentials/authorize", headers=key,
                    json={"credentialID": signing["seal"], "numSignatures": 5})
    assert r.status_code == 200
    assert [g["details"]["personal"] for g in _records(services, "csc.authorize")] == [True, False]


def _tsq(data: bytes) -> bytes:
    return bytes(tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                            "hashed_message": hashlib.sha256(data).digest()},
        "cert_req": True}).dump())


def test_tsa_tokens_are_audited_per_period(services: Any, ca: Any) -> None:
    from signer import tsa

    t0 = dt.datetime(2031, 5, 1, 9, 10, tzinfo=dt.UTC)
    for i in range(5):
        tsa.stamp(services.sessions, services.keystore, services.settings, _tsq(b"%d" % i),
                  now=t0 + dt.timedelta(minutes=i))
    assert _records(services, "tsa.tokens") == []  # nothing per token
    # The first token of the next period audits the five before it, once.
    for i in range(3):
        tsa.stamp(services.sessions, services.keystore, services.settings, _tsq(b"n%d" % i),
                  now=t0 + dt.timedelta(hours=1, minutes=i))
    [summary] = _records(services, "tsa.tokens")
    d = summary["details"]
    assert (d["tokens"], d["first_serial"], d["last_serial"]) == (5, 1, 5)
    assert d["until"].startswith("2031-05-01T10:00:00")
    with read_transaction(services.sessions) as session:
        assert tsa.tokens_digest(session, 1, 5) == d["sha256"]
    # Editing a token row afterwards no longer matches the audited digest.
    from sqlalchemy import text

    with services.engine.begin() as conn:
        conn.execute(text("UPDATE timestamp_tokens SET imprint_hex = :h WHERE serial = 3"), {"h": "00" * 32})
    with read_transaction(services.sessions) as session:
        assert tsa.tokens_digest(session, 1, 5) != d["sha256"]
    tsa.stamp(services.sessions, services.keystore, services.settings, _tsq(b"later"),
              now=t0 + dt.timedelta(hours=3))
    later = _records(services, "tsa.tokens")
    assert [r["details"]["tokens"] for r in later] == [5, 3]
    assert later[1]["details"]["first_serial"] == 6
