"""Benchmark: detection quality of the shipped rules on generated companies (issue 13).

    .venv/bin/python -m bench.bench_quality [--dev | --dev2 | --test] [--profile NAME] [--quick] [--json]
                                            [--rules FILE] [--keep DIR] [--params]

Each profile of the half (ingest/companies: home furnishing, 4S dealer, cosmetics, maternal/baby,
industrial parts) is generated, replayed in-process through the shipped detection, and scored against
its ground truth. An employee counts as flagged by any alert line of severity medium or above
(`risk.score` included); a planted employee is caught when flagged at or after their onset, and any
medium+ alert before the onset is a false alarm on an innocent. Printed per profile and scenario:
employee-level recall and precision, medium+ alerts per 100 innocent employees per week, alerts before
the onset, hours from onset to the first alert, which rules flag innocents (and which look-alikes),
replay events/s (as `paodan replay` runs) — and whether issue 13's targets are met.

`--dev` (default) scores the half used while building detectors; `--dev2` a second open draw of the same
archetypes, for seeing whether a change made while looking at dev carries over to companies it was not
made on; `--test` the frozen half, which is scored once per change and never inspected (its parameters
are not printed and `--keep` is refused).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import orjson

from ingest.companies.generate import Generated, generate
from ingest.companies.params import CORPUS_VERSION, PROFILE_NAMES

SEVERITY = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
MEDIUM = SEVERITY["medium"]
TARGETS = {"recall": 0.95, "precision": 0.95, "alerts_per_100_week": 1.0, "pre_onset": 0, "events_per_s": 50_000}
FULL = {"staff": 100, "days": 28}
QUICK = {"staff": 40, "days": 21}


def log(msg: str) -> None:
    print(f"[bench_quality] {msg}", file=sys.stderr, flush=True)


def detect(path: Path, rules_path: Path) -> tuple[list[dict], int, float]:
    """The one call into detection: (alerts, records replayed, seconds). Switching to the single
    detection driver changes only this function."""
    from config.rules import load_rules
    from streams.replay import Replay

    replay = Replay(load_rules(rules_path), io.BytesIO(), io.StringIO())
    began = time.perf_counter()
    replay.run([str(path)])  # as `paodan replay` runs: chat in a second process where there are two cores
    took = time.perf_counter() - began
    alerts = [orjson.loads(line) for line in replay.out.getvalue().splitlines()]
    if replay.bad:
        raise SystemExit(f"bench_quality: {replay.bad} generated records were rejected by replay: "
                         f"{replay.err.getvalue().splitlines()[:3]} — the generator or the decoder is wrong")
    return alerts, replay.records, took


def score(gen: Generated, alerts: list[dict]) -> dict:
    """Employee-level scores of one profile (see the module docstring for the definitions)."""
    truth = gen.truth["employees"]
    weeks = gen.truth["days"] / 7
    flags: dict[str, list[dict]] = defaultdict(list)
    for a in alerts:
        if SEVERITY.get(a.get("severity"), 0) >= MEDIUM:
            flags[a["employee_id"]].append(a)
    innocent = [e for e, t in truth.items() if not t["planted"]]
    planted = [e for e, t in truth.items() if t["planted"]]
    caught, pre_onset, only_early, delays = set(), 0, 0, []
    per_scenario: dict[str, dict] = {}
    for e in planted:
        onset = truth[e]["planted"][0]["onset"]
        early = [a for a in flags.get(e, ()) if a["ts"] < onset]
        late = [a for a in flags.get(e, ()) if a["ts"] >= onset]
        pre_onset += len({a["alert_id"] for a in early})
        if late:
            caught.add(e)
        elif early:
            only_early += 1
        for s in truth[e]["planted"]:
            row = per_scenario.setdefault(s["scenario"], {"planted": 0, "caught": 0, "hours": [], "rules": Counter(),
                                                          "missed": []})
            row["planted"] += 1
            after = [a for a in flags.get(e, ()) if a["ts"] >= s["onset"]]
            if after:
                first = min(a["ts"] for a in after)
                row["caught"] += 1
                row["hours"].append((first - s["onset"]) / 3_600_000)
                before = {a["rule"] for a in flags.get(e, ()) if a["ts"] < s["onset"]}
                row["rules"].update({a["rule"] for a in after} - before)
            else:
                row["missed"].append(f"{e}({s['variant']})")
    for row in per_scenario.values():
        hours = sorted(row.pop("hours"))
        row["recall"] = row["caught"] / row["planted"]
        row["hours_median"] = hours[len(hours) // 2] if hours else None
        row["hours_max"] = hours[-1] if hours else None
        row["rules"] = dict(row["rules"].most_common())
        delays.extend(hours)
    flagged_innocent = [e for e in innocent if flags.get(e)]
    innocent_alerts = {a["alert_id"] for e in innocent for a in flags.get(e, ())}
    by_rule_people: dict[str, set] = defaultdict(set)
    by_rule_alerts: Counter = Counter()
    seen = set()
    for e in innocent:
        for a in flags.get(e, ()):
            by_rule_people[a["rule"]].add(e)
            if a["alert_id"] not in seen:
                seen.add(a["alert_id"])
                by_rule_alerts[a["rule"]] += 1
    lookalike_total: Counter = Counter()
    lookalike_flagged: Counter = Counter()
    for e in innocent:
        for tag in truth[e]["lookalikes"] or ["ordinary"]:
            lookalike_total[tag] += 1
            if flags.get(e):
                lookalike_flagged[tag] += 1
    tp = len(caught)
    fp = len(flagged_innocent) + only_early
    delays.sort()
    return {
        "employees": len(truth), "planted": len(planted), "innocent": len(innocent), "caught": tp,
        "recall": tp / len(planted) if planted else 1.0,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "innocent_flagged": len(flagged_innocent),
        "alerts_per_100_week": len(innocent_alerts) / (len(innocent) / 100) / weeks if innocent else 0.0,
        "pre_onset": pre_onset,
        "hours_to_first_median": delays[len(delays) // 2] if delays else None,
        "scenarios": dict(sorted(per_scenario.items())),
        "innocents_by_rule": {r: {"employees": len(p), "alerts": by_rule_alerts[r]}
                              for r, p in sorted(by_rule_people.items(), key=lambda kv: -len(kv[1]))},
        "lookalikes": {t: {"flagged": lookalike_flagged[t], "of": n} for t, n in sorted(lookalike_total.items())},
        "alerts_total": len({a["alert_id"] for a in alerts}),
    }


def targets(result: dict) -> dict[str, bool]:
    return {"recall": result["recall"] >= TARGETS["recall"],
            "precision": result["precision"] >= TARGETS["precision"],
            "alerts_per_100_week": result["alerts_per_100_week"] <= TARGETS["alerts_per_100_week"],
            "pre_onset": result["pre_onset"] <= TARGETS["pre_onset"],
            "events_per_s": result["events_per_s"] >= TARGETS["events_per_s"]}


def run_profile(name: str, half: str, size: dict, rules: Path, keep: Path | None) -> dict:
    began = time.perf_counter()
    gen = generate(name, half, **size)
    log(f"{name}-{half}: {len(gen.lines):,} records, {len(gen.truth['employees'])} employees generated "
        f"in {time.perf_counter() - began:.1f}s; replaying…")
    with tempfile.TemporaryDirectory() as tmp:
        path = (keep or Path(tmp)) / f"{name}-{half}.jsonl"
        path.write_bytes(b"\n".join(gen.lines) + b"\n")
        if keep:
            (keep / f"{name}-{half}.truth.json").write_bytes(orjson.dumps(gen.truth, option=orjson.OPT_INDENT_2))
        alerts, events, took = detect(path, rules)
    result = score(gen, alerts)
    result.update(profile=name, half=half, digest=gen.digest, events=events, seconds=round(took, 2),
                  events_per_s=events / took if took else 0.0)
    result["targets"] = targets(result)
    log(f"{name}-{half}: {events:,} events in {took:.1f}s ({result['events_per_s']:,.0f}/s), "
        f"{result['alerts_total']} alerts")
    return result


def _f(x, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _ok(flag: bool) -> str:
    return "met" if flag else "NOT met"


def print_report(results: list[dict], half: str) -> None:
    print(f"bench_quality — {half} half, corpus version {CORPUS_VERSION}; flagged = any alert of severity ≥ medium")
    print()
    head = (f"{'profile':<11}{'staff':>6}{'planted':>8}{'events':>9}{'ev/s':>9}{'recall':>8}{'precision':>10}"
            f"{'FP staff':>9}{'alerts/100/wk':>14}{'pre-onset':>10}{'h→alert':>8}  digest")
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['profile']:<11}{r['employees']:>6}{r['planted']:>8}{r['events']:>9,}{r['events_per_s']:>9,.0f}"
              f"{r['recall']:>8.2f}{r['precision']:>10.2f}{r['innocent_flagged']:>9}"
              f"{r['alerts_per_100_week']:>14.1f}{r['pre_onset']:>10}{_f(r['hours_to_first_median'], 1):>8}  {r['digest']}")
    for r in results:
        print()
        print(f"== {r['profile']} ({half}): per scenario")
        print(f"  {'scenario':<18}{'caught':>8}{'recall':>8}{'h median':>9}{'h max':>8}  rules new after the onset")
        for name, s in r["scenarios"].items():
            rules = ", ".join(f"{k}×{v}" for k, v in list(s["rules"].items())[:4])
            print(f"  {name:<18}{s['caught']:>4}/{s['planted']:<3}{s['recall']:>8.2f}{_f(s['hours_median'], 1):>9}"
                  f"{_f(s['hours_max'], 1):>8}  {rules}")
        print("  innocents flagged by rule (employees / alerts): " + (", ".join(
            f"{k} {v['employees']}/{v['alerts']}" for k, v in r["innocents_by_rule"].items()) or "none"))
        flagged = {t: v for t, v in r["lookalikes"].items() if v["flagged"]}
        print("  look-alikes flagged: " + (", ".join(f"{t} {v['flagged']}/{v['of']}" for t, v in flagged.items())
                                             or "none"))
        print("  targets: " + ", ".join(f"{k} {_ok(v)}" for k, v in r["targets"].items()))
    print()
    every = {k: all(r["targets"][k] for r in results) for k in TARGETS}
    print("targets on every profile (issue 13): " + ", ".join(
        f"recall ≥ {TARGETS['recall']} {_ok(every['recall'])}" if k == "recall" else
        f"precision ≥ {TARGETS['precision']} {_ok(every['precision'])}" if k == "precision" else
        f"≤ {TARGETS['alerts_per_100_week']:g} alert/100 innocent/week {_ok(every[k])}" if k == "alerts_per_100_week" else
        f"no alert before the onset {_ok(every[k])}" if k == "pre_onset" else
        f"replay ≥ {TARGETS['events_per_s']:,} ev/s {_ok(every[k])}" for k in TARGETS))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    half = p.add_mutually_exclusive_group()
    half.add_argument("--dev", dest="half", action="store_const", const="dev", help="the dev half (default)")
    half.add_argument("--dev2", dest="half", action="store_const", const="dev2",
                      help="a second open draw: does a change made on dev carry over?")
    half.add_argument("--test", dest="half", action="store_const", const="test",
                      help="the frozen test half: score once per change, never inspect")
    p.add_argument("--profile", action="append", choices=PROFILE_NAMES, help="only this profile (repeatable)")
    p.add_argument("--quick", action="store_true", help=f"smaller companies ({QUICK['staff']} salespeople, "
                                                         f"{QUICK['days']} days)")
    p.add_argument("--json", action="store_true", help="machine-readable results on stdout")
    p.add_argument("--rules", type=Path, default=None, help="rules file (default: the shipped config/rules.yaml)")
    p.add_argument("--keep", type=Path, default=None, help="write each profile's replay file and truth here (not --test)")
    p.add_argument("--params", action="store_true", help="print each profile's parameters (not --test)")
    args = p.parse_args(argv)
    chosen = args.half or "dev"
    if chosen == "test" and (args.keep or args.params):
        p.error("the test half is frozen: its records and parameters are not for inspection (drop --keep/--params)")
    from config.settings import CONFIG_DIR

    rules = args.rules or CONFIG_DIR / "rules.yaml"
    size = QUICK if args.quick else FULL
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    names = args.profile or list(PROFILE_NAMES)
    if args.params:
        from ingest.companies.params import draw

        for name in names:
            print(orjson.dumps(draw(name, chosen, **size).describe(), option=orjson.OPT_INDENT_2).decode())
        return 0
    results = [run_profile(name, chosen, size, rules, args.keep) for name in names]
    if args.json:
        sys.stdout.write(orjson.dumps({"half": chosen, "corpus_version": CORPUS_VERSION, "size": size,
                                       "targets": TARGETS, "profiles": results}).decode() + "\n")
    else:
        print_report(results, chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
