"""A narrow key store over PKCS#11 (python-pkcs11).

Five verbs: generate a key pair, find a key, get its public key, sign, list (plus delete,
used only to roll back a half-made CA). Callers see labels, ``KeyInfo`` and DER public
keys, never sessions.

Process model (see shared/MEASURED.md): python-pkcs11 calls ``C_Initialize(NULL)``, so the
module runs without OS locking and two threads inside it at once crash SoftHSM2. Every call
into the module is therefore serialised by one process-wide lock, and throughput comes from
worker processes. The session is opened lazily in the process that uses it (after gunicorn
forks), reused, dropped and reopened when it breaks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import pkcs11
from asn1crypto import algos, keys
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11e
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_named_curve_parameters,
)
from pkcs11.util.rsa import encode_rsa_public_key

from hsm.errors import (
    HsmModuleMissing,
    HsmPinIncorrect,
    HsmUnavailable,
    KeyAlreadyExists,
    KeyNotFound,
    UnsupportedAlgorithm,
)
from hsm.messages import HSM_TOKEN_NOT_PRESENT

log = logging.getLogger("kyso.hsm")

T = TypeVar("T")

# One lock per process for every call into any PKCS#11 module (see module docstring).
_MODULE_LOCK = threading.RLock()
# pid in which each module path was C_Initialize'd; a child must initialise again.
_INITIALISED_IN: dict[str, int] = {}
# Digest of the PIN each (module, token) was logged in with in this process.
_LOGGED_IN: dict[tuple[str, str], bytes] = {}
# Bumped whenever a module is (re)initialised in this process. Session and object handles
# are small integers that a module hands out again after C_Initialize, so a handle kept
# from an older generation could name another store's session or another key: every store
# checks the generation before it uses what it kept.
_GENERATION: dict[str, int] = {}


def _restart_module(module: str, lib: Any) -> None:
    _GENERATION[module] = _GENERATION.get(module, 0) + 1
    for key in [k for k in _LOGGED_IN if k[0] == module]:
        del _LOGGED_IN[key]
    try:
        lib.reinitialize()
    except p11e.PKCS11Error:
        try:
            lib.initialize()
        except p11e.PKCS11Error:
            pass


def _reset_after_fork() -> None:
    global _MODULE_LOCK
    _MODULE_LOCK = threading.RLock()


os.register_at_fork(after_in_child=_reset_after_fork)

# Errors after which the session (or the whole module state) is presumed broken.
_BROKEN = (
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.DeviceRemoved,
    p11e.DeviceError,
    p11e.TokenNotPresent,
    p11e.TokenNotRecognised,
    p11e.GeneralError,
    p11e.UserNotLoggedIn,
    p11e.ObjectHandleInvalid,
    p11e.KeyHandleInvalid,
    p11e.NoSuchToken,
    p11e.FunctionFailed,
)

_CURVES = {"p256": ("secp256r1", 256), "p384": ("secp384r1", 384), "p521": ("secp521r1", 521)}
_RSA_SIZES = (2048, 3072, 4096)


@dataclass(frozen=True)
class KeySpec:
    """A key type: ``rsa-2048|3072|4096`` or ``ec-p256|p384``."""

    algorithm: str  # "rsa" or "ec"
    size: int
    curve: str | None = None

    @classmethod
    def parse(cls, text: str) -> KeySpec:
        kind, _, param = text.strip().lower().partition("-")
        if kind == "rsa" and param.isdigit() and int(param) in _RSA_SIZES:
            return cls("rsa", int(param))
        if kind == "ec" and param in _CURVES:
            return cls("ec", _CURVES[param][1], param)
        raise UnsupportedAlgorithm(text)

    def __str__(self) -> str:
        return f"ec-{self.curve}" if self.algorithm == "ec" else f"rsa-{self.size}"


class SignatureScheme(StrEnum):
    RSA_PKCS1_SHA256 = "rsa-pkcs1-sha256"
    RSA_PKCS1_SHA384 = "rsa-pkcs1-sha384"
    RSA_PKCS1_SHA512 = "rsa-pkcs1-sha512"
    RSA_PSS_SHA256 = "rsa-pss-sha256"
    RSA_PSS_SHA384 = "rsa-pss-sha384"
    RSA_PSS_SHA512 = "rsa-pss-sha512"
    ECDSA_SHA256 = "ecdsa-sha256"
    ECDSA_SHA384 = "ecdsa-sha384"
    ECDSA_SHA512 = "ecdsa-sha512"

    @property
    def family(self) -> str:
        return self.value.rsplit("-", 1)[0]

    @property
    def hash_name(self) -> str:
        return self.value.rsplit("-", 1)[1]

    @property
    def key_algorithm(self) -> str:
        return "ec" if self.family == "ecdsa" else "rsa"

    def signature_algorithm(self) -> algos.SignedDigestAlgorithm:
        """The X.509/CMS AlgorithmIdentifier for signatures made with this scheme."""
        h = self.hash_name
        if self.family == "rsa-pkcs1":
            return algos.SignedDigestAlgorithm({"algorithm": f"{h}_rsa"})
        if self.family == "ecdsa":
            return algos.SignedDigestAlgorithm({"algorithm": f"{h}_ecdsa"})
        return algos.SignedDigestAlgorithm(
            {
                "algorithm": "rsassa_pss",
                "parameters": algos.RSASSAPSSParams(
                    {
                        "hash_algorithm": {"algorithm": h},
                        "mask_gen_algorithm": {
                            "algorithm": "mgf1",
                            "parameters": {"algorithm": h},
                        },
                        "salt_length": hashlib.new(h).digest_size,
                    }
                ),
            }
        )


_P11_HASH = {
    "sha256": (Mechanism.SHA256, pkcs11.MGF.SHA256),
    "sha384": (Mechanism.SHA384, pkcs11.MGF.SHA384),
    "sha512": (Mechanism.SHA512, pkcs11.MGF.SHA512),
}
_MECH_DATA = {
    SignatureScheme.RSA_PKCS1_SHA256: Mechanism.SHA256_RSA_PKCS,
    SignatureScheme.RSA_PKCS1_SHA384: Mechanism.SHA384_RSA_PKCS,
    SignatureScheme.RSA_PKCS1_SHA512: Mechanism.SHA512_RSA_PKCS,
    SignatureScheme.RSA_PSS_SHA256: Mechanism.SHA256_RSA_PKCS_PSS,
    SignatureScheme.RSA_PSS_SHA384: Mechanism.SHA384_RSA_PKCS_PSS,
    SignatureScheme.RSA_PSS_SHA512: Mechanism.SHA512_RSA_PKCS_PSS,
}
# ECDSA: the message is hashed here and the token gets CKM_ECDSA, because SoftHSM2 2.6 and
# many HSMs lack CKM_ECDSA_SHA256; the signature is the same.


@dataclass(frozen=True)
class _Plan:
    """Everything a signature scheme needs, worked out once (signing is a hot path)."""

    scheme: SignatureScheme
    family: str
    key_algorithm: str
    hash: Callable[..., Any]
    digest_size: int
    data_mech: Any
    data_param: Any
    digest_mech: Any
    digest_param: Any
    digest_info_prefix: bytes


def _make_plan(scheme: SignatureScheme) -> _Plan:
    h = scheme.hash_name
    size = hashlib.new(h).digest_size
    family = scheme.family
    prefix = b""
    data_param = digest_param = None
    if family == "rsa-pkcs1":
        # DigestInfo DER for an all-zero digest, minus the digest: the fixed prefix.
        info = algos.DigestInfo({"digest_algorithm": {"algorithm": h}, "digest": b"\0" * size}).dump()
        prefix = info[:-size]
        data_mech, digest_mech = _MECH_DATA[scheme], Mechanism.RSA_PKCS
    elif family == "rsa-pss":
        hm, mgf = _P11_HASH[h]
        data_param = digest_param = (hm, mgf, size)
        data_mech, digest_mech = _MECH_DATA[scheme], Mechanism.RSA_PKCS_PSS
    else:
        data_mech = digest_mech = Mechanism.ECDSA
    return _Plan(scheme, family, scheme.key_algorithm, getattr(hashlib, h), size, data_mech,
                 data_param, digest_mech, digest_param, prefix)


_PLANS: dict[str, _Plan] = {}


def _plan(scheme: SignatureScheme | str) -> _Plan:
    plan = _PLANS.get(scheme)
    if plan is None:
        try:
            plan = _PLANS[scheme] = _make_plan(SignatureScheme(scheme))
        except ValueError:
            raise UnsupportedAlgorithm(str(scheme)) from None
    return plan


def _der_int(value: bytes) -> bytes:
    value = value.lstrip(b"\0") or b"\0"
    if value[0] & 0x80:
        value = b"\0" + value
    return b"\x02" + _der_len(len(value)) + value


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_ecdsa(raw: bytes) -> bytes:
    """PKCS#11 ECDSA output (r || s) as the DER ECDSA-Sig-Value X.509 and CMS use."""
    half = len(raw) // 2
    body = _der_int(raw[:half]) + _der_int(raw[half:])
    return b"\x30" + _der_len(len(body)) + body


@dataclass(frozen=True)
class KeyInfo:
    label: str
    key_id: bytes
    spec: KeySpec
    public_key_der: bytes  # SubjectPublicKeyInfo

    @property
    def public_key(self) -> keys.PublicKeyInfo:
        return keys.PublicKeyInfo.load(self.public_key_der)


def _spki_der(pub: Any) -> bytes:
    if pub.key_type == KeyType.RSA:
        rsa_pub = keys.RSAPublicKey.load(encode_rsa_public_key(pub))
        return bytes(
            keys.PublicKeyInfo({"algorithm": {"algorithm": "rsa"}, "public_key": rsa_pub}).dump()
        )
    if pub.key_type == KeyType.EC:
        return bytes(encode_ec_public_key(pub))
    raise UnsupportedAlgorithm(str(pub.key_type))


def _spec_of(spki_der: bytes) -> KeySpec:
    info = keys.PublicKeyInfo.load(spki_der)
    if info.algorithm == "rsa":
        return KeySpec("rsa", info.bit_size)
    curve = info.curve[1]
    short = {"secp256r1": "p256", "secp384r1": "p384", "secp521r1": "p521"}.get(curve, curve)
    return KeySpec("ec", info.bit_size, short)


class KeyStore:
    """Keys in one PKCS#11 token, addressed by label."""

    def __init__(
        self,
        module: str,
        token_label: str,
        pin: str,
        *,
        open_retries: int = 3,
    ) -> None:
        self.module = module
        self.token_label = token_label
        self._pin = pin
        self._open_retries = max(1, open_retries)
        self._session: Any = None
        self._pid: int | None = None
        self._generation = -1
        self._pin_refused = False
        self._last_probe_restart = 0.0
        # label -> (private key object, 'rsa' | 'ec'), valid for this session only
        self._private: dict[str, tuple[Any, str]] = {}

    def __repr__(self) -> str:  # never show the PIN
        return f"KeyStore(module={self.module!r}, token={self.token_label!r})"

    def _pin_digest(self) -> bytes:
        return hashlib.sha256(self._pin.encode("utf-8")).digest()

    # -- session management -------------------------------------------------

    def _lib(self) -> Any:
        if not Path(self.module).is_file():
            raise HsmModuleMissing(self.module)
        try:
            lib = pkcs11.lib(self.module)
        except p11e.PKCS11Error as exc:
            if type(exc) is p11e.PKCS11Error:  # dlopen failed: not a loadable module
                raise HsmModuleMissing(self.module) from exc
            # The module loaded but C_Initialize failed (a CKR_* subclass): SoftHSM2 does so
            # when its token directory is gone, a network HSM when it cannot be reached.
            raise HsmUnavailable(log_detail=f"C_Initialize: {type(exc).__name__}") from exc
        pid = os.getpid()
        if _INITIALISED_IN.setdefault(self.module, pid) != pid:
            # Loaded before a fork: PKCS#11 requires the child to initialise again.
            _LOGGED_IN.clear()
            _restart_module(self.module, lib)
            _INITIALISED_IN[self.module] = pid
        return lib

    def _open(self) -> Any:
        if self._pin_refused:
            raise HsmPinIncorrect()
        lib = self._lib()
        last: Exception | None = None
        for attempt in range(self._open_retries):
            try:
                token = lib.get_token(token_label=self.token_label)
                try:
                    session = token.open(user_pin=self._pin, rw=True)
                except p11e.UserAlreadyLoggedIn:
                    # Login state is per process and token: another store here logged in.
                    # Join it only with the PIN that store used.
                    known = _LOGGED_IN.get((self.module, self.token_label), b"")
                    if not hmac.compare_digest(known, self._pin_digest()):
                        self._pin_refused = True
                        raise HsmPinIncorrect() from None
                    return token.open(rw=True)
                _LOGGED_IN[(self.module, self.token_label)] = self._pin_digest()
                return session
            except (p11e.PinIncorrect, p11e.PinLocked, p11e.PinInvalid, p11e.PinLenRange) as exc:
                # Never try a refused PIN again: retries would lock the user PIN of a real HSM.
                self._pin_refused = True
                raise HsmPinIncorrect() from exc
            except p11e.PKCS11Error as exc:
                # A removed token shows as NoSuchToken or GeneralError, and SoftHSM2 (like other
                # modules) learns of a returned token only at C_Initialize: start the module
                # afresh. Measured too: two processes opening at once can get GeneralError.
                last = exc
                time.sleep(0.02 * attempt)
                self._reinitialise(lib)
        raise HsmUnavailable(
            HSM_TOKEN_NOT_PRESENT.format(token_label=self.token_label),
            log_detail=type(last).__name__ if last else None,
        )

    def _reinitialise(self, lib: Any) -> None:
        _restart_module(self.module, lib)

    def _handles_current(self) -> bool:
        return self._pid == os.getpid() and self._generation == _GENERATION.get(self.module, 0)

    def _ensure(self) -> Any:
        if self._session is not None and not self._handles_current():
            # Inherited across a fork, or the module was restarted: the handles we kept
            # mean nothing now (or something else). Forget them; never close them.
            self._session = None
            self._private.clear()
        if self._session is None:
            session = self._open()
            self._session = session
            self._pid = os.getpid()
            self._generation = _GENERATION.get(self.module, 0)
        return self._session

    def _drop(self) -> None:
        session, self._session = self._session, None
        self._private.clear()
        if session is not None and self._handles_current():
            try:
                session.close()
            except Exception:  # noqa: BLE001, S110 - the session is already broken
                pass

    def _call(self, op: Callable[[Any], T]) -> T:
        """Run ``op(session)`` under the module lock, reopening a broken session once."""
        with _MODULE_LOCK:
            for attempt in (0, 1):
                try:
                    return op(self._ensure())
                except _BROKEN as exc:
                    log.warning("hsm session broken (%s); reopening", type(exc).__name__)
                    self._drop()
                    if attempt == 1:
                        raise HsmUnavailable(log_detail=type(exc).__name__) from exc
                    # Start the module afresh: SoftHSM2 (like other modules) rescans its
                    # tokens only at C_Initialize, so a removed token is noticed (and a
                    # returned one found) only then.
                    self._reinitialise(self._lib())
            raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with _MODULE_LOCK:
            self._drop()

    # -- the verbs ------------------------------------------------------------

    def ping(self, probe_label: str | None = None) -> dict[str, str]:
        """Check the token answers; returns a little public information about it.

        With ``probe_label``, also sign a few bytes with that key: SoftHSM2 answers searches,
        attribute reads and random numbers from memory even after its token is gone, and
        only a key operation proves the key is usable.
        """

        def op(session: Any) -> dict[str, str]:
            session.generate_random(64)
            if probe_label is not None:
                priv, algorithm = self._required_private(session, probe_label)
                mech = Mechanism.ECDSA if algorithm == "ec" else Mechanism.SHA256_RSA_PKCS
                priv.sign(b"\0" * 32, mechanism=mech)
            token = session.token
            return {"label": token.label, "manufacturer": token.manufacturer_id, "model": token.model}

        return self._call(op)

    def check_present(self, probe_label: str | None = None) -> dict[str, str]:
        """``ping`` after starting the module afresh: SoftHSM2 keeps answering from memory for
        a token that is gone, and learns of one that came back only at C_Initialize. For
        ceremonies (is the root's own token connected?), never on a hot path: other stores of
        this process reopen their sessions afterwards."""
        with _MODULE_LOCK:
            self._drop()
            self._reinitialise(self._lib())
            return self.ping(probe_label)

    def generate_key_pair(self, label: str, spec: KeySpec | str) -> KeyInfo:
        """Generate a sensitive, non-extractable key pair inside the token."""
        if isinstance(spec, str):
            spec = KeySpec.parse(spec)
        key_id = secrets.token_bytes(16)
        private_template = {
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.PRIVATE: True,
            Attribute.SIGN: True,
            Attribute.DECRYPT: False,
            Attribute.UNWRAP: False,
            Attribute.DERIVE: False,
        }
        public_template = {Attribute.VERIFY: True, Attribute.ENCRYPT: False, Attribute.WRAP: False}
        caps = MechanismFlag.SIGN | MechanismFlag.VERIFY

        def op(session: Any) -> KeyInfo:
            if self._find_private(session, label) is not None:
                raise KeyAlreadyExists(label)
            if spec.algorithm == "rsa":
                pub, priv = session.generate_keypair(
                    KeyType.RSA, spec.size, id=key_id, label=label, store=True,
                    capabilities=caps, public_template=public_template,
                    private_template=private_template,
                )
            else:
                assert spec.curve is not None
                params = session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[spec.curve][0])},
                    local=True,
                )
                pub, priv = params.generate_keypair(
                    id=key_id, label=label, store=True, capabilities=caps,
                    public_template=public_template, private_template=private_template,
                )
            self._private[label] = (priv, spec.algorithm)
            return KeyInfo(label, key_id, spec, _spki_der(pub))

        return self._call(op)

    def find(self, label: str) -> KeyInfo:
        """The key pair with this label, or ``KeyNotFound``."""

        def op(session: Any) -> KeyInfo:
            priv = self._find_private(session, label)
            if priv is None:
                raise KeyNotFound(label)
            pub = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
            der = _spki_der(pub)
            return KeyInfo(label, bytes(priv[Attribute.ID]), _spec_of(der), der)

        try:
            return self._call(op)
        except p11e.NoSuchKey as exc:
            raise KeyNotFound(label) from exc

    def public_key(self, label: str) -> bytes:
        """The SubjectPublicKeyInfo (DER) of the key with this label."""
        return self.find(label).public_key_der

    def sign(self, label: str, data: bytes, scheme: SignatureScheme | str) -> bytes:
        """Sign ``data``. RSA hashes inside the token; ECDSA hashes here (SoftHSM2 2.6 and
        many HSMs lack CKM_ECDSA_SHA256) and comes back DER-encoded."""
        plan = _plan(scheme)
        if plan.family == "ecdsa":
            return self._sign_planned(label, plan.hash(data).digest(), plan, plan.digest_mech,
                                      None)
        return self._sign_planned(label, data, plan, plan.data_mech, plan.data_param)

    def sign_digest(self, label: str, digest: bytes, scheme: SignatureScheme | str) -> bytes:
        """Sign a digest computed elsewhere (hash batches, CSC signHash)."""
        plan = _plan(scheme)
        if len(digest) != plan.digest_size:
            raise UnsupportedAlgorithm(f"a {len(digest)}-byte digest for {plan.scheme.value}")
        payload = plan.digest_info_prefix + digest if plan.family == "rsa-pkcs1" else digest
        return self._sign_planned(label, payload, plan, plan.digest_mech, plan.digest_param)

    def sign_digests(self, label: str, digests: list[bytes], scheme: SignatureScheme | str) -> list[bytes]:
        """Sign many digests with one key under one hold of the module lock (hash batches):
        the key is looked up once and no other request interleaves."""
        plan = _plan(scheme)
        for digest in digests:
            if len(digest) != plan.digest_size:
                raise UnsupportedAlgorithm(f"a {len(digest)}-byte digest for {plan.scheme.value}")
        prefix = plan.digest_info_prefix if plan.family == "rsa-pkcs1" else b""

        def op(session: Any) -> list[bytes]:
            priv, key_algorithm = self._required_private(session, label)
            if key_algorithm != plan.key_algorithm:
                raise UnsupportedAlgorithm(f"{plan.scheme.value} with the {key_algorithm} key '{label}'")
            out = []
            for digest in digests:
                raw = priv.sign(prefix + digest, mechanism=plan.digest_mech, mechanism_param=plan.digest_param)
                out.append(_der_ecdsa(raw) if plan.family == "ecdsa" else bytes(raw))
            return out

        return self._call(op)

    # -- secrets for one-time passwords (RFC 4226/6238): HMAC inside the token ----------------

    def import_hmac_secret(self, label: str, secret: bytes) -> None:
        """Store a sensitive, non-extractable HMAC secret (an official's TOTP seed): after
        this only the token can compute with it."""

        def op(session: Any) -> None:
            if list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label})):
                raise KeyAlreadyExists(label)
            session.create_object({
                Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE: secret, Attribute.TOKEN: True, Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
                Attribute.VERIFY: False, Attribute.ENCRYPT: False, Attribute.DECRYPT: False,
                Attribute.DERIVE: False, Attribute.LABEL: label,
            })

        self._call(op)

    def hmac_sha1(self, label: str, messages: list[bytes]) -> list[bytes]:
        """HMAC-SHA1 of each message with the secret ``label`` (TOTP checks a few steps)."""

        def op(session: Any) -> list[bytes]:
            try:
                key = session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
            except p11e.NoSuchKey as exc:
                raise KeyNotFound(label) from exc
            return [bytes(key.sign(m, mechanism=Mechanism.SHA_1_HMAC)) for m in messages]

        return self._call(op)

    def delete_secret(self, label: str) -> None:
        def op(session: Any) -> None:
            for obj in list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label})):
                obj.destroy()

        self._call(op)

    def _sign_planned(self, label: str, payload: bytes, plan: _Plan, mechanism: Any,
                      param: Any) -> bytes:
        def op(session: Any) -> bytes:
            priv, key_algorithm = self._required_private(session, label)
            if key_algorithm != plan.key_algorithm:
                raise UnsupportedAlgorithm(f"{plan.scheme.value} with the {key_algorithm} key '{label}'")
            try:
                raw = priv.sign(payload, mechanism=mechanism, mechanism_param=param)
            except (p11e.MechanismInvalid, p11e.KeyTypeInconsistent, p11e.FunctionNotSupported,
                    p11e.DataLenRange) as exc:
                raise UnsupportedAlgorithm(f"{plan.scheme.value} with key '{label}'") from exc
            return _der_ecdsa(raw) if plan.family == "ecdsa" else bytes(raw)

        return self._call(op)

    def list_keys(self) -> list[KeyInfo]:
        """Every private key in the token that has a public half, by label."""

        def op(session: Any) -> list[KeyInfo]:
            out = []
            for priv in list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})):
                label = priv.label
                try:
                    pub = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
                except (p11e.NoSuchKey, p11e.MultipleObjectsReturned):
                    continue
                der = _spki_der(pub)
                out.append(KeyInfo(label, bytes(priv[Attribute.ID]), _spec_of(der), der))
            return sorted(out, key=lambda k: k.label)

        return self._call(op)

    def delete_key(self, label: str) -> None:
        """Destroy both halves of a key pair (used to roll back an unfinished issuance)."""

        def op(session: Any) -> None:
            self._private.pop(label, None)
            for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                for obj in list(session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label})):
                    obj.destroy()

        self._call(op)

    def _required_private(self, session: Any, label: str) -> tuple[Any, str]:
        """The private key object and its algorithm, looked up once per session."""
        cached = self._private.get(label)
        if cached is not None:
            return cached
        priv = self._find_private(session, label)
        if priv is None:
            # SoftHSM2 reports the keys of a removed token as missing: tell a missing key
            # from a missing token by starting the module afresh and looking again. At most
            # every few seconds, so that unknown labels cannot keep restarting the module.
            if time.monotonic() - self._last_probe_restart < 5.0:
                raise KeyNotFound(label)
            self._last_probe_restart = time.monotonic()
            self._drop()
            self._reinitialise(self._lib())
            priv = self._find_private(self._ensure(), label)
            if priv is None:
                raise KeyNotFound(label)
        algorithm = "ec" if priv[Attribute.KEY_TYPE] == KeyType.EC else "rsa"
        self._private[label] = (priv, algorithm)
        return priv, algorithm

    @staticmethod
    def _find_private(session: Any, label: str) -> Any:
        try:
            return session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
        except p11e.NoSuchKey:
            return None


def verify_signature(spki_der: bytes, data: bytes, signature: bytes, scheme: str) -> None:
    """Check a signature in software (after HSM signing, self-tests, tests). Raises on failure."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    s = SignatureScheme(scheme)
    pub: Any = serialization.load_der_public_key(spki_der)
    h = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[s.hash_name]
    if s.family == "ecdsa":
        pub.verify(signature, data, ec.ECDSA(h))
    elif s.family == "rsa-pss":
        pub.verify(signature, data, padding.PSS(padding.MGF1(h), h.digest_size), h)
    else:
        pub.verify(signature, data, padding.PKCS1v15(), h)


__all__ = ["KeyInfo", "KeySpec", "KeyStore", "SignatureScheme"]
