"""Pre-produced OCSP responses as files, for a front web server to answer from.

RFC 5019 GET requests carry the whole DER request in the URL, and a request without a nonce
for one certificate is the same bytes from every client. So each cached response is also
written to ``<static_dir>/ocsp/<base64 of the request>`` (the base64 text's "/" make
sub-directories, just as the web server maps the decoded URL), for the request forms the
common clients send: SHA-1 and SHA-256 CertIDs, hash parameters NULL (OpenSSL, NSS,
Windows) or absent. nginx then answers ``GET /ocsp/...`` without Python, and ``POST /ocsp``
too with its njs module (config/nginx/); anything it has no file for goes to Kyso.

The files follow the database: a response is written in the transaction that stores it,
after its certificate's status was checked under the row lock, and a status change deletes
the certificate's files in its own transaction, before it commits. So once a revocation
call returns, no file says "good" for that certificate.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from asn1crypto import ocsp, x509
from sqlalchemy.orm import Session

from ca_admin.models import CertificateAuthority

log = logging.getLogger("kyso.ocsp")
HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
SESSION_KEY = "ocsp_static"  # sessionmaker info key holding the StaticResponses, if any

_HASH_CACHE: dict[tuple[int, str], dict[str, tuple[bytes, bytes]]] = {}


def issuer_hashes(ca: CertificateAuthority) -> dict[str, tuple[bytes, bytes]]:
    """issuerNameHash and issuerKeyHash of a CA per algorithm, computed once."""
    key = (ca.id, ca.serial_hex)
    hashes = _HASH_CACHE.get(key)
    if hashes is None:
        cert = x509.Certificate.load(ca.certificate_der)
        name, pub = cert.subject.dump(), cert.public_key["public_key"].contents[1:]
        hashes = _HASH_CACHE[key] = {alg: (h(name).digest(), h(pub).digest()) for alg, h in HASHES.items()}
    return hashes


def request_forms(alg: str, name_hash: bytes, key_hash: bytes, serial: int) -> list[bytes]:
    """The DER requests without a nonce that common clients send for one certificate."""
    forms = []
    for with_null in (True, False):
        hash_alg = ocsp.DigestAlgorithm({"algorithm": alg})
        if with_null:
            hash_alg["parameters"] = None
        cert_id = ocsp.CertId({"hash_algorithm": hash_alg, "issuer_name_hash": name_hash,
                               "issuer_key_hash": key_hash, "serial_number": serial})
        forms.append(bytes(ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}}).dump()))
    return list(dict.fromkeys(forms))


class StaticResponses:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = root / "ocsp"

    def _paths(self, alg: str, hashes: tuple[bytes, bytes], serial: int) -> list[Path]:
        return [self.base / base64.b64encode(der).decode("ascii")
                for der in request_forms(alg, hashes[0], hashes[1], serial)]

    def write(self, ca: CertificateAuthority, serial: int, alg: str, der: bytes, *, only_missing: bool = False) -> int:
        """Write (atomically, by rename) the response for every request form of one CertID;
        returns how many files were written."""
        tmp_dir = self.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        written = 0
        for path in self._paths(alg, issuer_hashes(ca)[alg], serial):
            if only_missing and path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=tmp_dir)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(der)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            written += 1
        return written

    def forget(self, ca: CertificateAuthority, serial: int) -> None:
        for alg, hashes in issuer_hashes(ca).items():
            for path in self._paths(alg, hashes, serial):
                path.unlink(missing_ok=True)

    def clear(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def static_of(session: Session) -> StaticResponses | None:
    store = session.info.get(SESSION_KEY)
    return store if isinstance(store, StaticResponses) else None


def forget_certificate(session: Session, issuer_id: int, serial_hex: str, *, everything: bool = False) -> None:
    """In a status change's transaction, before it commits: drop the files that answer for
    this certificate (every file when a responder certificate changes)."""
    store = static_of(session)
    if store is None:
        return
    if everything:
        store.clear()
        return
    ca = session.get(CertificateAuthority, issuer_id)
    if ca is not None:
        store.forget(ca, int(serial_hex, 16))


# -- the front web server ---------------------------------------------------------------------------

NJS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")  # Debian: libnginx-mod-http-js


def nginx_server_conf(static_dir: str, upstream: str, listen: str) -> str:
    """config/nginx/kyso.conf with its paths filled in (the http-context part)."""
    from kyso.settings import PROJECT_ROOT

    nginx_dir = PROJECT_ROOT / "config" / "nginx"
    text = (nginx_dir / "kyso.conf").read_text(encoding="utf-8")
    for name, value in (("JS_DIR", str(nginx_dir)), ("UPSTREAM", upstream), ("LISTEN", listen),
                        ("STATIC_DIR", str(Path(static_dir).resolve()))):
        text = text.replace(f"@@{name}@@", value)
    return text


def nginx_standalone_conf(server_conf: str, work: Path, workers: int = 1) -> str:
    """A whole nginx.conf around the server part, everything under ``work`` (tests, benches)."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the files Kyso wrote
    temps = "\n".join(f"    {kind}_temp_path {work / kind};" for kind in
                      ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"load_module {NJS_MODULE};\n{user}daemon off;\nworker_processes {workers};\n"
            f"pid {work / 'nginx.pid'};\nerror_log {work / 'error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n    access_log off;\n    server_tokens off;\n{temps}\n{server_conf}\n}}\n")
