"""What hsm says to callers, in English and Vietnamese (see kyso/messages.py)."""

from __future__ import annotations

from kyso.errors import Message

# hsm/errors.py
HSM_UNREACHABLE = Message("the HSM token is not reachable", "không kết nối được thiết bị HSM")
PKCS11_MODULE_NOT_LOADABLE = Message(
    "the configured PKCS#11 module (hsm.module) is not found or not loadable",
    "không tìm thấy hoặc không nạp được mô-đun PKCS#11 đã cấu hình (hsm.module)",
)
HSM_PIN_REFUSED = Message("the HSM refused the configured PIN", "HSM từ chối mã PIN đã cấu hình")
ROOT_TOKEN_NOT_CONNECTED = Message(
    "the root CA token '{label}' is not connected: the root key signs only in ceremonies (creating the CA, "
    "certifying the issuing CA, the root CRL); connect the token and run the ceremony again",
    "chưa kết nối token của CA gốc '{label}': khóa CA gốc chỉ ký trong các phiên nghi thức (tạo CA, cấp chứng "
    "thư CA cấp phát, CRL của CA gốc); hãy kết nối token rồi thực hiện lại",
)
KEY_NOT_FOUND = Message("no key labelled '{label}' in the HSM token", "không có khóa với nhãn '{label}' trong HSM")
KEY_ALREADY_EXISTS = Message(
    "a key labelled '{label}' already exists in the HSM token",
    "đã có khóa với nhãn '{label}' trong HSM",
)
UNSUPPORTED_ALGORITHM = Message(
    "unsupported key type or signature scheme: {what}",
    "loại khóa hoặc lược đồ chữ ký không được hỗ trợ: {what}",
)

# hsm/keystore.py
HSM_TOKEN_NOT_PRESENT = Message("HSM token '{token_label}' is not present", "không có token HSM '{token_label}'")
