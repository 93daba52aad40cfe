from __future__ import annotations

import json
import logging

from kyso.logs import JsonFormatter, redact, register_secret


def test_redacts_api_keys_bearer_and_registered_pins() -> None:
    register_secret("0123456789abcdef")
    text = ("key kyso_0123456789abcdef_" + "A" * 43 + " Authorization: Bearer abc.def "
            "pin=9999 and 0123456789abcdef")
    out = redact(text)
    assert "AAAA" not in out and "abc.def" not in out and "9999" not in out
    assert "0123456789abcdef" not in out


def test_json_lines() -> None:
    record = logging.LogRecord("kyso.test", logging.INFO, __file__, 1, "hello %s", ("Hải Phòng",), None)
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["msg"] == "hello Hải Phòng" and data["level"] == "INFO"
