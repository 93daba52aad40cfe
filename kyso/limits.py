"""Bounds on what callers send, checked before it reaches a parser's recursion or a column.

Python's integers and JSON nesting have no limit; the database's integer columns and the
interpreter's stack do. Without these checks a caller's 20-digit id became an OverflowError
(SQLite) or "integer out of range" (PostgreSQL), JSON nested 100,000 deep a RecursionError,
and a string longer than its column a PostgreSQL error: all 500s (issue 13, item 18).
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.routing import IntegerConverter

from kyso.errors import BadRequest
from kyso.messages import JSON_TOO_DEEP, NOT_A_BOOLEAN, NOT_A_NUMBER_IN_RANGE, VALUE_TOO_LONG

# Ids are Integer columns: 32 bits on PostgreSQL. A larger id names nothing.
MAX_ID = 2**31 - 1
# Deeper JSON than any request of ours needs; far below the interpreter's recursion limit.
MAX_JSON_DEPTH = 32


class JsonTooDeep(BadRequest):
    code = "json-too-deep"
    title_en = "JSON nested too deeply"

    def __init__(self) -> None:
        super().__init__(JSON_TOO_DEEP.format(max_json_depth=MAX_JSON_DEPTH), extra={"limit": MAX_JSON_DEPTH})


class ValueOutOfRange(BadRequest):
    code = "value-out-of-range"
    title_en = "Value out of range"

    def __init__(self, name: str, low: int, high: int) -> None:
        super().__init__(NOT_A_NUMBER_IN_RANGE.format(name=name, low=low, high=high),
                         extra={"field": name, "min": low, "max": high})


class ValueTooLong(BadRequest):
    code = "value-too-long"
    title_en = "Value too long"

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(VALUE_TOO_LONG.format(name=name, limit=limit), extra={"field": name, "limit": limit})


def _digits_up_to(n: int) -> str:
    """A regular expression for the decimal numbers from 0 to ``n`` (no sign, no leading zeros
    beyond n's length)."""
    top = str(n)
    parts = [rf"\d{{1,{len(top) - 1}}}"] if len(top) > 1 else []
    for i, digit in enumerate(top):
        if digit != "0":
            rest = len(top) - i - 1
            parts.append(top[:i] + f"[0-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    parts.append(top)
    return "(?:" + "|".join(parts) + ")"


class IdConverter(IntegerConverter):
    """``<int:...>`` in routes: a path id beyond the id columns' range matches no route (404)
    instead of reaching the database. The bound is in the pattern, not a check after the match,
    which werkzeug would report as 405 when another method's rule has the same path."""

    regex = _digits_up_to(MAX_ID)

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def as_id(value: Any) -> int | None:
    """``value`` as a row id (an int or a string of digits from 1 to MAX_ID), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 10:
            return None
        value = int(text)
    if not isinstance(value, int) or not 1 <= value <= MAX_ID:
        return None
    return value


def int_option(value: Any, name: str, low: int, high: int) -> int:
    """An integer option (JSON number or query string) within [low, high], else 400."""
    if isinstance(value, str):
        text = value.strip()
        sign = -1 if text.startswith("-") else 1
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 19:
            value = sign * int(digits)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueOutOfRange(name, low, high)
    return value


def bool_option(options: dict[str, Any], name: str, default: bool = False) -> bool:
    """A true/false option as JSON or a form sends it (true, "true", "1", "yes"...), else 400."""
    value = options.get(name, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no", ""):
        return False
    raise BadRequest(NOT_A_BOOLEAN.format(name=name))


def check_length(value: str, name: str, limit: int) -> str:
    if len(value) > limit:
        raise ValueTooLong(name, limit)
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, walked without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                break
            stack.extend((v, level + 1) for v in item if isinstance(v, (dict, list)))
    return deepest


def parse_json(raw: str | bytes) -> Any:
    """JSON from a caller: ValueError when it is not JSON, JsonTooDeep when it is nested
    deeper than MAX_JSON_DEPTH (the decoder's RecursionError included)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeep() from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise JsonTooDeep()
    return value
