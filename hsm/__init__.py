"""The HSM boundary: the only package that imports pkcs11."""

from hsm.errors import (
    HsmError,
    HsmModuleMissing,
    HsmPinIncorrect,
    HsmUnavailable,
    KeyAlreadyExists,
    KeyNotFound,
    RootTokenUnavailable,
    UnsupportedAlgorithm,
)
from hsm.keystore import KeyInfo, KeySpec, KeyStore, SignatureScheme

__all__ = [
    "HsmError",
    "HsmModuleMissing",
    "HsmPinIncorrect",
    "HsmUnavailable",
    "KeyAlreadyExists",
    "KeyInfo",
    "KeyNotFound",
    "KeySpec",
    "KeyStore",
    "RootTokenUnavailable",
    "SignatureScheme",
    "UnsupportedAlgorithm",
]
