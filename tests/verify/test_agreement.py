"""The agreement corpus: 30+ signed files made here (Kyso's own output at every level,
pyHanko-signed files under a foreign test CA, tampered, revoked, held, expired and
wrong-EKU cases). For each, Kyso's indication must agree with pyHanko's validator (TOTAL-PASSED
exactly when pyHanko's bottom line is true), and with pdfsig where pdfsig gives an opinion.
Every known disagreement with pdfsig is listed, with its reason, in PDFSIG_DIFFERS.

endesive 3.0.1 signs four more (a PDF, tampered or not, and a detached CMS, with its data or
changed data): see tests/verify/endesive_files.py for the two import workarounds it needs."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, keys, x509

from tests.conftest import make_settings
from tests.signing.conftest import AGENCY, PIN, H, issue_in_hsm
from tests.signing.documents import letter_pdf
from tests.signing.test_pdf import nss_trusting
from tests.verify import endesive_files

# pdfsig judges the bytes and the chain only (no DocMDP or later-change analysis, no EKU
# policy for documents, no time stamps): where Kyso and pyHanko must say more, it differs.
PDFSIG_DIFFERS = {
    "pdf-content-changed-after-signing": "pdfsig checks the signed byte range only, not what a later revision changed",
    "pdf-annotation-after-certification": "pdfsig does not evaluate DocMDP permissions",
    "pdf-annotation-after-approval": "pdfsig checks the signed byte range only; pyHanko and Kyso allow at most form "
                                     "filling after a signature with no DocMDP, and an annotation is more",
    "pdf-revoked-after-signing": "pdfsig (run with -no-ocsp) does not see the revocation",
    "pdf-held-after-signing": "pdfsig (run with -no-ocsp) does not see the hold",
    "pdf-revoked-before-signing": "pdfsig (run with -no-ocsp) does not see the revocation",
    "pdf-foreign-expired": "pdfsig reports the expiry; pyHanko reports it as a trust problem too: both not passed",
}
_NSS_FOREIGN = ("pdfsig (NSS) says 'Unknown issue with Certificate' for pyHanko-signed files under this minimal "
                "test CA, although `certutil -V -u S` accepts the same signer certificate against the same NSS "
                "database; not investigated further. pyHanko and Kyso both pass them.")
PDFSIG_DIFFERS.update({name: _NSS_FOREIGN for name in ("pdf-foreign-trusted", "pdf-foreign-certified",
                                                        "pdf-foreign-wrong-eku", "pdf-endesive-trusted")})


@pytest.fixture
def settings(database: Any, hsm_token: Any, tmp_path: Path) -> Any:
    # The seal revoked below is made outside Kyso (a software key): its agency may use an
    # external token.
    return make_settings(database, hsm_token, verify={"trust_roots": [str(tmp_path / "foreign-root.pem")],
                                                      "fetch_revocation": False},
                         profiles={"agency-seal": {"external_token_agencies": [AGENCY]}})


class ForeignCA:
    """A test CA outside Kyso, trusted through verify.trust_roots, signing with pyHanko."""

    def __init__(self, d: Path) -> None:
        from cryptography import x509 as cx509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.cx509, self.hashes, self.serialization, self.ec = cx509, hashes, serialization, ec
        self.now = dt.datetime.now(dt.UTC)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._cert("Foreign Test Root", self.root_key.public_key(), None, ca=True)
        (d / "foreign-root.pem").write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        self.stranger_key = ec.generate_private_key(ec.SECP256R1())
        self.stranger = self._cert("Unknown Root", self.stranger_key.public_key(), None, ca=True,
                                   key=self.stranger_key)

    def _cert(self, cn: str, public: Any, issuer: Any, *, ca: bool = False, key: Any = None,
              days: tuple[int, int] = (-1, 30), eku: Any = None) -> Any:
        cx509 = self.cx509
        name = cx509.Name([cx509.NameAttribute(cx509.oid.NameOID.COMMON_NAME, cn)])
        b = (cx509.CertificateBuilder().subject_name(name)
             .issuer_name(issuer.subject if issuer is not None else name).public_key(public)
             .serial_number(cx509.random_serial_number())
             .not_valid_before(self.now + dt.timedelta(days=days[0]))
             .not_valid_after(self.now + dt.timedelta(days=days[1]))
             .add_extension(cx509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(cx509.SubjectKeyIdentifier.from_public_key(public), critical=False))
        if issuer is not None:
            b = b.add_extension(cx509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),
                                critical=False)
        if ca:
            b = b.add_extension(cx509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
        else:
            b = b.add_extension(cx509.KeyUsage(True, True, False, False, False, False, False, False, False), True)
        if eku is not None:
            b = b.add_extension(cx509.ExtendedKeyUsage(eku), critical=False)
        return b.sign(key or self.root_key, self.hashes.SHA256())

    def rsa_keys(self) -> tuple[Any, Any]:
        """An RSA-2048 key and its certificate from the trusted root (for endesive)."""
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(65537, 2048)
        return key, self._cert("Foreign RSA signer", key.public_key(), self.root, key=self.root_key)

    def signer(self, *, days: tuple[int, int] = (-1, 30), eku: Any = None, unknown: bool = False) -> Any:
        from pyhanko.sign import signers
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        ser = self.serialization
        key = self.ec.generate_private_key(self.ec.SECP256R1())
        issuer, issuer_key = (self.stranger, self.stranger_key) if unknown else (self.root, self.root_key)
        cert = self._cert("Foreign signer", key.public_key(), issuer, key=issuer_key, days=days, eku=eku)
        return signers.SimpleSigner(
            signing_cert=x509.Certificate.load(cert.public_bytes(ser.Encoding.DER)),
            signing_key=keys.PrivateKeyInfo.load(key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8,
                                                                   ser.NoEncryption())),
            cert_registry=SimpleCertificateStore.from_certs([x509.Certificate.load(issuer.public_bytes(
                ser.Encoding.DER))]))


def _pyhanko_pdf(signer: Any, pdf: bytes, certify: bool = False) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    out = io.BytesIO()
    meta = signers.PdfSignatureMetadata(field_name="Foreign", subfilter=fields.SigSeedSubFilter.PADES,
                                        certify=certify)
    signers.PdfSigner(meta, signer=signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
    return out.getvalue()


def _pyhanko_cms(signer: Any, data: bytes) -> bytes:
    return bytes(asyncio.run(signer.async_sign_general_data(data, "sha256", detached=True)).dump())


def _add_annotation(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    annot = w.add_object(generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Annot"), generic.pdf_name("/Subtype"): generic.pdf_name("/Text"),
        generic.pdf_name("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (50, 50, 70, 70)]),
        generic.pdf_name("/Contents"): generic.TextStringObject("Đã xem")}))
    annots = page.get("/Annots")
    page["/Annots"] = generic.ArrayObject([*(annots or []), annot])
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _change_content(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = w.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 700 Td (FORGED) Tj ET"))
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _flip(data: bytes, marker: bytes) -> bytes:
    b = bytearray(data)
    b[b.index(marker)] ^= 1
    return bytes(b)


def build_corpus(client: Any, signing: dict[str, Any], foreign: ForeignCA) -> dict[str, tuple[bytes, bytes | None]]:
    eoffice = signing["keys"]["eoffice"]
    official = f"official:{signing['official_id']}"

    def pdf(query: str, doc: bytes | None = None, consent: bool = False) -> bytes:
        headers = H(eoffice, **({"X-Kyso-Consent": PIN} if consent else {}))
        r = client.post(f"/api/v1/sign/pdf?{query}", data=doc or letter_pdf(), headers=headers)
        assert r.status_code == 200, r.get_json()
        return bytes(r.data)

    def sign_cms(query: str, data: bytes, consent: bool = False) -> bytes:
        headers = H(eoffice, **({"X-Kyso-Consent": PIN} if consent else {}))
        r = client.post(f"/api/v1/sign/cms?{query}", data=data, headers=headers)
        assert r.status_code == 200, r.get_json()
        return bytes(r.data)

    doc = "Tờ trình số 7/TTr-SNV".encode() * 30
    c: dict[str, tuple[bytes, bytes | None]] = {}
    for level in ("B-B", "B-T", "B-LT", "B-LTA"):
        c[f"pdf-kyso-seal-{level}"] = (pdf(f"credential=agency:{AGENCY}&level={level}"), None)
        c[f"pdf-kyso-personal-{level}"] = (pdf(f"credential={official}&level={level}", consent=True), None)
    c["pdf-kyso-seal-pss"] = (pdf(f"credential=agency:{AGENCY}&level=B-B&scheme=rsa-pss-sha256"), None)
    leader = pdf(f"credential={official}&level=B-T&certify=true", consent=True)
    c["pdf-kyso-leader-certified"] = (leader, None)
    c["pdf-kyso-leader-then-seal"] = (pdf(f"credential=agency:{AGENCY}&level=B-LT", doc=leader), None)
    c["pdf-kyso-copy"] = (pdf(f"credential=agency:{AGENCY}&level=B-B&appearance=copy&document_number=7/TTr"), None)
    c["pdf-kyso-two-pages"] = (pdf(f"credential=agency:{AGENCY}&level=B-B&page=2", doc=letter_pdf(pages=2)), None)
    plain = pdf(f"credential=agency:{AGENCY}&level=B-B")
    c["pdf-flipped-byte"] = (_flip(plain, b"Do Q"), None)
    c["pdf-content-changed-after-signing"] = (_change_content(plain), None)
    c["pdf-annotation-after-approval"] = (_add_annotation(plain), None)
    c["pdf-annotation-after-certification"] = (_add_annotation(leader), None)
    c["pdf-unsigned"] = (letter_pdf(), None)
    c["pdf-foreign-trusted"] = (_pyhanko_pdf(foreign.signer(), letter_pdf()), None)
    c["pdf-foreign-certified"] = (_pyhanko_pdf(foreign.signer(), letter_pdf(), certify=True), None)
    c["pdf-foreign-unknown-root"] = (_pyhanko_pdf(foreign.signer(unknown=True), letter_pdf()), None)
    c["pdf-foreign-expired"] = (_pyhanko_pdf(foreign.signer(days=(-30, -1)), letter_pdf()), None)
    server_auth = [foreign.cx509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
    c["pdf-foreign-wrong-eku"] = (_pyhanko_pdf(foreign.signer(eku=server_auth), letter_pdf()), None)
    c["cms-kyso-seal-detached-B-B"] = (sign_cms(f"credential=agency:{AGENCY}", doc), doc)
    c["cms-kyso-seal-detached-B-T"] = (sign_cms(f"credential=agency:{AGENCY}&level=B-T", doc), doc)
    c["cms-kyso-seal-attached"] = (sign_cms(f"credential=agency:{AGENCY}&attached=true", doc), None)
    c["cms-kyso-personal-ecdsa"] = (sign_cms(f"credential={official}", doc, consent=True), doc)
    c["cms-kyso-seal-pss"] = (sign_cms(f"credential=agency:{AGENCY}&scheme=rsa-pss-sha256", doc), doc)
    c["cms-kyso-data-changed"] = (c["cms-kyso-seal-detached-B-B"][0], doc + b".")
    c["cms-foreign-trusted"] = (_pyhanko_cms(foreign.signer(), doc), doc)
    key, cert = foreign.rsa_keys()
    c["pdf-endesive-trusted"] = (endesive_files.sign_pdf(letter_pdf(), key, cert, [foreign.root]), None)
    c["pdf-endesive-tampered"] = (_flip(c["pdf-endesive-trusted"][0], b"Do Q"), None)
    c["cms-endesive-detached"] = (endesive_files.sign_detached_cms(doc, key, cert, [foreign.root]), doc)
    c["cms-endesive-data-changed"] = (c["cms-endesive-detached"][0], doc.replace(b"7", b"8", 1))
    c["cms-foreign-unknown-root"] = (_pyhanko_cms(foreign.signer(unknown=True), doc), doc)
    # Revoked and held after signing, each with a certificate of its own: the signature was
    # made while the certificate was good.
    keys_ = signing["keys"]
    extra_seal = issue_in_hsm(client, keys_, "agency-seal", AGENCY, "ec-p256")["certificate"]["serial"]
    extra_personal = issue_in_hsm(client, keys_, "official-signing", AGENCY, "ec-p256",
                                  signing["official_id"])["certificate"]["serial"]
    revoked = pdf(f"credential={extra_seal}&level=B-B")
    held_doc = pdf(f"credential={extra_personal}&level=B-B", consent=True)
    ra = H(keys_["ra"])
    assert client.post(f"/api/v1/admin/certificates/{extra_seal}/revoke", headers=ra,
                       json={"reason": "key_compromise"}).status_code == 200
    assert client.post(f"/api/v1/admin/certificates/{extra_personal}/hold", headers=ra,
                       json={}).status_code == 200
    c["pdf-revoked-after-signing"] = (revoked, None)
    c["pdf-held-after-signing"] = (held_doc, None)
    c["pdf-revoked-before-signing"] = (_signed_after_revocation(client, keys_, signing["dir"]), None)
    return c


def _signed_after_revocation(client: Any, keys_: dict[str, str], d: Path) -> bytes:
    """A seal certificate issued here for a software key (from a CSR), revoked, and then used
    by pyHanko: the signing time is after the revocation (Kyso itself refuses to sign with
    a revoked certificate, so the signature is made outside it)."""
    from cryptography.hazmat.primitives import serialization as ser
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from tests.pki import make_csr, software_key

    key = software_key("ec-p256")
    ra, admin = H(keys_["ra"]), H(keys_["admin"])
    r = client.post("/api/v1/admin/requests", headers=ra,
                    json={"profile": "agency-seal", "agency_code": AGENCY, "csr": make_csr(key=key)})
    assert r.status_code in (200, 201), r.get_json()
    out = client.post(f"/api/v1/admin/requests/{r.get_json()['request']['id']}/approve", headers=admin).get_json()
    serial = out["certificate"]["serial"]
    cert_der = client.get(f"/api/v1/admin/certificates/{serial}?format=der", headers=admin).data
    assert client.post(f"/api/v1/admin/certificates/{serial}/revoke", headers=ra,
                       json={"reason": "key_compromise"}).status_code == 200
    issuing = x509.Certificate.load(client.get("/pki/ca/issuing.crt").data)
    signer = signers.SimpleSigner(
        signing_cert=x509.Certificate.load(cert_der),
        signing_key=keys.PrivateKeyInfo.load(key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8,
                                                               ser.NoEncryption())),
        cert_registry=SimpleCertificateStore.from_certs([issuing]))
    return _pyhanko_pdf(signer, letter_pdf())


def _pyhanko_opinion(data: bytes, detached: bytes | None, roots: list[x509.Certificate]) -> bool | None:
    """pyHanko's bottom line for every signature (None: no signature)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
    from pyhanko_certvalidator import ValidationContext

    def vc() -> Any:
        return ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail",
                                 crls=_CRLS)

    if data.startswith(b"%PDF"):
        sigs = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
        if not sigs:
            return None
        results = []
        for s in sigs:
            if s.sig_object_type == "/DocTimeStamp":
                ts = validate_pdf_timestamp(s, validation_context=vc())
                results.append(bool(ts.intact and ts.valid and ts.trusted))
            else:
                results.append(bool(validate_pdf_signature(s, vc()).bottom_line))
        return all(results)
    info = cms.ContentInfo.load(data)
    signed = info["content"]
    if detached is None:
        detached = bytes(signed["encap_content_info"]["content"].native)
        signed = cms.SignedData.load(signed.untag().dump())
        signed["encap_content_info"] = {"content_type": "data"}
    return bool(asyncio.run(async_validate_detached_cms(detached, signed, signer_validation_context=vc()))
                .bottom_line)


_CRLS: list[Any] = []


def _pdfsig_opinion(path: Path, d: Path) -> bool | None:
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{d / 'nss'}", "-no-ocsp", str(path)], capture_output=True,
                         text=True, timeout=120).stdout
    if "does not contain any signatures" in out:
        return None
    # Document time stamps (ETSI.RFC3161) are "not yet verified" by pdfsig: no opinion on them.
    judged = out.count("Signature #") - out.count("Signature has not yet been verified")
    return out.count("Signature is Valid") == judged and out.count("Certificate is Trusted") == judged


def test_agreement_with_pyhanko_and_pdfsig(client: Any, services: Any, signing: dict[str, Any],
                                          tmp_path: Path) -> None:
    from asn1crypto import crl as asn1_crl
    from asn1crypto import pem

    from ca_admin import crl as crl_mod
    from verification import service

    foreign = ForeignCA(tmp_path)
    corpus = build_corpus(client, signing, foreign)
    assert len(corpus) >= 30
    d = signing["dir"]
    nss_trusting(d)
    subprocess.run(["certutil", "-A", "-d", f"sql:{d / 'nss'}", "-n", "foreign-root", "-t", "CT,C,C", "-i",
                    str(tmp_path / "foreign-root.pem")], check=True, capture_output=True)
    roots = [x509.Certificate.load(pem.unarmor((d / "root.pem").read_bytes())[2]),
             x509.Certificate.load(pem.unarmor((tmp_path / "foreign-root.pem").read_bytes())[2])]
    _CRLS[:] = [asn1_crl.CertificateList.load(crl_mod.latest(services.sessions, role).der)
                for role in ("issuing", "root")]
    disagreements = []
    for name, (data, detached) in corpus.items():
        report = service.verify(services.sessions, services.settings, data, detached, offline=True)
        ours = report.indication == "TOTAL-PASSED"
        theirs = _pyhanko_opinion(data, detached, roots)
        if theirs is None:
            assert report.sub_indication == "SIGNED_DATA_NOT_FOUND", name
        elif ours != theirs:
            disagreements.append(f"{name}: Kyso {report.indication}/{report.sub_indication}, pyHanko {theirs}")
        if name.startswith("pdf-"):
            (tmp_path / f"{name}.pdf").write_bytes(data)
            poppler = _pdfsig_opinion(tmp_path / f"{name}.pdf", d)
            if poppler is not None and poppler != ours and name not in PDFSIG_DIFFERS:
                disagreements.append(f"{name}: Kyso {report.indication}, pdfsig {'valid' if poppler else 'not valid'}")
    assert not disagreements, "\n".join(disagreements)
    # Spot checks of the indications themselves.
    expect = {
        "pdf-kyso-seal-B-LTA": "TOTAL-PASSED", "pdf-kyso-leader-then-seal": "TOTAL-PASSED",
        "pdf-flipped-byte": "TOTAL-FAILED", "pdf-content-changed-after-signing": "TOTAL-FAILED",
        "pdf-foreign-unknown-root": "INDETERMINATE", "cms-foreign-unknown-root": "INDETERMINATE",
        "cms-kyso-data-changed": "TOTAL-FAILED", "pdf-foreign-trusted": "TOTAL-PASSED",
        "pdf-revoked-before-signing": "TOTAL-FAILED", "pdf-endesive-trusted": "TOTAL-PASSED",
        "pdf-endesive-tampered": "TOTAL-FAILED", "cms-endesive-detached": "TOTAL-PASSED",
        "cms-endesive-data-changed": "TOTAL-FAILED",
    }
    for name, indication in expect.items():
        data, detached = corpus[name]
        got = service.verify(services.sessions, services.settings, data, detached, offline=True).indication
        assert got == indication, f"{name}: {got}"
    revoked = service.verify(services.sessions, services.settings, corpus["pdf-revoked-before-signing"][0],
                            offline=True)
    assert revoked.sub_indication == "REVOKED", revoked.summary_en
    after = service.verify(services.sessions, services.settings, corpus["pdf-revoked-after-signing"][0], offline=True)
    assert after.sub_indication in ("REVOKED_NO_POE", "REVOKED"), after.summary_en
