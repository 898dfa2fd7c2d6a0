"""Benchmark: behaviour state per employee (memory, disk) and restoring it after a restart.

    .venv/bin/python -m bench.bench_state [--employees 10000 100000] [--restore 100000]

1. Realistic states: the simulated company's month (`ingest/simulator.py`, 40 people, every pattern
   planted) run through the engine; the salespeople's final states are the pool.
2. For each N: N employees' states (pool states under N keys) measured three ways —
   serialised JSON (what the `behaviour` table's RocksDB and its changelog hold per employee),
   RocksDB on disk (rocksdict, as Faust's store, after compaction) and the Python heap when replay
   keeps them as dicts (tracemalloc). Customer ownership (the global table) is reported per customer.
3. Restore: N states produced to a fresh app's `behaviour` changelog topic; a `paodan worker` for that
   app starts with an empty data dir and must rebuild the table from the changelog before it says
   "Worker ready". Timed against the same start-up with an empty changelog. Needs `paodan stack up`.
Targets (issue #4): ≤ 5 KB per employee at 10,000 and 100,000; restore ≤ 30 s for 100,000.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import orjson

from config.rules import load_rules
from config.settings import load
from ingest import simulator
from streams.behaviour_memory import MemoryBehaviour


def pool() -> tuple[list[dict], list[int]]:
    engine = MemoryBehaviour(load_rules(load().rules_file))
    for topic, key, value in simulator.records(simulator.build(7, 40, 1_764_172_800_000, 28)):
        engine.handle(topic, key, orjson.dumps(value))
    states = [s for s in engine.states.values() if s.get("d")]
    owners = [len(orjson.dumps(c)) + len(orjson.dumps(v)) for c, v in engine.owners.items()]
    return states, owners


def memory(states: list[dict], n: int) -> None:
    from rocksdict import Rdict

    blobs = [orjson.dumps(s) for s in states]
    json_per = statistics.mean(len(blobs[i % len(blobs)]) for i in range(n))
    tmp = Path(tempfile.mkdtemp())
    try:
        db = Rdict(str(tmp / "behaviour"))
        for i in range(n):
            db[orjson.dumps(f"emp{i:07d}")] = blobs[i % len(blobs)]
        db.flush()
        db.compact_range(None, None)
        db.close()
        disk = sum(f.stat().st_size for f in (tmp / "behaviour").rglob("*") if f.is_file())
    finally:
        shutil.rmtree(tmp)
    tracemalloc.start()
    held = {f"emp{i:07d}": orjson.loads(blobs[i % len(blobs)]) for i in range(n)}
    heap, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del held
    print(f"{n:>7,} employees: state JSON {json_per / 1024:.2f} KB/employee (table value and changelog record), "
          f"RocksDB on disk {disk / n / 1024:.2f} KB/employee, Python heap as dicts {heap / n / 1024:.2f} KB/employee")


async def produce_changelog(bootstrap: str, topic: str, partitions: int, states: list[dict], n: int) -> float:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs={"cleanup.policy": "compact"})])
    finally:
        await admin.close()
    blobs = [orjson.dumps(s) for s in states]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024,
                                compression_type=None)
    await producer.start()
    began = time.perf_counter()
    try:
        futures = [await producer.send(topic, key=orjson.dumps(f"emp{i:07d}"), value=blobs[i % len(blobs)])
                   for i in range(n)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - began


def start_worker(tmp: Path, app_id: str) -> float:
    from tests.live import Worker
    w = Worker(tmp, app_id=app_id, name=app_id)
    began = time.perf_counter()
    try:
        w.start(timeout=600)
        took = time.perf_counter() - began
        restored = [line for line in w.log().splitlines() if "Restore complete" in line or "recovered" in line.lower()]
        if restored:
            print(f"    {restored[-1].split('] ', 3)[-1].strip()[:120]}")
        return took
    finally:
        w.stop()


def restore(states: list[dict], n: int) -> None:
    from tests.live import delete_app_topics
    settings = load()
    base_id, full_id = f"paodan-bench-{uuid.uuid4().hex[:6]}", f"paodan-bench-{uuid.uuid4().hex[:6]}"
    topic = f"{full_id}-behaviour-changelog"
    took = asyncio.run(produce_changelog(settings.kafka, topic, settings.partitions, states, n))
    print(f"restore: {n:,} states ({n * statistics.mean(len(orjson.dumps(s)) for s in states) / 1e6:.0f} MB) "
          f"written to {topic} in {took:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            empty = start_worker(Path(tmp), base_id)
            print(f"  worker start-up, empty tables: {empty:.1f}s to 'Worker ready'")
            full = start_worker(Path(tmp), full_id)
            print(f"  worker start-up, {n:,} employees' state restored from the changelog: {full:.1f}s "
                  f"to 'Worker ready' (restore itself ≈ {full - empty:.1f}s)")
        finally:
            for app_id in (base_id, full_id):  # the seeded changelog is named after full_id too
                asyncio.run(delete_app_topics(settings.kafka, app_id))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--employees", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--restore", type=int, default=100_000, help="employees to restore (0: skip)")
    args = ap.parse_args()
    states, owners = pool()
    sizes = sorted(len(orjson.dumps(s)) for s in states)
    print(f"pool: {len(states)} salespeople after a simulated month; state JSON median {sizes[len(sizes) // 2]} B, "
          f"max {sizes[-1]} B; customer ownership {statistics.mean(owners):.0f} B per customer in the global table")
    for n in args.employees:
        memory(states, n)
    if args.restore:
        restore(states, args.restore)


if __name__ == "__main__":
    main()
