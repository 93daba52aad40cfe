"""Kyso's verifier against the published attack classes, and on legitimate forms that other
validators refuse. Each case states the ETSI EN 319 102-1 indication Kyso must give, and what
pyHanko's validator says about the same file (where it differs, that is why Kyso has its own
checks: verification/pdf_checks.py and the CMS handling in verification/cms.py).

Indications: TOTAL-FAILED/FORMAT_FAILURE when the signature's structure is broken or
ambiguous; TOTAL-FAILED/SIG_CONSTRAINTS_FAILURE when the document shown differs from the
one signed in a way the signer did not allow (Kyso's stricter reading: EN 319 102-1 files
that sub-indication under INDETERMINATE, but a changed document is a failure for a clerk);
INDETERMINATE/NO_POE when a time stamp does not verify (it proves nothing, the signature
itself may be fine); INDETERMINATE/NO_SIGNING_CERTIFICATE_FOUND without a signer certificate.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import keys, pem, x509

from tests.conftest import make_settings
from tests.signing.documents import letter_pdf
from tests.verify import attacks
from tests.verify.test_agreement import ForeignCA, _pyhanko_pdf

FAILED, INDET, PASSED = "TOTAL-FAILED", "INDETERMINATE", "TOTAL-PASSED"

# name -> (Kyso's indication, sub-indication, pyHanko's bottom line: True, False, None for
# "no signature found", "error" when it raises)
EXPECTED: dict[str, tuple[str, str | None, object]] = {
    "pdf-signed": (PASSED, None, True),
    "usf-byterange-null": (FAILED, "FORMAT_FAILURE", "error"),
    "usf-byterange-missing": (FAILED, "FORMAT_FAILURE", "error"),
    "usf-byterange-zero": (FAILED, "FORMAT_FAILURE", False),
    "usf-contents-empty": (FAILED, "FORMAT_FAILURE", "error"),
    "usf-contents-null": (FAILED, "FORMAT_FAILURE", "error"),
    "usf-contents-zeros": (FAILED, "FORMAT_FAILURE", "error"),
    # pyHanko skips a signature whose /SubFilter it does not know: "no signature". Kyso cannot
    # check a format it does not implement, and that is not evidence of forgery (issue 14,
    # item 5): INDETERMINATE, naming the format, and never a pass.
    "usf-subfilter-unknown": (INDET, "FORMAT_FAILURE", None),
    "isa-update-with-xref": (FAILED, "SIG_CONSTRAINTS_FAILURE", False),
    # pyHanko reads revisions through the xref chain only: bytes outside it are never judged.
    "isa-objects-without-xref": (FAILED, "SIG_CONSTRAINTS_FAILURE", True),
    "isa-objects-with-old-trailer": (FAILED, "SIG_CONSTRAINTS_FAILURE", True),
    "swa": (FAILED, "FORMAT_FAILURE", "error"),
    "br-overlap": (FAILED, "FORMAT_FAILURE", False),
    "br-uncovered-tail": (FAILED, "HASH_FAILURE", False),
    "br-junk-after-eof": (FAILED, "SIG_CONSTRAINTS_FAILURE", True),
    "br-second-signature-inside-first": (FAILED, "FORMAT_FAILURE", "error"),
    "shadow-hide": (FAILED, "SIG_CONSTRAINTS_FAILURE", False),
    # pyHanko: form filling, allowed after a signature without DocMDP.
    "shadow-replace": (FAILED, "SIG_CONSTRAINTS_FAILURE", True),
    # pyHanko: the new catalog has no signature field, so "no signature".
    "shadow-hide-and-replace": (FAILED, "SIG_CONSTRAINTS_FAILURE", None),
    # Legitimate: the certifying signer allowed form filling (DocMDP P=2).
    "form-filled-after-certification-p2": (PASSED, None, True),
    "cms-signed": (PASSED, None, True),
    # pyHanko validates exactly one SignerInfo and refuses two.
    "cms-two-signer-infos": (PASSED, None, "error"),
    # pyHanko hashes the signed attributes as transmitted; RFC 5652 says DER.
    "cms-ber-signed-attrs": (PASSED, None, False),
    "cms-tampered-timestamp": (INDET, "NO_POE", False),
    "cms-econtent-and-other-data": (FAILED, "FORMAT_FAILURE", "n/a"),
    "cms-econtent-and-same-data": (PASSED, None, "n/a"),
    "cms-missing-signer-certificate": (INDET, "NO_SIGNING_CERTIFICATE_FOUND", "error"),
}


@pytest.fixture
def settings(database: Any, hsm_token: Any, tmp_path: Path) -> Any:
    return make_settings(database, hsm_token, verify={"trust_roots": [str(tmp_path / "foreign-root.pem")],
                                                      "fetch_revocation": False})


def _tsa(foreign: ForeignCA) -> Any:
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    ser = foreign.serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(65537, 2048)  # pyHanko's dummy time stamper signs with RSA only
    cert = foreign._cert("Foreign TSA", key.public_key(), foreign.root, key=foreign.root_key,
                         eku=[foreign.cx509.oid.ExtendedKeyUsageOID.TIME_STAMPING])
    return DummyTimeStamper(
        tsa_cert=x509.Certificate.load(cert.public_bytes(ser.Encoding.DER)),
        tsa_key=keys.PrivateKeyInfo.load(key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8,
                                                           ser.NoEncryption())),
        fixed_dt=dt.datetime.now(dt.UTC))


def _certified_p2(signer: Any, pdf: bytes, permissions: Any = None) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    out = io.BytesIO()
    meta = signers.PdfSignatureMetadata(field_name="Certify", subfilter=fields.SigSeedSubFilter.PADES, certify=True,
                                        docmdp_permissions=permissions or fields.MDPPerm.FILL_FORMS)
    signers.PdfSigner(meta, signer=signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
    return out.getvalue()


def build(foreign: ForeignCA) -> dict[str, tuple[bytes, bytes | None]]:
    signer = foreign.signer()
    signed = _pyhanko_pdf(signer, letter_pdf())
    files: dict[str, tuple[bytes, bytes | None]] = {"pdf-signed": (signed, None)}
    for group in (attacks.usf_variants(signed), attacks.isa_variants(signed), attacks.byte_range_tricks(signed)):
        files.update({name: (data, None) for name, data in group.items()})
    files["swa"] = (attacks.swa(signed), None)
    files["shadow-hide"] = (attacks.shadow_hide(signer, letter_pdf(), _pyhanko_pdf), None)
    form, widget, _ap = attacks.form_document(letter_pdf(), b"1.000.000 VND")
    files["shadow-replace"] = (attacks.fill_field(_pyhanko_pdf(signer, form), widget, b"900.000.000 VND"), None)
    files["shadow-hide-and-replace"] = (attacks.shadow_hide_and_replace(signer, letter_pdf(), _pyhanko_pdf), None)
    files["form-filled-after-certification-p2"] = (
        attacks.fill_field(_certified_p2(signer, form), widget, b"2.000.000 VND"), None)

    doc = "Công văn số 12/UBND-VP: nội dung đã ký".encode() * 20
    cms_sig = attacks.sign_cms(signer, doc)
    files["cms-signed"] = (cms_sig, doc)
    files["cms-two-signer-infos"] = (attacks.merge_signer_infos(cms_sig, attacks.sign_cms(foreign.signer(), doc)),
                                     doc)
    files["cms-ber-signed-attrs"] = (attacks.ber_signed_attrs(cms_sig), doc)
    files["cms-tampered-timestamp"] = (
        attacks.tamper_timestamp(attacks.sign_cms(signer, doc, timestamper=_tsa(foreign))), doc)
    attached = attacks.sign_cms(signer, b"Harmless text the signer really signed", detached=False)
    files["cms-econtent-and-other-data"] = (attached, doc)
    files["cms-econtent-and-same-data"] = (attached, b"Harmless text the signer really signed")
    files["cms-missing-signer-certificate"] = (attacks.without_certificates(cms_sig), doc)
    return files


def _pyhanko_says(data: bytes, detached: bytes | None, roots: list[x509.Certificate]) -> object:
    from tests.verify.test_agreement import _pyhanko_opinion

    try:
        return _pyhanko_opinion(data, detached, roots)
    except Exception:  # noqa: BLE001 - any refusal counts as "error" here
        return "error"


def test_attacks_are_rejected_and_legitimate_forms_accepted(services: Any, tmp_path: Path) -> None:
    from verification import service

    foreign = ForeignCA(tmp_path)
    files = build(foreign)
    assert set(files) == set(EXPECTED)
    roots = [x509.Certificate.load(pem.unarmor((tmp_path / "foreign-root.pem").read_bytes())[2])]
    wrong = []
    for name, (data, detached) in files.items():
        indication, sub, theirs = EXPECTED[name]
        report = service.verify(services.sessions, services.settings, data, detached, offline=True)
        if (report.indication, report.sub_indication) != (indication, sub):
            wrong.append(f"{name}: Kyso {report.indication}/{report.sub_indication}, expected {indication}/{sub}: "
                         f"{[s.summary_en for s in report.signatures]}")
        if report.indication != PASSED:
            # The report says what is wrong, in both languages.
            failing = [s for s in report.signatures if s.indication != PASSED]
            assert failing and all(s.summary_en and s.summary_vi for s in failing), name
        if theirs != "n/a":
            said = _pyhanko_says(data, detached if name.startswith("cms-") else None, roots)
            if said != theirs:
                wrong.append(f"{name}: pyHanko says {said}, the table says {theirs}")
    assert not wrong, "\n".join(wrong)
    two = service.verify(services.sessions, services.settings, *files["cms-two-signer-infos"], offline=True)
    assert [s.indication for s in two.signatures] == [PASSED, PASSED]
    replaced = service.verify(services.sessions, services.settings, files["shadow-replace"][0], offline=True)
    assert "amount" in replaced.signatures[0].summary_en
    unknown = service.verify(services.sessions, services.settings, files["usf-subfilter-unknown"][0], offline=True)
    assert "/x.kyso.none is not supported" in unknown.signatures[0].summary_en
    assert "chưa hỗ trợ định dạng chữ ký /x.kyso.none" in unknown.signatures[0].summary_vi
    # Unsigned bytes after the last revision are evidence: the unknown format does not hide them.
    tail = service.verify(services.sessions, services.settings, files["usf-subfilter-unknown"][0] + b"\n1 0 obj\n",
                         offline=True)
    assert (tail.indication, tail.sub_indication) == (FAILED, "SIG_CONSTRAINTS_FAILURE")


def test_an_unknown_subfilter_is_shown_sanitised_and_bounded() -> None:
    """The /SubFilter is the file's word: no markup, control or bidirectional characters, and
    a bounded length, in the sentence a report repeats."""
    from verification.pdf_checks import subfilter_problem

    problem = subfilter_problem({"/SubFilter": "/<script>\u202e" + "A" * 500})
    assert problem is not None and problem.sub_indication == "FORMAT_FAILURE"
    shown = problem.en.split("format ")[1].split(" is not")[0]
    assert shown.startswith("/?script??") and len(shown) <= 67 and "<" not in problem.vi
    assert subfilter_problem({"/SubFilter": "/ETSI.CAdES.detached"}) is None
    assert "(/SubFilter)" in subfilter_problem({}).en  # type: ignore[union-attr]


def test_a_disallowed_change_fails_even_without_a_trusted_chain() -> None:
    """Failure outranks indeterminate: a changed document fails whoever signed it."""
    from types import SimpleNamespace

    from verification.verdict import status_indication

    status = SimpleNamespace(intact=True, valid=True, revoked=False, trusted=False, trust_problem_indic=None,
                             timestamp_validity=None)
    assert status_indication(status, None, pdf_ok=False) == ("TOTAL-FAILED", "SIG_CONSTRAINTS_FAILURE")
    assert status_indication(status, None, pdf_ok=True) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")


def _unexplained_update(pdf: bytes) -> bytes:
    """A later update that pyHanko's difference analysis cannot explain (a new catalog entry)
    and that changes nothing a page shows."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    w.root["/KysoNote"] = w.add_object(generic.DictionaryObject({generic.NameObject("/N"): generic.NumberObject(1)}))
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_an_unexplained_later_change_is_indeterminate_unless_forbidden(services: Any, tmp_path: Path) -> None:
    """Issue 14, item 5: a change after an approval signature that Kyso cannot classify as
    allowed, with the signed revision intact and no page changed, is not evidence of forgery:
    INDETERMINATE, saying so in both languages. The same change after a certification that
    allows none (DocMDP P=1) is a proven violation: TOTAL-FAILED."""
    from pyhanko.sign import fields

    from verification import service

    foreign = ForeignCA(tmp_path)
    signer = foreign.signer()
    approval = service.verify(services.sessions, services.settings,
                             _unexplained_update(_pyhanko_pdf(signer, letter_pdf())), offline=True)
    assert (approval.indication, approval.sub_indication) == (INDET, None), approval.signatures[0].summary_en
    sig = approval.signatures[0]
    assert sig.integrity and sig.signature_valid
    assert "could not classify as allowed; the signed revision itself is intact" in sig.summary_en
    assert "phần tài liệu đã ký vẫn nguyên vẹn" in sig.summary_vi
    assert sig.coverage["changes_after_signing_allowed"] is False
    assert sig.coverage["changes_after_signing_unclassified"] is True
    from verification.readable import covers

    assert "could not classify this change as allowed" in covers(sig.to_json(), "en")
    assert "did not allow" not in covers(sig.to_json(), "en")
    certified = _certified_p2(signer, letter_pdf(), fields.MDPPerm.NO_CHANGES)
    locked = service.verify(services.sessions, services.settings, _unexplained_update(certified), offline=True)
    assert (locked.indication, locked.sub_indication) == (FAILED, "SIG_CONSTRAINTS_FAILURE")
