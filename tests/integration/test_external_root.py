"""An issuing CA under an external root (such as the national government CA)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import cli_env, cli_users, run_kyso


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca_cert(subject: x509.Name, issuer: x509.Name, pub: Any, signer: Any, path_len: int | None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .sign(signer, hashes.SHA256()))


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def test_csr_out_signed_certificate_in(database: Any, hsm_token: Any, tmp_path: Path) -> None:
    env = cli_env(database, hsm_token, KYSO_CA__ISSUING_KEY__KEY_TYPE="ec-p256")
    assert run_kyso(["db", "upgrade"], env).returncode == 0
    csr_path = tmp_path / "issuing.csr"
    r = run_kyso(["ca", "init", "--issuing-csr", str(csr_path)], env)
    assert r.returncode == 0, r.stderr
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid  # signed in the HSM
    assert "Hải Phòng" in csr.subject.rfc4514_string()
    # Asking again gives a CSR for the same waiting key.
    r = run_kyso(["ca", "init", "--issuing-csr", str(tmp_path / "again.csr")], env)
    assert x509.load_pem_x509_csr((tmp_path / "again.csr").read_bytes()).public_key() == csr.public_key()

    # The "national" root and its subordinate CA, software keys (tests only).
    root_key, sub_key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    root = _ca_cert(_name("RootCA chuyên dùng Chính phủ G2 (test)"), _name("RootCA chuyên dùng Chính phủ G2 (test)"),
                    root_key.public_key(), root_key, None)
    sub = _ca_cert(_name("CA phục vụ các cơ quan Nhà nước G2 (test)"), root.subject, sub_key.public_key(), root_key, 1)
    ours = _ca_cert(csr.subject, sub.subject, csr.public_key(), sub_key, 0)
    (tmp_path / "issuing.pem").write_bytes(_pem(ours))
    (tmp_path / "chain.pem").write_bytes(_pem(sub, root))

    # A certificate for another key, and a chain that does not verify, are refused.
    stranger = _ca_cert(csr.subject, sub.subject, ec.generate_private_key(ec.SECP256R1()).public_key(), sub_key, 0)
    (tmp_path / "stranger.pem").write_bytes(_pem(stranger))
    bad = run_kyso(["ca", "import-issuing", str(tmp_path / "stranger.pem"), str(tmp_path / "chain.pem")], env)
    assert bad.returncode == 1 and "ca-import-refused" in bad.stderr
    (tmp_path / "wrongchain.pem").write_bytes(_pem(root))
    bad = run_kyso(["ca", "import-issuing", str(tmp_path / "issuing.pem"), str(tmp_path / "wrongchain.pem")], env)
    assert bad.returncode == 1 and "ca-import-refused" in bad.stderr

    ok = run_kyso(["ca", "import-issuing", str(tmp_path / "issuing.pem"), str(tmp_path / "chain.pem")], env)
    assert ok.returncode == 0, ok.stderr
    again = run_kyso(["ca", "import-issuing", str(tmp_path / "issuing.pem"), str(tmp_path / "chain.pem")], env)
    assert again.returncode == 1 and "ca-already-initialised" in again.stderr

    # The CA now issues under the external root, and openssl follows the whole chain.
    op = cli_users(env, ("admin", "ca-admin"), ("ra", "ra-officer"))
    assert run_kyso(["agencies", "add", "000.00.12.H31", "SỞ NỘI VỤ", "--as", "ra"], op["ra"]).returncode == 0
    r = run_kyso(["certs", "request", "--profile", "agency-seal", "--agency", "000.00.12.H31",
                  "--generate-key", "--key-type", "ec-p256", "--as", "ra"], op["ra"])
    assert r.returncode == 0, r.stderr
    r = run_kyso(["certs", "approve", "1", "--as", "admin", "--out", str(tmp_path / "seal.pem")], op["admin"])
    assert r.returncode == 0, r.stderr
    (tmp_path / "root.pem").write_bytes(_pem(root))
    (tmp_path / "untrusted.pem").write_bytes(_pem(ours, sub))
    v = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                        str(tmp_path / "untrusted.pem"), str(tmp_path / "seal.pem")], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
