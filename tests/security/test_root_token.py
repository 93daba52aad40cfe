"""Issue 13 item 29: the root CA key in a token of its own, with its own PIN, connected only
for ceremonies. The service runs, signs and issues without it; the ceremonies need it and
say so clearly when it is absent."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl

from hsm.settings import HsmSettings
from kyso import problems
from signer.settings import TsaSettings
from tests.conftest import MODULE, cli_env, init_token, make_settings, run_kyso, token_dir_of

pytestmark = pytest.mark.both_databases


@pytest.fixture
def root_token(hsm_token: Any) -> Iterator[tuple[str, str]]:
    """A second SoftHSM2 token for the root: (label, PIN)."""
    label = f"kyso-root-{secrets.token_hex(3)}"
    pin, _so = init_token(hsm_token.conf, label)
    yield label, pin


@pytest.fixture
def two_token_services(database: Any, hsm_token: Any, keystore: Any, root_token: tuple[str, str]) -> Iterator[Any]:
    from app.services import build_services
    from kyso import migrate

    label, pin = root_token
    settings = make_settings(database, hsm_token, hsm={"root": {"token_label": label, "pin": pin}})
    svc = build_services(settings, keystore=keystore)
    migrate.upgrade(svc.engine)
    yield svc
    svc.engine.dispose()


def _unplug(hsm_token: Any, label: str) -> tuple[Path, Path]:
    path = token_dir_of(hsm_token, label)
    away = hsm_token.tokendir.parent / f"{path.name}.unplugged"
    shutil.move(path, away)
    return path, away


def _init(svc: Any) -> tuple[Any, Any]:
    from ca_admin import crl, service

    root, issuing = service.init_ca(svc.sessions, svc.keystore, svc.settings, actor="test",
                                    root_keystore=svc.root_keystore)
    crl.publish(svc.sessions, svc.root_keystore, svc.settings, "root", actor="test")
    crl.publish(svc.sessions, svc.keystore, svc.settings, "issuing", actor="test")
    return root, issuing


def test_root_key_lives_only_in_its_own_token(two_token_services: Any) -> None:
    from cryptography import x509

    svc = two_token_services
    root, issuing = _init(svc)
    main_labels = {k.label for k in svc.keystore.list_keys()}
    root_labels = {k.label for k in svc.root_keystore.list_keys()}
    assert root.key_label in root_labels and root.key_label not in main_labels
    assert issuing.key_label in main_labels and issuing.key_label not in root_labels
    # The issuing CA certificate is signed by the root key in the root token.
    r = x509.load_der_x509_certificate(root.certificate_der)
    i = x509.load_der_x509_certificate(issuing.certificate_der)
    i.verify_directly_issued_by(r)
    r.verify_directly_issued_by(r)


def test_service_runs_without_the_root_token(two_token_services: Any, hsm_token: Any) -> None:
    from app.web import create_app
    from ca_admin import crl, service
    from hsm import RootTokenUnavailable
    from tests.conftest import make_user

    svc = two_token_services
    _init(svc)
    key = make_user(svc, "admin", "ca-admin")
    path, away = _unplug(hsm_token, svc.settings.section(HsmSettings).root.token_label)
    try:
        app = create_app(svc.settings, services=svc, configure_logging=False)
        app.config["TESTING"] = True
        client = app.test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.get_data(as_text=True)
        # The issuing CA key signs (HSM self-test) and issues: the TSA's own certificate is
        # made on demand, a key generated in the main token and certified by the issuing CA.
        test = client.post("/api/v1/admin/ca/self-test", headers={"Authorization": f"Bearer {key}"})
        assert test.status_code == 200, test.get_data(as_text=True)
        cred = service.service_credential(svc.sessions, svc.keystore, svc.settings, "tsa", "Kyso TSA",
                                          rotate_days=svc.settings.section(TsaSettings).rotate_days)
        assert cred.key_label
        assert crl.publish(svc.sessions, svc.keystore, svc.settings, "issuing").crl_number >= 2
        # The root CRL published at the ceremony is still served.
        got = client.get("/pki/crl/root.crl")
        assert got.status_code == 200
        asn1_crl.CertificateList.load(got.data).native  # noqa: B018 - parses
        # The root CRL is a ceremony: refused with a clear error while the token is away.
        with pytest.raises(RootTokenUnavailable) as info:
            crl.publish(svc.sessions, svc.root_keystore, svc.settings, "root")
        problem = problems.problem(info.value)
        assert problem["status"] == 503 and problem["code"] == "root-token-unavailable"
        assert svc.settings.section(HsmSettings).root.token_label in problem["detail"]
        assert svc.settings.section(HsmSettings).root.pin not in str(problem)
    finally:
        shutil.move(away, path)
    # Connected again: the ceremony works.
    assert crl.publish(svc.sessions, svc.root_keystore, svc.settings, "root").crl_number == 2


def test_ca_init_needs_the_root_token_and_leaves_nothing_without_it(two_token_services: Any,
                                                                     hsm_token: Any) -> None:
    from ca_admin import service
    from hsm import RootTokenUnavailable

    svc = two_token_services
    before = {k.label for k in svc.keystore.list_keys()}
    path, away = _unplug(hsm_token, svc.settings.section(HsmSettings).root.token_label)
    try:
        with pytest.raises(RootTokenUnavailable):
            service.init_ca(svc.sessions, svc.keystore, svc.settings, actor="test",
                            root_keystore=svc.root_keystore)
    finally:
        shutil.move(away, path)
    from kyso.db import transaction

    with transaction(svc.sessions) as session:
        assert not service.is_initialised(session)
    assert {k.label for k in svc.keystore.list_keys()} == before
    assert svc.root_keystore.list_keys() == []


def test_root_settings_are_checked() -> None:
    from app.settings import load_settings
    from kyso.errors import ConfigError

    with pytest.raises(ConfigError):
        load_settings(environ={}, overrides={"hsm": {"root": {"token_label": "kyso"}}})
    with pytest.raises(ConfigError):
        load_settings(environ={}, overrides={"hsm": {"root": {"pin": "1234"}}})
    s = load_settings(environ={"KYSO_HSM__ROOT__TOKEN_LABEL": "kyso-root",
                               "KYSO_HSM__ROOT__PIN_FILE": "var/secrets/root.pin"})
    hsm = s.section(HsmSettings)
    assert hsm.separate_root and hsm.root.pin_file.endswith("/var/secrets/root.pin")
    assert not load_settings(environ={}).section(HsmSettings).separate_root  # `make run`: the demo layout


def test_cli_ceremony_with_and_without_the_root_token(database: Any, hsm_token: Any,
                                                      root_token: tuple[str, str], tmp_path: Path) -> None:
    label, pin = root_token
    pin_file = tmp_path / "root.pin"
    pin_file.write_text(pin)
    pin_file.chmod(0o600)
    env = cli_env(database, hsm_token, KYSO_HSM__ROOT__TOKEN_LABEL=label, KYSO_HSM__ROOT__PIN_FILE=str(pin_file))
    assert run_kyso(["db", "upgrade"], env).returncode == 0
    path, away = _unplug(hsm_token, label)
    try:
        absent = run_kyso(["ca", "init"], env)
        assert absent.returncode != 0
        assert "root-token-unavailable" in absent.stderr or "not connected" in absent.stderr, absent.stderr
        assert pin not in absent.stderr + absent.stdout
    finally:
        shutil.move(away, path)
    made = run_kyso(["ca", "init"], env)
    assert made.returncode == 0, made.stderr
    assert "disconnect" in made.stdout
    path, away = _unplug(hsm_token, label)
    try:
        # The timer's `kyso crl publish` keeps the issuing CRL going without the root token ...
        timer = run_kyso(["crl", "publish"], env)
        assert timer.returncode == 0, timer.stderr
        assert "issuing: CRL number 2" in timer.stdout and "root: its token is not connected" in timer.stdout
        # ... the root CRL asked for explicitly is a ceremony, refused clearly.
        root = run_kyso(["crl", "publish", "--role", "root"], env)
        assert root.returncode != 0 and "not connected" in root.stderr
        status = run_kyso(["hsm", "status"], env)
        assert status.returncode == 0 and "not connected" in status.stdout
        again = run_kyso(["ca", "init", "--if-absent"], env)
        assert again.returncode == 0, again.stderr
    finally:
        shutil.move(away, path)
    assert MODULE  # the module both tokens share here; [hsm.root] module may name another
