"""The whole foreign corpus verified in process: Kyso against pyHanko's validator, in one run.

    files  every entry of tests/corpus/foreign (tests/verify/foreign.py ``entries()``) that
           both handle: PDF and CMS files on which neither crashes (pyHanko's validator reads
           no XML or ASiC). The other entries are counted, not timed.
    base   pyHanko's validator as bench/corpus_compare.py runs it: PdfFileReader then
           validate_pdf_signature / validate_pdf_timestamp per embedded signature, or
           async_validate_detached_cms per SignerInfo, with the entry's trust roots, no fetching.
    Kyso   verification.service.check_with_ders in this process (no helper), same trust, no fetching.
    Both read the file from disk each time. Each file is run once by each first (warm-up);
    then the two alternate round by round, and the per-file medians are summed.

Goal (issue 14, Speed): total <= 1.2x pyHanko.

    .venv/bin/python bench/corpus.py [--rounds 5] [--format pdf|cms] [--verbose]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus_compare import pyhanko_cms, pyhanko_pdf  # noqa: E402
from tests.verify import foreign  # noqa: E402

GOAL = 1.2


def kyso(entry: foreign.Entry) -> str:
    from kyso.errors import KysoError
    from verification.service import check_with_ders

    detached = (foreign.ROOT / entry.format / entry.detached).read_bytes() if entry.detached else None
    try:
        report, _certs = check_with_ders(entry.file.read_bytes(), detached, (entry.trust_ders(), (), ()), False,
                                         None, entry.moment)
    except KysoError as exc:
        return f"refused {exc.code}"
    return str(report.indication)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--format", choices=("pdf", "cms"))
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # pyHanko logs every untrusted path with its traceback

    entries = foreign.entries(args.format)
    base_of: dict[str, Callable[[foreign.Entry], object]] = {"pdf": pyhanko_pdf, "cms": pyhanko_cms}
    both: list[foreign.Entry] = []
    skipped: Counter[str] = Counter()
    for entry in entries:  # the warm-up run also decides which files both handle
        tool = base_of.get(entry.format)
        if tool is None:
            skipped[f"{entry.format} (pyHanko does not read it)"] += 1
            continue
        theirs = tool(entry)
        try:
            ours = kyso(entry)
        except Exception as exc:  # noqa: BLE001 - a crash is reported by the corpus test, here only skipped
            ours = f"CRASH {type(exc).__name__}"
        if getattr(theirs, "verdict", "") in ("CRASH", "UNREADABLE") or ours.startswith("CRASH"):
            skipped[f"{entry.format} (a crash or unreadable for one of them)"] += 1
            continue
        both.append(entry)

    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for entry in both:
            for who, fn in (("base", base_of[entry.format]), ("kyso", kyso)):
                t0 = time.perf_counter()
                fn(entry)
                times.setdefault((entry.id, who), []).append(time.perf_counter() - t0)

    totals = {(fmt, who): 0.0 for fmt in ("pdf", "cms", "all") for who in ("base", "kyso")}
    for entry in both:
        for who in ("base", "kyso"):
            median = statistics.median(times[(entry.id, who)])
            totals[(entry.format, who)] += median
            totals[("all", who)] += median
        if args.verbose:
            b, k = (statistics.median(times[(entry.id, w)]) for w in ("base", "kyso"))
            print(f"  {entry.id:<70} pyHanko {b * 1000:8.1f} ms   Kyso {k * 1000:8.1f} ms   {k / b:5.2f}x")

    print(f"foreign corpus: {len(entries)} files; timed {len(both)} that both handle; {args.rounds} rounds, "
          "per-file medians summed")
    for reason, count in sorted(skipped.items()):
        print(f"  not timed: {count} {reason}")
    for fmt in ("pdf", "cms", "all"):
        n = len(both) if fmt == "all" else sum(e.format == fmt for e in both)
        if not n:
            continue
        base, ours = totals[(fmt, "base")], totals[(fmt, "kyso")]
        line = (f"{fmt:>4} ({n:3} files): pyHanko {base * 1000:9.1f} ms   Kyso {ours * 1000:9.1f} ms   "
                f"{ours / base:.2f}x")
        if fmt == "all":
            line += f" (goal <= {GOAL}) {'met' if ours / base <= GOAL else 'not met'}"
        print(line)
    # One pathological file can hold the whole total (pyHanko spends seconds re-encoding some
    # time-stamped CMS): say so, and give the total without such files and the typical ratio.
    ratios = {e.id: statistics.median(times[(e.id, "kyso")]) / statistics.median(times[(e.id, "base")]) for e in both}
    odd = sorted(i for i, r in ratios.items() if r > 10 or r < 0.1)
    if odd:
        rest = [e for e in both if e.id not in odd]
        base = sum(statistics.median(times[(e.id, "base")]) for e in rest)
        ours = sum(statistics.median(times[(e.id, "kyso")]) for e in rest)
        print(f"  without {len(odd)} file(s) where one takes over 10x the other ({', '.join(odd)}): "
              f"pyHanko {base * 1000:.1f} ms   Kyso {ours * 1000:.1f} ms   {ours / base:.2f}x")
    if ratios:
        print(f"  per-file ratio: geometric mean {statistics.geometric_mean(ratios.values()):.2f}x, "
              f"median {statistics.median(ratios.values()):.2f}x, worst {max(ratios.values()):.2f}x")


if __name__ == "__main__":
    main()
