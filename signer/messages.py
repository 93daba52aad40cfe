"""What signer says to callers, in English and Vietnamese (see kyso/messages.py)."""

from __future__ import annotations

from kyso.errors import Message

# signer/activation.py
SAD_INVALID = Message(
    "the SAD is invalid, expired or used up",
    "mã kích hoạt chữ ký (SAD) không hợp lệ hoặc đã hết hạn",
)

# signer/api.py
DOCUMENT_TOO_LARGE = Message("a document is at most {limit} bytes", "tài liệu tối đa {limit} byte")
DOCUMENT_EMPTY = Message("the document is empty", "tài liệu trống")
CREDENTIAL_REQUIRED = Message(
    "'credential' is required (a certificate serial, agency:<code> or official:<id>)",
    "cần 'credential' (số hiệu chứng thư, agency:<mã> hoặc official:<id>)",
)
CMS_LEVEL_INVALID = Message("'level' must be B-B or B-T for CMS", "'level' phải là B-B hoặc B-T với CMS")
HASHES_REQUIRED = Message(
    "'hashes' must be a non-empty list of base64 digests",
    "'hashes' phải là danh sách giá trị băm base64 không rỗng",
)
TOO_MANY_HASHES = Message("at most {limit} hashes per request", "tối đa {limit} giá trị băm mỗi yêu cầu")
HASH_ALGORITHM_INVALID = Message(
    "'hash_algorithm' must be sha256, sha384 or sha512",
    "'hash_algorithm' phải là sha256, sha384 hoặc sha512",
)
MULTIPART_NEEDS_FILE = Message("a multipart request needs a 'file' part", "yêu cầu multipart cần phần 'file'")
HASH_NOT_A_DIGEST = Message(
    "hash {i} is not a base64 {hash_algorithm} digest ({size} bytes)",
    "giá trị băm {i} không phải giá trị {hash_algorithm} dạng base64 ({size} byte)",
)
OPTIONS_NOT_AN_OBJECT = Message("the 'options' part must be a JSON object", "phần 'options' phải là đối tượng JSON")
OPTIONS_NOT_JSON = Message("the 'options' part must be JSON", "phần 'options' phải là JSON")

# signer/cades.py
TIME_STAMP_FAILED = Message(
    "the time-stamping authority could not stamp the signature; nothing was signed",
    "dịch vụ cấp dấu thời gian không cấp được dấu cho chữ ký; chưa có gì được ký",
)

# signer/consent.py
CONSENT_WRONG = Message("wrong PIN or TOTP code", "sai mã PIN hoặc TOTP")
CONSENT_WRONG_NOW_LOCKED = Message(
    "wrong PIN or TOTP code; the credential is now locked",
    "sai mã PIN hoặc TOTP; khóa ký đã bị khóa",
)
NO_CONSENT_METHOD = Message("official {official_id} has no consent method", "cán bộ {official_id} chưa đăng ký")
CONSENT_NOT_ENROLLED = Message(
    "this official has not enrolled a PIN or TOTP for signing",
    "cán bộ này chưa đăng ký mã PIN hoặc TOTP để ký",
)
CONSENT_SET_BY_STAFF = Message(
    "this official's PIN or TOTP was set by staff: the official must enrol it again (an enrolment started by "
    "staff, completed by the official)",
    "mã PIN hoặc TOTP của cán bộ này do cán bộ Sở đặt: cán bộ cần tự đăng ký lại",
)
CONSENT_LOCKED = Message(
    "too many wrong PIN or TOTP codes: an administrator must unlock this credential",
    "nhập sai PIN hoặc TOTP quá nhiều lần: quản trị viên cần mở khóa khóa ký này",
)
CONSENT_REQUIRED = Message(
    "the official's PIN or TOTP code is required (header X-Kyso-Consent)",
    "cần mã PIN hoặc TOTP của cán bộ (tiêu đề X-Kyso-Consent)",
)

# signer/credentials.py
CREDENTIAL_NOT_FOUND = Message("no signing credential '{ref}'", "không có khóa ký '{ref}'")
ONLY_CLIENTS_SIGN = Message(
    "only API clients (role client) sign documents",
    "chỉ ứng dụng (vai trò client) mới được ký tài liệu",
)
CREDENTIAL_CERTIFICATE_REVOKED = Message(
    "the certificate of this credential is revoked",
    "chứng thư số của khóa ký này đã bị thu hồi",
)
CREDENTIAL_CERTIFICATE_ON_HOLD = Message(
    "the certificate of this credential is on hold",
    "chứng thư số của khóa ký này đang bị tạm dừng",
)
CREDENTIAL_CERTIFICATE_EXPIRED = Message(
    "the certificate of this credential has expired",
    "chứng thư số của khóa ký này đã hết hạn",
)
CREDENTIAL_CERTIFICATE_NOT_YET_VALID = Message(
    "the certificate of this credential is not yet valid",
    "chứng thư số của khóa ký này chưa có hiệu lực",
)
NO_ALLOWED_SCHEME_FITS = Message(
    "no signature algorithm the policy allows fits this credential",
    "không có thuật toán ký nào được phép phù hợp với khóa ký này",
)
DIGEST_NOT_ALLOWED = Message("digest algorithm '{digest}' is not allowed", "thuật toán băm '{digest}' không được phép")
SCHEME_NOT_ALLOWED = Message(
    "signature algorithm '{requested}' is not allowed for this credential",
    "thuật toán ký '{requested}' không được phép với khóa ký này",
)
CLIENT_NOT_BOUND_TO_AGENCY = Message(
    "this client may not sign for agency '{agency}'",
    "ứng dụng này không được ký cho cơ quan '{agency}'",
)

# signer/csc.py
CREDENTIAL_ID_REQUIRED = Message("'credentialID' is required", "cần 'credentialID'")
CREDENTIAL_ID_NOT_A_SERIAL = Message("'credentialID' is a certificate serial", "'credentialID' là số hiệu chứng thư")
CERTIFICATES_OPTION_INVALID = Message(
    "'certificates' must be none, single or chain",
    "'certificates' phải là none, single hoặc chain",
)
NUM_SIGNATURES_INVALID = Message("'numSignatures' must be 1 to {limit}", "'numSignatures' phải từ 1 đến {limit}")
HASH_ALGO_INVALID = Message(
    "'hashAlgo' must be SHA-256, SHA-384 or SHA-512",
    "'hashAlgo' phải là SHA-256, SHA-384 hoặc SHA-512",
)
SIGN_ALGO_INVALID = Message(
    "'signAlgo' does not fit 'hashAlgo' or is not supported",
    "'signAlgo' không khớp với 'hashAlgo' hoặc không được hỗ trợ",
)
HASH_COUNT_INVALID = Message("'hash' must list numSignatures digests", "'hash' phải liệt kê numSignatures giá trị băm")

# signer/enrolment.py
ACTIVATION_CODE_INVALID = Message(
    "the activation code is wrong, used or expired",
    "mã kích hoạt không đúng, đã dùng hoặc đã hết hạn",
)
CHANNEL_INVALID = Message("'channel' must be email or letter", "'channel' phải là email hoặc letter")
ENROLMENT_BY_LETTER_OFF = Message(
    "enrolment by letter is turned off (signing.enrolment_by_letter)",
    "đăng ký qua thư giấy đã bị tắt (signing.enrolment_by_letter)",
)
METHOD_INVALID = Message("'method' must be pin or totp", "'method' phải là pin hoặc totp")
OFFICIAL_NOT_ACTIVE = Message("this official is not active", "cán bộ này không còn hoạt động")
PIN_CHANGE_FIELDS_REQUIRED = Message(
    "'official_id' (a number), 'old_pin' and 'new_pin' are required",
    "cần 'official_id' (số), 'old_pin' và 'new_pin'",
)
OFFICIAL_NOT_FOUND = Message("no official with id {official_id}", "không có cán bộ với mã {official_id}")
NO_PIN_TO_CHANGE = Message("this official has no PIN to change", "cán bộ này chưa có mã PIN để đổi")
OFFICIAL_HAS_NO_EMAIL = Message(
    "this official has no e-mail address in the registry",
    "cán bộ này chưa có địa chỉ thư điện tử trong hệ thống",
)
EMAIL_SET_BY_SAME_STAFF = Message(
    "you registered or changed this official's e-mail address: another staff member must send the activation "
    "code to it",
    "bạn đã đăng ký hoặc sửa địa chỉ thư điện tử của cán bộ này: cán bộ khác phải gửi mã kích hoạt",
)
PIN_LOCKED = Message(
    "too many wrong PINs: an administrator must unlock this credential",
    "nhập sai PIN quá nhiều lần: quản trị viên cần mở khóa",
)
NEW_PIN_IS_OLD = Message("the new PIN is the old one", "mã PIN mới trùng mã PIN cũ")

# signer/images.py
IMAGE_TOO_LARGE = Message("an image is at most {limit} bytes", "ảnh tối đa {limit} byte")
IMAGE_NOT_PNG = Message("the image must be a PNG file", "ảnh phải là tệp PNG")
AGENCY_NOT_FOUND = Message("no agency {owner}", "không có cơ quan {owner}")
PNG_DAMAGED = Message("the PNG file is damaged", "tệp PNG bị hỏng")
OFFICIAL_OWNER_NOT_FOUND = Message("no official {owner}", "không có cán bộ {owner}")
IMAGE_SIZE_INVALID = Message(
    "the image must be 16 to {limit} pixels a side",
    "mỗi cạnh ảnh phải từ 16 đến {limit} điểm ảnh",
)
IMAGE_NOT_TRANSPARENT = Message(
    "the image must have transparency (an alpha channel)",
    "ảnh phải có nền trong suốt (kênh alpha)",
)

# signer/pades.py
ANCHOR_NOT_ON_PAGE = Message(
    "the text '{anchor}' is not on page {page}",
    "không thấy dòng chữ '{anchor}' trên trang {page}",
)
FIELD_NAME_INVALID = Message(
    "the PDF's prepared signature field has a name that is not 1 to 100 printable ASCII characters",
    "tên trường chữ ký chuẩn bị sẵn trong tệp PDF không phải 1 đến 100 ký tự ASCII in được",
)
PADES_LEVEL_INVALID = Message("'level' must be B-B, B-T, B-LT or B-LTA", "'level' phải là B-B, B-T, B-LT hoặc B-LTA")
APPEARANCE_INVALID = Message(
    "'appearance' must be leader, seal, copy or none",
    "'appearance' phải là leader, seal, copy hoặc none",
)
PAGE_HAS_NO_TEXT = Message("page {page} has no text", "trang {page} không có chữ")
ANCHOR_EMPTY = Message("the anchor text is empty", "dòng chữ neo trống")
FONT_MISSING = Message(
    "the signature font (Liberation Serif) is not installed",
    "chưa cài phông chữ chữ ký (Liberation Serif)",
)
PAGE_OUT_OF_RANGE = Message("the document has {pages} pages", "tài liệu có {pages} trang")
NO_SEAL_IMAGE = Message(
    "the agency has no seal image: upload one first (PUT .../agencies/{{code}}/seal-image)",
    "cơ quan chưa có ảnh con dấu: hãy tải lên trước",
)
NOT_A_PDF = Message("the document is not a PDF", "tài liệu không phải PDF")
PDF_ENCRYPTED = Message(
    "the PDF is encrypted; send it without a password",
    "tệp PDF được mã hóa; hãy gửi bản không đặt mật khẩu",
)
PAGE_INVALID = Message("'page' must be a page number from 1", "'page' phải là số trang từ 1")
RECT_INVALID = Message(
    "'rect' must be x1,y1,x2,y2 in points with x2 > x1 and y2 > y1",
    "'rect' phải là x1,y1,x2,y2 (điểm) với x2 > x1 và y2 > y1",
)
LEADER_NEEDS_PERSONAL_CREDENTIAL = Message(
    "the leader appearance needs an official's personal credential",
    "mẫu chữ ký lãnh đạo cần khóa ký cá nhân của cán bộ",
)
PDF_NESTED_TOO_DEEPLY = Message(
    "the document could not be signed: its objects are nested too deeply",
    "không ký được tài liệu: các đối tượng lồng nhau quá sâu",
)
PDF_UNREADABLE = Message("the PDF cannot be read", "không đọc được tệp PDF")
PDF_PAGES_UNREADABLE = Message("the PDF's pages cannot be read", "không đọc được các trang của tệp PDF")
PDF_CANNOT_BE_SIGNED = Message("the PDF cannot be signed as it is", "không ký được tệp PDF này")
PDF_TEXT_UNREADABLE = Message(
    "the PDF's text could not be read to find the anchor",
    "không đọc được chữ trong PDF để tìm vị trí neo",
)

# signer/views.py
TIME_STAMP_REQUEST_TOO_LARGE = Message(
    "a time-stamp request is at most {limit} bytes",
    "yêu cầu gắn dấu thời gian tối đa {limit} byte",
)

# used by several modules
CONSENT_RATE_LIMITED = Message(
    "too many consent attempts; try again in a minute",
    "thử xác nhận quá nhiều lần; hãy thử lại sau một phút",
)

# signer/credentials.py: an agency or official that may not sign, and its status in words
AGENCY_MAY_NOT_SIGN = Message(
    "agency '{agency_code}' is {status}: its keys do not sign",
    "cơ quan '{agency_code}' đang ở trạng thái {status}: không được ký bằng khóa của cơ quan",
)
OFFICIAL_MAY_NOT_SIGN = Message(
    "official {official_id} is {status}: their personal key does not sign",
    "cán bộ {official_id} đang ở trạng thái {status}: không được ký bằng khóa cá nhân",
)
STATUS_WORDS: dict[str, Message] = {
    "suspended": Message("suspended", "tạm dừng hoạt động"),
    "dissolved": Message("dissolved", "giải thể"),
    "inactive": Message("inactive", "ngừng hoạt động"),
}
SIGNATURE_WITHHELD = Message(
    "{reason}; the signature made meanwhile is withheld",
    "{reason}; chữ ký vừa tạo không được trả về",
)
