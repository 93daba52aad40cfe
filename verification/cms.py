"""CMS signatures (detached or attached, BER or DER): each SignerInfo judged on its own over the
signed data, from the encodings as received."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from asn1crypto import cms, core, x509

from verification.indication import Indication
from verification.limits import check_signature_count
from verification.messages import DETACHED_CMS_NEEDS_DATA
from verification.report import SignatureReport, UnsupportedDocument, summaries
from verification.verdict import broken, digest_differs, indeterminate, signature_report, unjudged_key, with_problems

log = logging.getLogger("kyso.verify")


def _der(encoded: bytes, set_of: bool = False) -> bytes:
    """The DER form of one BER element, by its tags alone (asn1crypto's typed re-encoding
    fails on values it cannot parse, and on some it parses, e.g. a content-type of tst_info):
    definite lengths, constructed strings joined, the elements of every SET sorted."""
    from asn1crypto import parser

    cls, constructed, tag, _header, contents, _trailer = parser.parse(encoded)
    if not constructed:
        return parser.emit(cls, 0, tag, contents)
    children = []
    rest = contents
    while rest:
        child = parser.parse(rest)
        size = len(child[3]) + len(child[4]) + len(child[5])
        children.append(_der(rest[:size]))
        rest = rest[size:]
    if cls == 0 and tag in (3, 4, 12, 19, 22, 26, 30):  # a constructed (BER) string: one primitive
        return parser.emit(cls, 0, tag, b"".join(parser.parse(c)[4] for c in children))
    if set_of or (cls == 0 and tag == 17):  # set_of: an implicitly tagged SET OF
        children.sort()
    return parser.emit(cls, 1, tag, b"".join(children))


def _elements(encoded: bytes) -> list[bytes]:
    """The encodings of a constructed element's children, as received (BER or DER)."""
    from asn1crypto import parser

    out, rest = [], parser.parse(encoded)[4]
    while rest:
        child = parser.parse(rest)
        size = len(child[3]) + len(child[4]) + len(child[5])
        out.append(rest[:size])
        rest = rest[size:]
    return out


def _received(value: Any) -> bytes:
    """A parsed value's encoding as it was received: asn1crypto's dump() re-encodes anything of
    indefinite length, and its re-encoding fails on some valid values (a tst_info content type)."""
    return bytes(value._header) + bytes(value.contents) + bytes(value._trailer or b"")


def _one_signer(signed_der: bytes, signer_der: bytes) -> cms.SignedData:
    """The SignedData with one SignerInfo and no encapsulated content (the data is given
    apart), assembled from the received encodings so that nothing signed is re-encoded."""
    from asn1crypto import parser

    fields = _elements(signed_der)
    econtent_type = _elements(fields[2])[0]
    kept = [fields[0], fields[1], parser.emit(0, 1, 16, econtent_type)]
    kept += [f for f in fields[3:-1] if f[0] in (0xA0, 0xA1)]  # certificates, crls
    kept.append(parser.emit(0, 1, 17, signer_der))
    return cms.SignedData.load(parser.emit(0, 1, 16, b"".join(kept)))


def _econtent(signed_der: bytes) -> bytes | None:
    """The encapsulated content's octets, whatever its declared type and encoding."""
    from asn1crypto import parser

    encap = _elements(_elements(signed_der)[2])
    if len(encap) < 2:
        return None
    (octets,) = _elements(encap[1])  # [0] EXPLICIT
    return parser.parse(_der(octets))[4]


def _der_signer_info(signer_info: bytes) -> bytes:
    """RFC 5652 5.4: the signature is over the DER encoding of the signed attributes. They are
    verified as received when they are DER; only signed attributes that travelled in another
    (BER) encoding are re-encoded, as EU DSS does. Re-encoding DER is never needed and once
    made a valid signature fail (issue 14, item 8)."""
    from asn1crypto import parser

    fields = _elements(signer_info)
    for i, f in enumerate(fields):
        if f[0] == 0xA0:  # [0] IMPLICIT SignedAttributes
            try:
                der = _der(f, set_of=True)
            except ValueError:  # not even BER: leave it to the validator to fail on
                return signer_info
            if der == f:
                return signer_info
            fields[i] = der
            return parser.emit(0, 1, 16, b"".join(fields))
    return signer_info


_RSA_BY_HASH = {"sha224": "sha224_rsa", "sha256": "sha256_rsa", "sha384": "sha384_rsa", "sha512": "sha512_rsa"}


def _rsa_named_as_signed(signer_der: bytes, cert: x509.Certificate) -> bytes | None:
    """An RSA PKCS#1 v1.5 SignerInfo whose signatureAlgorithm names another hash than the one
    the signature was made with (EU DSS's DSS-1419 files; openssl and DSS verify them, as they
    take the hash from the DigestInfo that the signature itself protects), or names a hash
    asn1crypto does not know (SHA-3 with RSA): the SignerInfo with the algorithm that was
    used, or None. The signatureAlgorithm field is not signed; the DigestInfo is."""
    from asn1crypto import algos, parser
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    si = cms.SignerInfo.load(signer_der)
    if cert.public_key.algorithm != "rsa" or si["signature_algorithm"]["algorithm"].native == "rsassa_pss":
        return None
    key = serialization.load_der_public_key(cert.public_key.dump())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        digest_info = algos.DigestInfo.load(
            key.recover_data_from_signature(si["signature"].native, padding.PKCS1v15(), None))
        used = digest_info["digest_algorithm"]["algorithm"].native
    except (ValueError, TypeError):
        return None
    try:
        named = si["signature_algorithm"].hash_algo
    except ValueError:  # plain rsaEncryption (or an OID asn1crypto does not know): the digestAlgorithm
        named = si["digest_algorithm"]["algorithm"].native
    try:
        known = si["signature_algorithm"].signature_algo in ("rsassa_pkcs1v15", "rsassa_pss")
    except ValueError:  # e.g. RSA with SHA-3, which asn1crypto does not name
        known = False
    if used == named and known:
        return None
    name = "rsassa_pkcs1v15" if used == si["digest_algorithm"]["algorithm"].native else _RSA_BY_HASH.get(used)
    if name is None:
        return None
    fields = _elements(signer_der)
    at = 4 if fields[3][0] == 0xA0 else 3
    fields[at] = algos.SignedDigestAlgorithm({"algorithm": name}).dump()
    return parser.emit(0, 1, 16, b"".join(fields))


def _signer_cert(signed: cms.SignedData, signer_info: cms.SignerInfo) -> x509.Certificate | None:
    sid = signer_info["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            if (cert.issuer == sid.chosen["issuer"] and cert.serial_number == sid.chosen["serial_number"].native):
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None


def _signer_cert_present(signed: cms.SignedData, signer_info: cms.SignerInfo) -> bool:
    return _signer_cert(signed, signer_info) is not None


def _validate_one(data: bytes, signed_der: bytes, signer_der: bytes, vc: Any) -> Any:
    """pyHanko's verdict on one SignerInfo over ``data``."""
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms

    cert = _signer_cert(cms.SignedData.load(signed_der), cms.SignerInfo.load(signer_der))
    fixed = _rsa_named_as_signed(signer_der, cert) if cert is not None else None
    if fixed is not None:  # checked before, not after, a failed validation: one path building, not two
        try:
            status = asyncio.run(async_validate_detached_cms(data, _one_signer(signed_der, fixed),
                                                             signer_validation_context=vc))
            if status.valid:
                return status
        except SignatureValidationError:  # e.g. an algorithm-protection attribute names the other one
            pass
    return asyncio.run(async_validate_detached_cms(data, _one_signer(signed_der, signer_der),
                                                   signer_validation_context=vc))


def _without_unsigned(signer_der: bytes) -> bytes | None:
    """The SignerInfo without its unsigned attributes, or None when it has none."""
    from asn1crypto import parser

    fields = _elements(signer_der)
    if fields[-1][0] != 0xA1:
        return None
    return parser.emit(0, 1, 16, b"".join(fields[:-1]))


def verify_cms(info: cms.ContentInfo, detached: bytes | None,
                vc: Any) -> list[SignatureReport]:
    """Every SignerInfo on its own (several are legal: RFC 5652 5.1), over the detached data or
    the encapsulated content. Both present and different is a format failure: which one was
    signed is then the attacker's choice."""
    from pyhanko.sign.validation.errors import SignatureValidationError

    from verification.pdf_checks import Problem
    from verification.public_keys import key_problem

    signed = info["content"]
    check_signature_count(len(signed["signer_infos"]))
    signed_der = _elements(_received(info))[1]  # [0] EXPLICIT SignedData
    (signed_der,) = _elements(signed_der)
    econtent = _econtent(signed_der)
    if econtent is None and detached is None:
        raise UnsupportedDocument(DETACHED_CMS_NEEDS_DATA)
    problems = []
    if econtent is not None and detached is not None and econtent != detached:
        problems.append(Problem("FORMAT_FAILURE", "the signature carries its own content, and it differs from the "
                                "data given with it", "chữ ký mang sẵn nội dung, khác với dữ liệu được gửi kèm"))
    data = detached if detached is not None else econtent
    assert data is not None
    signer_ders = _elements(_elements(signed_der)[-1])
    stamped_types = ("signature_time_stamp_token",)
    out = []
    for index, original in enumerate(signed["signer_infos"]):
        name = f"SignerInfo {index + 1}"
        if not _signer_cert_present(signed, original):
            missing = Problem("NO_SIGNING_CERTIFICATE_FOUND", "the signer's certificate is not in the signature",
                              "chữ ký không kèm chứng thư số của người ký")
            out.append(indeterminate(name, missing, kind="cms"))
            continue
        cert = _signer_cert(signed, original)
        if cert is not None and (unloadable := key_problem(cert)) is not None:
            algorithm = original["digest_algorithm"]["algorithm"].native
            digest = hashlib.new(algorithm, data).digest() if algorithm in hashlib.algorithms_available else None
            differs = digest_differs(original, digest)
            out.append(with_problems(unjudged_key(name, unloadable, cert, differs, kind="cms"), problems))
            continue
        signer_der = _der_signer_info(signer_ders[index])
        unreadable = None
        try:
            status = _validate_one(data, signed_der, signer_der, vc)
        except (SignatureValidationError, ValueError, KeyError, TypeError) as exc:
            log.info("verify.cms_malformed %s", str(exc)[:200])
            # Unsigned attributes (time stamps, validation data) that cannot be read or checked
            # do not make the signature itself malformed: judge it without them, and say so.
            bare = _without_unsigned(signer_der)
            status = None
            if bare is not None:
                try:
                    status = _validate_one(data, signed_der, bare, vc)
                except (SignatureValidationError, ValueError, KeyError, TypeError):
                    pass
            if status is None:
                bad = Problem("FORMAT_FAILURE", "the CMS signature is malformed", "chữ ký CMS sai cấu trúc")
                out.append(broken(name, bad, kind="cms"))
                continue
            unreadable = Problem("GENERIC", "its unsigned attributes (time stamp or validation data) cannot be "
                                 "read or checked, so they were left aside",
                                 "không đọc hoặc kiểm tra được các thuộc tính không ký (dấu thời gian, dữ liệu "
                                 "kiểm tra) nên đã bỏ qua chúng")
        unsigned = original["unsigned_attrs"]
        types = [] if isinstance(unsigned, core.Void) else [a["type"].native for a in unsigned]
        level = "B-T" if any(t in stamped_types for t in types) else "B-B"
        coverage = {"coverage": "attached content" if detached is None else "detached data",
                    "covers_whole_document": not problems}
        report = signature_report(status, "cms", name if len(signed["signer_infos"]) > 1 else None, level, coverage)
        if unreadable is not None:
            report.problems.append(unreadable.to_json())
            if report.indication == Indication.TOTAL_PASSED:
                report.indication, report.sub_indication = Indication.INDETERMINATE, unreadable.sub_indication
                report.summary_en, report.summary_vi = summaries(
                    Indication.INDETERMINATE, None, report.signer, report.claimed_signing_time, unreadable)
        out.append(with_problems(report, problems))
    return out
