"""Item 13 of issue 13: blind SSRF. /api/v1/verify fetched the caIssuers, OCSP and CRL URLs
named by certificates inside the uploaded file, the loopback interface included.

Now nothing is fetched unless its host is listed in verify.fetch_hosts (empty by default);
a listed name must resolve to public addresses, loopback and private ranges only when their
network is listed; revocation data only for paths that reach a trust root; no redirects."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.signing.conftest import H, signing  # noqa: F401 - the signing world fixture
from verification.fetching import HostPolicy


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def _answer(self) -> None:
        type(self).hits.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.end_headers()

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def internal() -> Iterator[str]:
    """A service on the loopback interface that nobody should reach through Kyso."""
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fetch_hosts() -> list[str]:
    return []  # the default


@pytest.fixture
def world(tmp_path: Path, internal: str) -> _ForeignWorld:
    return _ForeignWorld(tmp_path, internal)


@pytest.fixture
def settings(database: Any, hsm_token: Any, world: _ForeignWorld, fetch_hosts: list[str]) -> Any:
    return make_settings(database, hsm_token, verify={"fetch_revocation": True, "fetch_hosts": fetch_hosts,
                                                      "trust_roots": [str(world.root_pem)]})


class _ForeignWorld:
    """A foreign root (trusted through verify.trust_roots) and two signers whose certificates
    point their caIssuers, OCSP and CRL URLs at ``base``: one issued by the root, one by an
    intermediate that the signature does not carry."""

    def __init__(self, d: Path, base: str) -> None:
        from cryptography import x509 as cx509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.cx509, self.hashes, self.ser = cx509, hashes, serialization
        self.base = base
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._cert("Foreign Root", self.root_key.public_key(), None, self.root_key, ca=True)
        self.root_pem = d / "foreign-root.pem"
        self.root_pem.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        self.mid_key = ec.generate_private_key(ec.SECP256R1())
        self.mid = self._cert("Foreign Intermediate", self.mid_key.public_key(), self.root, self.root_key, ca=True)
        self.direct_key = ec.generate_private_key(ec.SECP256R1())
        self.direct = self._cert("Signer under the root", self.direct_key.public_key(), self.root, self.root_key)
        self.orphan_key = ec.generate_private_key(ec.SECP256R1())
        self.orphan = self._cert("Signer under a missing CA", self.orphan_key.public_key(), self.mid, self.mid_key)

    def _cert(self, cn: str, public: Any, issuer: Any, key: Any, ca: bool = False) -> Any:
        cx509 = self.cx509
        name = cx509.Name([cx509.NameAttribute(cx509.oid.NameOID.COMMON_NAME, cn)])
        now = dt.datetime.now(dt.UTC)
        b = (cx509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject if issuer else name)
             .public_key(public).serial_number(cx509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
             .add_extension(cx509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if issuer is not None:
            uri = cx509.UniformResourceIdentifier
            b = (b.add_extension(cx509.AuthorityInformationAccess([
                    cx509.AccessDescription(cx509.oid.AuthorityInformationAccessOID.OCSP, uri(f"{self.base}/ocsp")),
                    cx509.AccessDescription(cx509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                                            uri(f"{self.base}/issuer.crt"))]), critical=False)
                 .add_extension(cx509.CRLDistributionPoints([cx509.DistributionPoint(
                     [uri(f"{self.base}/ca.crl")], None, None, None)]), critical=False))
        if not ca:
            b = b.add_extension(cx509.KeyUsage(True, True, False, False, False, False, False, False, False), True)
        else:
            b = b.add_extension(cx509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
        return b.sign(key, self.hashes.SHA256())

    def cms(self, which: str, data: bytes) -> bytes:
        from cryptography.hazmat.primitives.serialization import pkcs7

        cert, key = (self.direct, self.direct_key) if which == "direct" else (self.orphan, self.orphan_key)
        return bytes(pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, self.hashes.SHA256())
                     .sign(self.ser.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature]))


def _verify(client: Any, key: str, sig: bytes, data: bytes) -> Any:
    import io

    return client.post("/api/v1/verify", headers=H(key), content_type="multipart/form-data",  # online
                       data={"file": (io.BytesIO(sig), "sig.p7s"), "data": (io.BytesIO(data), "doc.txt")})


@pytest.mark.parametrize("which", ["direct", "orphan"])
def test_urls_in_uploaded_certificates_are_not_fetched(client: Any, signing: dict[str, Any],  # noqa: F811
                                                       world: _ForeignWorld, which: str) -> None:
    """direct: a path to a trusted root, whose OCSP and CRL URLs point inside; orphan: no
    path without its issuer, whose caIssuers URL points inside. Both were fetched."""
    data = b"van ban can kiem tra"
    r = _verify(client, signing["keys"]["eoffice"], world.cms(which, data), data)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["indication"] != "TOTAL-FAILED"
    assert _Recorder.hits == [], "Kyso fetched a URL an uploaded certificate named"


@pytest.mark.parametrize("fetch_hosts", [["127.0.0.1/32"]])
def test_a_listed_network_is_fetched_from(client: Any, signing: dict[str, Any],  # noqa: F811
                                          world: _ForeignWorld) -> None:
    """The operator listed the loopback network: then, and only then, the URLs are fetched."""
    data = b"van ban can kiem tra"
    r = _verify(client, signing["keys"]["eoffice"], world.cms("direct", data), data)
    assert r.status_code == 200, r.get_json()
    assert any(h.startswith(("POST /ocsp", "GET /ca.crl")) for h in _Recorder.hits), _Recorder.hits
    # Issuer certificates are never fetched: a path that needs one reaches no trust root yet.
    _Recorder.hits.clear()
    r = _verify(client, signing["keys"]["eoffice"], world.cms("orphan", data), data)
    assert r.status_code == 200 and r.get_json()["indication"] == "INDETERMINATE"
    assert _Recorder.hits == []


@pytest.mark.parametrize(("entries", "url"), [
    ([], "http://127.0.0.1/x"),
    ([], "http://ocsp.example.vn/x"),
    (["localhost"], "http://localhost:8080/ocsp"),  # listed by name, but resolves to loopback
    (["ocsp.example.vn"], "ftp://ocsp.example.vn/x"),
    (["ocsp.example.vn"], "http://ocsp.example.vn.evil.test/x"),
    (["10.0.0.0/8"], "http://169.254.169.254/latest/meta-data/"),
    (["10.0.0.0/8"], "http://[::1]/x"),
    ([".example.vn"], "http://examplevn/x"),
])
def test_refused_urls(entries: list[str], url: str) -> None:
    assert HostPolicy(entries).refusal(url)


@pytest.mark.parametrize(("entries", "url"), [
    (["10.0.0.0/8"], "http://10.1.2.3/ocsp"),
    (["127.0.0.0/8", "localhost"], "http://localhost/ocsp"),
    (["127.0.0.1/32"], "http://127.0.0.1:8080/crl"),
])
def test_allowed_urls(entries: list[str], url: str) -> None:
    assert HostPolicy(entries).refusal(url) is None
