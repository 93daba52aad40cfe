"""Item 4 of issue 13: staff controlled an official's consent. An RA officer set the
official's PIN to a value of their choosing, or enrolled TOTP and received the seed, and
re-enrolling cleared the lock that only a CA admin may clear. Now the official enrols
themself with a one-time activation code sent by e-mail (through a real SMTP server here) or
in a letter; staff never see a PIN or a seed; a re-enrolment keeps the lock."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from kyso import audit
from kyso.db import transaction
from signer.enrolment import ConsentEnrolment
from signer.settings import SigningSettings
from tests.conftest import make_settings
from tests.signing.conftest import PIN, H, enrol, signing  # noqa: F401  (fixture)

CCCD = "031087004512"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def settings(database: Any, hsm_token: Any, smtp: tuple[Inbox, int]) -> Any:
    return make_settings(database, hsm_token, mail={
        "enabled": True, "host": "127.0.0.1", "port": smtp[1], "starttls": False,
        "from_address": "kyso@stttt.haiphong.gov.vn"},
        signing={"enrolment_requests_per_minute": 1000})  # test_enrolment_requests_limited_per_address


def _body(text: str) -> str:
    """The decoded text of a MIME message (the body is base64 or quoted-printable)."""
    import email
    from email import policy

    msg = email.message_from_string(text, policy=policy.default)
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _code_in(text: str) -> str:
    m = re.search(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4}){4})\b", _body(text))
    assert m, text
    return m.group(1)


def _sign(client: Any, world: dict[str, Any], consent: str) -> Any:
    body = {"credential": f"official:{world['official_id']}", "hash_algorithm": "sha256",
            "hashes": [base64.b64encode(hashlib.sha256(b"doc").digest()).decode()]}
    return client.post("/api/v1/sign/hashes", headers=H(world["keys"]["eoffice"], **{"X-Kyso-Consent": consent}),
                       json=body)


def _start(client: Any, world: dict[str, Any], channel: str, staff: str = "ra") -> Any:
    return client.post(f"/api/v1/admin/officials/{world['official_id']}/consent/enrolments",
                       headers=H(world["keys"][staff]), json={"channel": channel})


def _set_email(client: Any, world: dict[str, Any], email: str, staff: str = "admin") -> None:
    r = client.patch(f"/api/v1/admin/officials/{world['official_id']}", headers=H(world["keys"][staff]),
                     json={"email": email, "citizen_id": CCCD})
    assert r.status_code == 200, r.get_json()


def _audit_text(services: Any) -> str:
    with transaction(services.sessions) as session:
        return json.dumps(list(audit.export(session, None)), ensure_ascii=False)


def test_staff_cannot_set_or_learn_a_pin_or_seed(client: Any, services: Any, signing: dict[str, Any],  # noqa: F811
                                                  smtp: tuple[Inbox, int]) -> None:
    oid = signing["official_id"]
    ra = H(signing["keys"]["ra"])
    # The old way: an RA officer chose the PIN, or enrolled TOTP and got the seed.
    for body in ({"method": "pin", "pin": "802461"}, {"method": "totp"}):
        r = client.put(f"/api/v1/admin/officials/{oid}/consent", headers=ra, json=body)
        assert r.status_code in (404, 405)
    assert _sign(client, signing, "802461").status_code == 401
    # Starting an e-mail enrolment gives staff nothing secret; the code goes to the official.
    _set_email(client, signing, "an.nv@snv.haiphong.gov.vn")
    r = _start(client, signing, "email")
    assert r.status_code == 201, r.get_json()
    out = r.get_json()
    assert "activation_code" not in out and out["sent_to"] == "a***@snv.haiphong.gov.vn"
    code = _code_in(smtp[0].messages[-1][2])
    assert code not in json.dumps(out)
    # The official enrols TOTP: the seed is in the official's answer only.
    done = client.post("/api/v1/consent/enrol", json={"activation_code": code, "method": "totp"}).get_json()
    seed = done["secret_base32"]
    assert done["otpauth_uri"].startswith("otpauth://totp/") and done["qr_svg"].startswith("<svg")
    status = client.get(f"/api/v1/admin/officials/{oid}/consent", headers=ra).get_json()
    assert status == {"official_id": oid, "method": "totp", "self_enrolled": True, "locked": False,
                      "pending_enrolment": None}
    for key in ("ra", "admin", "auditor"):
        for path in (f"/api/v1/admin/officials/{oid}", f"/api/v1/admin/officials/{oid}/consent",
                     "/api/v1/admin/audit"):
            assert seed not in client.get(path, headers=H(signing["keys"][key])).get_data(as_text=True)
    assert seed not in _audit_text(services) and code not in _audit_text(services)


def test_the_staff_member_who_set_the_address_cannot_send_the_code(client: Any, signing: dict[str, Any],  # noqa: F811
                                                                  smtp: tuple[Inbox, int]) -> None:
    # An RA officer who points the official's e-mail at their own mailbox gets nothing.
    _set_email(client, signing, "ra.officer@gmail.com", staff="ra")
    r = _start(client, signing, "email", staff="ra")
    assert r.status_code == 409 and r.get_json()["code"] == "enrolment-refused"
    assert smtp[0].messages == []
    assert _start(client, signing, "email", staff="admin").status_code == 201


def test_re_enrolment_keeps_the_lock(client: Any, services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    for _ in range(services.settings.section(SigningSettings).consent_max_failures):
        _sign(client, signing, "000000")
    assert _sign(client, signing, PIN).get_json()["code"] == "consent-locked"
    out = enrol(client, signing["keys"], signing["official_id"], "pin", "802461", staff="ra")
    assert out["locked"] is True
    r = _sign(client, signing, "802461")
    assert r.status_code == 401 and r.get_json()["code"] == "consent-locked"
    assert client.post(f"/api/v1/admin/officials/{signing['official_id']}/consent/unlock",
                       headers=H(signing["keys"]["admin"])).status_code == 200
    assert _sign(client, signing, "802461").status_code == 200
    assert _sign(client, signing, PIN).status_code == 401  # the old PIN is gone
    actions = [r["action"] for r in json.loads(_audit_text(services))]
    assert actions.count("consent.enrol") == 2 and "consent.enrolment.start" in actions


@pytest.mark.parametrize("weak", ["111111", "123456", "987654", "890123", "0870045", "12ab", ""])
def test_weak_pins_refused(client: Any, signing: dict[str, Any], weak: str) -> None:  # noqa: F811
    _set_email(client, signing, "an.nv@snv.haiphong.gov.vn")  # and the CCCD
    code = _start(client, signing, "letter").get_json()["activation_code"]
    r = client.post("/api/v1/consent/enrol", json={"activation_code": code, "method": "pin", "pin": weak})
    assert r.status_code == 422 and r.get_json()["code"] == "pin-too-weak", weak
    # The code was right: it is still good for a proper PIN.
    r = client.post("/api/v1/consent/enrol", json={"activation_code": code, "method": "pin", "pin": "802461"})
    assert r.status_code == 200


def test_activation_code_single_use_expiring_limited(client: Any, services: Any,
                                                     signing: dict[str, Any]) -> None:  # noqa: F811
    def use(code: str, pin: str = "802461") -> Any:
        return client.post("/api/v1/consent/enrol", json={"activation_code": code, "method": "pin", "pin": pin})

    code = _start(client, signing, "letter").get_json()["activation_code"]
    assert use(code.lower().replace("-", " ")).status_code == 200
    r = use(code, "579135")
    assert r.status_code == 401 and r.get_json()["code"] == "activation-code-invalid"
    assert _sign(client, signing, "802461").status_code == 200  # the second use changed nothing
    # Expired.
    started = _start(client, signing, "letter").get_json()
    with transaction(services.sessions) as session:
        session.execute(update(ConsentEnrolment).where(ConsentEnrolment.reference == started["reference"])
                        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert use(started["activation_code"]).status_code == 401
    # A new enrolment voids the last code.
    first = _start(client, signing, "letter").get_json()["activation_code"]
    second = _start(client, signing, "letter").get_json()["activation_code"]
    assert use(first).status_code == 401
    # Wrong secrets for a real reference: limited tries, then the code is void.
    reference = second.replace("-", "")[:8]
    limit = services.settings.section(SigningSettings).enrolment_code_attempts
    for i in range(limit):
        r = use(reference + "0" * 12)
        assert r.status_code == 401 and r.get_json()["attempts_left"] == limit - 1 - i
    assert use(second).status_code == 401
    with transaction(services.sessions) as session:
        rows = session.execute(select(ConsentEnrolment)).scalars().all()
        assert {r.status for r in rows} == {"completed", "void"}  # the signing fixture's and this one's
        assert all(len(r.secret_sha256) == 64 and r.secret_sha256 not in (first, second) for r in rows)


def test_code_goes_by_smtp_and_nothing_secret_is_logged(client: Any, services: Any, signing: dict[str, Any],  # noqa: F811
                                                        smtp: tuple[Inbox, int],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _set_email(client, signing, "an.nv@snv.haiphong.gov.vn")
    r = _start(client, signing, "email")
    assert r.status_code == 201
    sender, recipients, text = smtp[0].messages[-1]
    assert sender == "kyso@stttt.haiphong.gov.vn" and recipients == ["an.nv@snv.haiphong.gov.vn"]
    code = _code_in(text)
    assert "/consent/enrol" in _body(text) and CCCD not in _body(text)
    page = client.post("/consent/enrol", data={"code": code, "method": "pin", "pin": "802461", "pin2": "802461"})
    assert page.status_code == 200 and 'id="done"' in page.get_data(as_text=True)
    assert _sign(client, signing, "802461").status_code == 200
    ours = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records
                     if not r.name.startswith("mail.log"))  # aiosmtpd, the test's server
    logged = ours + _audit_text(services)
    for secret in (code, code.replace("-", ""), "802461"):
        assert secret not in logged
    assert "an.nv@" not in ours and "e-mail enrolment" in ours


def test_mail_failure_voids_the_enrolment(client: Any, services: Any, signing: dict[str, Any],  # noqa: F811
                                          smtp: tuple[Inbox, int]) -> None:
    _set_email(client, signing, "an.nv@snv.haiphong.gov.vn")
    smtp_controller_port = smtp[1]
    with socket.socket() as s:  # nothing listens on a fresh port
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    import dataclasses

    services.settings = dataclasses.replace(services.settings, mail=dataclasses.replace(
        services.settings.mail, port=dead))
    try:
        r = _start(client, signing, "email")
    finally:
        services.settings = dataclasses.replace(services.settings, mail=dataclasses.replace(
            services.settings.mail, port=smtp_controller_port))
    assert r.status_code == 503 and r.get_json()["code"] == "mail-unavailable"
    with transaction(services.sessions) as session:
        rows = session.execute(select(ConsentEnrolment).where(ConsentEnrolment.channel == "email")).scalars()
        assert [r.status for r in rows] == ["void"]


def test_official_changes_the_pin_with_the_old_one(client: Any, services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    oid = signing["official_id"]

    def change(old: str, new: str) -> Any:
        return client.post("/api/v1/consent/pin", json={"official_id": oid, "old_pin": old, "new_pin": new})

    r = change("000000", "802461")
    assert r.status_code == 401 and r.get_json()["code"] == "consent-failed"
    assert change(PIN, "111111").status_code == 422
    assert change(PIN, "802461").status_code == 200
    assert _sign(client, signing, "802461").status_code == 200
    assert _sign(client, signing, PIN).status_code == 401
    for _ in range(services.settings.section(SigningSettings).consent_max_failures):
        change("000000", "579135")
    r = change("802461", "579135")
    assert r.status_code == 401 and r.get_json()["code"] == "consent-locked"


def test_scal_reported(client: Any, services: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    eoffice = H(signing["keys"]["eoffice"])

    def scal(serial: str) -> str:
        r = client.post("/csc/v1/credentials/info", headers=eoffice, json={"credentialID": serial})
        return str(r.get_json()["SCAL"])

    assert scal(signing["personal"]) == "2"  # the official enrolled the PIN
    assert scal(signing["seal"]) == "1"
    listed = client.get("/api/v1/sign/credentials", headers=eoffice).get_json()["credentials"]
    assert {c["kind"]: c["scal"] for c in listed} == {"seal": "1", "personal": "2"}
    # A PIN that staff set before self-enrolment existed is not the official's sole control.
    from signer.consent import SigningConsent

    with transaction(services.sessions) as session:
        session.execute(update(SigningConsent).values(self_enrolled=False))
    assert scal(signing["personal"]) == "1"


def test_consent_set_by_staff_is_refused_until_the_official_re_enrols(client: Any, services: Any,
                                                                     signing: dict[str, Any]) -> None:  # noqa: F811
    import dataclasses

    from signer.consent import SigningConsent

    with transaction(services.sessions) as session:  # a PIN an RA officer set before the upgrade
        session.execute(update(SigningConsent).values(self_enrolled=False))
    r = _sign(client, signing, PIN)
    assert r.status_code == 401 and r.get_json()["reason"] == "re-enrolment-required"
    authorize = client.post("/csc/v1/credentials/authorize", headers=H(signing["keys"]["eoffice"]),
                            json={"credentialID": signing["personal"], "numSignatures": 1, "PIN": PIN})
    assert authorize.status_code == 401
    # Transition setting: it works again, reported as SCAL 1.
    services.settings = services.settings.with_sections(dataclasses.replace(
        services.settings.section(SigningSettings), require_self_enrolment=False))
    assert _sign(client, signing, PIN).status_code == 200
    services.settings = services.settings.with_sections(dataclasses.replace(
        services.settings.section(SigningSettings), require_self_enrolment=True))
    enrol(client, signing["keys"], signing["official_id"], "pin", "802461")
    assert _sign(client, signing, "802461").status_code == 200


def test_only_staff_start_and_only_ca_admins_unlock(client: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    oid = signing["official_id"]
    for key in ("eoffice", "auditor"):
        assert _start(client, signing, "letter", staff=key).status_code == 403
        assert client.get(f"/api/v1/admin/officials/{oid}/consent", headers=H(signing["keys"][key])).status_code == 403
    r = client.post(f"/api/v1/admin/officials/{oid}/consent/enrolments?format=pdf", headers=H(signing["keys"]["ra"]),
                    json={"channel": "letter"})
    assert r.status_code == 201 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    assert len(r.headers["X-Kyso-Enrolment-Reference"]) == 8


def test_cli_starts_a_letter_enrolment_and_cannot_set_a_pin(client: Any, database: Any, hsm_token: Any,
                                                            signing: dict[str, Any], tmp_path: Any) -> None:  # noqa: F811
    from tests.conftest import cli_env, run_kyso

    env = cli_env(database, hsm_token, KYSO_OPERATOR="ra", KYSO_API_KEY=signing["keys"]["ra"])
    oid = str(signing["official_id"])
    letter = tmp_path / "letter.txt"
    r = run_kyso(["consent", "start", oid, "--channel", "letter", "-o", str(letter)], env)
    assert r.returncode == 0, r.stderr
    assert letter.stat().st_mode & 0o077 == 0
    code = re.search(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4}){4})\b", letter.read_text(encoding="utf-8"))
    assert code and code.group(1) not in r.stdout + r.stderr
    r = run_kyso(["consent", "status", oid], env)
    assert r.returncode == 0 and json.loads(r.stdout)["pending_enrolment"]["channel"] == "letter"
    r = run_kyso(["consent", "unlock", oid], env)
    assert r.returncode != 0 and "forbidden" in r.stderr
    commands = run_kyso(["consent", "--help"], env).stdout.split("Commands:")[1].split()
    assert [c for c in commands if c in ("start", "status", "unlock", "enroll", "set-pin")] == [
        "start", "status", "unlock"]  # no command sets a PIN or seed
    done = client.post("/api/v1/consent/enrol", json={"activation_code": code.group(1), "method": "pin",
                                                      "pin": "802461"})
    assert done.status_code == 200


def test_enrolment_page_shows_the_totp_qr_to_the_official_only(client: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    assert 'name="code"' in client.get("/consent/enrol").get_data(as_text=True)
    code = _start(client, signing, "letter").get_json()["activation_code"]
    page = client.post("/consent/enrol?lang=en", data={"code": code, "method": "totp"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and 'id="secret"' in html
    assert page.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    again = client.post("/consent/enrol", data={"code": code, "method": "totp"})
    assert again.status_code == 401 and "<svg" not in again.get_data(as_text=True)


def test_enrolment_requests_limited_per_address(app: Any, client: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    from kyso.web import StrangerLimiter

    app.extensions["kyso.enrol_limiter"] = StrangerLimiter(3)
    code = _start(client, signing, "letter").get_json()["activation_code"]
    wrong = code[:10] + ("0000-0000-0000" if not code.endswith("0000-0000-0000") else "1111-1111-1111")
    for _ in range(3):
        r = client.post("/api/v1/consent/enrol", json={"activation_code": wrong, "method": "totp"})
        assert r.status_code == 401 and r.get_json()["attempts_left"] is not None
    r = client.post("/api/v1/consent/enrol", json={"activation_code": code, "method": "totp"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert client.post("/consent/enrol", data={"code": code, "method": "totp"}).status_code == 429
    assert client.post("/api/v1/consent/pin", json={"official_id": signing["official_id"], "old_pin": PIN,
                                                    "new_pin": "802461"}).status_code == 429


def test_no_enrolment_for_an_inactive_official(client: Any, signing: dict[str, Any]) -> None:  # noqa: F811
    code = _start(client, signing, "letter").get_json()["activation_code"]
    r = client.patch(f"/api/v1/admin/officials/{signing['official_id']}", headers=H(signing["keys"]["admin"]),
                     json={"status": "inactive"})
    assert r.status_code == 200
    r = client.post("/api/v1/consent/enrol", json={"activation_code": code, "method": "pin", "pin": "802461"})
    assert r.status_code == 409 and r.get_json()["code"] == "enrolment-refused"
    assert _start(client, signing, "letter").status_code == 409
