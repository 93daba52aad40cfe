"""Run one piece of untrusted-input work (a verification) in a forked child process, with a
wall-clock limit, a CPU limit and an address-space limit.

A hostile file (deeply nested objects, a decompression bomb, a pathological xref) can then
cost only the child: it is killed at the deadline, or fails its allocations, and the request
ends in 422 with a stable code; the worker and its other threads never notice. The child
must not touch the database, the HSM or any lock shared with other threads: the caller
prepares everything it needs (trust roots, CRLs) before the fork, and the child only
computes. The result comes back pickled over a pipe.
"""

from __future__ import annotations

import gc
import os
import pickle
import resource
import select
import signal
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kyso.errors import KysoError

T = TypeVar("T")


class TooComplex(KysoError):
    code = "document-too-complex"
    status = 422
    title_en = "Document too complex"


def _too_complex(what_en: str, what_vi: str) -> TooComplex:
    return TooComplex(f"the document could not be checked within the limits: {what_en}",
                      f"không kiểm tra được tài liệu trong giới hạn cho phép: {what_vi}")


def _virtual_size() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(work: Callable[[], Any], seconds: float, memory_bytes: int, w: int) -> None:
    # No garbage collection in the short-lived child: a full collection would walk, and so
    # copy-on-write, every object inherited from the worker; the memory limit bounds cycles.
    gc.disable()
    try:
        limit = _virtual_size() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = int(seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        try:
            result: tuple[str, Any] = ("ok", work())
        except KysoError as exc:
            result = ("kyso", (type(exc).__module__, type(exc).__qualname__, exc.message_en, exc.message_vi,
                               exc.log_detail))
        except MemoryError:
            result = ("memory", None)
        except RecursionError:
            result = ("recursion", None)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
            result = ("error", type(exc).__name__)
        payload = pickle.dumps(result)
        view = memoryview(payload)
        while view:
            view = view[os.write(w, view):]
    finally:
        os._exit(0)


def run(work: Callable[[], T], *, seconds: float, memory_bytes: int) -> T:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        os.close(r)
        _child(work, seconds, memory_bytes, w)
    os.close(w)
    chunks = []
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                raise _too_complex(f"it took longer than {seconds:g} s", f"quá {seconds:g} giây")
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    if not chunks:  # killed by a signal: the CPU limit, or the kernel
        raise _too_complex("the check was stopped", "quá trình kiểm tra bị dừng")
    kind, value = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's output
    if kind == "ok":
        return value
    if kind == "kyso":
        module, name, en, vi, detail = value
        cls = getattr(__import__(module, fromlist=[name]), name)
        raise cls(en, vi, log_detail=detail)
    if kind == "memory":
        raise _too_complex("it needs more memory than allowed", "cần nhiều bộ nhớ hơn mức cho phép")
    if kind == "recursion":
        raise _too_complex("its objects are nested too deeply", "các đối tượng lồng nhau quá sâu")
    raise _too_complex(f"it could not be parsed ({value})", f"không phân tích được ({value})")
