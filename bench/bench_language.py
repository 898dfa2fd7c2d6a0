"""Benchmark: chat understanding on the intent corpus (tests/corpus/intent/), dev and test halves.

    .venv/bin/python -m bench.bench_language [--half dev|test|both] [--show]

Each case is replayed through the shipped rules (streams.replay, as `paodan replay` does) as its own
employee and customer. Prints, per half: recall on diversion lines (an alert of severity medium or
above) overall and per class, and the share of hard negatives flagged at medium or above. `--show`
lists the misses and false flags of the dev half only (the test half is scored, never read while tuning).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from tests import corpus
from tests.corpus import intent
from tests.unit.test_corpus import replay_alerts


def score(half: str) -> tuple[dict[str, float], float, list[str], list[str]]:
    cases = intent.load(half)
    flagged = corpus.flagged(replay_alerts(cases))
    by_class: dict[str, list[bool]] = defaultdict(list)
    missed, false = [], []
    for c in cases:
        hit = corpus.employee_of(c, "corpus_") in flagged
        if c.label == "steer":
            by_class[c.family].append(hit)
            by_class["all"].append(hit)
            if not hit:
                missed.append(" || ".join(m["text"] for m in c.messages))
        elif hit:
            false.append(" || ".join(m["text"] for m in c.messages))
    negatives = sum(1 for c in cases if c.label == "benign")
    return ({k: sum(v) / len(v) for k, v in by_class.items()}, len(false) / negatives, missed, false)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--half", default="both", choices=("dev", "test", "both"))
    ap.add_argument("--show", action="store_true")
    args = ap.parse_args()
    for half in ("dev", "test") if args.half == "both" else (args.half,):
        recall, fp, missed, false = score(half)
        classes = ", ".join(f"{k} {v:.2f}" for k, v in sorted(recall.items()) if k != "all")
        print(f"{half}: recall {recall['all']:.3f} ({classes}); hard negatives at medium+ {fp:.3f}")
        if args.show and half == "dev":
            for m in missed:
                print("  missed:", m)
            for f in false:
                print("  false: ", f)


if __name__ == "__main__":
    main()
