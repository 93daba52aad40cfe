"""What verification says to callers, in English and Vietnamese (see kyso/messages.py)."""

from __future__ import annotations

from kyso.errors import Message

# verification/anchors.py
ANCHOR_NEEDS_ONE_CERTIFICATE = Message(
    "give one certificate (PEM or DER, at most 64 KiB)",
    "cần đúng một chứng thư số (PEM hoặc DER, tối đa 64 KiB)",
)
ANCHOR_NOT_A_CA = Message(
    "this is not a CA certificate (basicConstraints cA is not set): only a root or another certificate "
    "authority can be a trust anchor",
    "đây không phải chứng thư số của tổ chức cung cấp dịch vụ chứng thực (basicConstraints không có cA): chỉ "
    "chứng thư gốc hoặc của CA mới được tin cậy",
)
ANCHOR_MAY_NOT_SIGN_CERTIFICATES = Message(
    "this CA certificate may not sign certificates (keyUsage lacks keyCertSign)",
    "chứng thư số này không được ký chứng thư khác (keyUsage thiếu keyCertSign)",
)
FINGERPRINT_REQUIRED = Message(
    "give the SHA-256 fingerprint the publisher announces (64 hex digits); this certificate's is {fingerprint}",
    "cần nhập dấu vân tay SHA-256 do nơi phát hành công bố (64 chữ số hex); dấu vân tay của chứng thư này là "
    "{fingerprint}",
)
FINGERPRINT_MISMATCH = Message(
    "the certificate's SHA-256 fingerprint is {fingerprint}, not the one given: do not trust this file",
    "dấu vân tay SHA-256 của chứng thư là {fingerprint}, khác với dấu vân tay đã nhập: không được tin cậy tệp này",
)
ANCHOR_FILE_NOT_ONE_CERTIFICATE = Message(
    "the file must hold exactly one certificate",
    "tệp phải chứa đúng một chứng thư số",
)
ANCHOR_FILE_UNREADABLE = Message(
    "the file is not a readable X.509 certificate",
    "tệp không phải chứng thư số X.509 đọc được",
)
ANCHOR_EXISTS = Message("this certificate is already a trust anchor", "chứng thư số này đã được tin cậy")
ANCHOR_NOT_FOUND = Message(
    "no trust anchor with this SHA-256 fingerprint",
    "không có chứng thư tin cậy nào có dấu vân tay SHA-256 này",
)

# verification/api.py
MULTIPART_NEEDS_FILE = Message("a multipart request needs a 'file' part", "yêu cầu multipart cần phần 'file'")
DOCUMENT_EMPTY = Message("the document is empty", "tài liệu trống")
ANCHOR_CERTIFICATE_REQUIRED = Message(
    "give the certificate as PEM or base64 DER in 'certificate'",
    "cần chứng thư số dạng PEM hoặc DER base64 trong 'certificate'",
)
ANCHOR_CERTIFICATE_NOT_PEM_OR_BASE64 = Message(
    "'certificate' is neither PEM nor base64",
    "'certificate' không phải PEM hay base64",
)

# verification/asic_container.py
CONTAINER_ENTRY_TOO_LARGE = Message("{name} is too large", "{name} quá lớn")
MANIFEST_HAS_DTD = Message("a manifest may not carry a DTD or entities", "tệp kê khai không được chứa DTD hay thực thể")
MANIFEST_NAMES_NO_SIGNATURE = Message(
    "{name} names no signature in the container",
    "{name} không trỏ tới chữ ký nào trong tệp nén",
)
CONTAINER_TOO_MANY_ENTRIES = Message("more than {max_entries} entries", "quá {max_entries} tệp bên trong")
CONTAINER_EXPANDS_TOO_MUCH = Message("the container expands too much (zip bomb?)", "tệp nén giải nén quá lớn")
CONTAINER_DUPLICATE_NAMES = Message("two entries have the same name", "hai tệp bên trong trùng tên")
MANIFEST_MALFORMED = Message("a manifest is not well-formed XML", "tệp kê khai không phải XML hợp lệ")
NOT_A_ZIP_CONTAINER = Message("not a zip container", "không phải tệp nén ASiC")

# verification/cms.py
DETACHED_CMS_NEEDS_DATA = Message(
    "a detached CMS signature needs its data (a second part, or --data)",
    "chữ ký CMS tách rời cần kèm dữ liệu đã ký (phần thứ hai, hoặc --data)",
)

# verification/detection.py
UNSUPPORTED_FORMAT = Message(
    "not a PDF, CMS signature, XML document or ASiC container",
    "không phải PDF, chữ ký CMS, tài liệu XML hay gói ASiC",
)

# verification/limits.py
VERIFY_BUSY = Message(
    "too many verifications are running; try again shortly",
    "đang có quá nhiều yêu cầu kiểm tra; hãy thử lại sau ít phút",
)
TOO_MANY_SIGNATURES = Message(
    "the document has {count} signatures; at most {most} are checked",
    "tài liệu có {count} chữ ký; chỉ kiểm tra tối đa {most} chữ ký",
)

# verification/page.py
TOO_MANY_UPLOADS = Message(
    "too many uploads from your address; try again in {retry_after} s",
    "quá nhiều lần tải lên từ địa chỉ của bạn; hãy thử lại sau {retry_after} giây",
)
CHOOSE_FILE = Message("choose a file", "hãy chọn một tệp")
FILE_EMPTY = Message("the file is empty", "tệp trống")
FILE_TOO_LARGE = Message("the file is too large", "tệp quá lớn")

# verification/pdf.py
PDF_ENCRYPTED_FOR_RECIPIENTS = Message(
    "the PDF file is encrypted for particular recipients (with their certificates); Kyso cannot open it",
    "tệp PDF được mã hóa cho người nhận cụ thể (bằng chứng thư số của họ); Kyso không mở được",
)
PDF_PASSWORD_PROTECTED = Message(
    "the PDF file is protected by a password to open it; Kyso cannot read it",
    "tệp PDF được bảo vệ bằng mật khẩu mở tệp; Kyso không đọc được",
)
PDF_ENCRYPTION_UNREADABLE = Message(
    "the PDF file's encryption cannot be read",
    "không đọc được phần mã hóa của tệp PDF",
)
PDF_STRUCTURE_UNREADABLE = Message("the structure of the PDF file cannot be read", "không đọc được cấu trúc tệp PDF")

# verification/xmlsafe.py
XML_TOO_LARGE = Message(
    "the XML document is larger than {max_bytes} bytes",
    "tài liệu XML lớn hơn {max_bytes} byte",
)
XML_HAS_DTD = Message(
    "the XML document declares a DTD or entities, which are not accepted",
    "tài liệu XML khai báo DTD hoặc thực thể (entity), không được chấp nhận",
)
XML_MALFORMED = Message("the XML document is malformed", "tài liệu XML sai cú pháp")
XML_TOO_DEEP = Message(
    "the XML document is nested too deeply or has too many elements",
    "tài liệu XML lồng quá sâu hoặc có quá nhiều phần tử",
)
XML_NOT_UTF8 = Message("the XML document must be encoded in UTF-8", "tài liệu XML phải được mã hóa UTF-8")
XML_ATTRIBUTE_TOO_LONG = Message("an XML attribute is too long", "một thuộc tính XML quá dài")

# verification/service.py: a document whose structure cannot be read, named by its kind
STRUCTURE_UNREADABLE = Message("the structure of the {what} cannot be read", "không đọc được cấu trúc {what}")
DOCUMENT_KINDS: dict[str, Message] = {
    "pdf": Message("PDF file", "tệp PDF"),
    "cms": Message("CMS signature", "chữ ký CMS"),
    "xml": Message("XML file", "tệp XML"),
    "asic-e": Message("ASiC container", "gói ASiC"),
    "asic-s": Message("ASiC container", "gói ASiC"),
}
