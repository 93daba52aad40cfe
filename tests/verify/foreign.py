"""The foreign corpus (tests/corpus/foreign/README.md): loading the manifests and judging
Kyso's verdict on one file against what the file's source project asserts."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kyso.problems import http_status

ROOT = Path(__file__).resolve().parent.parent / "corpus" / "foreign"
FORMATS = ("pdf", "cms", "xml", "asic")
KINDS = {"valid", "tampered", "attack", "legacy", "unsigned", "malformed"}
EXPECTS = {"TOTAL-PASSED", "TOTAL-FAILED", "INDETERMINATE", "INTACT", "NO-SIGNATURE", "UNREADABLE"}
SOURCE_KEYS = {"repo", "commit", "path", "license"}


@dataclass
class Entry:
    format: str
    path: str
    kind: str
    expect: str
    source: dict[str, str]
    asserts: str
    trust: list[str] = field(default_factory=list)
    detached: str | None = None
    # XML detached references: the referenced files, as paths relative to the manifest's
    # directory (looked up by their file name) or a table {URI name: path}.
    external: list[str] | dict[str, str] = field(default_factory=list)
    at: str | None = None
    disagreement: str | None = None
    # The directory that holds the format directories and trust/: the foreign corpus, or the
    # held-out set (bench/heldout.py).
    root: Path = ROOT

    @property
    def id(self) -> str:
        return f"{self.format}/{self.path}"

    @property
    def file(self) -> Path:
        return self.root / self.format / self.path

    @property
    def moment(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.at.replace("Z", "+00:00")) if self.at else None

    def external_paths(self) -> dict[str, Path]:
        pairs = self.external.items() if isinstance(self.external, dict) else \
            ((Path(p).name, p) for p in self.external)
        return {name: self.root / self.format / path for name, path in pairs}

    def data_path(self, relative: str) -> Path:
        """A file the entry names (detached data), relative to its format's directory."""
        return self.root / self.format / relative

    def trust_path(self, name: str) -> Path:
        return self.root / "trust" / name

    def trust_ders(self) -> tuple[bytes, ...]:
        from verification.trust import load_certs

        return tuple(c.dump() for name in self.trust for c in load_certs(self.trust_path(name)))


def entries(fmt: str | None = None) -> list[Entry]:
    out = []
    for f in FORMATS if fmt is None else (fmt,):
        manifest = ROOT / f / "manifest.toml"
        if not manifest.exists():
            continue
        for raw in tomllib.loads(manifest.read_text()).get("file", []):
            out.append(Entry(format=f, **raw))
    return out


def problems_of(entry: Entry) -> list[str]:
    """What is wrong with a manifest entry itself (the corpus test checks every entry)."""
    out = []
    if entry.kind not in KINDS:
        out.append(f"kind {entry.kind!r} not in {sorted(KINDS)}")
    if entry.expect not in EXPECTS:
        out.append(f"expect {entry.expect!r} not in {sorted(EXPECTS)}")
    if set(entry.source) != SOURCE_KEYS or not all(entry.source.values()):
        out.append(f"source needs exactly {sorted(SOURCE_KEYS)}")
    if not entry.asserts:
        out.append("asserts is empty: say what the source's own test asserts")
    if not entry.file.is_file():
        out.append(f"{entry.file} is missing")
    for name in entry.trust:
        if not entry.trust_path(name).is_file():
            out.append(f"trust/{name} is missing")
    if entry.detached and not entry.data_path(entry.detached).is_file():
        out.append(f"detached data {entry.detached} is missing")
    for name, path in entry.external_paths().items():
        if not path.is_file():
            out.append(f"external data {name} ({path}) is missing")
    if entry.kind == "attack" and entry.expect == "TOTAL-PASSED":
        out.append("an attack cannot be expected to pass")
    return out


@dataclass
class Outcome:
    verdict: str  # an indication, NO-SIGNATURE, UNREADABLE, or CRASH
    detail: str = ""
    intact: bool = False
    report: Any = None


def run(entry: Entry, seconds: float = 60.0) -> Outcome:
    """Kyso's verdict on one corpus file, through the bounded helper as in production."""
    from kyso import bounded
    from kyso.errors import KysoError
    from verification.report import DocumentUnreadable, UnsupportedFormat

    detached: bytes | dict[str, bytes] | None = \
        entry.data_path(entry.detached).read_bytes() if entry.detached else None
    if entry.external:
        detached = {name: path.read_bytes() for name, path in entry.external_paths().items()}
    ders = (entry.trust_ders(), (), ())
    try:
        report, _certs = bounded.call("verification.service:check_with_ders", entry.file.read_bytes(), detached, ders,
                                      False, None, entry.moment, seconds=seconds, memory_bytes=1024 * 1024 * 1024)
    except (DocumentUnreadable, UnsupportedFormat) as exc:
        return Outcome("UNREADABLE", f"{exc.code}: {exc}")
    except KysoError as exc:
        return Outcome("CRASH" if http_status(exc) >= 500 else "REFUSED", f"{exc.code}: {exc}")
    except bounded.HelperCrash as exc:
        return Outcome("CRASH", str(exc))
    crashed = [p for s in report.signatures for p in s.problems if p.get("sub_indication") == "SIGNATURE_NOT_CHECKED"]
    if crashed:
        return Outcome("CRASH", "a signature could not be checked", report=report)
    if report.sub_indication == "SIGNED_DATA_NOT_FOUND" and not report.signatures:
        return Outcome("NO-SIGNATURE", report=report)
    intact = bool(report.signatures) and all(s.integrity and s.signature_valid for s in report.signatures)
    subs = ", ".join(sorted({str(s.sub_indication) for s in report.signatures if s.sub_indication}))
    return Outcome(report.indication, subs, intact, report)


def right(entry: Entry, outcome: Outcome) -> bool:
    if outcome.verdict == "CRASH":
        return False
    if entry.kind == "attack" and outcome.verdict == "TOTAL-PASSED":
        return False
    if entry.expect == "INTACT":
        return outcome.verdict in ("TOTAL-PASSED", "INDETERMINATE") and outcome.intact
    return outcome.verdict == entry.expect
