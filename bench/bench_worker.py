"""Benchmark: the live worker with every detector on, against the raw aiokafka consume rate, same run.

    .venv/bin/python -m bench.bench_worker [--size 320] [--days 28] [--seed 7]

1. Simulates the company (`ingest/simulator.py`, unique id prefix) and produces every record to the
   four input topics as fast as aiokafka will take them (the producer rate is printed too).
2. Raw consume: one aiokafka consumer reads exactly those records back (from the offsets noted before
   producing to the end) — the ceiling any Kafka consumer in Python has on this machine.
3. Worker: a fresh `paodan worker` (own consumer group, offsets reset to the positions noted before
   producing, by committing them for its group first) processes the same records with every agent
   on: chat content, behaviour (all families, hygiene, risk), team aggregates, archives to ClickHouse
   and Redis. Timed from Faust's "Worker ready" in its log (its agents consume from then on) until
   its committed offsets reach the end (bench_e2e.worker_rate: polled every 50 ms; the last commit
   interval, 1 s, included).
4. In memory: the behaviour engine alone (streams.behaviour_memory, as `paodan replay` runs it).
Prints events/s for each and the worker / raw ratio. Target (issue #4): worker ≥ 20,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.bench_e2e import commit_positions, worker_rate
from config.settings import load
from formats.topics import CONTACTS, HR, MSGAUDIT, ORDERS
from ingest import simulator
from tests.live import Worker, delete_app_topics

TOPICS = (MSGAUDIT, CONTACTS, ORDERS, HR)


async def end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    c = AIOKafkaConsumer(*TOPICS, bootstrap_servers=bootstrap, group_id=None)
    await c.start()  # without a group, every partition of the topics is assigned
    try:
        return await c.end_offsets(sorted(c.assignment()))
    finally:
        await c.stop()


async def produce(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> float:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20,
                         max_batch_size=256 * 1024)
    await p.start()
    began = time.perf_counter()
    try:
        futures = [await p.send(t, key=k, value=v) for t, k, v in records]
        await asyncio.gather(*futures)
    finally:
        await p.stop()
    return time.perf_counter() - began


async def raw_consume(bootstrap: str, start: dict, end: dict) -> float:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         max_partition_fetch_bytes=4 * 1024 * 1024)
    await c.start()
    try:
        tps = [tp for tp in start if end[tp] > start[tp]]
        c.assign(tps)
        for tp in tps:
            c.seek(tp, start[tp])
        want = sum(end[tp] - start[tp] for tp in tps)
        got = 0
        began = time.perf_counter()
        while got < want:
            batch = await c.getmany(timeout_ms=500, max_records=10_000)
            for tp, msgs in batch.items():
                for m in msgs:
                    orjson.loads(m.value)  # the least any consumer does with a record
                    got += 1
        return time.perf_counter() - began
    finally:
        await c.stop()


def agents_started(log: str) -> float:
    """When Faust logged "Worker ready" (epoch seconds): its agents consume from then on, while the
    archive process that `Worker.start` also waits for may still be starting."""
    for line in log.splitlines():
        if "Worker ready" in line:
            stamp = line[1:line.index("]")]  # [2026-11-27 18:11:12,378]
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise RuntimeError("the worker's log has no 'Worker ready' line")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", help="keep the worker's log and data in this directory")
    ap.add_argument("--linger-ms", type=int, default=5, help="the worker's producer linger (PAODAN_LINGER_MS)")
    args = ap.parse_args()
    settings = load()
    prefix = f"bw{uuid.uuid4().hex[:6]}-"
    world = simulator.build(args.seed, args.size, 1_764_172_800_000, args.days, prefix)
    records = [(t, k.encode(), orjson.dumps(v)) for t, k, v in simulator.records(world)]
    n = len(records)
    print(f"simulated company: {args.size} employees, {args.days} days, {n:,} records")

    start = asyncio.run(end_offsets(settings.kafka))
    took = asyncio.run(produce(settings.kafka, records))
    end = asyncio.run(end_offsets(settings.kafka))
    print(f"produce (aiokafka, acks=all): {n / took:,.0f} records/s")
    raw = asyncio.run(raw_consume(settings.kafka, start, end))
    print(f"raw aiokafka consume + JSON decode: {n / raw:,.0f} records/s")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.keep or tmp
        Path(tmp).mkdir(parents=True, exist_ok=True)
        app_id = f"paodan-bench-{uuid.uuid4().hex[:8]}"
        asyncio.run(commit_positions(settings.kafka, app_id, start))
        w = Worker(Path(tmp), app_id=app_id, env={"PAODAN_COMMIT_INTERVAL": "1.0", "PAODAN_LINGER_MS": str(args.linger_ms)},
                   name="bench")
        began = time.time()
        w.start(timeout=180)
        try:
            ready = agents_started(w.log())
            since = time.monotonic() - (time.time() - ready)  # worker_rate times on the monotonic clock
            rate, took = asyncio.run(worker_rate(settings.kafka, app_id, start, end, since=since, timeout=1800))
        finally:
            w.stop()
            asyncio.run(delete_app_topics(settings.kafka, app_id))
    print(f"worker, every detector on: {rate:,.0f} records/s ({took:.1f}s from its agents' start "
          f"to the last record committed; start-up {ready - began:.1f}s)")
    print(f"ratio worker / raw consume: {rate / (n / raw):.3f}")

    from config.rules import load_rules
    from streams.behaviour_memory import MemoryBehaviour
    engine = MemoryBehaviour(load_rules(settings.rules_file))
    began = time.perf_counter()
    for t, k, v in records:
        engine.handle(t, k.decode(), v)
    mem = time.perf_counter() - began
    print(f"behaviour engine alone, in memory (replay's path): {n / mem:,.0f} records/s")


if __name__ == "__main__":
    main()
