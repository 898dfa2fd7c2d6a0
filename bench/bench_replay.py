"""Benchmark: `paodan replay` over a 200k-event file (target: 50,000 events/s or more).

    .venv/bin/python -m bench.bench_replay [--events 200000] [--seed 7] [--size 60] [--profile]

Writes the simulated company's traffic (`paodan simulate --out`: directory events, then chat records
with planted diverters and hard negatives) to a temporary file, runs the real command
`paodan replay FILE > /dev/null` on it, and prints events/s and the alert count. `--profile` runs
the replay in-process under cProfile instead and prints where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest import simulator

REPO = Path(__file__).resolve().parent.parent


def write_events(path: Path, count: int, seed: int, size: int, days: int) -> int:
    n = 0
    with path.open("wb") as fh:
        for line in simulator.replay_lines(seed, count, 1_764_172_800_000, size, days=days):
            fh.write(line + b"\n")
            n += 1
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--size", type=int, default=60, help="employees in the simulated company")
    p.add_argument("--days", type=int, default=200, help="simulated days (enough for --events)")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        n = write_events(path, args.events, args.seed, args.size, args.days)
        mb = path.stat().st_size / 1e6
        print(f"file: {n} lines ({mb:.1f} MB), {args.size} employees, up to {args.days} days")
        if args.profile:
            from config.rules import load_rules
            from config.settings import CONFIG_DIR
            from streams.replay import Replay

            replay = Replay(load_rules(CONFIG_DIR / "rules.yaml"), io.BytesIO(), io.StringIO())
            prof = cProfile.Profile()
            prof.enable()
            replay.run([str(path)])
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(18)
            return
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "paodan", "replay", str(path)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
        took = time.perf_counter() - began
        alerts = done.stdout.count(b"\n")
        print(done.stderr.decode().strip().splitlines()[-1])
        print(f"paodan replay: {n / took:,.0f} events/s end to end (process start included), "
              f"{alerts} alert lines, {took:.1f}s")
        content_share(path)


def content_share(path: Path) -> None:
    """The chat-content part alone: decode + content detectors per `wecom.msgaudit` record, with
    per-employee state, as replay and the worker run it (streams.processing.process_msgaudit)."""
    import orjson

    from config.rules import load_rules
    from config.settings import CONFIG_DIR
    from streams.processing import process_msgaudit

    rules = load_rules(CONFIG_DIR / "rules.yaml")
    chats = []
    with path.open("rb") as fh:
        for line in fh:
            env = orjson.loads(line)
            if env["topic"] == "wecom.msgaudit":
                chats.append((env.get("key") or "", orjson.dumps(env["value"])))
    state: dict[str, dict] = {}
    alerts = 0
    began = time.perf_counter()
    for key, raw in chats:
        _rec, new, found = process_msgaudit(key, raw, state.get(key), rules)
        if new is not None:
            state[key] = new
        alerts += len(found)
    took = time.perf_counter() - began
    print(f"chat content alone: {len(chats) / took:,.0f} wecom.msgaudit records/s ({len(chats)} records, "
          f"{alerts} content alerts)")


if __name__ == "__main__":
    main()
