"""The edXML model: strict building, tolerant parsing, attachment limits, header findings."""

from __future__ import annotations

import base64
import io
import re
import unicodedata
import zipfile

import pytest

from axis import building, model, parsing
from verification import xmlsafe

SUBJECT = "V/v triển khai chữ ký số trong văn bản điện tử — Hải Phòng"


def package(attachments: int = 1) -> model.Package:
    header = model.MessageHeader(
        sender=model.Organization("000.00.12.H31", "Sở Nội vụ thành phố Hải Phòng"),
        recipients=[model.Organization("000.00.13.H31", "Sở Tài chính"),
                    model.Organization("000.00.14.H31", "Sở Tư pháp")],
        document_id="000.00.12.H31,2026/11/25,123/SNV-VP", code_number="123", code_notation="SNV-VP",
        place="Hải Phòng", promulgation_date="2026/11/25", document_type="1", type_name="Công văn",
        subject=SUBJECT, content="Kính gửi các sở, ban, ngành.", position="Giám đốc", signer_name="Nguyễn Văn An",
        other_info={"Priority": "0", "PageAmount": "1"}, to_places=["Các sở, ban, ngành"])
    atts = [model.Attachment(f"att-{i}", f"cong-van-{i}.pdf", "application/pdf", b"%PDF-1.7 " + bytes([i]) * 1000)
            for i in range(attachments)]
    return model.Package(header=header, traces=[model.TraceHeader("000.00.12.H31", "2026/11/25 09:30:00")],
                         manifest=[a.content_id for a in atts], attachments=atts)


def test_build_then_parse_round_trips_with_vietnamese_text_intact() -> None:
    data = building.to_bytes(building.build(package(2)))
    assert SUBJECT.encode() in data and unicodedata.is_normalized("NFC", data.decode())
    back = parsing.parse(data)
    assert back.header.subject == SUBJECT and back.header.sender.organ_id == "000.00.12.H31"
    assert [r.organ_id for r in back.header.recipients] == ["000.00.13.H31", "000.00.14.H31"]
    assert [a.data for a in back.attachments] == [a.data for a in package(2).attachments]
    assert all(a.zipped for a in back.attachments) and back.findings() == []
    assert back.header.other_info == {"Priority": "0", "PageAmount": "1"}


LEGACY = """<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
 <AttachmentEncoded>
  <Attachment ContentId="a1" AttachmentName="to-trinh.pdf" ContentType="application/pdf">{b64}</Attachment>
 </AttachmentEncoded>
 <edXMLEnvelope>
  <edXMLBody><edXMLManifest version="1.0"><Reference href="cid:a1"/></edXMLManifest></edXMLBody>
  <edXMLHeader>
   <TraceHeaderList><Bussiness><BussinessDocType>0</BussinessDocType></Bussiness></TraceHeaderList>
   <MessageHeader>
    <Subject>Tờ trình</Subject>
    <To><OrganName>Sở Tài chính</OrganName><OrganId>000.00.13.H31</OrganId></To>
    <DocumentId>000.00.12.H31,2026/11/25,7/TTr-SNV</DocumentId>
    <From><OrganId>000.00.12.H31</OrganId></From>
   </MessageHeader>
  </edXMLHeader>
 </edXMLEnvelope>
</edXML>"""


def test_parsing_tolerates_order_default_namespace_and_plain_base64() -> None:
    data = LEGACY.format(b64=base64.b64encode(b"%PDF-1.4 plain").decode()).encode()
    pkg = parsing.parse(data)
    assert pkg.header.sender.organ_id == "000.00.12.H31" and pkg.header.subject == "Tờ trình"
    (att,) = pkg.attachments
    assert (att.content_id, att.data, att.zipped) == ("a1", b"%PDF-1.4 plain", False)
    assert pkg.manifest == ["a1"] and pkg.findings() == []


def _zipped(entries: dict[str, bytes]) -> str:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return base64.b64encode(out.getvalue()).decode()


def test_zip_bombs_and_odd_archives_are_refused() -> None:
    bomb = LEGACY.format(b64=_zipped({"a.pdf": b"\0" * (60 << 20)})).encode()
    with pytest.raises(model.AttachmentTooLarge):
        parsing.parse(bomb)
    two = LEGACY.format(b64=_zipped({"a.pdf": b"1", "b.pdf": b"2"})).encode()
    with pytest.raises(model.EdxmlInvalid):
        parsing.parse(two)
    with pytest.raises(model.EdxmlInvalid):
        parsing.parse(LEGACY.format(b64="not base64 !!").encode())


@pytest.mark.parametrize("reference", ['<Reference><ContentId>cid:a1</ContentId></Reference>',
                                       '<Reference href="cid:a1"/>'])
def test_the_national_sdk_writes_the_same_cid_on_both_sides(reference: str) -> None:
    """The SDK's manifest and Attachment carry the same 'cid:a1'; with the prefix stripped on
    one side only, both were reported missing (issue 14, item 9)."""
    data = LEGACY.format(b64=base64.b64encode(b"%PDF-1.4 plain").decode())
    data = data.replace('<Reference href="cid:a1"/>', reference).replace('ContentId="a1"', 'ContentId="cid:a1"')
    pkg = parsing.parse(data.encode())
    assert pkg.attachments[0].content_id == "cid:a1"
    assert pkg.findings() == []
    rebuilt = building.to_bytes(building.build(pkg))
    assert b'href="cid:a1"' in rebuilt and parsing.parse(rebuilt).findings() == []


def test_findings_name_what_is_wrong() -> None:
    pkg = package(2)
    pkg.manifest = ["att-0", "att-9"]
    pkg.header.document_id = "123/SNV"
    pkg.header.recipients = []
    found = parsing.parse(building.to_bytes(building.build(pkg))).findings()
    # the builder writes a manifest entry per attachment; check the model's own findings too
    assert any("DocumentId" in f for f in found) and any("no To" in f for f in found)
    assert any("att-9" in f for f in pkg.findings()) and any("att-1 is not in the manifest" in f
                                                            for f in pkg.findings())


@pytest.mark.parametrize("data,error", [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><edXML/>', xmlsafe.XmlDtdForbidden),
    (b'<edXML xmlns="urn:wrong"><edXMLEnvelope/></edXML>', model.EdxmlInvalid),
    (f'<edXML xmlns="{model.NS}"><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>'.encode(),
     model.EdxmlInvalid),
    (f'<edXML xmlns="{model.NS}"><edXMLEnvelope><edXMLHeader><MessageHeader><From><OrganId>H31</OrganId></From>'
     f'</MessageHeader><MessageHeader/></edXMLHeader></edXMLEnvelope></edXML>'.encode(), model.EdxmlInvalid),
    (b"<edXML><unclosed></edXML>", xmlsafe.XmlMalformed),
])
def test_bad_packages_are_refused_with_their_code(data: bytes, error: type) -> None:
    with pytest.raises(error):
        parsing.parse(data)


def test_enveloped_digest_puts_the_signature_back_exactly() -> None:
    """The enveloped-signature transform takes the signature out for the moment: the tree is
    the same afterwards, text around the signature included, and the digest is that of the
    document without it."""
    import hashlib

    from lxml import etree

    from verification import xmldsig

    for doc in (b'<a xmlns="urn:a"><h>x<s/>tail<i/></h></a>', b'<a xmlns="urn:a"><h>lead<s/>tail</h></a>',
                b'<a xmlns="urn:a"><h><s/></h><!--c--></a>'):
        root = etree.fromstring(doc)
        sig = root.find(".//{urn:a}s")
        before = etree.tostring(root)
        digest = xmldsig.enveloped_digest(root, sig, "sha256", exclusive=True)
        assert etree.tostring(root) == before
        stripped = etree.fromstring(doc.replace(b"<s/>", b"").replace(b"<!--c-->", b""))
        assert digest == hashlib.sha256(etree.tostring(stripped, method="c14n", exclusive=True)).digest()


def test_a_zip_is_passed_on_only_when_nothing_can_hide_in_it() -> None:
    """A second local entry spliced between the first entry and the central directory is
    invisible to zipfile but not to readers that walk local headers: such a zip is zipped
    anew, never passed on under the seal. An ordinary one is passed on as received."""
    import struct

    def one(name: str, data: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(name, data)
        return out.getvalue()

    good, evil = one("a.pdf", b"%PDF-benign"), one("evil.pdf", b"hidden")
    assert parsing._unzip(good, "1") == (b"%PDF-benign", True)
    start = zipfile.ZipFile(io.BytesIO(good)).start_dir
    evil_local = evil[:zipfile.ZipFile(io.BytesIO(evil)).start_dir]
    directory = bytearray(good[start:])
    struct.pack_into("<I", directory, directory.rfind(b"PK\x05\x06") + 16, start + len(evil_local))
    assert parsing._unzip(good[:start] + evil_local + bytes(directory), "1") == (b"%PDF-benign", False)


def test_hostile_text_is_refused_not_a_crash() -> None:
    pkg = package(1)
    pkg.header.subject = "Tiêu đề\x01"
    with pytest.raises(model.EdxmlInvalid, match="control characters"):
        building.build(pkg)
    pkg = package(1)
    pkg.header.sender.organ_id = "A00" + ".00" * 20  # matches the pattern, longer than 40
    assert any("From/OrganId" in f for f in pkg.findings())
    comment = building.to_bytes(building.build(package(1))).replace(b"</edXML:ContentTransferEncoded>",
                                                                    b"<!--x-->QUJD</edXML:ContentTransferEncoded>")
    for source in (comment, io.BytesIO(comment)):
        with pytest.raises(model.EdxmlInvalid):
            parsing.parse(source, keep_tree=isinstance(source, bytes))


def test_a_second_entry_after_the_deflate_stream_is_not_passed_on() -> None:
    """The second review's splice: a hidden local entry after the deflate stream, counted in
    the central compress_size. zipfile reads the first file; the zip is zipped anew."""
    import struct

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.pdf", b"%PDF-benign" * 100)
    good = out.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("evil.exe", b"MZ hidden")
    evil = out.getvalue()
    evil_local = evil[:zipfile.ZipFile(io.BytesIO(evil)).start_dir]
    zg = zipfile.ZipFile(io.BytesIO(good))
    info, start = zg.infolist()[0], zg.start_dir
    spliced = bytearray(good[:start] + evil_local + good[start:])
    central = start + len(evil_local)
    struct.pack_into("<I", spliced, central + 20, info.compress_size + len(evil_local))
    struct.pack_into("<I", spliced, spliced.rfind(b"PK\x05\x06") + 16, central)
    assert parsing._unzip(good, "1")[1] is True
    assert parsing._unzip(bytes(spliced), "1") == (b"%PDF-benign" * 100, False)


def test_comments_cannot_cut_signed_text() -> None:
    """Canonical XML leaves comments out of what is signed: "12<!---->3" is the signed "123"
    and must read so, in the header and in an attachment, parsed from bytes or a stream."""
    raw = building.to_bytes(building.build(package(1)))
    data = raw.replace(b",123/SNV-VP<", b",12<!---->3/SNV-VP<")
    att = base64.b64encode(b"%PDF-1.4 whole")
    data = re.sub(rb"(<edXML:ContentTransferEncoded>)[^<]*", lambda m: m.group(1) + att[:8] + b"<!---->" + att[8:],
                  data)
    for source, keep in ((data, True), (io.BytesIO(data), False)):
        pkg = parsing.parse(source, keep_tree=keep)
        assert pkg.header.document_id == "000.00.12.H31,2026/11/25,123/SNV-VP"
        assert pkg.attachments[0].data == b"%PDF-1.4 whole"


def test_findings_come_in_vietnamese_and_english_and_survive_the_helper() -> None:
    """Each finding is its English sentence (the JSON report's ``findings``) with a Vietnamese
    twin; the bounded helper pickles them (issue 14, item 9)."""
    import pickle

    pkg = package(1)
    pkg.header.subject = ""
    pkg.manifest.append("cid:att-9")
    found = pkg.findings()
    assert "Subject is empty" in found and "the manifest names att-9, which is not attached" in found
    vi = [f.vi for f in found]
    assert "trích yếu (Subject) để trống" in vi
    assert "danh mục (Manifest) có att-9 nhưng không có tệp đính kèm này" in vi
    back = pickle.loads(pickle.dumps(found))
    assert back == found and [f.vi for f in back] == vi
    assert model.joined(found, "vi") == "; ".join(vi)
