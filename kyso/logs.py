"""JSON logs with the request id, and a filter that keeps secrets out of them."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# The X-Request-Id a caller sent (validated), kept beside our own id in logs and the audit.
caller_request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("caller_request_id", default="")
# Where an action came from when it is not an HTTP request: the CLI sets {"via": "cli",
# "os_user": ...}, and every audit record made meanwhile carries it in its details.
origin_var: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("origin", default=None)

# API keys, bearer tokens and PIN-like assignments are scrubbed from every message.
_SECRET_PATTERNS = [
    re.compile(r"kyso_[0-9a-f]{16}_[A-Za-z0-9_-]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:pin|password|secret|api[_-]?key)\s*[=:]\s*)\S+"),
]
_known_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Values (such as the HSM PIN) that must never appear in a log line."""
    if value and len(value) >= 4:
        _known_secrets.add(value)


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[REDACTED]", text)
    for secret in _known_secrets:
        text = text.replace(secret, "[REDACTED]")
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            entry["request_id"] = rid
        crid = caller_request_id_var.get()
        if crid:
            entry["caller_request_id"] = crid
        for key in ("method", "path", "status", "duration_ms", "caller", "incident_id", "pid"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else PlainFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces its plugins at INFO on every start; only its warnings matter here.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
