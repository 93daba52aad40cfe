"""Trust anchors as admin data (issue 14, Deliver 5): a CA admin adds, lists and removes the
roots verification trusts beside this CA's own, over HTTP and the CLI; each change is audited
and keeps who made it; only a CA certificate whose fingerprint matches the one given is
accepted; other roles are refused; verification uses the anchors at once."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from tests.conftest import cli_env, cli_users, make_user, run_kyso
from tests.signing.documents import letter_pdf
from tests.verify.test_agreement import ForeignCA, _pyhanko_pdf


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _pem(cert: Any) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _sha(cert: Any) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_add_list_remove_over_http(client: Any, services: Any, ca: Any, tmp_path: Path) -> None:
    admin = make_user(services, "trust-admin", "ca-admin")
    ra = make_user(services, "trust-ra", "ra-officer")
    auditor = make_user(services, "trust-auditor", "auditor")
    foreign = ForeignCA(tmp_path)
    signed = _pyhanko_pdf(foreign.signer(), letter_pdf())
    url = "/api/v1/admin/trust-anchors"

    def verdict() -> str:
        r = client.post("/api/v1/verify?offline=true", data=signed, headers=_h(auditor))
        assert r.status_code == 200, r.get_json()
        return str(r.get_json()["indication"])

    assert verdict() == "INDETERMINATE"  # the foreign root is not trusted yet
    body = {"certificate": _pem(foreign.root), "sha256": _sha(foreign.root), "note": "test"}
    # Only a CA admin changes them: an RA officer is refused, naming the action.
    r = client.post(url, json=body, headers=_h(ra))
    assert r.status_code == 403 and r.get_json()["action"] == "trust.write"
    # No fingerprint, or another one: refused, and the certificate's own fingerprint is shown.
    r = client.post(url, json={**body, "sha256": ""}, headers=_h(admin))
    assert r.status_code == 422 and r.get_json()["code"] == "fingerprint-mismatch"
    assert r.get_json()["sha256"] == _sha(foreign.root)
    r = client.post(url, json={**body, "sha256": _sha(foreign.stranger)}, headers=_h(admin))
    assert r.status_code == 422 and r.get_json()["code"] == "fingerprint-mismatch"
    assert "không được tin cậy" in r.get_json()["detail_vi"]
    # A certificate that is not a CA's: refused with a stable code, in both languages.
    leaf = foreign._cert("Not a CA", foreign.root_key.public_key(), foreign.root)
    r = client.post(url, json={"certificate": _pem(leaf), "sha256": _sha(leaf)}, headers=_h(admin))
    problem = r.get_json()
    assert r.status_code == 422 and problem["code"] == "not-a-ca-certificate", problem
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert "CA" in problem["detail"] and "không phải" in problem["detail_vi"]
    r = client.post(url, json={"certificate": "bm90IGEgY2VydA==", "sha256": "00" * 32}, headers=_h(admin))
    assert r.status_code == 422 and r.get_json()["code"] == "invalid-certificate"
    # The CA admin adds it (fingerprint with colons, as publishers print it).
    spaced = ":".join(_sha(foreign.root)[i:i + 2] for i in range(0, 64, 2)).upper()
    r = client.post(url, json={**body, "sha256": spaced}, headers=_h(admin))
    assert r.status_code == 201, r.get_json()
    added = r.get_json()
    assert added["sha256"] == _sha(foreign.root) and added["added_by"].endswith("trust-admin")
    assert "Foreign Test Root" in added["subject"] and added["self_signed"] is True and added["added_at"]
    assert client.post(url, json=body, headers=_h(admin)).status_code == 409
    listed = client.get(url, headers=_h(auditor)).get_json()["trust_anchors"]
    assert [a["sha256"] for a in listed] == [_sha(foreign.root)]
    assert verdict() == "TOTAL-PASSED"  # verification uses it at once
    # Audited, with who and what.
    import json

    trail = client.get("/api/v1/admin/audit?format=jsonl", headers=_h(admin)).get_data(as_text=True)
    entries = [e for e in map(json.loads, trail.splitlines()) if e["action"] == "trust.add"]
    assert entries and entries[-1]["target"] == f"trust-anchor:{_sha(foreign.root)}"
    # Removal: refused to an auditor, done by the admin, audited; trust ends at once.
    r = client.delete(f"{url}/{_sha(foreign.root)}", headers=_h(auditor))
    assert r.status_code == 403
    assert client.delete(f"{url}/{_sha(foreign.root)}", headers=_h(admin)).status_code == 200
    assert client.get(url, headers=_h(admin)).get_json()["trust_anchors"] == []
    assert verdict() == "INDETERMINATE"
    assert client.delete(f"{url}/{_sha(foreign.root)}", headers=_h(admin)).status_code == 404


def test_cli_prints_the_fingerprint_and_needs_it(database: Any, hsm_token: Any, tmp_path: Path) -> None:
    env = cli_env(database, hsm_token)
    for args in (["db", "upgrade"], ["ca", "init"]):
        r = run_kyso(args, env)
        assert r.returncode == 0, (args, r.stderr)
    op = cli_users(env, ("admin", "ca-admin"), ("ra", "ra-officer"))
    foreign = ForeignCA(tmp_path)
    root = tmp_path / "foreign-root.pem"
    sha = _sha(foreign.root)
    spaced = ":".join(sha[i:i + 2] for i in range(0, 64, 2)).upper()
    # Without --fingerprint: subject and fingerprint shown, nothing trusted.
    r = run_kyso(["trust", "add", str(root)], op["admin"])
    assert r.returncode != 0 and spaced in r.stdout and "Foreign Test Root" in r.stdout
    assert "--fingerprint" in r.stderr
    assert run_kyso(["trust", "list"], op["admin"]).stdout.strip() == ""
    r = run_kyso(["trust", "add", str(root), "--fingerprint", sha, "--as", "ra"], op["ra"])
    assert r.returncode != 0 and "[forbidden]" in r.stderr
    r = run_kyso(["trust", "add", str(root), "--fingerprint", "ab" * 32], op["admin"])
    assert r.returncode != 0 and "[fingerprint-mismatch]" in r.stderr
    r = run_kyso(["trust", "add", str(root), "--fingerprint", spaced, "--note", "test"], op["admin"])
    assert r.returncode == 0, r.stderr
    listed = run_kyso(["trust", "list"], op["admin"])
    assert sha in listed.stdout and "admin" in listed.stdout
    r = run_kyso(["trust", "remove", sha], op["admin"])
    assert r.returncode == 0, r.stderr
    assert run_kyso(["trust", "list"], op["admin"]).stdout.strip() == ""
