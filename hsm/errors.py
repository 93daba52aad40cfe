"""Typed HSM errors: Kyso errors with a kind, which the edges map (an absent token is
``unavailable``, a 503 over HTTP). Messages never carry a PIN or key material."""

from __future__ import annotations

from kyso.errors import ErrorKind, KysoError


class HsmError(KysoError):
    code = "hsm-error"
    kind = ErrorKind.INTERNAL
    title_en = "HSM error"


class HsmUnavailable(KysoError):
    code = "hsm-unavailable"
    kind = ErrorKind.UNAVAILABLE
    title_en = "Service unavailable"

    def __init__(self, reason_en: str = "the HSM token is not reachable",
                 reason_vi: str = "không kết nối được thiết bị HSM",
                 log_detail: str | None = None) -> None:
        super().__init__(reason_en, reason_vi, log_detail=log_detail)


class HsmModuleMissing(HsmUnavailable):
    code = "hsm-module-missing"

    def __init__(self, module: str) -> None:
        # The path is the server's business: it goes to the log, never to a caller.
        super().__init__(
            "the configured PKCS#11 module (hsm.module) is not found or not loadable",
            "không tìm thấy hoặc không nạp được mô-đun PKCS#11 đã cấu hình (hsm.module)",
            log_detail=f"module {module}",
        )


class HsmPinIncorrect(HsmUnavailable):
    code = "hsm-pin-incorrect"

    def __init__(self) -> None:
        super().__init__(
            "the HSM refused the configured PIN",
            "HSM từ chối mã PIN đã cấu hình",
        )


class RootTokenUnavailable(KysoError):
    """The root CA's own token ([hsm.root]) is not connected: it is needed only for ceremonies."""

    code = "root-token-unavailable"
    kind = ErrorKind.UNAVAILABLE
    title_en = "Service unavailable"

    def __init__(self, label: str, log_detail: str | None = None) -> None:
        super().__init__(
            f"the root CA token '{label}' is not connected: the root key signs only in ceremonies "
            "(creating the CA, certifying the issuing CA, the root CRL); connect the token and "
            "run the ceremony again",
            f"chưa kết nối token của CA gốc '{label}': khóa CA gốc chỉ ký trong các phiên nghi thức "
            "(tạo CA, cấp chứng thư CA cấp phát, CRL của CA gốc); hãy kết nối token rồi thực hiện lại",
            log_detail=log_detail,
        )


class KeyNotFound(KysoError):
    code = "hsm-key-not-found"
    kind = ErrorKind.NOT_FOUND
    title_en = "Not found"

    def __init__(self, label: str) -> None:
        super().__init__(
            f"no key labelled '{label}' in the HSM token",
            f"không có khóa với nhãn '{label}' trong HSM",
        )


class KeyAlreadyExists(KysoError):
    code = "hsm-key-exists"
    kind = ErrorKind.CONFLICT
    title_en = "Conflict"

    def __init__(self, label: str) -> None:
        super().__init__(
            f"a key labelled '{label}' already exists in the HSM token",
            f"đã có khóa với nhãn '{label}' trong HSM",
        )


class UnsupportedAlgorithm(KysoError):
    code = "unsupported-algorithm"
    kind = ErrorKind.INVALID
    title_en = "Bad request"

    def __init__(self, what: str) -> None:
        super().__init__(
            f"unsupported key type or signature scheme: {what}",
            f"loại khóa hoặc lược đồ chữ ký không được hỗ trợ: {what}",
        )
