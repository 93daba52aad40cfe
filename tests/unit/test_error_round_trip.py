"""Every Kyso error survives the bounded helper's round trip (issue 15 item 3): a helper
process sends an error back to the worker pickled, and the worker raises it. Before, the
worker rebuilt it by calling its class with the two messages: 30 of the 70 error classes take
other arguments and came back as a crash, and ``extra`` (limits, retry_after) was lost."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
from typing import Any

import pytest

from kyso import bounded
from kyso.errors import KysoError, Message
from kyso.problems import http_status

PACKAGES = ("kyso", "hsm", "ca_admin", "signer", "verification", "axis", "app")


def _all_error_classes() -> list[type[KysoError]]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            if ".migrations" in info.name:
                continue
            importlib.import_module(info.name)
    seen: list[type[KysoError]] = []
    todo: list[type[KysoError]] = [KysoError]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted((c for c in seen if not c.__module__.startswith("tests")),
                  key=lambda c: f"{c.__module__}.{c.__qualname__}")


ERRORS = _all_error_classes()


def _instance(cls: type[KysoError]) -> KysoError:
    """An instance with every field set, whatever the class's __init__ takes."""
    exc = cls.__new__(cls)
    Exception.__init__(exc, "the message")
    exc.message = Message("the message", "thông điệp tiếng Việt")
    exc.log_detail, exc.extra = "detail for the log", {"limit": 3, "why": "test"}
    return exc


def raise_it(exc: KysoError) -> None:
    """A bounded job that fails with ``exc``."""
    raise exc


def _same(a: KysoError, b: KysoError) -> None:
    assert type(a) is type(b)
    assert (a.code, a.kind, a.message, a.message_en, a.message_vi, a.log_detail, a.extra) == \
        (b.code, b.kind, b.message, b.message_en, b.message_vi, b.log_detail, b.extra)
    assert http_status(a) == http_status(b)


def test_the_hierarchy_is_found() -> None:
    assert len(ERRORS) > 60, [c.__name__ for c in ERRORS]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_error_pickles_as_it_is(cls: type[KysoError]) -> None:
    exc = _instance(cls)
    _same(pickle.loads(pickle.dumps(exc)), exc)  # noqa: S301 - our own bytes


def test_every_error_comes_back_from_a_helper_as_it_was_raised() -> None:
    for cls in ERRORS:
        exc = _instance(cls)
        with pytest.raises(KysoError) as got:
            bounded.call(f"{__name__}:raise_it", exc, seconds=30, memory_bytes=512 * 1024 * 1024)
        _same(got.value, exc)


def test_an_error_made_by_its_own_constructor_keeps_its_extra() -> None:
    from kyso.errors import TooManyRequests

    with pytest.raises(TooManyRequests) as got:
        bounded.call(f"{__name__}:raise_it", TooManyRequests(7), seconds=30, memory_bytes=512 * 1024 * 1024)
    assert got.value.extra == {"retry_after": 7} and "7" in got.value.message_en


class _Unpicklable(KysoError):
    code = "test-unpicklable"

    def __init__(self) -> None:
        super().__init__("x", "x", extra={"f": lambda: None})


def raise_unpicklable() -> Any:
    raise _Unpicklable()


def test_an_error_that_cannot_be_sent_back_is_a_crash_not_the_documents_fault() -> None:
    with pytest.raises(bounded.HelperCrash):
        bounded.call(f"{__name__}:raise_unpicklable", seconds=30, memory_bytes=512 * 1024 * 1024)
