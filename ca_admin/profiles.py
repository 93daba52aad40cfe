"""Certificate profiles: subject and extensions from the profile and the registry only.

Nothing a CSR asks for (subject, extensions, CA flag, EKUs) reaches a certificate: the CSR
contributes its public key and nothing else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from asn1crypto import core, keys, x509

from ca_admin.settings import PkiSettings, ProfileSettings, ProfilesSettings
from ca_admin.x509build import key_identifier, uri
from hsm import KeySpec
from kyso.errors import BadRequest, Conflict, ErrorKind, KysoError, NotFound
from kyso.settings import Settings

DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"  # RFC 9336
OCSP_NO_CHECK = "1.3.6.1.5.5.7.48.1.5"
EKU_NAMES = {
    "document_signing": DOCUMENT_SIGNING,
    "client_auth": "client_auth",
    "server_auth": "server_auth",
    "email_protection": "email_protection",
    "ocsp_signing": "ocsp_signing",
    "time_stamping": "time_stamping",
    "code_signing": "code_signing",
}
class UnknownProfile(NotFound):
    code = "profile-unknown"

    def __init__(self, name: str) -> None:
        super().__init__(f"no certificate profile '{name}'", f"không có hồ sơ chứng thư '{name}'")


class KeyNotAllowed(BadRequest):
    code = "key-not-allowed"


class PathLengthExceeded(Conflict):
    code = "path-length-exceeded"

    def __init__(self) -> None:
        super().__init__("the issuing CA's path length forbids a CA certificate below it",
                         "độ dài đường dẫn của CA cấp phát không cho phép cấp chứng thư CA dưới nó")


class KeyCompromised(Conflict):
    code = "key-compromised"

    def __init__(self) -> None:
        super().__init__("this key belongs to a certificate revoked for key compromise; use a new key",
                         "khóa này thuộc một chứng thư đã bị thu hồi do lộ khóa; hãy dùng khóa mới")


class KeyInUse(Conflict):
    code = "key-in-use"

    def __init__(self) -> None:
        super().__init__("this key is already certified for another subject or purpose; use a new key",
                         "khóa này đã được chứng thực cho chủ thể hoặc mục đích khác; hãy dùng khóa mới")


class KeySourceNotAllowed(KysoError):
    code = "key-source-not-allowed"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Unprocessable request"


@dataclass(frozen=True)
class Profile:
    name: str
    settings: ProfileSettings

    def check_key(self, spki_der: bytes) -> KeySpec:
        """The key's type, if the profile accepts it; weak or foreign keys are refused."""
        try:
            info = keys.PublicKeyInfo.load(spki_der)
            algorithm = info.algorithm
            if algorithm == "rsa":
                spec_text = f"rsa-{info.bit_size}"
            elif algorithm == "ec":
                curve = info.curve[1]
                spec_text = {"secp256r1": "ec-p256", "secp384r1": "ec-p384",
                             "secp521r1": "ec-p521"}.get(curve, f"ec-{curve}")
            else:
                spec_text = str(algorithm)
        except Exception:  # noqa: BLE001 - any parse failure is a bad key
            spec_text = "unparseable"
        if spec_text not in self.settings.key_types:
            raise KeyNotAllowed(
                f"key type {spec_text} is not allowed by profile '{self.name}' "
                f"(allowed: {', '.join(self.settings.key_types)})",
                f"loại khóa {spec_text} không được hồ sơ '{self.name}' cho phép "
                f"(cho phép: {', '.join(self.settings.key_types)})",
                extra={"key_type": spec_text},
            )
        return KeySpec.parse(spec_text)

    def check_key_source(self, source: str, agency_code: str | None = None) -> None:
        """Refuse a key from where the profile does not take keys ("hsm": generated in the
        token; "csr": the requester's own, allowed for an agency named in
        external_token_agencies even where key_sources says hsm only)."""
        external = source == "csr" and agency_code is not None and agency_code in self.settings.external_token_agencies
        if source not in self.settings.key_sources and not external:
            where = {"hsm": "generated in the HSM", "csr": "from a CSR"}.get(source, source)
            where_vi = {"hsm": "sinh trong HSM", "csr": "từ CSR"}.get(source, source)
            raise KeySourceNotAllowed(
                f"profile '{self.name}' does not take a key {where}",
                f"hồ sơ '{self.name}' không nhận khóa {where_vi}",
                extra={"key_source": source, "allowed": list(self.settings.key_sources)})


def get_profile(settings: Settings, name: str) -> Profile:
    profile = settings.section(ProfilesSettings).by_name.get(name)
    if profile is None:
        raise UnknownProfile(name)
    return Profile(name, profile)


# -- URLs ----------------------------------------------------------------------------

def pki_urls(settings: Settings) -> dict[str, str]:
    base = settings.server.public_base_url.rstrip("/")
    pki = settings.section(PkiSettings)
    return {
        "ocsp": pki.ocsp_url or f"{base}/ocsp",
        "crl": pki.crl_url or f"{base}/pki/crl/issuing.crl",
        "ca_issuers": pki.ca_issuers_url or f"{base}/pki/ca/issuing.crt",
    }


# -- subjects -------------------------------------------------------------------------

def _attr(name: str, value: str) -> x509.RelativeDistinguishedName:
    if name == "country_name":
        v: Any = x509.DirectoryString(name="printable_string", value=value)
    else:
        v = x509.DirectoryString(name="utf8_string", value=value)
    return x509.RelativeDistinguishedName([x509.NameTypeAndValue({"type": name, "value": v})])


def build_subject(parts: list[tuple[str, str]]) -> x509.Name:
    """A name from (attribute, value) pairs in DER order (C first, CN and UIDs last)."""
    rdns = [_attr(n, v) for n, v in parts if v]
    return x509.Name(name="", value=x509.RDNSequence(rdns))


@dataclass(frozen=True)
class SubjectData:
    """What the registry says about the certificate's holder."""

    kind: str
    common_name: str
    organization: str
    locality: str
    title: str = ""
    uids: tuple[str, ...] = ()  # "MST:0101234567", "CCCD:001234567890"
    email: str = ""
    organization_identifier: str = ""  # a legal person's (ETSI EN 319 412-3): the agency code
    given_name: str = ""  # a natural person's (ETSI EN 319 412-2)
    surname: str = ""


def split_vietnamese_name(full_name: str) -> tuple[str, str]:
    """(surname, given name) of a Vietnamese full name: the family name (họ) comes first, the
    middle and given names (tên đệm, tên) after it: 'Trần Anh Tuấn' -> ('Trần', 'Anh Tuấn').
    A one-word name is a given name only."""
    words = full_name.split()
    if len(words) < 2:
        return "", full_name.strip()
    return words[0], " ".join(words[1:])


def subject_name(data: SubjectData) -> x509.Name:
    parts = [("country_name", "VN"), ("locality_name", data.locality),
             ("organization_name", data.organization)]
    if data.organization_identifier:
        parts.append(("organization_identifier", data.organization_identifier))
    if data.title:
        parts.append(("title", data.title))
    if data.surname:
        parts.append(("surname", data.surname))
    if data.given_name:
        parts.append(("given_name", data.given_name))
    parts.append(("common_name", data.common_name))
    parts.extend(("user_id", uid) for uid in data.uids)
    return build_subject(parts)


# -- extensions -------------------------------------------------------------------------

_STATIC_CACHE: dict[tuple[str, bytes, str, str, str], list[bytes]] = {}


def build_extensions(profile: Profile, settings: Settings, *, subject_spki_der: bytes,
                     issuer_spki_der: bytes, subject: SubjectData) -> list[Any]:
    """The extensions of a certificate; those that depend only on the profile and the
    issuer are encoded once per process (issuance is a hot path)."""
    urls = pki_urls(settings)
    key = (profile.name, issuer_spki_der, urls["ocsp"], urls["crl"], urls["ca_issuers"])
    static = _STATIC_CACHE.get(key)
    if static is None:
        static = [x509.Extension(e).dump() for e in _static_extensions(profile, settings, issuer_spki_der)]
        _STATIC_CACHE[key] = static
    exts: list[Any] = [x509.Extension.load(der) for der in static]
    exts.append({"extn_id": "key_identifier", "critical": False,
                 "extn_value": core.OctetString(key_identifier(subject_spki_der))})
    if subject.email:
        exts.append({"extn_id": "subject_alt_name", "critical": False,
                     "extn_value": [x509.GeneralName(name="rfc822_name", value=subject.email)]})
    return exts


def _static_extensions(profile: Profile, settings: Settings, issuer_spki_der: bytes) -> list[dict[str, Any]]:
    p = profile.settings
    exts: list[dict[str, Any]] = []
    if p.ca:
        exts.append({"extn_id": "basic_constraints", "critical": True,
                     "extn_value": {"ca": True, "path_len_constraint": p.path_length}})
    exts.append({"extn_id": "key_usage", "critical": True,
                 "extn_value": x509.KeyUsage(set(p.key_usage))})
    if p.extended_key_usage:
        purposes = [EKU_NAMES.get(e, e) for e in p.extended_key_usage]
        exts.append({"extn_id": "extended_key_usage", "critical": p.eku_critical,
                     "extn_value": purposes})
    exts.append({"extn_id": "authority_key_identifier", "critical": False,
                 "extn_value": {"key_identifier": key_identifier(issuer_spki_der)}})
    if p.policy_oids:
        exts.append({"extn_id": "certificate_policies", "critical": False,
                     "extn_value": [{"policy_identifier": oid} for oid in p.policy_oids]})
    urls = pki_urls(settings)
    if p.crl_distribution_point:
        exts.append({"extn_id": "crl_distribution_points", "critical": False,
                     "extn_value": [{"distribution_point": {"full_name": [uri(urls["crl"])]}}]})
    if p.aia:
        exts.append({"extn_id": "authority_information_access", "critical": False,
                     "extn_value": [
                         {"access_method": "ocsp", "access_location": uri(urls["ocsp"])},
                         {"access_method": "ca_issuers", "access_location": uri(urls["ca_issuers"])},
                     ]})
    if p.ocsp_no_check:
        exts.append({"extn_id": OCSP_NO_CHECK, "critical": False, "extn_value": core.Null()})
    return exts


def spki_fingerprint(spki_der: bytes) -> str:
    return hashlib.sha256(spki_der).hexdigest()


def key_sha256(spki_der: bytes) -> str:
    """The hash of the key itself: RSA modulus and exponent, EC curve and point. Two
    encodings of one key (RSA parameters NULL or absent, a compressed EC point) hash alike,
    so a compromised or already certified key cannot come back in another encoding."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_der_public_key(spki_der)
    except (ValueError, TypeError):
        key = None
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        text = f"rsa:{numbers.n:x}:{numbers.e:x}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_numbers()
        text = f"ec:{key.curve.name}:{point.x:x}:{point.y:x}"
    elif key is not None:
        text = "spki:" + key.public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo).hex()
    else:
        text = f"der:{spki_der.hex()}"
    return hashlib.sha256(text.encode("ascii")).hexdigest()
