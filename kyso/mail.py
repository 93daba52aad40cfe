"""Outgoing e-mail through an SMTP server ([mail] settings), with smtplib.

Used for what must reach a person by a second channel (an official's activation code). The
log names neither the message body nor the password; the recipient is named by the caller's
reference, not by address.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from kyso.errors import Conflict, ServiceUnavailable
from kyso.messages import E_MAIL_COULD_NOT_SENT, E_MAIL_NOT_CONFIGURED_SERVER
from kyso.settings import MailSettings

log = logging.getLogger("kyso.mail")


class MailDisabled(Conflict):
    code = "mail-disabled"

    def __init__(self) -> None:
        super().__init__(E_MAIL_NOT_CONFIGURED_SERVER)


class MailUnavailable(ServiceUnavailable):
    code = "mail-unavailable"

    def __init__(self, log_detail: str) -> None:
        super().__init__(E_MAIL_COULD_NOT_SENT, log_detail=log_detail)


def _password(settings: MailSettings) -> str:
    if not settings.password_file:
        return ""
    try:
        return Path(settings.password_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise MailUnavailable(f"mail password file unreadable: {type(exc).__name__}") from None


def send(settings: MailSettings, to: str, subject: str, body: str, *, reference: str = "") -> None:
    """Send a plain-text message, or raise MailDisabled / MailUnavailable."""
    if not settings.enabled:
        raise MailDisabled()
    msg = EmailMessage()
    msg["From"] = settings.from_address
    msg["To"] = to
    msg["Subject"] = subject
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, _password(settings))
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        # The exception's text may quote the server's reply; its class is enough here.
        log.warning("e-mail %s not sent: %s", reference, type(exc).__name__)
        raise MailUnavailable(f"SMTP {settings.host}:{settings.port}: {type(exc).__name__}") from None
    log.info("e-mail %s sent", reference)
