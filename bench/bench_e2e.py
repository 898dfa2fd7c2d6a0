"""End-to-end benchmark on the real local stack: Kafka → `paodan worker` → `paodan.alerts`.

Two phases, one run, so the figures compare on the same machine state:

1. Throughput. N synthetic chat records (a share of them diversion phrases) are written to
   `wecom.msgaudit`. A fresh worker (its own consumer group, positioned just before those records)
   works through the backlog; its rate is N / (time from its being ready to the commit of the last
   record: the last commit interval included).
   In the same run a plain aiokafka consumer reads the same N records — the ceiling — and the
   ratio worker/raw is reported.
2. Latency. With that worker running, records are produced at a fixed rate; for each diversion record
   the time from send to the alert arriving on `paodan.alerts` is measured: p50 / p99.

Usage: .venv/bin/python -m bench.bench_e2e [--records 150000] [--rate 500] [--seconds 20]
Needs `paodan stack up`. Prints the settings that matter (stream buffer, commit interval, acks, linger).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from config.settings import load
from formats.topics import ALERTS, MSGAUDIT
from tests.live import Consumer, Worker, delete_app_topics, unique

TOPIC = MSGAUDIT
NORMAL = ["您好，请问有什么可以帮您？", "这款今天有满减活动，官方旗舰店下单就行。", "明天下午三点前可以送到。",
          "收到，稍后给您发电子发票。", "这个型号库存还有 12 件。"]
DIVERSION = ["你去拼多多下单便宜两百", "加我私人微信，私下交易", "直接转我账上就行"]


def record(i: int, employee: str, text: str, ms: int) -> bytes:
    return orjson.dumps({"msgid": f"bench-{employee}-{i}", "action": "send", "from": employee,
                         "tolist": ["wmBENCHCUSTOMER"], "roomid": "", "msgtime": ms, "msgtype": "text",
                         "text": {"content": text}, "corpid": "wwbench", "seq": i})


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None)
    await c.start()
    try:
        return await c.end_offsets(sorted(c.assignment()))
    finally:
        await c.stop()


async def commit_positions(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Start `group` at exactly these offsets (so a fresh worker sees only the benchmark's records)."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        c.assign(list(offsets))
        await c.commit({tp: off for tp, off in offsets.items()})
    finally:
        await c.stop()


async def committed(admin: AIOKafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    got = await admin.list_consumer_group_offsets(group)
    return {tp: meta.offset for tp, meta in got.items()}


async def produce_backlog(bootstrap: str, n: int, employees: list[str], linger_ms: int) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms,
                                max_batch_size=256 * 1024)
    await producer.start()
    began = time.monotonic()
    base = int(time.time() * 1000)
    try:
        futures = []
        for i in range(n):
            emp = employees[i % len(employees)]
            text = DIVERSION[i % 3] if i % 20 == 0 else NORMAL[i % len(NORMAL)]
            futures.append(await producer.send(TOPIC, key=emp.encode(), value=record(i, emp, text, base + i)))
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n / (time.monotonic() - began)


async def raw_consume_rate(bootstrap: str, start: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> float:
    c = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         max_partition_fetch_bytes=4 * 1024 * 1024)
    await c.start()
    try:
        for tp, off in start.items():
            c.seek(tp, off)
        want = sum(end[tp] - start[tp] for tp in start)
        seen = 0
        began = time.monotonic()
        while seen < want:
            batch = await c.getmany(timeout_ms=500, max_records=10_000)
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset < end[tp]:
                        seen += 1
        return want / (time.monotonic() - began)
    finally:
        await c.stop()


async def worker_rate(bootstrap: str, group: str, start, end, since: float, timeout: float) -> tuple[float, float]:
    """Watch `group`'s committed offsets go from `start` to `end`; return (events/s, seconds), timed
    from `since` (time.monotonic() when the records and the worker were both there) to the commit
    that covers the last record. A worker commits whole batches once a second, so timing from its
    first commit instead would leave out most of a short run and report a rate it never had."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    total = sum(end[tp] - start[tp] for tp in start)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            now = await committed(admin, group)
            if sum(min(now.get(tp, start[tp]), end[tp]) - start[tp] for tp in start) >= total:
                took = time.monotonic() - since
                return total / took, took
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    raise RuntimeError(f"worker did not finish {total} records within {timeout}s")


async def latency(settings, rate: float, seconds: float) -> list[float]:
    # Enough employees that no alert reaches its evidence cap (50) within the phase.
    employees = [unique("lat_") for _ in range(max(50, int(rate * seconds // 20)))]
    alerts = await Consumer(settings.kafka, ALERTS).start()
    sent: dict[str, float] = {}
    arrivals: dict[str, float] = {}

    async def collect():
        assert alerts.consumer is not None
        while True:
            batch = await alerts.consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            for msgs in batch.values():
                for m in msgs:
                    a = orjson.loads(m.value)
                    if a["employee_id"].startswith("lat_"):
                        arrivals.setdefault(a["evidence"][-1]["id"], now)

    collector = asyncio.create_task(collect())
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, acks="all", linger_ms=settings.producer_linger_ms)
    await producer.start()
    began = time.monotonic()
    i = 0
    try:
        while time.monotonic() - began < seconds:
            emp = employees[i % len(employees)]
            diversion = i % 10 == 3
            text = DIVERSION[i % 3] if diversion else NORMAL[i % len(NORMAL)]
            ms = int(time.time() * 1000)
            body = record(i, emp, text, ms)
            if diversion:
                sent[f"bench-{emp}-{i}"] = time.monotonic()
            await producer.send(TOPIC, key=emp.encode(), value=body)
            i += 1
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(arrivals.keys() & sent.keys()) < len(sent):
            await asyncio.sleep(0.2)
    finally:
        collector.cancel()
        await producer.stop()
        await alerts.stop()
    missing = len(sent) - len(arrivals.keys() & sent.keys())
    if missing:
        print(f"  WARNING: {missing} of {len(sent)} diversion records produced no alert in time")
    return [(arrivals[k] - sent[k]) * 1000 for k in sent if k in arrivals]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=150_000)
    ap.add_argument("--rate", type=float, default=500.0, help="records/s in the latency phase")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the latency phase")
    args = ap.parse_args()
    settings = load()
    print(f"settings: stream_buffer={settings.stream_buffer} commit_interval={settings.commit_interval_s}s "
          f"producer acks=all linger={settings.producer_linger_ms}ms partitions={settings.partitions} "
          f"sink_batch={settings.sink_batch_rows} sink_flush={settings.sink_flush_s}s")

    employees = [unique("tp_") for _ in range(500)]
    start = await end_offsets(settings.kafka, TOPIC)
    print(f"[1/3] producing {args.records:,} chat records…", flush=True)
    prod_rate = await produce_backlog(settings.kafka, args.records, employees, settings.producer_linger_ms)
    end = await end_offsets(settings.kafka, TOPIC)
    print(f"      produced at {prod_rate:,.0f} records/s")

    print("[2/3] raw aiokafka consume of the same records (the ceiling)…", flush=True)
    raw = await raw_consume_rate(settings.kafka, start, end)

    tmp = Path(tempfile.mkdtemp(prefix="paodan-bench-"))
    # Its group starts at `start` on wecom.msgaudit (committed below) and at the end of every other topic
    # ("latest"): the benchmark's records are all it has to do, not the history other runs left behind.
    worker = Worker(tmp, env={"PAODAN_OFFSET_RESET": "latest",
                              "PAODAN_COMMIT_INTERVAL": str(settings.commit_interval_s)})
    await commit_positions(settings.kafka, worker.app_id, start)
    print(f"      raw consume: {raw:,.0f} records/s\n[2/3] worker on the backlog…", flush=True)
    worker.start()
    ready = time.monotonic()
    try:
        rate, took = await worker_rate(settings.kafka, worker.app_id, start, end, since=ready, timeout=600)
        print(f"      worker: {rate:,.0f} events/s ({took:.1f}s from ready to the last record committed)")
        print(f"[3/3] latency at {args.rate:,.0f} records/s for {args.seconds:.0f}s…", flush=True)
        lat = await latency(settings, args.rate, args.seconds)
    finally:
        worker.stop()
        await delete_app_topics(settings.kafka, worker.app_id)
    print("\nresults")
    print(f"  worker throughput     {rate:,.0f} events/s")
    print(f"  raw aiokafka consume  {raw:,.0f} records/s")
    print(f"  ratio worker/raw      {rate / raw:.3f}")
    if lat:
        print(f"  produce→alert latency p50 {statistics.median(lat):.1f} ms, p99 {pct(lat, 99):.1f} ms, "
              f"max {max(lat):.1f} ms over {len(lat)} alerts")


if __name__ == "__main__":
    asyncio.run(main())
