"""KeyStore against a real SoftHSM2 token."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import threading
import time
from typing import Any

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass

from hsm import (
    HsmModuleMissing,
    HsmPinIncorrect,
    HsmUnavailable,
    KeyAlreadyExists,
    KeyNotFound,
    KeySpec,
    KeyStore,
    UnsupportedAlgorithm,
)
from hsm.keystore import verify_signature
from kyso.problems import http_status
from tests.conftest import MODULE, TokenFixture, init_token, token_dir_of

CASES = [
    ("rsa-2048", "rsa-pkcs1-sha256"),
    ("rsa-2048", "rsa-pss-sha256"),
    ("rsa-3072", "rsa-pss-sha384"),
    ("rsa-4096", "rsa-pkcs1-sha512"),
    ("ec-p256", "ecdsa-sha256"),
    ("ec-p384", "ecdsa-sha384"),
]


@pytest.fixture(scope="module")
def keys(keystore: KeyStore) -> dict[str, Any]:
    out = {}
    for spec in sorted({s for s, _ in CASES}):
        out[spec] = keystore.generate_key_pair(f"t-{spec}-{secrets.token_hex(3)}", spec)
    return out


@pytest.mark.parametrize(("spec", "scheme"), CASES)
def test_sign_and_verify(keystore: KeyStore, keys: dict[str, Any], spec: str, scheme: str) -> None:
    key = keys[spec]
    assert str(key.spec) == spec
    data = b"V\xc4\x83n b\xe1\xba\xa3n " + secrets.token_bytes(100)
    sig = keystore.sign(key.label, data, scheme)
    verify_signature(key.public_key_der, data, sig, scheme)
    digest = hashlib.new(scheme.rsplit("-", 1)[1], data).digest()
    sig2 = keystore.sign_digest(key.label, digest, scheme)
    verify_signature(key.public_key_der, data, sig2, scheme)
    with pytest.raises(Exception):  # noqa: B017 - any verification failure
        verify_signature(key.public_key_der, data + b"x", sig, scheme)


def test_private_keys_are_sensitive_and_not_extractable(
    keystore: KeyStore, keys: dict[str, Any], hsm_token: TokenFixture
) -> None:
    lib = pkcs11.lib(MODULE)
    token = lib.get_token(token_label=hsm_token.label)
    keystore.ping()  # this process is logged in to the token through the store
    with token.open() as session:
        for key in keys.values():
            priv = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=key.label)
            assert priv[Attribute.SENSITIVE] is True
            assert priv[Attribute.EXTRACTABLE] is False
            assert priv[Attribute.NEVER_EXTRACTABLE] is True
            assert priv[Attribute.TOKEN] is True
            assert bytes(priv[Attribute.ID]) == key.key_id


def test_find_list_and_public_key(keystore: KeyStore, keys: dict[str, Any]) -> None:
    key = keys["ec-p256"]
    found = keystore.find(key.label)
    assert found.public_key_der == key.public_key_der == keystore.public_key(key.label)
    labels = {k.label for k in keystore.list_keys()}
    assert {k.label for k in keys.values()} <= labels


def test_errors(keystore: KeyStore, keys: dict[str, Any]) -> None:
    with pytest.raises(KeyNotFound):
        keystore.sign("no-such-key", b"x", "rsa-pkcs1-sha256")
    with pytest.raises(KeyAlreadyExists):
        keystore.generate_key_pair(keys["ec-p256"].label, "ec-p256")
    with pytest.raises(UnsupportedAlgorithm):
        KeySpec.parse("rsa-1024")
    with pytest.raises(UnsupportedAlgorithm):
        keystore.sign(keys["ec-p256"].label, b"x", "rsa-pss-sha256")
    with pytest.raises(UnsupportedAlgorithm):
        keystore.sign(keys["ec-p256"].label, b"x", "md5-rsa")


def test_delete_key(keystore: KeyStore) -> None:
    key = keystore.generate_key_pair(f"t-del-{secrets.token_hex(3)}", "ec-p256")
    keystore.delete_key(key.label)
    with pytest.raises(KeyNotFound):
        keystore.find(key.label)


def test_wrong_pin(hsm_token: TokenFixture) -> None:
    bad = KeyStore(MODULE, hsm_token.label, "wrong-pin")
    with pytest.raises(HsmPinIncorrect) as info:
        bad.ping()
    assert "wrong-pin" not in info.value.message_en
    assert http_status(info.value) == 503
    # Never tried again (a real HSM would lock the PIN after a few tries).
    assert bad._pin_refused
    with pytest.raises(HsmPinIncorrect):
        bad.ping()


def test_missing_module(hsm_token: TokenFixture) -> None:
    with pytest.raises(HsmModuleMissing) as info:
        KeyStore("/nonexistent/libpkcs11.so", hsm_token.label, hsm_token.pin).ping()
    assert info.value.code == "hsm-module-missing"


def test_unknown_token(hsm_token: TokenFixture) -> None:
    with pytest.raises(HsmUnavailable):
        KeyStore(MODULE, "no-such-token", hsm_token.pin, open_retries=1).ping()


def test_many_threads_signing_at_once_never_crash(keystore: KeyStore, keys: dict[str, Any]) -> None:
    """SoftHSM2 runs unlocked under python-pkcs11: the KeyStore must serialise."""
    errors: list[BaseException] = []
    counts = [0] * 8
    stop = time.monotonic() + 2.0

    def work(i: int) -> None:
        spec, scheme = CASES[i % 2 * 4]  # rsa-2048 pkcs1 and ec-p256
        key = keys[spec]
        try:
            while time.monotonic() < stop:
                data = secrets.token_bytes(32)
                verify_signature(key.public_key_der, data, keystore.sign(key.label, data, scheme),
                                 scheme)
                counts[i] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(c > 0 for c in counts)


def test_token_removed_then_back(hsm_token: TokenFixture) -> None:
    """A removed token gives HsmUnavailable (503); the store recovers when it returns."""
    label = f"kyso-rm-{secrets.token_hex(3)}"
    pin, _ = init_token(hsm_token.conf, label)
    store = KeyStore(MODULE, label, pin)
    key = store.generate_key_pair("k", "ec-p256")
    store.sign("k", b"warm", "ecdsa-sha256")
    path = token_dir_of(hsm_token, label)
    away = hsm_token.tokendir.parent / f"{path.name}.removed"  # outside the token directory
    shutil.move(path, away)
    try:
        with pytest.raises(HsmUnavailable) as info:
            store.sign("k", b"x", "ecdsa-sha256")
        assert http_status(info.value) == 503
        with pytest.raises(HsmUnavailable):
            store.ping(probe_label="k")
        # A fresh store (as in a new worker) that never saw the key also says 503, not 404.
        with pytest.raises(HsmUnavailable):
            KeyStore(MODULE, label, pin, open_retries=1).sign("k", b"x", "ecdsa-sha256")
    finally:
        shutil.move(away, path)
    sig = store.sign("k", b"back", "ecdsa-sha256")
    verify_signature(key.public_key_der, b"back", sig, "ecdsa-sha256")


def test_module_restart_by_one_store_never_mixes_handles(
    keystore: KeyStore, keys: dict[str, Any], hsm_token: TokenFixture
) -> None:
    """Regression: after one store restarted the module, another store's kept session and
    key handles were reused by the module for other objects, giving KeyNotFound and even
    signatures by the wrong key."""
    mine = keys["rsa-2048"]
    keystore.sign(mine.label, b"warm", "rsa-pkcs1-sha256")  # keep handles
    label = f"kyso-other-{secrets.token_hex(3)}"
    pin, _ = init_token(hsm_token.conf, label)
    other = KeyStore(MODULE, label, pin)
    theirs = other.generate_key_pair("other-key", "rsa-2048")  # restarts the module to find it
    other._reinitialise(pkcs11.lib(MODULE))
    other.sign("other-key", b"x", "rsa-pkcs1-sha256")  # takes the lowest handles again
    for _ in range(5):
        data = secrets.token_bytes(16)
        verify_signature(mine.public_key_der, data,
                         keystore.sign(mine.label, data, "rsa-pkcs1-sha256"), "rsa-pkcs1-sha256")
        verify_signature(theirs.public_key_der, data,
                         other.sign("other-key", data, "rsa-pkcs1-sha256"), "rsa-pkcs1-sha256")


def test_ecdsa_der_encoding_matches_asn1crypto() -> None:
    from asn1crypto.algos import DSASignature

    from hsm.keystore import _der_ecdsa

    for _ in range(200):
        size = secrets.choice([32, 48, 66])
        raw = secrets.token_bytes(size) + secrets.token_bytes(size)
        raw = bytes(size - 1) + raw[size - 1:]  # some r with leading zero bytes
        assert _der_ecdsa(raw) == DSASignature.from_p1363(raw).dump()
