"""Benchmark: one worker against two workers of the same application, alternated in one run.

    .venv/bin/python -m bench.bench_scaleout [--records 60000] [--rounds 2]

For each round and each worker count: N `paodan worker` processes join one fresh consumer group and
settle (every member assigned), then a backlog of chat records for 2,000 employees is produced to
`wecom.msgaudit`; the rate is the records over the time from the start of producing them to the
commit of the last one (bench_e2e.worker_rate). Workers scale by partitions (8 per topic): each owns some and their
state. On a 2-core machine that also runs the broker, ClickHouse and the archive consumers, the second
worker has no core of its own, so the ratio shows what a second process adds here, not on a larger host.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.bench_e2e import TOPIC, end_offsets, produce_backlog, worker_rate
from config.settings import load
from tests.live import Worker, delete_app_topics, unique

SETTLE_S = 8.0  # after the last member is ready, so no rebalance runs during the measurement


async def measure(workers: int, records: int) -> float:
    settings = load()
    app_id = unique("paodan-scale-")
    tmp = Path(tempfile.mkdtemp(prefix="paodan-scaleout-"))
    started = [Worker(tmp, app_id=app_id, name=f"worker{i}") for i in range(workers)]
    try:
        for w in started:
            w.start(timeout=120)
        await asyncio.sleep(SETTLE_S)
        start = await end_offsets(settings.kafka, TOPIC)
        began = time.monotonic()
        await produce_backlog(settings.kafka, records, [unique("so_") for _ in range(2000)],
                              settings.producer_linger_ms)
        end = await end_offsets(settings.kafka, TOPIC)
        rate, _ = await worker_rate(settings.kafka, app_id, start, end, since=began, timeout=600)
        return rate
    finally:
        for w in started:
            w.stop()
        await delete_app_topics(settings.kafka, app_id)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=60_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    rates: dict[int, list[float]] = {1: [], 2: []}
    for r in range(args.rounds):
        for workers in (1, 2):
            print(f"[round {r + 1}/{args.rounds}] {workers} worker(s), {args.records:,} records…", flush=True)
            rates[workers].append(await measure(workers, args.records))
            print(f"      {rates[workers][-1]:,.0f} events/s", flush=True)
    print("\nresults")
    for workers, got in rates.items():
        print(f"  {workers} worker(s): {', '.join(f'{x:,.0f}' for x in got)} events/s")
    print(f"  two / one, round by round: {', '.join(f'{b / a:.2f}x' for a, b in zip(rates[1], rates[2]))}")


if __name__ == "__main__":
    asyncio.run(main())
