"""The TSA judged by `openssl ts -verify` and by pyHanko's HTTPTimeStamper and validator."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import tsp

from signer.settings import TsaSettings


@pytest.fixture
def files(ca: Any, tmp_path: Path) -> Path:
    root, issuing = ca
    (tmp_path / "chain.pem").write_bytes(root.certificate_pem + issuing.certificate_pem)
    (tmp_path / "data.txt").write_text("Quyết định số 123/QĐ-UBND\n", encoding="utf-8")
    return tmp_path


def _query(d: Path, *extra: str) -> bytes:
    out = d / "q.tsq"
    subprocess.run(["openssl", "ts", "-query", "-data", str(d / "data.txt"), *extra, "-out", str(out)],
                   check=True, capture_output=True)
    return out.read_bytes()


def _status(der: bytes) -> Any:
    """The PKIStatusInfo of a TimeStampResp (asn1crypto insists on a token a rejection lacks)."""
    from asn1crypto import core

    return tsp.PKIStatusInfo.load(core.Sequence.load(der)[0].dump())


def test_openssl_verifies_tokens(client: Any, files: Path) -> None:
    for extra in (["-sha256", "-cert"], ["-sha512", "-cert", "-no_nonce"], ["-sha384"]):
        r = client.post("/tsa", data=_query(files, *extra), content_type="application/timestamp-query")
        assert r.status_code == 200 and r.content_type == "application/timestamp-reply"
        (files / "r.tsr").write_bytes(r.data)
        args = ["openssl", "ts", "-verify", "-queryfile", str(files / "q.tsq"), "-in", str(files / "r.tsr"),
                "-CAfile", str(files / "chain.pem")]
        if "-cert" not in extra:  # the certificate was not asked for: give it
            resp = tsp.TimeStampResp.load(r.data)
            assert not resp["time_stamp_token"]["content"]["certificates"]
            tsa_pem = client.application.extensions["kyso"]
            from ca_admin.service import service_credential

            cred = service_credential(tsa_pem.sessions, tsa_pem.keystore, tsa_pem.settings, "tsa", "Kyso TSA",
                                      rotate_days=tsa_pem.settings.section(TsaSettings).rotate_days)
            from asn1crypto import pem

            (files / "tsa.pem").write_bytes(pem.armor("CERTIFICATE", cred.certificate_der))
            args += ["-untrusted", str(files / "tsa.pem")]
        v = subprocess.run(args, capture_output=True, text=True)
        assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stdout + v.stderr


def test_serials_increase_and_nonce_is_echoed(client: Any, files: Path) -> None:
    serials = []
    for _ in range(3):
        r = client.post("/tsa", data=_query(files, "-sha256"), content_type="application/timestamp-query")
        info = tsp.TimeStampResp.load(r.data)["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
        serials.append(info["serial_number"].native)
        query = tsp.TimeStampReq.load((files / "q.tsq").read_bytes())
        assert info["nonce"].native == query["nonce"].native
        assert info["policy"].native == "1.3.6.1.4.1.99999.2.1"
    assert serials == sorted(serials) and len(set(serials)) == 3


@pytest.mark.parametrize(("body", "fail"), [
    (b"garbage", "bad_data_format"),
    (b"", "bad_data_format"),
])
def test_malformed(client: Any, files: Path, body: bytes, fail: str) -> None:
    r = client.post("/tsa", data=body, content_type="application/timestamp-query")
    status = _status(r.data)
    assert status["status"].native == "rejection" and fail in status["fail_info"].native


def test_unsupported_hash_is_bad_alg(client: Any, files: Path) -> None:
    r = client.post("/tsa", data=_query(files, "-sha1"), content_type="application/timestamp-query")
    status = _status(r.data)
    assert status["status"].native == "rejection" and "bad_alg" in status["fail_info"].native


def test_wrong_policy_wrong_type_oversize(client: Any, files: Path) -> None:
    r = client.post("/tsa", data=_query(files, "-sha256", "-tspolicy", "1.2.3.4"),
                    content_type="application/timestamp-query")
    assert "unaccepted_policy" in _status(r.data)["fail_info"].native
    r = client.post("/tsa", data=_query(files, "-sha256"), content_type="application/json")
    assert _status(r.data)["status"].native == "rejection"
    r = client.post("/tsa", data=b"x" * 5000, content_type="application/timestamp-query")
    assert r.status_code == 413


def test_clock_going_backwards_is_refused(client: Any, services: Any, files: Path) -> None:
    from signer import tsa

    tsa.stamp(services.sessions, services.keystore, services.settings, _query(files, "-sha256"),
              now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    r = client.post("/tsa", data=_query(files, "-sha256"), content_type="application/timestamp-query")
    assert r.status_code == 503
    assert "time_not_available" in _status(r.data)["fail_info"].native


def test_pyhanko_timestamper_and_validator(server: str, files: Path, ca: Any) -> None:
    from asn1crypto import x509
    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    root, _issuing = ca
    digest = hashlib.sha256(b"van ban can gan dau thoi gian").digest()
    stamper = HTTPTimeStamper(f"{server}/tsa")
    token = asyncio.run(stamper.async_timestamp(digest, "sha256"))
    vc = ValidationContext(trust_roots=[x509.Certificate.load(root.certificate_der)], allow_fetching=False,
                           revocation_mode="soft-fail")
    status = asyncio.run(validate_tst_signed_data(token["content"], vc, lambda _alg: digest))
    assert status["intact"] and status["valid"], status
    assert status["trust_problem_indic"] is None, status  # the path to our root validated


def test_concurrent_requests_all_granted_in_order(app: Any, files: Path) -> None:
    """Regression: a request that read the clock before waiting for the serial lock was
    refused as 'clock went backwards' when another token was issued meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    query = _query(files, "-sha256")

    def one(_i: int) -> tuple[int, Any]:
        r = app.test_client().post("/tsa", data=query, content_type="application/timestamp-query")
        return r.status_code, r.data

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(40)))
    assert all(status == 200 for status, _ in results), [(s, d[:300]) for s, d in results if s != 200][:2]
    infos = [tsp.TimeStampResp.load(d)["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
             for _, d in results]
    by_serial = sorted((i["serial_number"].native, i["gen_time"].native) for i in infos)
    assert [t for _, t in by_serial] == sorted(t for _, t in by_serial)


def test_tokens_verify_when_the_ca_hashes_with_sha384(database: Any, hsm_token: Any, keystore: Any,
                                                     tmp_path: Path) -> None:
    """Regression: the SignerInfo said SHA-256 whatever hash the signature used."""
    from app.services import build_services
    from ca_admin import service
    from kyso import migrate
    from signer import tsa
    from tests.conftest import make_settings

    settings = make_settings(database, hsm_token, ca={"root_key": {"key_type": "rsa-2048"},
                                                      "issuing_key": {"key_type": "ec-p384", "hash": "sha384"}})
    svc = build_services(settings, keystore=keystore)
    migrate.upgrade(svc.engine)
    root, issuing = service.init_ca(svc.sessions, keystore, settings, actor="test")
    (tmp_path / "chain.pem").write_bytes(root.certificate_pem + issuing.certificate_pem)
    (tmp_path / "data.txt").write_text("x")
    query = _query(tmp_path, "-sha256", "-cert")
    (tmp_path / "r.tsr").write_bytes(tsa.stamp(svc.sessions, keystore, settings, query))
    v = subprocess.run(["openssl", "ts", "-verify", "-queryfile", str(tmp_path / "q.tsq"), "-in",
                        str(tmp_path / "r.tsr"), "-CAfile", str(tmp_path / "chain.pem")],
                       capture_output=True, text=True)
    assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stdout + v.stderr
    svc.engine.dispose()
