"""The signing pipeline (signer.signing, issue 15 item 2): every entry point goes through it,
a signature costs a known number of transactions, and a format step cannot use a key beyond
its own step nor sign with a second credential without a record."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from kyso import audit
from kyso.callers import Caller, Role
from kyso.db import read_transaction, transaction
from signer import signing as pipeline
from tests.signing.conftest import PIN, H, signing  # noqa: F401 - the signing world fixture

pytestmark = pytest.mark.both_databases


@contextmanager
def counted(services: Any) -> Iterator[dict[str, int]]:
    """Transactions begun on the service's engine meanwhile, read and write."""
    counts = {"read": 0, "write": 0}

    def begin(conn: Any) -> None:
        counts["read" if conn.get_execution_options().get("kyso_readonly") else "write"] += 1

    event.listen(services.engine, "begin", begin)
    try:
        yield counts
    finally:
        event.remove(services.engine, "begin", begin)


def _records(services: Any) -> int:
    from signer.credentials import SignatureRecord

    with read_transaction(services.sessions) as session:
        return int(session.execute(select(func.count()).select_from(SignatureRecord)).scalar_one())


def _digest_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _caller(services: Any) -> Caller:
    with read_transaction(services.sessions) as session:
        from kyso.callers import User

        user = session.execute(select(User).where(User.name == "eoffice")).scalar_one()
        return Caller(user.id, user.name, Role(user.role), "")


@pytest.mark.parametrize(("what", "writes"), [("cms-seal", 1), ("hashes-seal", 1), ("pdf-seal", 1),
                                              ("cms-personal", 2)])
def test_a_signature_costs_authentication_and_its_writes(client: Any, services: Any,
                                                         signing: dict[str, Any],  # noqa: F811
                                                         what: str, writes: int) -> None:
    """A seal's B-B signature: authentication (a read) and one write transaction, the one
    that records it; a personal key's adds the consent's own, which commits before the key is
    used. Everything else the request does is read in read transactions."""
    key = signing["keys"]["eoffice"]
    cred = signing["personal" if what.endswith("personal") else "seal"]
    headers = H(key, **({"X-Kyso-Consent": PIN} if what.endswith("personal") else {}))
    client.post(f"/api/v1/sign/cms?credential={cred}", data=b"warm", headers=headers)  # caches, first use
    with counted(services) as counts:
        if what.startswith("cms"):
            r = client.post(f"/api/v1/sign/cms?credential={cred}", data=b"a letter", headers=headers)
        elif what.startswith("hashes"):
            r = client.post("/api/v1/sign/hashes", headers=headers,
                            json={"credential": cred, "hashes": [_digest_b64(b"a"), _digest_b64(b"b")]})
        else:
            from tests.signing.documents import letter_pdf

            r = client.post(f"/api/v1/sign/pdf?credential={cred}&level=B-B&appearance=none", data=letter_pdf(),
                            headers={**headers, "Content-Type": "application/pdf"})
    assert r.status_code == 200, r.get_json()
    assert counts["write"] == writes, counts


def test_csc_sign_hash_consumes_its_sad_with_the_record(client: Any, services: Any,
                                                        signing: dict[str, Any]) -> None:  # noqa: F811
    key = signing["keys"]["eoffice"]
    auth = client.post("/csc/v1/credentials/authorize", headers=H(key),
                       json={"credentialID": signing["seal"], "numSignatures": 1})
    assert auth.status_code == 200, auth.get_json()
    body = {"credentialID": signing["seal"], "SAD": auth.get_json()["SAD"],
            "hash": [_digest_b64(b"x")], "hashAlgo": "2.16.840.1.101.3.4.2.1",
            "signAlgo": "1.2.840.113549.1.1.11"}
    with counted(services) as counts:
        r = client.post("/csc/v1/signatures/signHash", headers=H(key), json=body)
    assert r.status_code == 200, r.get_json()
    assert counts["write"] == 1, counts
    again = client.post("/csc/v1/signatures/signHash", headers=H(key), json=body)
    assert again.status_code == 400 and again.get_json()["code"] == "invalid-sad"


def test_a_sad_used_up_while_signing_withholds_the_signature(client: Any, services: Any,
                                                             signing: dict[str, Any]) -> None:  # noqa: F811
    """Two requests with a one-signature SAD: the one that records second has its signature
    withheld (the SAD is consumed in the recording transaction, under the row's lock)."""
    key = signing["keys"]["eoffice"]
    sad = client.post("/csc/v1/credentials/authorize", headers=H(key),
                      json={"credentialID": signing["seal"], "numSignatures": 1}).get_json()["SAD"]
    digest = _digest_b64(b"y")
    body = {"credentialID": signing["seal"], "SAD": sad, "hash": [digest],
            "hashAlgo": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.11"}
    req = pipeline.SignRequest(_caller(services), signing["seal"], "csc.signHash",
                              activation=pipeline.Activation(sad, (digest,)))
    before = _records(services)

    def make(grant: pipeline.Grant) -> pipeline.Made[list[bytes]]:
        # Meanwhile another request with the same SAD signs and records first.
        assert client.post("/csc/v1/signatures/signHash", headers=H(key), json=body).status_code == 200
        digests = [base64.b64decode(digest)]
        return pipeline.Made(grant.key.sign_digests(digests), fmt="csc", level="raw", digest_alg="sha256",
                            digest=pipeline.batch_digest("sha256", digests))

    from signer.activation import InvalidSad

    with pytest.raises(InvalidSad):
        pipeline.sign(services.sessions, services.keystore, services.settings, req, make)
    assert _records(services) == before + 1  # the other request's only
    with transaction(services.sessions) as session:
        withheld = [r for r in audit.export(session, None) if r["outcome"] == "withheld"]
    assert [w["details"]["reason"] for w in withheld] == ["invalid-sad"]


def test_a_key_is_closed_when_its_step_returns(services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    kept: list[pipeline.SigningKey] = []

    def make(grant: pipeline.Grant) -> pipeline.Made[bytes]:
        kept.append(grant.key)
        digest = hashlib.sha256(b"z").digest()
        return pipeline.Made(grant.key.sign_digests([digest])[0], fmt="hashes", level="raw", digest_alg="sha256",
                            digest=digest)

    req = pipeline.SignRequest(_caller(services), signing["seal"], "sign.hashes")
    done = pipeline.sign(services.sessions, services.keystore, services.settings, req, make)
    assert done.signature_id and kept[0].uses == 1
    with pytest.raises(pipeline.KeyClosed):
        kept[0].sign(b"later")


def test_a_co_signature_without_its_record_is_refused(services: Any,
                                                      signing: dict[str, Any]) -> None:  # noqa: F811
    """A step that signs with a second credential must return that signature's record: a
    step that does not is a bug, and nothing is recorded or returned."""
    from signer import credentials

    caller = _caller(services)
    seal = credentials.resolve(services.sessions, caller, signing["seal"])
    before = _records(services)

    def make(grant: pipeline.Grant) -> pipeline.Made[bytes]:
        other = grant.co_grant(seal, grant.scheme)
        other.key.sign(b"unrecorded")
        digest = hashlib.sha256(b"w").digest()
        return pipeline.Made(b"", fmt="hashes", level="raw", digest_alg="sha256", digest=digest)

    req = pipeline.SignRequest(caller, signing["seal"], "sign.hashes")
    with pytest.raises(pipeline.KeyClosed):
        pipeline.sign(services.sessions, services.keystore, services.settings, req, make)
    assert _records(services) == before
