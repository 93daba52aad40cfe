"""Building and signing edXML packages (issue 8): the ``From`` agency's seal signs, as an
enveloped XML-DSig over the whole document (XAdES B-B or B-T on request), after Kyso has
appended its own TraceHeader and, on request, signed each PDF attachment with the same
seal (the PAdES path of /api/v1/sign/pdf). The package is rebuilt from the model, so what
Kyso emits has one strict form whatever the input looked like.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy.orm import Session, sessionmaker

from axis import building, model
from axis.messages import (
    DOCUMENT_ID_NOT_FROM_SENDER,
    HEADER_INVALID,
    OTHER_INFO_INVALID,
    PACKAGE_ALREADY_SIGNED,
    PDF_SIGNER_NOT_SENDER,
    RECIPIENT_REQUIRED,
    TO_PLACES_NOT_A_LIST,
    UNSAFE_ATTACHMENT_NAME,
)
from hsm.keystore import KeyStore
from kyso.callers import Caller
from kyso.errors import BadRequest, ErrorKind, KysoError
from kyso.settings import Settings
from signer import cades, credentials, signing, xades

VN = dt.timezone(dt.timedelta(hours=7))
XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


class PdfSignerMismatch(KysoError):
    code = "pdf-signer-not-of-sender"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "The PDF signer is not of the sending agency"

    def __init__(self, signer: str, sender: str) -> None:
        super().__init__(PDF_SIGNER_NOT_SENDER.format(signer=signer, sender=sender))


class AlreadySigned(KysoError):
    code = "edxml-already-signed"
    kind = ErrorKind.CONFLICT
    title_en = "Package already signed"


@dataclass
class SignOptions:
    xades: bool = False
    level: str = "B-B"  # B-B or B-T (B-T implies XAdES, time stamp from Kyso's TSA)
    sign_pdfs: bool = False
    pdf_appearance: str = "seal"
    scheme: str | None = None
    # The credential that signs the PDF attachments (an official's, with consent already
    # given, for the leader's appearance); the From agency's seal when None.
    pdf_credential: credentials.Credential | None = None


def metadata_package(meta: dict[str, Any], files: list[tuple[str, str, bytes]]) -> model.Package:
    """A package from JSON metadata (header fields) and uploaded files."""
    org = model.organization_from_json
    to = meta.get("to")
    if not isinstance(to, list) or not to:
        raise BadRequest(RECIPIENT_REQUIRED)
    strings = {k: str(meta.get(k, "")) for k in (
        "document_id", "code_number", "code_notation", "place", "promulgation_date", "document_type", "type_detail",
        "type_name", "subject", "content", "competence", "position", "signer_name", "due_date", "response_for",
        "steering_type")}
    other, places = meta.get("other_info") or {}, meta.get("to_places") or []
    if not isinstance(other, dict) or not all(isinstance(k, str) and XML_NAME.match(k) for k in other):
        raise BadRequest(OTHER_INFO_INVALID)
    if not isinstance(places, list):
        raise BadRequest(TO_PLACES_NOT_A_LIST)
    header = model.MessageHeader(sender=org(meta.get("from")), recipients=[org(t) for t in to], **strings,
                                 other_info={k: str(v) for k, v in other.items()}, to_places=[str(p) for p in places])
    atts = [model.Attachment(content_id=f"att-{i + 1}", name=unicodedata.normalize("NFC", name),
                             content_type=ctype or "application/octet-stream",
                             data=data) for i, (name, ctype, data) in enumerate(files)]
    return model.Package(header=header, business_doc_type=str(meta.get("business_doc_type", "0")),
                         manifest=[a.content_id for a in atts], attachments=atts)


def check_bound(factory: sessionmaker[Session], caller: Caller, code: str, request_id: str) -> None:
    """The From agency must be one this client is bound to (403 otherwise, audited)."""
    from sqlalchemy import select

    from ca_admin.facade import Agency, AgencyScopeDenied, client_agency_ids
    from kyso.db import read_transaction

    with read_transaction(factory) as session:
        agency = session.execute(select(Agency).where(Agency.code == code)).scalar_one_or_none()
        bound = agency is not None and agency.id in client_agency_ids(session, caller.user_id)
    if not bound:
        exc = AgencyScopeDenied(code[:40])
        credentials.deny(factory, caller, "sign.edxml.denied", f"agency:{code[:40]}", exc.code, request_id)
        raise exc


def _timestamp_now() -> str:
    return dt.datetime.now(VN).strftime("%Y/%m/%d %H:%M:%S")


def seal_request(factory: sessionmaker[Session], caller: Caller, organ_id: str, purpose: str, scheme: str | None,
                 request_id: str) -> signing.SignRequest:
    """The signing pipeline's request for the seal of ``organ_id``, for a client bound to it
    (403 otherwise, audited)."""
    check_bound(factory, caller, organ_id, request_id)
    return signing.SignRequest(caller, f"agency:{organ_id}", purpose, scheme=scheme, request_id=request_id)


def seal_tree(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, grant: signing.Grant,
              root: Any, opts: SignOptions, digests: Any = None, expander: building.Expander | None = None) -> str:
    """Sign the edXML tree in place with ``grant``'s key (enveloped, last child of
    edXMLHeader); the level. ``digests``: the attachments' digest element, signed along
    (building.attachment_digests). ``keystore`` serves the time stamp only."""
    def stamp(data: bytes) -> bytes:
        return bytes(cades.timestamp_token(factory, keystore, settings, data))

    req = xades.SigningRequest(
        scheme=grant.scheme.value, certificate_der=grant.credential.certificate_der,
        chain_der=grant.credential.chain_der, sign=grant.key.sign, xades=opts.xades or opts.level == "B-T",
        timestamp=stamp if opts.level == "B-T" else None, extra_object=digests,
        expand=expander.writer if expander is not None else None)
    xades.sign_enveloped(root, building.header_element(root), req)
    return ("XAdES-" + opts.level) if req.xades else "XML-DSig"


def sign_package(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, caller: Caller,
                 pkg: model.Package, opts: SignOptions, request_id: str = "") -> tuple[IO[bytes], str]:
    """The signed package (a file at its start, which the caller closes) and the signature
    id. Nothing is recorded unless all of it worked; the result is returned only after its
    record, its audit entry and the document's row (for its status history) committed
    together."""
    from signer import pades

    if pkg.signed:
        raise AlreadySigned(PACKAGE_ALREADY_SIGNED)
    pkg.root = None  # the package is rebuilt from the model: let the parsed tree go
    problems = [p for p in pkg.findings() if "OrganId" in p or "no To" in p or "DocumentId" in p]
    if problems:
        raise model.EdxmlInvalid(HEADER_INVALID.format(problems=model.joined_message(problems)))
    for att in pkg.attachments:  # a recipient saves each under its name: base names only
        why = model.name_problem(att.name or att.content_id)
        if why:
            shown = ascii(att.name or att.content_id)[1:-1][:80]
            raise model.AttachmentNameInvalid(UNSAFE_ATTACHMENT_NAME.format(shown=shown, why=why),
                                              extra={"content_id": att.content_id[:80]})
    if pkg.header.document_id.split(",", 1)[0] != pkg.header.sender.organ_id:
        raise model.EdxmlInvalid(DOCUMENT_ID_NOT_FROM_SENDER)
    req = seal_request(factory, caller, pkg.header.sender.organ_id, "sign.edxml", opts.scheme, request_id)
    h = pkg.header

    def make(grant: signing.Grant) -> signing.Made[IO[bytes]]:
        credential, scheme = grant.credential, grant.scheme
        pdfs: list[signing.CoSigned] = []
        if opts.sign_pdfs:
            pdf_credential = opts.pdf_credential or credential
            if pdf_credential.agency_code != credential.agency_code:
                raise PdfSignerMismatch(pdf_credential.agency_code, credential.agency_code)
            pdf_grant = grant.co_grant(pdf_credential, credentials.choose_scheme(settings, pdf_credential, None))
            pdf_opts = pades.parse_options({"appearance": opts.pdf_appearance, "level": "B-T"}, settings)
            for att in pkg.attachments:
                if att.data[:1024].find(b"%PDF-") >= 0:
                    digest_in = hashlib.sha256(att.data).digest()
                    signed, field = pades.sign(factory, keystore, settings, pdf_grant, att.data, pdf_opts,
                                               dt.datetime.now(dt.UTC))
                    with signed:
                        att.replace_data(signed.read())
                    pdfs.append(signing.CoSigned(pdf_credential, pdf_grant.scheme, "pdf", "B-T", "sha256", digest_in,
                                                 {"appearance": pdf_opts.profile, "field": field,
                                                  "attachment": att.content_id, "document_id": h.document_id}))
        pkg.traces.append(model.TraceHeader(credential.agency_code, _timestamp_now()))
        digests = building.attachment_digests(pkg.attachments)
        # The attachments stay out of the tree (markers), expanded piecewise into the digest
        # and the output file: megabytes of base64 are never one string, text node or buffer.
        expander = building.Expander()
        root = building.build(pkg, consume=True, expander=expander)
        level = seal_tree(factory, keystore, settings, grant, root, opts, digests, expander)
        out = building.to_file(root, expander)
        del root
        try:
            digest = credentials.stream_digest(out, scheme.hash_name)
        except BaseException:
            out.close()
            raise
        return signing.Made(
            out, fmt="edxml", level=level, digest_alg=scheme.hash_name, digest=digest,
            details={"document_id": h.document_id, "to": [r.organ_id for r in h.recipients],
                     "attachments": len(pkg.attachments), "pdfs_signed": opts.sign_pdfs},
            co_signed=pdfs, discard=out.close, also=lambda session, _id: _register(session, h))

    done = signing.sign(factory, keystore, settings, req, make)
    return done.output, done.signature_id


def _register(session: Session, h: model.MessageHeader) -> None:
    """With the package's record: the document's row, for its status history."""
    from axis import status

    status.register_document(session, h.document_id, h.sender.organ_id, [r.organ_id for r in h.recipients],
                             h.subject, known=True)
