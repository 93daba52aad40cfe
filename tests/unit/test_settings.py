from __future__ import annotations

from pathlib import Path

import pytest

from kyso.errors import ConfigError
from kyso.settings import Settings, load_settings
from tests.conftest import run_kyso


def test_defaults_load_and_are_frozen() -> None:
    s = load_settings(environ={})
    assert isinstance(s, Settings)
    assert s.server.bind == "127.0.0.1:8080"
    assert s.server.workers == 2
    root = Path(__file__).resolve().parents[2]
    assert s.database.url == f"sqlite:///{root}/var/kyso.db"  # anchored at the project root
    assert s.hsm.pin_file == f"{root}/var/secrets/user.pin"
    assert s.ca.root_key.key_type == "rsa-4096"
    assert s.ca.issuing_key.key_type == "rsa-3072"
    assert "Hải Phòng" in s.ca.root_name.locality
    with pytest.raises(AttributeError):
        s.server.bind = "x"  # type: ignore[misc]


def test_file_then_environment_override(tmp_path: Path) -> None:
    extra = tmp_path / "site.toml"
    extra.write_text('[database]\nurl = "sqlite:///from-file.db"\n[server]\nworkers = 4\n')
    s = load_settings(environ={"KYSO_CONFIG": str(extra), "KYSO_SERVER__WORKERS": "6",
                               "KYSO_CA__ISSUING_KEY__KEY_TYPE": "ec-p384"})
    assert s.database.url.endswith("/from-file.db") and s.database.url.startswith("sqlite:////")
    assert s.server.workers == 6
    assert s.ca.issuing_key.key_type == "ec-p384"


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    extra = tmp_path / "site.toml"
    extra.write_text("[hsm]\nmodul = '/x.so'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"KYSO_CONFIG": str(extra)})
    assert "hsm.modul" in info.value.message_en
    assert info.value.code == "config-invalid"


def test_unknown_section_in_environment_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"KYSO_DATABSE__URL": "x"})
    assert "databse" in info.value.message_en


def test_wrong_type_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"KYSO_SERVER__WORKERS": "many"})
    assert "server.workers" in info.value.message_en


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(environ={"KYSO_CONFIG": str(tmp_path / "nope.toml")})


def test_strings_are_nfc() -> None:
    decomposed = "Ha\u0309i Pho\u0300ng"  # combining marks
    s = load_settings(environ={"KYSO_CA__ROOT_NAME__LOCALITY": decomposed})
    assert s.ca.root_name.locality == "Hải Phòng"


def test_pin_never_in_repr() -> None:
    s = load_settings(environ={"KYSO_HSM__PIN": "s3cret-pin-123"})
    assert "s3cret-pin-123" not in repr(s)


def test_cli_refuses_unknown_key_with_nonzero_exit() -> None:
    result = run_kyso(["db", "current"], {"KYSO_HSM__NOPE": "1"})
    assert result.returncode != 0
    assert "hsm.nope" in result.stderr
    assert "Traceback" not in result.stderr


EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_example_deployments_load(example: Path) -> None:
    load_settings(environ={"KYSO_CONFIG": str(example)})


def test_mistyped_environment_variable_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"KYSO_HSM_PIN": "1234"})
    assert "KYSO_HSM_PIN" in info.value.message_en
    assert "1234" not in info.value.message_en


@pytest.mark.parametrize(("var", "value"), [
    ("KYSO_CA__ROOT_KEY__SIGNATURE_SCHEME", "rsa_pss"),
    ("KYSO_CA__ISSUING_KEY__HASH", "md5"),
    ("KYSO_CA__ISSUING_KEY__KEY_TYPE", "rsa-1024"),
    ("KYSO_PROFILES__AGENCY_SEAL__KEY_TYPES", "rsa-1024"),
])
def test_bad_values_are_start_up_errors(var: str, value: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(environ={var: value})
