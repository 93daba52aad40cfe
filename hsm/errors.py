"""Typed HSM errors: Kyso errors with a kind, which the edges map (an absent token is
``unavailable``, a 503 over HTTP). Messages never carry a PIN or key material."""

from __future__ import annotations

from hsm.messages import (
    HSM_PIN_REFUSED,
    HSM_UNREACHABLE,
    KEY_ALREADY_EXISTS,
    KEY_NOT_FOUND,
    PKCS11_MODULE_NOT_LOADABLE,
    ROOT_TOKEN_NOT_CONNECTED,
    UNSUPPORTED_ALGORITHM,
)
from kyso.errors import ErrorKind, KysoError, Message


class HsmError(KysoError):
    code = "hsm-error"
    kind = ErrorKind.INTERNAL
    title_en = "HSM error"


class HsmUnavailable(KysoError):
    code = "hsm-unavailable"
    kind = ErrorKind.UNAVAILABLE
    title_en = "Service unavailable"

    def __init__(self, reason: Message = HSM_UNREACHABLE, log_detail: str | None = None) -> None:
        super().__init__(reason, log_detail=log_detail)


class HsmModuleMissing(HsmUnavailable):
    code = "hsm-module-missing"

    def __init__(self, module: str) -> None:
        # The path is the server's business: it goes to the log, never to a caller.
        super().__init__(
            PKCS11_MODULE_NOT_LOADABLE,
            log_detail=f"module {module}",
        )


class HsmPinIncorrect(HsmUnavailable):
    code = "hsm-pin-incorrect"

    def __init__(self) -> None:
        super().__init__(HSM_PIN_REFUSED)


class RootTokenUnavailable(KysoError):
    """The root CA's own token ([hsm.root]) is not connected: it is needed only for ceremonies."""

    code = "root-token-unavailable"
    kind = ErrorKind.UNAVAILABLE
    title_en = "Service unavailable"

    def __init__(self, label: str, log_detail: str | None = None) -> None:
        super().__init__(
            ROOT_TOKEN_NOT_CONNECTED.format(label=label),
            log_detail=log_detail,
        )


class KeyNotFound(KysoError):
    code = "hsm-key-not-found"
    kind = ErrorKind.NOT_FOUND
    title_en = "Not found"

    def __init__(self, label: str) -> None:
        super().__init__(KEY_NOT_FOUND.format(label=label))


class KeyAlreadyExists(KysoError):
    code = "hsm-key-exists"
    kind = ErrorKind.CONFLICT
    title_en = "Conflict"

    def __init__(self, label: str) -> None:
        super().__init__(KEY_ALREADY_EXISTS.format(label=label))


class UnsupportedAlgorithm(KysoError):
    code = "unsupported-algorithm"
    kind = ErrorKind.INVALID
    title_en = "Bad request"

    def __init__(self, what: str) -> None:
        super().__init__(UNSUPPORTED_ALGORITHM.format(what=what))
