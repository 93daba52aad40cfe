"""CMS/CAdES signatures (ETSI EN 319 122-1 B-B and B-T) of any file, key in the HSM.

Signed attributes: content-type, message-digest, signing-time and ESS
signing-certificate-v2. B-T adds a signature time stamp (id-aa-signatureTimeStampToken)
from Kyso's own TSA over the signature value. Detached by default; attached puts the
content in the SignedData.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from asn1crypto import cms, tsp
from sqlalchemy.orm import Session, sessionmaker

from ca_admin.facade import der_sequence
from hsm import KeyStore
from kyso.db import utcnow
from kyso.errors import ErrorKind, KysoError
from kyso.settings import Settings
from signer import cmsbuild, tsa
from signer.messages import TIME_STAMP_FAILED

if TYPE_CHECKING:
    from signer.signing import Grant

CMS_LEVELS = ("B-B", "B-T")
_OID_SIGNATURE_TIME_STAMP = cms.CMSAttributeType("signature_time_stamp_token").dump()


class TimeStampUnavailable(KysoError):
    code = "tsa-unavailable"
    kind = ErrorKind.UNAVAILABLE
    title_en = "Time-stamping unavailable"

    def __init__(self) -> None:
        super().__init__(TIME_STAMP_FAILED,
                         extra={"retry_after": 5})


def tsa_reply(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings,
              query: bytes) -> tsp.TimeStampResp:
    """Kyso's TSA, called in-process; a refusal becomes TimeStampUnavailable (503), so that
    nothing is signed at a level it cannot reach."""
    try:
        reply = tsp.TimeStampResp.load(tsa.stamp(factory, keystore, settings, query))
    except tsa.TsaRefusal as exc:
        raise TimeStampUnavailable() from exc
    if reply["status"]["status"].native not in ("granted", "granted_with_mods"):
        raise TimeStampUnavailable()
    return reply


def timestamp_token(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, data: bytes,
                    hash_name: str = "sha256") -> bytes:
    """A time-stamp token (ContentInfo DER) from Kyso's TSA over ``data``."""
    query = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": hash_name}, "hashed_message": hashlib.new(hash_name, data).digest()},
        "nonce": secrets.randbits(63), "cert_req": True}).dump()
    return bytes(tsa_reply(factory, keystore, settings, query)["time_stamp_token"].dump())


def sign(factory: sessionmaker[Session], keystore: KeyStore, settings: Settings, grant: Grant, data: bytes, *,
         attached: bool = False, level: str = "B-B", now: dt.datetime | None = None) -> bytes:
    """The DER ContentInfo of a CAdES signature of ``data`` with ``grant``'s key (the signing
    pipeline's, signer.signing); ``keystore`` serves the time stamp only."""
    credential, scheme = grant.credential, grant.scheme
    pre = cmsbuild.prefab(credential.certificate_der, credential.chain_der, scheme)
    digest = hashlib.new(pre.digest_name, data).digest()

    def unsigned(signature: bytes) -> list[bytes]:
        if level != "B-T":
            return []
        token = timestamp_token(factory, keystore, settings, signature)
        return [der_sequence(_OID_SIGNATURE_TIME_STAMP + cmsbuild.tlv(0x31, token))]

    return cmsbuild.signed_data(
        pre, grant.key.sign, content_type="data",
        content_digest=digest, encapsulated=data if attached else None, signing_time=now or utcnow(),
        unsigned_attrs=unsigned)
