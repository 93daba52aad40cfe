"""What axis says to callers, in English and Vietnamese (see kyso/messages.py)."""

from __future__ import annotations

from kyso.errors import Message

# axis/api.py
LEVEL_NOT_BB_OR_BT = Message("'level' must be B-B or B-T", "'level' phải là B-B hoặc B-T")
SCHEME_NOT_A_STRING = Message("'scheme' must be a string", "'scheme' phải là chuỗi")
PACKAGE_EMPTY = Message("the package is empty", "gói tin trống")
METADATA_NOT_AN_OBJECT = Message("'metadata' must be a JSON object", "'metadata' phải là một đối tượng JSON")
STATUS_MESSAGE_EMPTY = Message("the status message is empty", "thông điệp trạng thái trống")

# axis/building.py
CONTROL_CHARACTERS = Message(
    "{name} holds characters XML cannot carry (control characters)",
    "{name} chứa ký tự XML không cho phép (ký tự điều khiển)",
)

# axis/model.py
ORGAN_ID_REQUIRED = Message("'from' and each of 'to' need an 'organ_id'", "'from' và mỗi 'to' cần 'organ_id'")

# axis/parsing.py
MESSAGE_HEADER_NO_FROM = Message("MessageHeader has no From", "MessageHeader thiếu From")
ATTACHMENT_ZIP_NOT_ONE_FILE = Message(
    "attachment {content_id} must hold exactly one file",
    "tệp đính kèm {content_id} phải chứa đúng một tệp",
)
ATTACHMENT_UNPACKS_TOO_LARGE = Message(
    "attachment {content_id} unpacks beyond the limits",
    "tệp đính kèm {content_id} giải nén vượt giới hạn",
)
ATTACHMENT_NO_CONTENT_ID = Message("an Attachment has no ContentId", "một Attachment thiếu ContentId")
ATTACHMENT_NOT_BASE64 = Message("attachment {content_id} is not base64", "tệp đính kèm {content_id} không phải base64")
XML_HAS_DTD = Message(
    "the XML document declares a DTD, which is not accepted",
    "tài liệu XML khai báo DTD, không được chấp nhận",
)
ROOT_NOT_EDXML = Message("the root element must be edXML in {ns}", "phần tử gốc phải là edXML thuộc {ns}")
MESSAGE_HEADER_MISSING = Message(
    "edXMLEnvelope/edXMLHeader/MessageHeader is missing",
    "thiếu edXMLEnvelope/edXMLHeader/MessageHeader",
)
MESSAGE_HEADER_TWICE = Message("more than one MessageHeader", "có nhiều hơn một MessageHeader")
STATUS_MESSAGE_NOT_PACKAGE = Message(
    "this is a status message, not a document package (see /api/v1/edxml/status)",
    "đây là thông điệp trạng thái, không phải gói tin văn bản (xem /api/v1/edxml/status)",
)
ATTACHMENT_NOT_A_ZIP = Message(
    "attachment {content_id} is not a valid zip",
    "tệp đính kèm {content_id} không phải zip hợp lệ",
)
AN_ATTACHMENT_TOO_LARGE = Message("an attachment is too large", "một tệp đính kèm quá lớn")
ATTACHMENT_MIXED_CONTENT = Message(
    "attachment {content_id} has text on both sides of an element",
    "tệp đính kèm {content_id} có văn bản ở cả hai phía của một phần tử",
)
ATTACHMENT_NOT_BASE64_TEXT = Message(
    "attachment {content_id} must hold base64 text only",
    "tệp đính kèm {content_id} chỉ được chứa văn bản base64",
)
ATTACHMENT_TOO_LARGE = Message("attachment {content_id} is too large", "tệp đính kèm {content_id} quá lớn")

# axis/sign.py
PDF_SIGNER_NOT_SENDER = Message(
    "the PDF credential belongs to {signer}, not to the sending agency {sender}",
    "chứng thư ký PDF thuộc {signer}, không thuộc cơ quan gửi {sender}",
)
RECIPIENT_REQUIRED = Message("'to' must list at least one recipient", "'to' phải có ít nhất một nơi nhận")
OTHER_INFO_INVALID = Message(
    "'other_info' must be an object whose keys are XML element names",
    "'other_info' phải là đối tượng có khóa là tên phần tử XML",
)
TO_PLACES_NOT_A_LIST = Message("'to_places' must be a list", "'to_places' phải là danh sách")
PACKAGE_ALREADY_SIGNED = Message("the package is already signed", "gói tin đã được ký")
DOCUMENT_ID_NOT_FROM_SENDER = Message(
    "DocumentId must start with the From OrganId",
    "DocumentId phải bắt đầu bằng OrganId của From",
)

# axis/status.py
NO_RECIPIENT_FOR_STATUS = Message(
    "no recipient of this document can take this status: name them in To",
    "không nơi nhận nào của văn bản nhận được trạng thái này: hãy nêu trong To",
)
TO_OR_STAFF_INVALID = Message(
    "'to' must be a list and 'staff' an object",
    "'to' phải là danh sách và 'staff' là đối tượng",
)
INCOMING_STATUS_UNSIGNED = Message(
    "an incoming status message must be signed by its From agency",
    "thông điệp trạng thái nhận về phải được cơ quan gửi (From) ký số",
)
DOCUMENT_UNKNOWN = Message(
    "no document with this DocumentId passed through Kyso",
    "không có văn bản nào với DocumentId này đi qua Kyso",
)
NOT_A_RECIPIENT = Message(
    "{strangers} is not a recipient of this document",
    "{strangers} không phải nơi nhận của văn bản này",
)
NO_STATUS_RECORDED = Message("no status is recorded for this document", "chưa có trạng thái nào cho văn bản này")

# axis/status_message.py
STATUS_CODE_UNKNOWN = Message(
    "status code {code!r} is not one of {codes}",
    "mã trạng thái {code!r} không thuộc {codes}",
)
STATUS_TRANSITION_INVALID = Message(
    "status {code} cannot follow {last} for recipient {track}; allowed next: {nxt}",
    "trạng thái {code} không thể theo sau {last} đối với nơi nhận {track}; được phép tiếp theo: {nxt}",
)
NOT_A_STATUS_MESSAGE = Message(
    "MessageHeader has no StatusCode: not a status message",
    "MessageHeader thiếu StatusCode: không phải thông điệp trạng thái",
)
STATUS_NEEDS_FROM_AND_RESPONSE_FOR = Message(
    "a status message needs From and ResponseFor",
    "thông điệp trạng thái cần From và ResponseFor",
)

# several messages name findings of a model check, joined into one clause ({problems})
HEADER_INVALID = Message("the header is not valid: {problems}", "phần đầu gói tin không hợp lệ: {problems}")
STATUS_MESSAGE_INVALID = Message(
    "the status message is not valid: {problems}",
    "thông điệp trạng thái không hợp lệ: {problems}",
)

# axis/sign.py: the English names the exact reason (model.name_problem); the Vietnamese states
# the rule (what a safe name is), so {why} appears in the English only
UNSAFE_ATTACHMENT_NAME = Message(
    "attachment name '{shown}' is not a safe file name: it {why}",
    "tên tệp đính kèm '{shown}' không phải tên tệp an toàn (chỉ tên tệp, không đường dẫn, "
    "không ký tự điều khiển hay ký tự đảo chiều)",
)

# axis/status.py
STATUS_FROM_WRONG_PARTY = Message(
    "status {code} is sent by {who}, not by {sender}",
    "trạng thái {code} do {who} gửi, không phải {sender}",
)
DOCUMENT_SENDER = Message("the document's sender", "cơ quan gửi văn bản")
A_RECIPIENT = Message("a recipient", "một nơi nhận")
STATUS_SIGNATURE_NOT_ACCEPTABLE = Message(
    "the status message's signature is not acceptable: {why}",
    "chữ ký của thông điệp trạng thái không được chấp nhận: {why}",
)

# axis/status_message.py: {info} is the status code's own name
STATUS_NEEDS_REASON = Message(
    "status {code} ({info}) needs a reason in Description",
    "trạng thái {code} ({info}) cần nêu lý do trong Description",
)
