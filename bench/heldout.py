"""Kyso on the held-out set (tests/corpus/heldout): signed files that are NOT in the foreign corpus.

The foreign corpus (tests/corpus/foreign) was fixed while looking at it, so its score says little
about files nobody has looked at. The held-out set holds other files from public test suites, with
the verdicts their projects' own tests assert, in one manifest of the corpus's format (each path
starts with its format directory). Each file is judged through Kyso's production path, the bounded
helper with no database (tests/verify/foreign.py `run`), and by the corpus's rule (`right`).
pyHanko's validator runs on the PDF and CMS files for comparison (bench/corpus_compare.py).

Prints per format: right / total, attacks passed (must be 0), crashes, and every wrong verdict
with Kyso's answer and the expected one. A file whose SHA-256 is also in the corpus is refused:
it would not be held out. Exit status 1 when an attack passed or something crashed.

Usage: .venv/bin/python bench/heldout.py [--format pdf|cms|xml|asic] [--no-compare] [--verbose]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import corpus_compare  # noqa: E402
from tests.verify import foreign  # noqa: E402

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "heldout"
COMPARE = {"pdf": corpus_compare.pyhanko_pdf, "cms": corpus_compare.pyhanko_cms}


def entries(manifest: Path = HELDOUT / "manifest.toml") -> list[foreign.Entry]:
    out = []
    for raw in tomllib.loads(manifest.read_text()).get("file", []):
        fmt, _, rest = raw.pop("path").partition("/")
        if fmt not in foreign.FORMATS:
            raise SystemExit(f"{manifest}: a path must start with one of {foreign.FORMATS}, not {fmt!r}")
        out.append(foreign.Entry(format=fmt, path=rest, root=manifest.parent, **raw))
    return out


def corpus_digests() -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in foreign.ROOT.rglob("*")
            if p.is_file() and p.suffix not in (".toml", ".md")}


@dataclass
class Tally:
    total: int = 0
    right: int = 0
    attacks: int = 0
    attacks_passed: int = 0
    crashes: int = 0
    wrong: list[str] = field(default_factory=list)

    def add(self, entry: foreign.Entry, outcome: foreign.Outcome) -> bool:
        ok = foreign.right(entry, outcome)
        self.total += 1
        self.right += ok
        self.attacks += entry.kind == "attack"
        self.attacks_passed += entry.kind == "attack" and outcome.verdict == "TOTAL-PASSED"
        self.crashes += outcome.verdict == "CRASH"
        if not ok:
            got = outcome.verdict + (f" ({outcome.detail})" if outcome.detail else "")
            if entry.expect == "INTACT" and outcome.verdict in ("TOTAL-PASSED", "INDETERMINATE") and not outcome.intact:
                got += ", not every signature intact and valid"
            self.wrong.append(f"{entry.format}/{entry.path}: got {got}; expected {entry.expect}")
        return ok

    def line(self) -> str:
        pct = 100 * self.right / self.total if self.total else 0.0
        return (f"{self.right:>4}/{self.total:<4}{pct:4.0f}%  attacks passed {self.attacks_passed}/{self.attacks}"
                f"  crashes {self.crashes}")


def main() -> int:
    logging.disable(logging.CRITICAL)  # pyHanko logs each failed path build; the table is the output
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=foreign.FORMATS)
    parser.add_argument("--no-compare", action="store_true", help="Kyso only, without pyHanko's validator")
    parser.add_argument("--verbose", action="store_true", help="one line per file")
    args = parser.parse_args()

    chosen = [e for e in entries() if args.format in (None, e.format)]
    known = corpus_digests()
    problems = [f"{e.format}/{e.path}: {p}" for e in chosen for p in foreign.problems_of(e)]
    problems += [f"{e.format}/{e.path}: also in the foreign corpus (same SHA-256)" for e in chosen
                 if e.file.is_file() and hashlib.sha256(e.file.read_bytes()).hexdigest() in known]
    if problems:
        print("the held-out manifest is not usable:", *problems, sep="\n  ")
        return 2

    kyso: dict[str, Tally] = defaultdict(Tally)
    other: dict[str, Tally] = defaultdict(Tally)
    for entry in chosen:
        outcome = foreign.run(entry)
        ok = kyso[entry.format].add(entry, outcome)
        line = f"{entry.format}/{entry.path}  expect={entry.expect}  Kyso={outcome.verdict}{'' if ok else '(wrong)'}"
        if not args.no_compare and entry.format in COMPARE:
            try:
                theirs = COMPARE[entry.format](entry)
            except Exception as exc:  # noqa: BLE001 - the harness keeps going
                theirs = foreign.Outcome("CRASH", f"harness: {type(exc).__name__}")
            mine = other[entry.format].add(entry, theirs)
            line += f"  pyHanko={theirs.verdict}{'' if mine else '(wrong)'}"
        if args.verbose:
            print(line, flush=True)

    print(f"held-out set: {len(chosen)} files from {HELDOUT.relative_to(HELDOUT.parent.parent.parent)}")
    print(f"{'format':6} {'tool':8} right")
    for fmt in foreign.FORMATS:
        if fmt in kyso:
            print(f"{fmt:6} {'Kyso':8} {kyso[fmt].line()}")
        if fmt in other:
            print(f"{fmt:6} {'pyHanko':8} {other[fmt].line()}")
    for name, tallies in (("Kyso", kyso), ("pyHanko", other)):
        if tallies:
            right, total = sum(t.right for t in tallies.values()), sum(t.total for t in tallies.values())
            print(f"{'all':6} {name:8} {right:>4}/{total:<4}{100 * right / total:4.0f}%"
                  + ("" if name == "Kyso" else "  (PDF and CMS only)"))
    for fmt in foreign.FORMATS:
        if kyso[fmt].wrong if fmt in kyso else False:
            print(f"\nKyso wrong on {fmt}:", *kyso[fmt].wrong, sep="\n  ")
    bad = sum(t.attacks_passed + t.crashes for t in kyso.values())
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
