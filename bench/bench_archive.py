"""Archive benchmarks on the local stack: sustained insert rate of chat records, and archive lag under load.

1. Insert rate. Chat records as they come off `wecom.msgaudit` (raw JSON bytes) are archived in batches
   of --batch with `streams.archive.write_batch`, the archive consumer's own code: decode, build rows
   (with the matcher's normalisation of the text) and insert. Reported: rows/s end to end, and the
   share of the time spent building rows versus inserting.
2. Archive lag. A fresh `paodan worker` (own consumer group, archiving into a throw-away database) runs
   while chat records are produced to Kafka at --rate per second for --seconds. The archive is polled
   every 100 ms; a record's lag is the time from its send to the first poll that sees it in ClickHouse.
   Reported: p50 / p99 / max.

   With --procs N the records are shared by N processes (PAODAN_ARCHIVE_PROCESSES does the same in the
   worker); both 1 and N are reported.

Usage: .venv/bin/python -m bench.bench_archive [--records 500000] [--batch 20000] [--procs 2] [--rate 5000]
       [--seconds 30] [--skip-lag]
Needs `paodan stack up`. Throw-away databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from config.settings import load
from sinks.clickhouse import ClickHouseArchive
from sinks.clickhouse.schema import MESSAGES, migrate
from streams.archive import message_rows, write_batch
from tests.live import Worker, unique

TEXTS = ["您好，请问有什么可以帮您？", "这款今天有满减活动，官方旗舰店下单就行。", "明天下午三点前可以送到。",
         "收到，稍后给您发电子发票。", "这个型号库存还有 12 件。", "好的，我帮您查一下物流，单号 SF1234567890。",
         "会员价是 1299 元，送保温杯一个。", "退换货七天无理由，放心购买。"]


def chat(tag: str, i: int, ms: int) -> bytes:
    employee = f"emp{i % 500}"
    return orjson.dumps({"msgid": f"{tag}-{i}", "action": "send", "from": employee,
                         "tolist": [f"wmCUST{i % 20000:05d}"], "roomid": "", "msgtime": ms, "msgtype": "text",
                         "text": {"content": f"{TEXTS[i % len(TEXTS)]}（{i}）"}, "corpid": tag, "seq": i})


def _insert_share(url: str, tag: str, first: int, count: int, batch_size: int, start_at: float) -> tuple[int, float]:
    """One process's share of the insert benchmark: build its records, start at `start_at`, archive
    them in batches with the archive consumer's own code; return (records, finish time)."""
    archive = ClickHouseArchive(url)
    now = int(time.time() * 1000)
    raws = [("wecom.msgaudit", f"emp{i % 500}".encode(), chat(tag, i, now + i)) for i in range(first, first + count)]
    time.sleep(max(0.0, start_at - time.time()))
    for start in range(0, count, batch_size):
        write_batch(archive, raws[start:start + batch_size])
    return count, time.time()


def insert_rate(base: str, records: int, batch_size: int, procs: int) -> None:
    url = f"{base}/{unique('paodan_bench_')}"
    archive = ClickHouseArchive(url)
    try:
        migrate(archive)
        tag = unique("bench")
        share = records // procs
        start_at = time.time() + 2 + records / 100_000  # after every process has built its records
        with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_insert_share, [url] * procs, [tag] * procs, [n * share for n in range(procs)],
                                    [share] * procs, [batch_size] * procs, [start_at] * procs))
        took = max(end for _, end in results) - start_at
        done = sum(n for n, _ in results)
        [(stored,)] = archive.execute(f"SELECT count() FROM {archive.database}.messages FINAL")
        print(f"insert rate, {procs} process(es): {done:,} chat records in batches of {batch_size:,} in "
              f"{took:.2f}s = {done / took:,.0f} rows/s end to end (decode, rows with normalised text, "
              f"insert); stored once: {stored:,} rows under FINAL")
        # Where the time goes, in one process: building rows versus inserting them.
        raws = [(f"emp{i % 500}".encode(), chat(tag, i, 0)) for i in range(batch_size)]
        began = time.monotonic()
        rows = message_rows(raws)
        build = time.monotonic() - began
        archive.execute(f"TRUNCATE TABLE {archive.database}.messages")
        began = time.monotonic()
        archive.insert(MESSAGES, rows)
        insert = time.monotonic() - began
        print(f"  one process, one batch of {batch_size:,}: build rows {batch_size / build:,.0f} rows/s, "
              f"insert only {batch_size / insert:,.0f} rows/s")
    finally:
        archive.execute(f"DROP DATABASE IF EXISTS {archive.database}")


async def _produce(kafka: str, tag: str, rate: int, seconds: float, sent: dict[int, float]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        began = time.monotonic()
        i = 0
        total = int(rate * seconds)
        while i < total:
            due = min(total, int((time.monotonic() - began) * rate) + 1)
            now_ms = int(time.time() * 1000)
            while i < due:
                sent[i] = time.monotonic()
                await producer.send("wecom.msgaudit", key=f"emp{i % 500}".encode(), value=chat(tag, i, now_ms))
                i += 1
            await asyncio.sleep(0.005)
        await producer.flush()
    finally:
        await producer.stop()


async def _poll(archive: ClickHouseArchive, tag: str, sent: dict[int, float], seen: dict[int, float],
                expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(seen) < expected and time.monotonic() < deadline:
        rows = await asyncio.to_thread(archive.execute, f"SELECT seq FROM {archive.database}.messages WHERE "
                                       "corpid = %(tag)s AND ingested_at >= now() - 5", {"tag": tag})
        now = time.monotonic()
        for (seq,) in rows:
            if seq not in seen and seq in sent:
                seen[seq] = now
        await asyncio.sleep(0.1)


async def lag(settings, base: str, rate: int, seconds: float, flush: float | None) -> None:
    database = unique("paodan_bench_lag_")
    url = f"{base}/{database}"
    with tempfile.TemporaryDirectory(prefix="paodan-bench-") as tmp:
        worker = Worker(Path(tmp), env={"PAODAN_CLICKHOUSE": url, "PAODAN_ARCHIVE_STATS_S": "5",
                                         **({"PAODAN_SINK_FLUSH": str(flush)} if flush else {})}).start()
        archive = ClickHouseArchive(url)
        try:
            deadline = time.monotonic() + 60
            while "archive consumer ready" not in worker.log() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            tag = unique("lag")
            sent: dict[int, float] = {}
            seen: dict[int, float] = {}
            total = int(rate * seconds)
            poller = asyncio.create_task(_poll(archive, tag, sent, seen, total, seconds + 60))
            began = time.monotonic()
            await _produce(settings.kafka, tag, rate, seconds, sent)
            produced = time.monotonic() - began
            await poller
            lags = sorted(seen[i] - sent[i] for i in seen)
            if not lags:
                print("archive lag: nothing archived — see the worker log", worker.log()[-2000:])
                return
            q = statistics.quantiles(lags, n=100)
            print(f"archive lag at {total / produced:,.0f} chat records/s for {seconds:.0f}s ({total:,} records, "
                  f"{len(seen):,} seen): p50 {q[49]:.2f}s, p99 {q[98]:.2f}s, max {lags[-1]:.2f}s "
                  f"(PAODAN_SINK_BATCH={settings.sink_batch_rows}, PAODAN_SINK_FLUSH={flush or settings.sink_flush_s}s, "
                  f"polled every 0.1s)")
            for line in worker.log().splitlines():
                if "archived " in line and " batches over " in line:
                    print("  worker:", line.split("] ")[-1])
        finally:
            worker.stop()
            archive.execute(f"DROP DATABASE IF EXISTS {database}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=500_000)
    p.add_argument("--batch", type=int, default=20_000)
    p.add_argument("--procs", type=int, default=2, help="archive processes for the insert rate")
    p.add_argument("--rate", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--skip-lag", action="store_true")
    p.add_argument("--skip-insert", action="store_true")
    p.add_argument("--flush", type=float, help="PAODAN_SINK_FLUSH for the worker in the lag run")
    args = p.parse_args()
    settings = load()
    base = settings.clickhouse.rsplit("/", 1)[0]
    server = ClickHouseArchive(settings.clickhouse).server_version()
    print(f"ClickHouse {server} at {base}; 2-core machine shared with the rest of the stack")
    for procs in [] if args.skip_insert else sorted({1, args.procs}):
        insert_rate(base, args.records, args.batch, procs)
    if not args.skip_lag:
        asyncio.run(lag(settings, base, args.rate, args.seconds, args.flush))


if __name__ == "__main__":
    main()
