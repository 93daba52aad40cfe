"""The signing pipeline: every signature Kyso makes goes through ``sign`` (sign/cms,
sign/pdf, sign/hashes, CSC signHash, edXML packages, edXML status messages).

For one request it
1. resolves the credential the request names, for a caller bound to its agency, in a read
   transaction (a refusal is audited in its own);
2. takes the consent the credential needs: for a personal key the official's PIN or TOTP
   code, in its own write transaction that commits before the key is used (every wrong guess
   is counted, and a code cannot be replayed by requests in flight); or a CSC SAD, checked
   now and consumed in the recording transaction below;
3. chooses the signature scheme the policy allows for the key;
4. hands the format's step (CAdES, PAdES, hashes, XML) a ``Grant``: the credential, the scheme
   and a ``SigningKey`` bound to them, the step's only way to the credential's HSM key, closed
   when the step returns;
5. records the signature and its audit entry in one write transaction, after checking again,
   under share locks, that the certificate, the agency and the official are still good (with
   whatever the step asked to write beside them). Only then is the result returned: a
   credential that stopped being usable meanwhile, or a SAD used up meanwhile, withholds it.

A seal's signature therefore costs one write transaction after authentication (B-T and up
add the time-stamping authority's own, which issues a serial number per token); a personal
key's, two. Format steps never open transactions of their own for the signature's sake.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from hsm import KeyStore, SignatureScheme
from kyso.callers import Caller
from kyso.db import read_transaction, utcnow
from kyso.settings import Settings
from signer import consent, credentials
from signer.activation import InvalidSad, SignatureActivation, sad_digest
from signer.credentials import Credential
from signer.settings import SigningSettings

T = TypeVar("T")


class KeyClosed(RuntimeError):
    """A format step used its key after the step returned: a bug, never the caller's fault."""


class SigningKey:
    """The credential's HSM key with the request's scheme, for the duration of one format
    step. ``uses`` counts the signature operations, for the record."""

    def __init__(self, keystore: KeyStore, credential: Credential, scheme: SignatureScheme) -> None:
        self._keystore = keystore
        self._label = credential.key_label
        self.scheme = scheme
        self.uses = 0
        self._open = True

    def _check(self) -> None:
        if not self._open:
            raise KeyClosed("a signing key was used after its step ended")

    def sign(self, data: bytes) -> bytes:
        """The signature of ``data`` (hashed by the token with the scheme's digest)."""
        self._check()
        self.uses += 1
        return self._keystore.sign(self._label, data, self.scheme)

    def sign_digests(self, digests: Sequence[bytes]) -> list[bytes]:
        """Signatures of precomputed digests of the scheme's hash, in order."""
        self._check()
        self.uses += len(digests)
        return self._keystore.sign_digests(self._label, list(digests), self.scheme)

    def close(self) -> None:
        self._open = False


@dataclass(frozen=True)
class Activation:
    """A CSC SAD (signature activation data) presented with signatures/signHash, and the
    base64 digests it is to sign (compared with those the SAD was pinned to, if any)."""

    sad: str
    hashes: tuple[str, ...]


@dataclass(frozen=True)
class SignRequest:
    """Who asks, with which credential, for what (the audit action, e.g. ``sign.pdf``)."""

    caller: Caller
    credential: str  # a certificate serial, agency:<code> or official:<id>
    purpose: str
    consent: str | None = None  # the official's PIN or TOTP code, for a personal key
    activation: Activation | None = None  # instead of ``consent``: a CSC SAD
    scheme: str | None = None  # requested scheme or family; the policy's first allowed one otherwise
    digest: str | None = None  # a fixed digest algorithm (hash batches)
    request_id: str = ""


@dataclass(frozen=True)
class Grant:
    """What a format step gets: the credential, the scheme and the key bound to both.

    ``co_grant`` hands out the key of another credential already authorised for this
    request (the PDFs an edXML package carries, signed by the leader before the agency seals
    the package); each signature made with it must come back as a ``CoSigned`` of the step's
    result, recorded in the same transaction as the request's own."""

    credential: Credential
    scheme: SignatureScheme
    key: SigningKey
    _keystore: KeyStore
    _co: list[tuple[Credential, SigningKey]] = field(default_factory=list)

    def co_grant(self, credential: Credential, scheme: SignatureScheme) -> Grant:
        key = SigningKey(self._keystore, credential, scheme)
        self._co.append((credential, key))
        return Grant(credential, scheme, key, self._keystore, self._co)


@dataclass(frozen=True)
class CoSigned:
    """A signature made with a ``Grant.co_grant`` key, and what its record says."""

    credential: Credential
    scheme: SignatureScheme
    fmt: str
    level: str
    digest_alg: str
    digest: bytes
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass
class Made(Generic[T]):
    """What a format step made, and what its record says: the format (``cms``, ``pdf``...),
    the level, the digest of what was signed, the number of signatures, details for the
    audit entry. ``also`` writes what belongs with the signature in the recording
    transaction (given the session and the signature id); ``discard`` releases the output
    (a temporary file) when it is not returned."""

    output: T
    fmt: str
    level: str
    digest_alg: str
    digest: bytes
    count: int = 1
    details: Mapping[str, object] = field(default_factory=dict)
    also: Callable[[Session, str], object] | None = None
    discard: Callable[[], object] | None = None
    co_signed: Sequence[CoSigned] = ()


@dataclass(frozen=True)
class Signed(Generic[T]):
    """The result, returned only after its record and audit entry committed."""

    output: T
    signature_id: str
    credential: Credential
    scheme: SignatureScheme
    digest_alg: str
    digest: bytes


def authorise(factory: sessionmaker[Session], settings: Settings,
              req: SignRequest) -> tuple[Credential, SignatureScheme]:
    """Steps 1 and 3: the credential, after the pre-sign checks, and the scheme (chosen before
    the consent is taken, so that a scheme the policy refuses costs no TOTP code)."""
    credential = credentials.resolve(factory, req.caller, req.credential, action=req.purpose,
                                     request_id=req.request_id)
    return credential, credentials.choose_scheme(settings, credential, req.scheme, digest=req.digest)


def authorise_co_signer(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings,
                        req: SignRequest) -> Credential:
    """A second credential for a request (the leader's key for the PDFs an edXML package
    carries, used through ``Grant.co_grant``): the pre-sign checks and, for a personal key,
    the official's consent, taken before the request's own."""
    credential, _scheme = authorise(factory, settings, req)
    consent.check_consent(factory, keystore, settings, req.caller, credential, req.consent,
                          request_id=req.request_id, purpose=req.purpose)
    return credential


def document_limit(settings: Settings) -> int:
    """The largest request body a signature request takes: the largest document, plus room
    for multipart framing."""
    return int(settings.section(SigningSettings).max_document_bytes) + 1024 * 1024


def sign(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, req: SignRequest,
         make: Callable[[Grant], Made[T]], *,
         authorised: tuple[Credential, SignatureScheme] | None = None) -> Signed[T]:
    """One signature request, from the credential to its committed record (module doc).
    ``authorised``: the credential and scheme from ``authorise``, when the caller needed
    them before making its input (a CSC request's scheme comes from its OIDs). The consent
    step is always this function's own."""
    credential, scheme = authorised or authorise(factory, settings, req)
    if req.activation is not None:
        check_activation(factory, req, credential)
    else:
        consent.check_consent(factory, keystore, settings, req.caller, credential, req.consent,
                                  request_id=req.request_id, purpose=req.purpose)
    grant = Grant(credential, scheme, SigningKey(keystore, credential, scheme), keystore)
    try:
        made = make(grant)
    finally:
        for key in (grant.key, *(k for _c, k in grant._co)):
            key.close()
    try:
        _check_co_signed(grant, made)
        sig_id = credentials.record(
            factory, req.caller, credential, fmt=made.fmt, level=made.level, scheme=scheme,
            digest_alg=made.digest_alg, digest=made.digest, count=made.count, request_id=req.request_id,
            details=dict(made.details), also=_also(req, credential, made))
    except InvalidSad as exc:  # used up by a request that recorded first: this signature is withheld
        if made.discard is not None:
            made.discard()
        credentials.withhold(factory, req.caller, credential, exc, fmt=made.fmt, digest_alg=made.digest_alg,
                             digest=made.digest, request_id=req.request_id)
        raise
    except BaseException:
        if made.discard is not None:
            made.discard()
        raise
    return Signed(made.output, sig_id, credential, scheme, made.digest_alg, made.digest)


def check_activation(factory: sessionmaker[Session], req: SignRequest, credential: Credential) -> None:
    """A SAD that could be used now (read only: it is consumed with the record)."""
    with read_transaction(factory) as session:
        _activation_row(session, req, credential)


def _activation_row(session: Session, req: SignRequest, credential: Credential,
                    lock: bool = False) -> SignatureActivation:
    act = req.activation
    assert act is not None
    row = session.get(SignatureActivation, sad_digest(act.sad), with_for_update=lock or None)
    if (row is None or row.certificate_id != credential.certificate_id or row.user_id != req.caller.user_id
            or row.expires_at <= utcnow() or row.remaining < len(act.hashes)):
        raise InvalidSad()
    if row.hashes is not None and sorted(json.loads(row.hashes)) != sorted(act.hashes):
        raise InvalidSad()
    return row


def _check_co_signed(grant: Grant, made: Made[T]) -> None:
    """Every co-granted key that signed has its signatures in ``made.co_signed``."""
    recorded: dict[int, int] = {}
    for co in made.co_signed:
        recorded[co.credential.certificate_id] = recorded.get(co.credential.certificate_id, 0) + 1
    for credential, key in grant._co:
        if key.uses and not recorded.get(credential.certificate_id):
            raise KeyClosed(f"credential {credential.serial_hex} signed without a record")


def _also(req: SignRequest, credential: Credential, made: Made[T]) -> Callable[[Session, str], object] | None:
    """What the recording transaction writes besides the request's own record: the records of
    co-signed signatures (every certificate checked, under share locks, before any write), the
    step's own writes and, for a CSC request, the SAD's consumption, under the row's lock, so
    that two requests racing with one SAD cannot both have their signatures returned (the
    second is withheld: InvalidSad rolls its record back)."""
    if req.activation is None and not made.co_signed:
        return made.also
    act = req.activation

    def also(session: Session, sig_id: str) -> None:
        if act is not None:
            row = _activation_row(session, req, credential, lock=True)
            row.remaining -= len(act.hashes)
            if row.remaining == 0:
                session.delete(row)
        for co in made.co_signed:
            credentials.recheck(session, co.credential)
        for co in made.co_signed:
            credentials.add_record(session, req.caller, co.credential, uuid.uuid4().hex, fmt=co.fmt, level=co.level,
                                   scheme=co.scheme, digest_alg=co.digest_alg, digest=co.digest,
                                   request_id=req.request_id, details=dict(co.details))
        if made.also is not None:
            made.also(session, sig_id)

    return also


def batch_digest(alg: str, digests: Sequence[bytes]) -> bytes:
    """What a batch of hashes is recorded under: the digest of their concatenation."""
    return hashlib.new(alg, b"".join(digests)).digest()
