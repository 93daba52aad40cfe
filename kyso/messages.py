"""What the platform says to callers, in English and Vietnamese: the ``Message`` type and the
platform's catalogue.

Every message a Kyso error carries is a named entry of its package's catalogue
(``<package>/messages.py``), never a pair of strings at a raise site: the two languages are
written, read and checked side by side (tests/unit/test_messages.py). A template names its
placeholders (``{serial}``) and is filled with ``format``. A message is shown to any caller,
so it never carries a PIN, a key, a server path or document content.

The type lives here rather than in kyso/errors.py so that the errors the platform defines can
use this catalogue without an import cycle; kyso.errors re-exports it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Message:
    """One message in both languages; a template when it has ``{named}`` placeholders."""

    en: str
    vi: str

    def format(self, **values: Any) -> Message:
        """The message with its placeholders filled: the same values in both languages, except
        that a Message value gives its English text to the English and its Vietnamese to the
        Vietnamese (one message inside another)."""
        return Message(
            self.en.format(**{k: v.en if isinstance(v, Message) else v for k, v in values.items()}),
            self.vi.format(**{k: v.vi if isinstance(v, Message) else v for k, v in values.items()}),
        )

    def placeholders(self) -> tuple[frozenset[str], frozenset[str]]:
        """The placeholder names of the English and of the Vietnamese text."""
        return _names(self.en), _names(self.vi)


def _names(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)

# kyso/app.py
REQUEST_BODY_EXCEEDS_LIMIT_BYTES = Message(
    "the request body exceeds the limit of {limit} bytes",
    "nội dung yêu cầu vượt quá giới hạn {limit} byte",
)

# kyso/audit.py
AUDIT_KEY_NOT_HSM_TOKEN = Message(
    "the audit key '{audit_key_label}' is not in the HSM token: run 'kyso ca init --if-absent' (or 'kyso audit "
    "checkpoint') to make it",
    "không có khóa nhật ký '{audit_key_label}' trong HSM: hãy chạy 'kyso ca init --if-absent' (hoặc 'kyso "
    "audit checkpoint') để tạo",
)

# kyso/callers.py
USER_NAME_MUST_1_200 = Message(
    "user name must be 1-200 printable characters",
    "tên người dùng phải có 1-200 ký tự in được",
)
USER_ALREADY_EXISTS = Message("user '{name}' already exists", "người dùng '{name}' đã tồn tại")
NO_USER = Message("no user '{name}'", "không có người dùng '{name}'")
NO_API_KEY_ID = Message("no API key with id '{shown}'", "không có khóa API mã '{shown}'")
USER_DISABLED = Message("user '{name}' is disabled", "người dùng '{name}' đã bị vô hiệu hóa")
YOU_CANNOT_DISABLE_YOURSELF = Message("you cannot disable yourself", "bạn không thể tự vô hiệu hóa chính mình")
UNKNOWN_ROLE_EXPECTED = Message(
    "unknown role '{text}'; expected one of {roles}",
    "vai trò không hợp lệ '{text}'; phải là một trong {roles}",
)

# kyso/cli.py
API_KEY_GIVEN_TWICE = Message(
    "set KYSO_API_KEY or KYSO_API_KEY_FILE, not both",
    "chỉ đặt một trong KYSO_API_KEY hoặc KYSO_API_KEY_FILE",
)
COMMAND_NEEDS_API_KEY = Message(
    "this command acts for a user: give that user's API key in KYSO_API_KEY or KYSO_API_KEY_FILE (mode 0600)",
    "lệnh này thực hiện thay một người dùng: cung cấp khóa API của người đó qua KYSO_API_KEY hoặc "
    "KYSO_API_KEY_FILE (chế độ 0600)",
)
AS_NAMES_ANOTHER_USER = Message(
    "--as names '{name}', but the API key belongs to another user",
    "--as ghi '{name}' nhưng khóa API thuộc về người dùng khác",
)
API_KEY_FILE_NOT_PRIVATE = Message(
    "KYSO_API_KEY_FILE must be yours and readable by you alone (chmod 600)",
    "tệp KYSO_API_KEY_FILE phải thuộc về bạn và chỉ mình bạn đọc được (chmod 600)",
)
FIRST_USER_IS_CA_ADMIN = Message(
    "the first user is a CA admin (created locally); that admin creates the others",
    "người dùng đầu tiên là quản trị viên CA (tạo cục bộ); người đó tạo những người khác",
)
ANOTHER_USER_CREATED_MEANWHILE_CREATE = Message(
    "another user was created meanwhile; create this one with a CA admin's key",
    "đã có người dùng khác được tạo; hãy tạo người này bằng khóa của quản trị viên CA",
)
API_KEY_FILE_UNREADABLE = Message("KYSO_API_KEY_FILE cannot be read", "không đọc được KYSO_API_KEY_FILE")

# kyso/errors.py
UNKNOWN_CONFIGURATION_KEY = Message("unknown configuration key '{key}'", "khóa cấu hình không hợp lệ '{key}'")
CONFIGURATION_VALUE_INVALID = Message(
    "configuration key '{key}' must be {expected}",
    "khóa cấu hình '{key}' phải là {expected}",
)
CONFIGURATION_FILE_NOT_FOUND = Message("configuration file not found: {path}", "không tìm thấy tệp cấu hình: {path}")
CONFIGURATION_FILE_NOT_VALID_TOML = Message(
    "configuration file {path} is not valid TOML: {why}",
    "tệp cấu hình {path} không phải TOML hợp lệ: {why}",
)
TOO_MANY_FAILED_ATTEMPTS = Message(
    "too many failed attempts from your address; try again in {retry_after} s",
    "quá nhiều lần thử không thành công từ địa chỉ của bạn; thử lại sau {retry_after} giây",
)
DATABASE_UNREACHABLE = Message("the database cannot be reached", "không kết nối được cơ sở dữ liệu")
DATABASE_HAS_NO_SCHEMA = Message(
    "the database has no schema yet: run 'kyso db upgrade' (or 'make run')",
    "cơ sở dữ liệu chưa được khởi tạo: chạy 'kyso db upgrade' (hoặc 'make run')",
)
UNEXPECTED_ERROR = Message(
    "an unexpected error occurred; incident {incident_id}",
    "đã xảy ra lỗi không mong đợi; mã sự cố {incident_id}",
)

# kyso/limits.py
NOT_A_BOOLEAN = Message("'{name}' must be true or false", "'{name}' phải là true hoặc false")
JSON_TOO_DEEP = Message(
    "the JSON is nested more than {max_json_depth} levels deep",
    "JSON lồng nhau sâu quá {max_json_depth} cấp",
)
VALUE_TOO_LONG = Message("'{name}' is longer than {limit} characters", "'{name}' dài quá {limit} ký tự")

# kyso/mail.py
E_MAIL_NOT_CONFIGURED_SERVER = Message(
    "e-mail is not configured on this server ([mail] enabled = false)",
    "máy chủ chưa cấu hình gửi thư điện tử ([mail] enabled = false)",
)
E_MAIL_COULD_NOT_SENT = Message(
    "the e-mail could not be sent; try again later",
    "không gửi được thư điện tử; hãy thử lại sau",
)

# kyso/policy.py
ROLE_MAY_NOT_REQUEST_PROFILE = Message(
    "role {role} may not request profile '{profile}'",
    "vai trò {role} không được yêu cầu hồ sơ '{profile}'",
)

# kyso/services.py
HSM_PIN_FILE_EMPTY = Message("HSM PIN file {path} is empty", "tệp PIN của HSM {path} trống")
ROOT_PIN_NOT_CONFIGURED = Message(
    "the root CA token's PIN is not configured: set KYSO_HSM__ROOT__PIN or hsm.root.pin_file",
    "chưa cấu hình mã PIN của token CA gốc: đặt KYSO_HSM__ROOT__PIN hoặc hsm.root.pin_file",
)
ROOT_PIN_FILE_EMPTY = Message("root CA token PIN file {path} is empty", "tệp PIN của token CA gốc {path} trống")
HSM_PIN_FILE_NOT_FOUND = Message(
    "HSM PIN file {path} not found: run 'make run' first, or set KYSO_HSM__PIN or KYSO_HSM__PIN_FILE",
    "không tìm thấy tệp PIN của HSM {path}: hãy chạy 'make run' trước, hoặc đặt KYSO_HSM__PIN hay KYSO_HSM__PIN_FILE",
)
ROOT_PIN_FILE_NOT_FOUND = Message(
    "root CA token PIN file {path} not found (hsm.root.pin_file)",
    "không tìm thấy tệp PIN của token CA gốc {path} (hsm.root.pin_file)",
)

# kyso/settings.py
UNKNOWN_ENVIRONMENT_SETTING = Message(
    "environment variable {name} is not a setting (settings are KYSO_<SECTION>__<KEY>)",
    "biến môi trường {name} không phải khóa cấu hình (dạng KYSO_<MỤC>__<KHÓA>)",
)

# kyso/views.py
ROTATE_KEY_NEEDS_API_KEY = Message(
    "rotate-key needs the API key to replace in the Authorization header",
    "cần khóa API cần thay trong tiêu đề Authorization",
)
FORMAT_MUST_JSON_OR_JSONL = Message("'format' must be json or jsonl", "'format' phải là json hoặc jsonl")
SINCE_MUST_ISO_8601_DATE = Message(
    "'since' must be an ISO 8601 date or date-time",
    "'since' phải là ngày hoặc thời điểm theo ISO 8601",
)

# kyso/web.py
BODY_MUST_JSON_CONTENT_TYPE = Message(
    "the body must be JSON (Content-Type: application/json)",
    "nội dung phải là JSON (Content-Type: application/json)",
)
BODY_MUST_JSON_OBJECT = Message("the body must be a JSON object", "nội dung phải là một đối tượng JSON")

# used by several modules
NOT_A_NUMBER_IN_RANGE = Message(
    "'{name}' must be a whole number from {low} to {high}",
    "'{name}' phải là số nguyên từ {low} đến {high}",
)

# the defaults of kyso/errors.py
API_KEY_REQUIRED = Message("a valid API key is required", "cần khóa API hợp lệ")
ROLE_NOT_ALLOWED = Message(
    "your role does not allow this action",
    "vai trò của bạn không được phép thực hiện thao tác này",
)

# kyso/bounded.py: the document could not be checked within the limits, and why
TOO_COMPLEX = Message(
    "the document could not be checked within the limits: {why}",
    "không kiểm tra được tài liệu trong giới hạn cho phép: {why}",
)
TOO_COMPLEX_TOOK_TOO_LONG = Message("it took longer than {seconds:g} s", "quá {seconds:g} giây")
TOO_COMPLEX_STOPPED = Message("the check was stopped", "quá trình kiểm tra bị dừng")
TOO_COMPLEX_MEMORY = Message("it needs more memory than allowed", "cần nhiều bộ nhớ hơn mức cho phép")
TOO_COMPLEX_NESTED = Message("its objects are nested too deeply", "các đối tượng lồng nhau quá sâu")

# kyso/app.py: the HTTP framework's own errors (404, 405, ...), named by werkzeug in English
HTTP_ERROR_VI: dict[int, str] = {
    400: "yêu cầu không hợp lệ",
    404: "không tìm thấy",
    405: "phương thức không được phép",
    406: "không chấp nhận được",
    415: "kiểu nội dung không được hỗ trợ",
}
HTTP_ERROR_VI_OTHER = "lỗi HTTP"
