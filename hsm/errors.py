"""Typed HSM errors. Messages never carry a PIN or key material."""

from __future__ import annotations

from kyso.errors import BadRequest, Conflict, KysoError, NotFound, ServiceUnavailable


class HsmError(KysoError):
    code = "hsm-error"
    status = 500
    title_en = "HSM error"


class HsmUnavailable(ServiceUnavailable):
    code = "hsm-unavailable"

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


class RootTokenUnavailable(ServiceUnavailable):
    """The root CA's own token ([hsm.root]) is not connected: it is needed only for ceremonies."""

    code = "root-token-unavailable"

    def __init__(self, label: str, log_detail: str | None = None) -> None:
        super().__init__(
            f"the root CA token '{label}' is not connected: the root key signs only in ceremonies "
            "(creating the CA, certifying the issuing CA, the root CRL); connect the token and "
            "run the ceremony again",
            f"chưa kết nối token của CA gốc '{label}': khóa CA gốc chỉ ký trong các phiên nghi thức "
            "(tạo CA, cấp chứng thư CA cấp phát, CRL của CA gốc); hãy kết nối token rồi thực hiện lại",
            log_detail=log_detail,
        )


class KeyNotFound(NotFound):
    code = "hsm-key-not-found"

    def __init__(self, label: str) -> None:
        super().__init__(
            f"no key labelled '{label}' in the HSM token",
            f"không có khóa với nhãn '{label}' trong HSM",
        )


class KeyAlreadyExists(Conflict):
    code = "hsm-key-exists"

    def __init__(self, label: str) -> None:
        super().__init__(
            f"a key labelled '{label}' already exists in the HSM token",
            f"đã có khóa với nhãn '{label}' trong HSM",
        )


class UnsupportedAlgorithm(BadRequest):
    code = "unsupported-algorithm"

    def __init__(self, what: str) -> None:
        super().__init__(
            f"unsupported key type or signature scheme: {what}",
            f"loại khóa hoặc lược đồ chữ ký không được hỗ trợ: {what}",
        )
