"""Run untrusted-input work (a verification) in a helper process with a wall-clock deadline
and an address-space limit.

A hostile file (deeply nested objects, a decompression bomb, a pathological xref) can then
cost only a helper: it is killed at the deadline, or fails its allocations, and the request
ends in 422 with a stable code; the worker and its other threads never notice. Only a limit
(time, memory, recursion) is 422 document-too-complex; any other exception in the job is a
bug and comes back as HelperCrash with the helper's traceback (500 with an incident id).

Helpers are forked from the worker on demand and kept for the next job (a fork per request
cost 30-50 ms of page-table copying and copy-on-write); one that timed out, ran out of memory
or failed otherwise is discarded. A helper closes every file descriptor it inherited (the
worker's database connections, the token's files) except its two pipes: it computes only.
Jobs name a module-level function and pass picklable arguments; results come back pickled.
"""

from __future__ import annotations

import gc
import importlib
import os
import pickle
import resource
import select
import signal
import struct
import threading
import time
import traceback
from typing import Any

from kyso.errors import ErrorKind, KysoError, Message
from kyso.messages import (
    TOO_COMPLEX,
    TOO_COMPLEX_MEMORY,
    TOO_COMPLEX_NESTED,
    TOO_COMPLEX_STOPPED,
    TOO_COMPLEX_TOOK_TOO_LONG,
)

_HEADER = struct.Struct("!Q")
_MAX_IDLE = 4


class TooComplex(KysoError):
    code = "document-too-complex"
    kind = ErrorKind.UNPROCESSABLE
    title_en = "Document too complex"


def _too_complex(why: Message) -> TooComplex:
    return TooComplex(TOO_COMPLEX.format(why=why))


# Limits and settings the job's code reads (bounded.limit, bounded.given), set by the
# parent for each job.
LIMITS: dict[str, Any] = {}


def limit(name: str, default: int = 0) -> int:
    """A limit given with the current job (``call(..., limits=...)``), or ``default``."""
    return int(LIMITS.get(name, default))


def given(name: str, default: Any = None) -> Any:
    """Any other value given with the current job, or ``default``."""
    return LIMITS.get(name, default)


class HelperCrash(RuntimeError):
    """A job failed in its helper with an exception no limit explains: a bug, not the
    document's fault. Not a KysoError, so the app logs it with its traceback (the helper's,
    as the cause) and answers 500 with an incident id."""


class _RemoteTraceback(Exception):
    """The helper's traceback, as text, chained to HelperCrash so that the log shows it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class _Gone(Exception):
    """The helper died or stopped answering."""


def _virtual_size() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _write(fd: int, payload: bytes) -> None:
    for part in (_HEADER.pack(len(payload)), payload):  # no concatenated copy of a 10 MB document
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        read = os.readv(fd, [view[got:]])
        if not read:
            raise _Gone
        got += read
    return buf


def _read(fd: int, deadline: float | None) -> bytearray:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return _read_exact(fd, size, deadline)


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _serve(jobs: int, results: int, memory_bytes: int) -> None:
    """The helper's loop: one job at a time until its pipe closes or a job fails badly."""
    low, high = sorted((jobs, results))
    os.closerange(3, low)
    os.closerange(low + 1, high)
    os.closerange(high + 1, 65536)
    gc.freeze()  # inherited objects are never scanned, so never copied for the collector's sake
    limit = _virtual_size() + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            func, args, limits = pickle.loads(_read(jobs, None))  # noqa: S301 - from our own parent
        except _Gone:
            return
        LIMITS.clear()
        LIMITS.update(limits)
        try:
            result: tuple[str, Any] = ("ok", _resolve(func)(*args))
        except KysoError as exc:
            result = ("kyso", exc)  # pickled as it is (KysoError.__reduce__): class, messages, extra
        except MemoryError:
            result = ("memory", None)
        except RecursionError:
            result = ("recursion", None)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
            result = ("error", (type(exc).__name__, traceback.format_exc()))
        try:
            payload = pickle.dumps(result, protocol=5)
        except MemoryError:
            payload = pickle.dumps(("memory", None))
        except Exception as exc:  # noqa: BLE001 - an error that cannot be pickled is a bug: reported as one
            result = ("error", (type(exc).__name__, f"the job's result could not be sent back: {exc!r}"))
            payload = pickle.dumps(result)
        _write(results, payload)
        if result[0] not in ("ok", "kyso"):
            return  # a process that hit a limit is not reused


_F_SETPIPE_SZ = 1031  # Linux: a pipe's capacity (64 KiB by default)


def _widen(fd: int) -> None:
    """A 1 MiB pipe: a 10 MB document crosses in 10 turns between the processes, not 160."""
    try:
        import fcntl

        fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)
    except (ImportError, OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size: keep the default
        pass


class _Helper:
    def __init__(self, memory_bytes: int) -> None:
        jobs_r, jobs_w = os.pipe()
        results_r, results_w = os.pipe()
        for fd in (jobs_w, results_w):
            _widen(fd)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the helper never returns
            try:
                _serve(jobs_r, results_w, memory_bytes)
            finally:
                os._exit(0)
        os.close(jobs_r)
        os.close(results_w)
        self.pid, self.jobs, self.results = pid, jobs_w, results_r

    def call(self, func: str, args: tuple[Any, ...], deadline: float,
             limits: dict[str, Any] | None = None) -> tuple[str, Any]:
        try:
            _write(self.jobs, pickle.dumps((func, args, dict(limits or {})), protocol=5))
        except (BrokenPipeError, OSError):
            raise _Gone from None
        result: tuple[str, Any] = pickle.loads(_read(self.results, deadline))  # noqa: S301 - our helper
        return result

    def close(self, kill: bool = False) -> None:
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for fd in (self.jobs, self.results):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


_IDLE: list[_Helper] = []
_LOCK = threading.Lock()
_OWNER = [os.getpid()]


def _take(memory_bytes: int) -> _Helper:
    with _LOCK:
        if _OWNER[0] != os.getpid():  # forked (a gunicorn worker): the parent's helpers are not ours
            _IDLE.clear()
            _OWNER[0] = os.getpid()
        if _IDLE:
            return _IDLE.pop()
    return _Helper(memory_bytes)


def _give_back(helper: _Helper) -> None:
    with _LOCK:
        if len(_IDLE) < _MAX_IDLE:
            _IDLE.append(helper)
            return
    helper.close()


def call(func: str, *args: Any, seconds: float, memory_bytes: int, limits: dict[str, Any] | None = None) -> Any:
    """``func`` ("module:function") applied to ``args`` in a helper, within the limits;
    ``limits`` are what the job's own code reads with ``limit()``."""
    deadline = time.monotonic() + seconds
    for attempt in (1, 2):
        helper = _take(memory_bytes)
        try:
            kind, value = helper.call(func, args, deadline, limits)
        except TimeoutError:
            helper.close(kill=True)
            raise _too_complex(TOO_COMPLEX_TOOK_TOO_LONG.format(seconds=seconds)) from None
        except _Gone:
            helper.close(kill=True)
            if attempt == 1 and time.monotonic() < deadline:
                continue  # an idle helper that had died: try a fresh one
            raise _too_complex(TOO_COMPLEX_STOPPED) from None
        break
    if kind in ("ok", "kyso"):
        _give_back(helper)
    else:
        helper.close()
    if kind == "ok":
        return value
    if kind == "kyso":
        raise value
    if kind == "memory":
        raise _too_complex(TOO_COMPLEX_MEMORY)
    if kind == "recursion":
        raise _too_complex(TOO_COMPLEX_NESTED)
    # Anything else is a bug in the job, not a limit: never shown as the document's fault.
    name, remote = value
    raise HelperCrash(f"{name} in bounded job {func}") from _RemoteTraceback(f"\n\n(in the helper)\n{remote}")
