"""Initialise a PKCS#11 token without putting its PINs on a command line (issue 13, item 28).

``softhsm2-util --init-token --pin ... --so-pin ...`` shows both PINs to every user of the
machine (``ps``, /proc/PID/cmdline). Here the PINs come from the environment or from 0600
files named on the command line, and go straight to the module: C_InitToken on the first
free slot, then C_Login as security officer and C_InitPIN for the user PIN.

python-pkcs11 has no C_InitToken, so this calls the module's exported PKCS#11 functions
through ctypes; it runs in a process of its own (``python -m hsm.tokeninit``), before
anything else has initialised the module.

    python -m hsm.tokeninit --module /usr/lib/softhsm/libsofthsm2.so --label kyso \\
        --pin-file var/secrets/user.pin --so-pin-file var/secrets/so.pin

``--pin-env`` / ``--so-pin-env`` name environment variables that, when set, win over the files.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

CKR_OK = 0
CKF_RW_SESSION = 0x2
CKF_SERIAL_SESSION = 0x4
CKF_TOKEN_INITIALIZED = 0x400
CKU_SO = 0

_ULONG = ctypes.c_ulong


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class _TokenInfo(ctypes.Structure):
    _fields_ = [
        ("label", ctypes.c_char * 32), ("manufacturerID", ctypes.c_char * 32),
        ("model", ctypes.c_char * 16), ("serialNumber", ctypes.c_char * 16),
        ("flags", _ULONG), ("ulMaxSessionCount", _ULONG), ("ulSessionCount", _ULONG),
        ("ulMaxRwSessionCount", _ULONG), ("ulRwSessionCount", _ULONG), ("ulMaxPinLen", _ULONG),
        ("ulMinPinLen", _ULONG), ("ulTotalPublicMemory", _ULONG), ("ulFreePublicMemory", _ULONG),
        ("ulTotalPrivateMemory", _ULONG), ("ulFreePrivateMemory", _ULONG),
        ("hardwareVersion", _Version), ("firmwareVersion", _Version), ("utcTime", ctypes.c_char * 16),
    ]


class TokenInitError(RuntimeError):
    """Token initialisation failed; the message never holds a PIN."""


def _check(rv: int, what: str) -> None:
    if rv != CKR_OK:
        raise TokenInitError(f"{what} failed (CKR 0x{rv:08x})")


def _padded_label(label: str) -> bytes:
    raw = label.encode("utf-8")
    if not raw or len(raw) > 32:
        raise TokenInitError("the token label must be 1 to 32 bytes (UTF-8)")
    return raw.ljust(32, b" ")


def init_token(module: str, label: str, so_pin: str, user_pin: str) -> None:
    """Initialise the first uninitialised token of ``module`` with ``label`` and both PINs.

    Refuses when a token with this label exists already or no free slot is left."""
    if not so_pin or not user_pin:
        raise TokenInitError("both PINs are needed")
    padded = _padded_label(label)
    lib = ctypes.CDLL(module)
    for name in ("C_Initialize", "C_Finalize", "C_GetSlotList", "C_GetTokenInfo", "C_InitToken",
                 "C_OpenSession", "C_Login", "C_InitPIN", "C_Logout", "C_CloseSession"):
        getattr(lib, name).restype = _ULONG
    _check(lib.C_Initialize(None), "C_Initialize")
    try:
        count = _ULONG(0)
        _check(lib.C_GetSlotList(ctypes.c_ubyte(1), None, ctypes.byref(count)), "C_GetSlotList")
        slots = (_ULONG * max(1, count.value))()
        _check(lib.C_GetSlotList(ctypes.c_ubyte(1), slots, ctypes.byref(count)), "C_GetSlotList")
        free: int | None = None
        for slot in list(slots)[: count.value]:
            info = _TokenInfo()
            _check(lib.C_GetTokenInfo(_ULONG(slot), ctypes.byref(info)), "C_GetTokenInfo")
            if info.flags & CKF_TOKEN_INITIALIZED:
                if bytes(info.label).ljust(32, b" ") == padded:
                    raise TokenInitError(f"a token labelled '{label}' exists already")
            elif free is None:
                free = slot
        if free is None:
            raise TokenInitError("no free slot with an uninitialised token")
        so = so_pin.encode("utf-8")
        user = user_pin.encode("utf-8")
        _check(lib.C_InitToken(_ULONG(free), ctypes.c_char_p(so), _ULONG(len(so)),
                               ctypes.c_char_p(padded)), "C_InitToken")
        session = _ULONG(0)
        _check(lib.C_OpenSession(_ULONG(free), _ULONG(CKF_SERIAL_SESSION | CKF_RW_SESSION), None, None,
                                 ctypes.byref(session)), "C_OpenSession")
        try:
            _check(lib.C_Login(session, _ULONG(CKU_SO), ctypes.c_char_p(so), _ULONG(len(so))), "C_Login (SO)")
            _check(lib.C_InitPIN(session, ctypes.c_char_p(user), _ULONG(len(user))), "C_InitPIN")
            lib.C_Logout(session)
        finally:
            lib.C_CloseSession(session)
    finally:
        lib.C_Finalize(None)


def read_secret(env_name: str | None, path: str | None) -> str:
    """A PIN from the environment variable (when set and not empty), else from the file."""
    if env_name and os.environ.get(env_name):
        return os.environ[env_name]
    if not path:
        raise TokenInitError(f"no PIN: set {env_name} or give a file" if env_name else "no PIN file given")
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise TokenInitError(f"PIN file {path} not found") from None
    if not value:
        raise TokenInitError(f"PIN file {path} is empty")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hsm.tokeninit", description=__doc__.splitlines()[0])
    parser.add_argument("--module", required=True, help="PKCS#11 module (shared library)")
    parser.add_argument("--label", required=True, help="label of the new token")
    parser.add_argument("--pin-file", help="file holding the user PIN")
    parser.add_argument("--pin-env", default="KYSO_HSM__PIN", help="variable holding the user PIN (wins)")
    parser.add_argument("--so-pin-file", help="file holding the security officer PIN")
    parser.add_argument("--so-pin-env", default="KYSO_SETUP_SO_PIN", help="variable holding the SO PIN (wins)")
    args = parser.parse_args(argv)
    try:
        init_token(args.module, args.label, read_secret(args.so_pin_env, args.so_pin_file),
                   read_secret(args.pin_env, args.pin_file))
    except (TokenInitError, OSError) as exc:
        print(f"token initialisation: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
