"""Kyso against the foreign corpus (tests/corpus/foreign/README.md): files signed by other
tools, each judged against the verdict its own project's test asserts. A wrong verdict fails
unless the manifest lists it as a known disagreement with its reason; a listed disagreement
that no longer holds fails too (take it out). An attack never passes, and a crash never counts
as a verdict. No database: the check runs in the bounded helper, as in production."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.verify import foreign

ENTRIES = foreign.entries()


def test_manifests_are_well_formed() -> None:
    bad = {e.id: p for e in ENTRIES if (p := foreign.problems_of(e))}
    assert not bad
    ids = Counter(e.id for e in ENTRIES)
    assert not [i for i, n in ids.items() if n > 1], "a file is listed twice"
    listed = {e.file.resolve() for e in ENTRIES} | {(foreign.ROOT / e.format / e.detached).resolve()
                                                     for e in ENTRIES if e.detached}
    listed |= {p.resolve() for e in ENTRIES for p in e.external_paths().values()}
    on_disk = {p.resolve() for f in foreign.FORMATS for p in (foreign.ROOT / f).rglob("*")
               if p.is_file() and p.name != "manifest.toml"}
    assert not sorted(map(str, on_disk - listed)), "a corpus file that no manifest lists"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_verdict(entry: foreign.Entry) -> None:
    outcome = foreign.run(entry)
    assert outcome.verdict != "CRASH", f"crash: {outcome.detail}"
    if entry.kind == "attack":
        assert outcome.verdict != "TOTAL-PASSED", "an attack passed"
    ok = foreign.right(entry, outcome)
    if entry.disagreement:
        assert not ok, f"Kyso now agrees ({outcome.verdict}): remove the disagreement from the manifest"
    else:
        assert ok, f"expected {entry.expect}, Kyso says {outcome.verdict} {outcome.detail}".rstrip()
