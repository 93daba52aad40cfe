from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from app import settings as app_settings
from app.settings import load_settings
from ca_admin.settings import CaSettings, ProfilesSettings
from hsm.settings import HsmSettings
from kyso.errors import ConfigError
from kyso.settings import Section, Settings
from tests.conftest import run_kyso


def test_defaults_load_and_are_frozen() -> None:
    s = load_settings(environ={})
    assert isinstance(s, Settings)
    assert s.server.bind == "127.0.0.1:8080"
    assert s.server.workers == 2
    root = Path(__file__).resolve().parents[2]
    assert s.database.url == f"sqlite:///{root}/var/kyso.db"  # anchored at the project root
    assert s.section(HsmSettings).pin_file == f"{root}/var/secrets/user.pin"
    assert s.section(CaSettings).root_key.key_type == "rsa-4096"
    assert s.section(CaSettings).issuing_key.key_type == "rsa-3072"
    assert "Hải Phòng" in s.section(CaSettings).root_name.locality
    with pytest.raises(AttributeError):
        s.server.bind = "x"  # type: ignore[misc]


def test_file_then_environment_override(tmp_path: Path) -> None:
    extra = tmp_path / "site.toml"
    extra.write_text('[database]\nurl = "sqlite:///from-file.db"\n[server]\nworkers = 4\n')
    s = load_settings(environ={"KYSO_CONFIG": str(extra), "KYSO_SERVER__WORKERS": "6",
                               "KYSO_CA__ISSUING_KEY__KEY_TYPE": "ec-p384"})
    assert s.database.url.endswith("/from-file.db") and s.database.url.startswith("sqlite:////")
    assert s.server.workers == 6
    assert s.section(CaSettings).issuing_key.key_type == "ec-p384"


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
    assert s.section(CaSettings).root_name.locality == "Hải Phòng"


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


def test_a_package_section_is_read_from_its_own_table() -> None:
    from verification.settings import VerifySettings

    s = load_settings(environ={"KYSO_VERIFY__MAX_SECONDS": "40", "KYSO_VERIFY__TRUST_ROOTS": "var/roots/*.pem"})
    verify = s.section(VerifySettings)
    assert verify.max_seconds == 40
    root = Path(__file__).resolve().parents[2]
    assert verify.trust_roots == (f"{root}/var/roots/*.pem",)  # anchored by its own section
    changed = s.with_sections(dataclasses.replace(verify, max_seconds=5))
    assert changed.section(VerifySettings).max_seconds == 5 and s.section(VerifySettings).max_seconds == 40


def test_a_package_section_keeps_its_key_names_and_checks() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"KYSO_VERIFY__MAX_SECOND": "40"})
    assert "verify.max_second" in info.value.message_en
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"KYSO_SERVER__THREADS": "2", "KYSO_VERIFY__MAX_CONCURRENT": "3"})
    assert "max_concurrent 1 to server.threads" in info.value.message_en


def test_the_platform_alone_knows_no_domain_table() -> None:
    from kyso import settings as platform

    with pytest.raises(ConfigError) as info:
        platform.load_settings(environ={}, sections=())
    assert info.value.code == "config-invalid"
    s = platform.load_settings(environ={}, sections=app_settings.SECTIONS)
    with pytest.raises(LookupError):
        s.section(type("Elsewhere", (Section,), {"table": "elsewhere"}))


@pytest.mark.parametrize(("var", "value", "named"), [
    ("KYSO_SIGNING__DEFAULT_PDF_LEVEL", "B-X", "signing.default_pdf_level"),
    ("KYSO_SIGNING__ALLOWED_DIGESTS", "md5", "signing.allowed_digests"),
    ("KYSO_TSA__AUDIT_PERIOD_MINUTES", "0", "tsa.audit_period_minutes"),
    ("KYSO_VERIFY__MAX_SECONDS", "0", "verify"),
])
def test_each_section_checks_its_own_values(var: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={var: value})
    assert named in info.value.message_en


def test_profiles_are_named_tables_of_the_ca() -> None:
    s = load_settings(environ={"KYSO_PROFILES__AGENCY_SEAL__VALIDITY_DAYS": "365"})
    profiles = s.section(ProfilesSettings).by_name
    assert profiles["agency-seal"].validity_days == 365  # "_" in the variable reaches "agency-seal"
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"KYSO_PROFILES__AGENCY_SEAL__VALIDITY_DAY": "365"})
    assert "profiles.agency-seal.validity_day" in info.value.message_en
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"KYSO_PROFILES__AGENCY_SEAL__REQUESTERS": "client,nobody"})
    assert "profiles.agency-seal.requesters" in info.value.message_en


@pytest.mark.parametrize(("var", "value", "named"), [
    ("KYSO_PROFILES__AGENCY_SEAL__SUBJECT", "city", "profiles.agency-seal.subject"),
    ("KYSO_PROFILES__AGENCY_SEAL__KEY_USAGE", "digital_signature,sign_anything", "profiles.agency-seal.key_usage"),
])
def test_a_profile_is_checked_when_settings_load(var: str, value: str, named: str) -> None:
    # Before, only the web app checked these, and an unknown key usage name went through
    # (asn1crypto leaves its bit out without a word); now every command refuses them.
    with pytest.raises(ConfigError) as info:
        load_settings(environ={var: value})
    assert named in info.value.message_en
