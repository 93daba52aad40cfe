"""CA bootstrap: keys in the token, certificates built with asn1crypto and signed there."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from asn1crypto import x509
from sqlalchemy import func, select

from ca_admin import service
from ca_admin.models import CertificateAuthority
from hsm import KeyNotFound
from kyso import audit
from kyso.db import transaction
from tests.conftest import cli_env, make_settings, run_kyso

pytestmark = pytest.mark.both_databases


def test_init_creates_root_and_issuing(services: Any, ca: Any) -> None:
    root, issuing = ca
    r = x509.Certificate.load(root.certificate_der)
    i = x509.Certificate.load(issuing.certificate_der)
    assert r.ca and i.ca
    assert r.self_signed == "maybe" and i.issuer == r.subject
    assert i.authority_key_identifier == r.key_identifier
    assert r.key_usage_value.native == {"key_cert_sign", "crl_sign"}
    assert i.basic_constraints_value["path_len_constraint"].native == 0
    assert i.critical_extensions >= {"basic_constraints", "key_usage"}
    assert 0 < r.serial_number < 2**159 and len(format(i.serial_number, "x")) <= 40
    # Subjects are UTF8String, NFC.
    cn = i.subject.chosen[-1][0]
    assert cn["type"].native == "common_name"
    assert cn["value"].name == "utf8_string"
    assert unicodedata.is_normalized("NFC", cn["value"].native)
    assert "Hải Phòng" in i.subject.human_friendly
    with transaction(services.sessions) as session:
        rows = session.execute(select(func.count()).select_from(CertificateAuthority)).scalar()
        actions = [rec["action"] for rec in audit.export(session)]
        assert audit.verify_chain(session).ok
    assert rows == 2 and actions == ["ca.create", "ca.create"]
    assert services.keystore.find(root.key_label).public_key_der == r.public_key.dump()


def test_second_init_refused_and_changes_nothing(services: Any, ca: Any) -> None:
    before = {k.label for k in services.keystore.list_keys()}
    with pytest.raises(service.CaAlreadyInitialised):
        service.init_ca(services.sessions, services.keystore, services.settings, actor="test")
    assert {k.label for k in services.keystore.list_keys()} == before


def test_failure_leaves_no_half_made_ca(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real = services.keystore.generate_key_pair

    def generate(label: str, spec: Any) -> Any:
        made.append(label)
        return real(label, spec)

    calls = {"n": 0}
    real_build = service.build_ca_certificate

    def failing_build(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut while signing the issuing CA")
        return real_build(*args, **kwargs)

    monkeypatch.setattr(services.keystore, "generate_key_pair", generate)
    monkeypatch.setattr(service, "build_ca_certificate", failing_build)
    with pytest.raises(RuntimeError):
        service.init_ca(services.sessions, services.keystore, services.settings, actor="test")
    assert len(made) == 2
    for label in made:
        with pytest.raises(KeyNotFound):
            services.keystore.find(label)
    with transaction(services.sessions) as session:
        assert not service.is_initialised(session)
        assert audit.verify_chain(session).records == 0


def test_ec_issuing_ca_under_rsa_pss_root(database: Any, hsm_token: Any, keystore: Any) -> None:
    from app.services import build_services
    from kyso import migrate

    settings = make_settings(database, hsm_token, ca={
        "root_key": {"key_type": "rsa-2048", "signature_scheme": "rsa-pss"},
        "issuing_key": {"key_type": "ec-p384", "hash": "sha384"},
    })
    svc = build_services(settings, keystore=keystore)
    migrate.upgrade(svc.engine)
    root, issuing = service.init_ca(svc.sessions, keystore, settings, actor="test")
    i = x509.Certificate.load(issuing.certificate_der)
    assert i.signature_algo == "rsassa_pss"
    assert i.public_key.curve[1] == "secp384r1"
    svc.engine.dispose()


def test_cli_init_is_idempotent_with_if_absent(database: Any, hsm_token: Any) -> None:
    env = cli_env(database, hsm_token)
    assert run_kyso(["db", "upgrade"], env).returncode == 0
    first = run_kyso(["ca", "init"], env)
    assert first.returncode == 0, first.stderr
    again = run_kyso(["ca", "init"], env)
    assert again.returncode == 1 and "ca-already-initialised" in again.stderr
    tolerant = run_kyso(["ca", "init", "--if-absent"], env)
    assert tolerant.returncode == 0 and "already" in tolerant.stdout


def test_concurrent_init_makes_one_ca(services: Any) -> None:
    """Replicas starting together against one database must not make two CAs."""
    import threading

    outcomes: list[str] = []

    def init() -> None:
        try:
            service.init_ca(services.sessions, services.keystore, services.settings, actor="replica")
            outcomes.append("made")
        except service.CaAlreadyInitialised:
            outcomes.append("refused")

    threads = [threading.Thread(target=init) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["made", "refused", "refused"]
    with transaction(services.sessions) as session:
        assert session.execute(select(func.count()).select_from(CertificateAuthority)).scalar() == 2
        labels = set(session.execute(select(CertificateAuthority.key_label)).scalars())
    ca_keys = {k.label for k in services.keystore.list_keys() if k.label.startswith(("ca-root-", "ca-issuing-"))}
    assert labels <= ca_keys


def test_keys_of_a_killed_init_are_swept(services: Any) -> None:
    """A process killed between key generation and commit leaves keys no row names."""
    from ca_admin.models import HsmKeyIntent

    with transaction(services.sessions) as session:
        session.add(HsmKeyIntent(label="ca-root-deadbeef", purpose="ca"))
    orphan = services.keystore.generate_key_pair("ca-root-deadbeef", "ec-p256")
    # A key this database never announced (another deployment sharing the token) is left alone.
    foreign = services.keystore.generate_key_pair("ca-root-f0f0f0f0", "ec-p256")
    service.init_ca(services.sessions, services.keystore, services.settings, actor="test")
    with pytest.raises(KeyNotFound):
        services.keystore.find(orphan.label)
    assert services.keystore.find(foreign.label).label == foreign.label
    services.keystore.delete_key(foreign.label)
    with transaction(services.sessions) as session:
        assert session.execute(select(func.count()).select_from(HsmKeyIntent)).scalar() == 0
