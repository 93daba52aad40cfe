"""A certificate of every profile, judged by pkilint and by openssl verify with its purpose."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem, x509

from app.services import build_services
from ca_admin import issuance, registry, service
from kyso import migrate
from kyso.callers import Caller, Role, create_user
from kyso.db import transaction
from tests.conftest import DatabaseFixture, make_settings
from tests.pki import make_csr

LINT = str(Path(sys.executable).parent / "lint_pkix_cert")
ETSI_LINT = str(Path(sys.executable).parent / "lint_etsi_cert")
# profile -> (openssl -purpose, request extras, key source)
PROFILES = {
    "agency-seal": ("any", {}, "hsm"),
    "official-signing": ("any", {"official": True}, "hsm"),
    "client-tls": ("sslclient", {"common_name": "HP-EOFFICE connector"}, "csr"),
    "ocsp-responder": ("ocsphelper", {"common_name": "Kyso OCSP responder"}, "hsm"),
    "tsa": ("timestampsign", {"common_name": "Kyso TSA"}, "hsm"),
    "report-seal": ("any", {"common_name": "Kyso report seal"}, "hsm"),
    "sub-ca": ("any", {"common_name": "Kyso Sub CA"}, "hsm"),
}


@pytest.fixture(scope="module")
def issued(hsm_token: Any, keystore: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("profiles")
    db = DatabaseFixture("sqlite", f"sqlite:///{tmp / 'kyso.db'}", {})
    # pathLen 1 for the issuing CA: a sub-CA below it is allowed (below pathLen 0 it is not).
    # A public host name: ETSI lints refuse internal names (127.0.0.1) in CRL and AIA URLs.
    settings = make_settings(db, hsm_token, ca={"root_key": {"key_type": "rsa-3072"},
                                                "issuing_key": {"key_type": "rsa-2048"},
                                                "issuing_path_length": 1},
                             server={"public_base_url": "http://ca.haiphong.gov.vn"})
    svc = build_services(settings, keystore=keystore)
    migrate.upgrade(svc.engine)
    root, issuing = service.init_ca(svc.sessions, keystore, settings, actor="test")
    (tmp / "root.pem").write_bytes(root.certificate_pem)
    (tmp / "issuing.pem").write_bytes(issuing.certificate_pem)
    with transaction(svc.sessions) as session:
        # Approval checks the requester's role again, from the database.
        users = {name: create_user(session, name, role, actor="t")[0]
                 for name, role in (("ra", Role.RA_OFFICER), ("admin", Role.CA_ADMIN), ("admin2", Role.CA_ADMIN))}
        ra, admin, admin2 = (Caller(users[n].id, n, Role(users[n].role)) for n in ("ra", "admin", "admin2"))
        registry.create_agency(session, {"code": "000.00.00.H31", "name": "UBND THÀNH PHỐ HẢI PHÒNG"},
                               actor="t", level1_letters="GHK")
        registry.create_agency(session, {"code": "000.00.12.H31", "name": "SỞ NỘI VỤ", "parent_code": "000.00.00.H31",
                                         "locality": "Hải Phòng", "tax_code": "0100686209-199"},
                               actor="t", level1_letters="GHK")
        owner, _key = create_user(session, "HP-EOFFICE connector", Role.CLIENT, actor="t")
        registry.bind_client(session, owner.name, "000.00.12.H31", actor="t")
        official_id = registry.create_official(
            session, {"agency_code": "000.00.12.H31", "full_name": "Trần Anh Tuấn", "title": "Phó Giám đốc",
                      "citizen_id": "001234567890", "email": "tuan@haiphong.gov.vn"}, actor="t").id
    out = {}
    for name, (_purpose, extra, source) in PROFILES.items():
        data: dict[str, Any] = {"profile": name, "agency_code": "000.00.12.H31"}
        if extra.get("official"):
            data["official_id"] = official_id
        if "common_name" in extra:
            data["common_name"] = extra["common_name"]
        if name == "client-tls":
            data["owner"] = extra["common_name"]
        if source == "hsm":
            data["generate_key"] = True
        else:
            data["csr"] = make_csr("rsa-3072" if name == "sub-ca" else "ec-p256")
        # CA and service profiles are for CA administrators; four eyes approve.
        requester, approver = (admin, admin2) if name in ("ocsp-responder", "tsa", "report-seal", "sub-ca") \
            else (ra, admin)
        req, cert = issuance.file_request(svc.sessions, keystore, settings, requester, data)
        if cert is None:
            req, cert = issuance.approve(svc.sessions, keystore, settings, approver, req.id)
        assert cert is not None
        path = tmp / f"{name}.pem"
        path.write_bytes(cert.pem)
        out[name] = path
    out["root"], out["issuing"] = tmp / "root.pem", tmp / "issuing.pem"
    svc.engine.dispose()
    return out


@pytest.mark.parametrize("profile", list(PROFILES))
def test_pkilint_clean(issued: dict[str, Path], profile: str) -> None:
    res = subprocess.run([LINT, "lint", "-s", "WARNING", str(issued[profile])], capture_output=True, text=True)
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout


@pytest.mark.parametrize(("profile", "etsi_type"), [("agency-seal", "NCP-LEGAL-PERSON-CERTIFICATE"),
                                                    ("official-signing", "NCP-NATURAL-PERSON-CERTIFICATE")])
def test_etsi_lints_for_legal_and_natural_persons(issued: dict[str, Path], profile: str, etsi_type: str) -> None:
    """Issue 13, item 22: a seal names its agency by organizationIdentifier (the agency code),
    an official's certificate carries surname and givenName. Errors only: digitalSignature with
    nonRepudiation is ETSI's 'mixed key usage' warning, kept as Vietnamese signing certificates use it."""
    res = subprocess.run([ETSI_LINT, "lint", "-t", etsi_type, "-s", "ERROR", str(issued[profile])],
                         capture_output=True, text=True)
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr
    subject = x509.Certificate.load(pem.unarmor(issued[profile].read_bytes())[2]).subject.native
    if profile == "agency-seal":
        assert subject["organization_identifier"] == "MD:VN-000.00.12.H31"
    else:
        assert (subject["surname"], subject["given_name"]) == ("Trần", "Anh Tuấn")


@pytest.mark.parametrize("profile", list(PROFILES))
def test_openssl_verifies_chain_and_purpose(issued: dict[str, Path], profile: str) -> None:
    purpose = PROFILES[profile][0]
    res = subprocess.run(["openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile", str(issued["root"]),
                          "-untrusted", str(issued["issuing"]), str(issued[profile])], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_openssl_refuses_wrong_purpose(issued: dict[str, Path]) -> None:
    """The seal is not a TLS client certificate: openssl says so (our EKUs mean something)."""
    res = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-CAfile", str(issued["root"]),
                          "-untrusted", str(issued["issuing"]), str(issued["agency-seal"])],
                         capture_output=True, text=True)
    assert res.returncode != 0
