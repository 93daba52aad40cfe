"""Issue 13 item 21: kill -9 during issuance left end-entity keys in the token that nothing
explained. An intent is committed before the key is generated and cleared with the
certificate's commit; `kyso hsm sweep` lists (and with --destroy deletes) the keys of
intents that never finished."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import select, update

from hsm.settings import HsmSettings
from signer.settings import TsaSettings
from tests.conftest import ROOT, cli_env, make_user, run_kyso

pytestmark = pytest.mark.both_databases

AGENCY = "000.00.21.H31"

# A worker that is killed (SIGKILL: no finally, no rollback handler) right after the HSM made
# the key, before the certificate's transaction commits.
_CRASH = """
import json, os, signal, sys
from hsm.keystore import KeyStore
from app.settings import load_settings
from app.services import build_services
from kyso.callers import Caller, Role, User
from kyso.db import transaction
from ca_admin import issuance

overrides, rid = json.loads(sys.argv[1]), int(sys.argv[2])
svc = build_services(load_settings(environ={}, overrides=overrides))
original = KeyStore.generate_key_pair
def generate_then_die(self, label, spec):
    info = original(self, label, spec)
    print(label, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
KeyStore.generate_key_pair = generate_then_die
with transaction(svc.sessions) as s:
    admin = s.execute(__import__("sqlalchemy").select(User).where(User.name == "admin")).scalar_one()
issuance.approve(svc.sessions, svc.keystore, svc.settings, Caller(admin.id, admin.name, Role(admin.role)), rid)
print("not killed")
"""


def H(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def crashed(client: Any, services: Any, ca: Any, database: Any, hsm_token: Any) -> dict[str, Any]:
    """A seal request whose approval was killed between key generation and commit."""
    keys = {"admin": make_user(services, "admin", "ca-admin"), "ra": make_user(services, "ra", "ra-officer")}
    assert client.post("/api/v1/admin/agencies", headers=H(keys["ra"]),
                       json={"code": AGENCY, "name": "SỞ KHOA HỌC", "locality": "Hải Phòng"}).status_code == 201
    r = client.post("/api/v1/admin/requests", headers=H(keys["ra"]),
                    json={"profile": "agency-seal", "agency_code": AGENCY, "generate_key": True})
    assert r.status_code == 201, r.get_json()
    rid = r.get_json()["request"]["id"]
    hsm = services.settings.section(HsmSettings)
    overrides = {"database": {"url": database.url},
                 "hsm": {"module": hsm.module, "token_label": hsm.token_label, "pin": hsm_token.pin},
                 "ca": {"root_key": {"key_type": "rsa-2048"}, "issuing_key": {"key_type": "ec-p256"}}}
    out = subprocess.run([sys.executable, "-c", _CRASH, json.dumps(overrides), str(rid)], cwd=ROOT,
                         env={**{k: v for k, v in os.environ.items() if not k.startswith("KYSO_")},
                              "SOFTHSM2_CONF": str(hsm_token.conf)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == -9, out.stderr[-2000:]
    label = out.stdout.strip()
    assert label.startswith("ee-")
    return {"keys": keys, "rid": rid, "label": label}


def _labels(services: Any) -> set[str]:
    return {k.label for k in services.keystore.list_keys()}


def _admin(services: Any, name: str = "admin") -> Any:
    from kyso.callers import Caller, Role, User
    from kyso.db import transaction

    with transaction(services.sessions) as s:
        u = s.execute(select(User).where(User.name == name)).scalar_one()
        return Caller(u.id, u.name, Role(u.role))


def test_killed_issuance_leaves_an_intent_and_the_sweep_destroys_the_key(services: Any, client: Any,
                                                                         crashed: dict[str, Any]) -> None:
    from ca_admin import issuance
    from ca_admin.models import CertificateRequest, HsmKeyIntent, IssuedCertificate
    from kyso.db import transaction
    from kyso.errors import Forbidden

    label = crashed["label"]
    assert label in _labels(services)  # the orphan: in the token, no certificate
    with transaction(services.sessions) as s:
        assert s.execute(select(HsmKeyIntent).where(HsmKeyIntent.label == label)).scalar_one().purpose == "issuance"
        assert s.execute(select(IssuedCertificate).where(IssuedCertificate.key_label == label)).first() is None
        assert s.get(CertificateRequest, crashed["rid"]).status == "pending"
    admin = _admin(services)
    # Too young: an issuance may still be running.
    assert issuance.sweep_orphan_keys(services.sessions, services.keystore, admin,
                                      older_than=dt.timedelta(minutes=30)) == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    # Dry run by default: listed, not touched.
    found = issuance.sweep_orphan_keys(services.sessions, services.keystore, admin,
                                       older_than=dt.timedelta(minutes=30), now=later)
    assert [(k.label, k.in_token, k.destroyed) for k in found] == [(label, True, False)]
    assert label in _labels(services)
    # CA administrators only.
    with pytest.raises(Forbidden):
        issuance.sweep_orphan_keys(services.sessions, services.keystore, _admin(services, "ra"),
                                   older_than=dt.timedelta(minutes=30), now=later, destroy=True)
    found = issuance.sweep_orphan_keys(services.sessions, services.keystore, admin,
                                       older_than=dt.timedelta(minutes=30), now=later, destroy=True)
    assert [(k.label, k.destroyed) for k in found] == [(label, True)]
    assert label not in _labels(services)
    with transaction(services.sessions) as s:
        assert s.execute(select(HsmKeyIntent).where(HsmKeyIntent.label == label)).first() is None
    records = client.get("/api/v1/admin/audit?limit=500", headers=H(crashed["keys"]["admin"])).get_json()
    sweeps = [r for r in records["records"] if r["action"] == "hsm.sweep"]
    assert len(sweeps) == 1 and sweeps[0]["details"]["destroyed"] == [label]
    # The request is still pending and can be approved: a new key, and no intent left behind.
    before = _labels(services)
    _req, cert = issuance.approve(services.sessions, services.keystore, services.settings, admin, crashed["rid"])
    assert cert is not None
    with transaction(services.sessions) as s:
        assert s.execute(select(HsmKeyIntent).where(HsmKeyIntent.purpose == "issuance")).first() is None
    assert len(_labels(services) - before) == 1


def test_finished_and_failed_issuances_leave_no_intent(services: Any, client: Any, ca: Any) -> None:
    from ca_admin import issuance, service
    from ca_admin.models import HsmKeyIntent
    from kyso.db import transaction

    keys = {"admin": make_user(services, "admin", "ca-admin"), "ra": make_user(services, "ra", "ra-officer")}
    assert client.post("/api/v1/admin/agencies", headers=H(keys["ra"]),
                       json={"code": AGENCY, "name": "SỞ KHOA HỌC", "locality": "Hải Phòng"}).status_code == 201
    rids = []
    for _ in range(2):
        r = client.post("/api/v1/admin/requests", headers=H(keys["ra"]),
                        json={"profile": "agency-seal", "agency_code": AGENCY, "generate_key": True})
        rids.append(r.get_json()["request"]["id"])
    admin = _admin(services)
    issuance.approve(services.sessions, services.keystore, services.settings, admin, rids[0])
    service.service_credential(services.sessions, services.keystore, services.settings, "tsa", "Kyso TSA",
                               rotate_days=services.settings.section(TsaSettings).rotate_days)
    # A failure after key generation (here: the certificate cannot be stored) destroys the key
    # and clears its intent.
    before = _labels(services)
    original = issuance.sign_certificate

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated failure after key generation")

    issuance.sign_certificate = broken  # type: ignore[assignment]
    try:
        with pytest.raises(RuntimeError):
            issuance.approve(services.sessions, services.keystore, services.settings, admin, rids[1])
    finally:
        issuance.sign_certificate = original  # type: ignore[assignment]
    assert _labels(services) == before
    with transaction(services.sessions) as s:
        assert s.execute(select(HsmKeyIntent).where(HsmKeyIntent.purpose == "issuance")).first() is None


def test_cli_sweep_lists_then_destroys(services: Any, crashed: dict[str, Any], database: Any,
                                       hsm_token: Any) -> None:
    from ca_admin.models import HsmKeyIntent
    from kyso.db import transaction

    with transaction(services.sessions) as s:  # an hour has passed
        s.execute(update(HsmKeyIntent).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    env = cli_env(database, hsm_token, KYSO_API_KEY=crashed["keys"]["admin"])
    listed = run_kyso(["hsm", "sweep", "--as", "admin"], env)
    assert listed.returncode == 0, listed.stderr
    assert crashed["label"] in listed.stdout and "dry run" in listed.stdout
    assert crashed["label"] in _labels(services)
    destroyed = run_kyso(["hsm", "sweep", "--destroy", "--as", "admin"], env)
    assert destroyed.returncode == 0, destroyed.stderr
    assert "1 orphan key(s) destroyed" in destroyed.stdout
    assert crashed["label"] not in _labels(services)
