"""The limits of verification in a worker: its concurrent verification slots, and the most
signatures one document may ask to be checked."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kyso.errors import ErrorKind, KysoError
from kyso.settings import Settings
from verification.messages import TOO_MANY_SIGNATURES, VERIFY_BUSY
from verification.settings import VerifySettings


class VerifyBusy(KysoError):
    code = "verify-busy"
    kind = ErrorKind.UNAVAILABLE
    title_en = "Verification busy"


class TooManySignatures(KysoError):
    code = "too-many-signatures"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Too many signatures"


_SLOTS: dict[int, threading.BoundedSemaphore] = {}


_SLOTS_LOCK = threading.Lock()


@contextmanager
def verification_slot(settings: Settings) -> Iterator[None]:
    """One of the worker's verify.max_concurrent verification slots, for the whole check:
    verifications never take every thread of a worker. Waits up to busy_wait_seconds."""
    conf = settings.section(VerifySettings)
    size = conf.max_concurrent
    with _SLOTS_LOCK:
        slots = _SLOTS.setdefault(size, threading.BoundedSemaphore(size))
    if not slots.acquire(timeout=conf.busy_wait_seconds):
        raise VerifyBusy(VERIFY_BUSY,
                         extra={"retry_after": max(1, math.ceil(conf.busy_wait_seconds)) + 1})
    try:
        yield
    finally:
        slots.release()


def check_signature_count(count: int) -> None:
    """Refuse a document with more signatures than verify.max_signatures before checking any
    (1,500 copies of one signature cost 30 s of CPU)."""
    from kyso.bounded import limit

    most = limit("max_signatures")
    if most and count > most:
        raise TooManySignatures(TOO_MANY_SIGNATURES.format(count=count, most=most),
                                extra={"limit": most})
