"""Archive benchmarks on the local stack: sustained archive rate of chat records, and archive lag under load.

1. Insert rate. Chat records as they come off `wecom.msgaudit` (raw JSON bytes) are archived in batches
   of --batch by 1 and --procs processes with the archive consumer's own code (`streams.archive.Batch`
   decodes and builds rows with the matcher's normalisation of the text, `write_batch` inserts), beside
   the ceiling measured in the same run: the same processes inserting rows built beforehand. The best of
   --repeat runs of each counts (the machine is shared). Also: one batch's build and insert rates.
2. Archive consumer. A backlog of --records chat records on a private 8-partition topic is archived by 1
   and --procs archive consumer processes (`streams.archive.ArchiveConsumer`, what the worker runs in
   PAODAN_ARCHIVE_PROCESSES child processes) with PAODAN_SINK_BATCH=--sink-batch, beside a bare aiokafka
   consumer reading the same records in the same run. Reported: rows/s from Kafka into ClickHouse.
3. Archive lag. A fresh `paodan worker` (default settings unless --flush; own consumer group, archiving
   into a throw-away database) runs while chat records are produced to `wecom.msgaudit` at --rate per
   second for --seconds. The archive is polled every 100 ms; a record's lag is the time from its send to
   the first poll that sees it in ClickHouse. Reported: p50 / p99 / max, and the archive's own account of
   where the time went (streams.archive's stats line, every 5 s).

4. Hash chain cost. Part 1's archive path with the chain on and off (PAODAN_ARCHIVE_CHAIN), written as
   the archive consumer writes (`write_chained`: blocks gathered and inserted every PAODAN_CHAIN_FLUSH_S):
   first in one process with unchained batches, chained batches with a block insert per batch (the chain
   as first built: PAODAN_CHAIN_FLUSH_S=0) and chained batches with blocks gathered, interleaved in a
   rotating order (the steadiest figure on a shared machine), then as alternating runs of 1 and --procs
   processes; reported: the rates and their ratios to unchained.

Usage: .venv/bin/python -m bench.bench_archive [--records 500000] [--batch 20000] [--procs 2] [--repeat 3]
       [--sink-batch N] [--rate 5000] [--seconds 30] [--flush S] [--skip-insert] [--skip-chain]
       [--skip-chain-procs] [--skip-consumer] [--skip-lag]
Needs `paodan stack up`. Throw-away databases and topics are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from config.settings import load
from formats.topics import MSGAUDIT
from sinks.clickhouse import ClickHouseArchive
from sinks.clickhouse.schema import MESSAGES, migrate
from streams import archive as archive_mod
from streams.archive import ArchiveConsumer, Batch, BlockBuffer, message_rows, write_chained
from tests.live import Worker, delete_app_topics, unique

TEXTS = ["您好，请问有什么可以帮您？", "这款今天有满减活动，官方旗舰店下单就行。", "明天下午三点前可以送到。",
         "收到，稍后给您发电子发票。", "这个型号库存还有 12 件。", "好的，我帮您查一下物流，单号 SF1234567890。",
         "会员价是 1299 元，送保温杯一个。", "退换货七天无理由，放心购买。"]


def _load() -> str:
    """How busy the shared machine was (figures from a busy machine are lower)."""
    return f"load average {os.getloadavg()[0]:.1f}"


def chat(tag: str, i: int, ms: int) -> bytes:
    employee = f"emp{i % 500}"
    return orjson.dumps({"msgid": f"{tag}-{i}", "action": "send", "from": employee,
                         "tolist": [f"wmCUST{i % 20000:05d}"], "roomid": "", "msgtime": ms, "msgtype": "text",
                         "text": {"content": f"{TEXTS[i % len(TEXTS)]}（{i}）"}, "corpid": tag, "seq": i})


def _insert_share(url: str, tag: str, first: int, count: int, batch_size: int, prebuilt: bool, ready,
                  results, chained: bool | None = None, part: int = 0, every_s: float | None = None) -> None:
    """One process's share of the insert benchmark: make its records, wait for the others, archive them
    in batches with the archive consumer's own code (`Batch.of` decodes and builds rows, `write_batch`
    inserts) — or, with `prebuilt`, only insert rows built beforehand (the ceiling: clickhouse-driver and
    the server); put (start, finish) on `results`. `chained` turns the hash chain on or off (default: the
    setting), `every_s` how long blocks are gathered (default: the setting); each process is a partition
    `part` of its own, as in the archive consumer."""
    if chained is not None:
        archive_mod.CHAIN = dataclasses.replace(archive_mod.CHAIN, enabled=chained)
    if every_s is not None:
        archive_mod.CHAIN = dataclasses.replace(archive_mod.CHAIN, flush_s=every_s)
    archive = ClickHouseArchive(url)
    blocks = BlockBuffer(archive_mod.chain.Chainer(f"bench-{part}"))
    now = int(time.time() * 1000)
    raws = [(MSGAUDIT, f"emp{i % 500}".encode(), chat(tag, i, now + i))
            for i in range(first, first + count)]
    rows = message_rows([(key, value) for _, key, value in raws]) if prebuilt else []
    archive.execute("SELECT 1")  # connected before the clock starts
    ready.wait()
    began, cpu = time.time(), time.process_time()
    for start in range(0, count, batch_size):
        if prebuilt:
            archive.insert(MESSAGES, rows[start:start + batch_size])
        else:
            write_chained(archive, Batch.of(raws[start:start + batch_size], first_offset=start, partition=part),
                          blocks, archive_mod.CHAIN.flush_s)
    blocks.flush(archive)  # what waits at the end, as the consumer does when idle
    results.put((began, time.time(), time.process_time() - cpu))


def _in_processes(url: str, tag: str, records: int, batch_size: int, procs: int,
                  prebuilt: bool, chained: bool | None = None, every_s: float | None = None) -> tuple[float, float]:
    """Rows per second of `records` archived by `procs` processes at once (from the moment all of them
    have their records ready to the moment the last one is done), and their CPU seconds per row."""
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Barrier(procs), ctx.Queue()
    share = records // procs
    workers = [ctx.Process(target=_insert_share, args=(url, tag, n * share, share, batch_size, prebuilt, ready,
                                                       results, chained, n, every_s)) for n in range(procs)]
    for w in workers:
        w.start()
    spans = [results.get() for _ in workers]
    for w in workers:
        w.join()
    rows = share * procs
    return rows / (max(end for _, end, _ in spans) - min(start for start, _, _ in spans)), \
        sum(cpu for _, _, cpu in spans) / rows


def insert_rate(base: str, records: int, batch_size: int, procs: int, repeat: int) -> None:
    url = f"{base}/{unique('paodan_bench_')}"
    archive = ClickHouseArchive(url)
    try:
        migrate(archive)
        tag = unique("bench")
        # The ceiling and the archive's own path alternately on the same server; the best of each (the
        # machine is shared: the best run is the one least disturbed).
        ceiling, rate = (0.0, 0.0), (0.0, 0.0)
        for n in range(repeat):
            ceiling = max(ceiling, _in_processes(url, f"{tag}-pre{n}", records, batch_size, procs, prebuilt=True))
            rate = max(rate, _in_processes(url, f"{tag}-{n}", records, batch_size, procs, prebuilt=False))
        (ceiling, ceiling_cpu), (rate, cpu) = ceiling, rate
        [(stored,)] = archive.execute(f"SELECT count() FROM {archive.database}.messages FINAL")
        print(f"insert rate, {procs} process(es), {records:,} chat records in batches of {batch_size:,}, best of "
              f"{repeat}: {rate:,.0f} rows/s end to end (decode, rows with normalised text, insert) = "
              f"{rate / ceiling:.2f} x inserting pre-built rows ({ceiling:,.0f} rows/s, same run); "
              f"{stored:,} rows stored under FINAL ({2 * repeat * records:,} distinct records inserted); {_load()}")
        print(f"  CPU of the archiving processes: {cpu * 1e6:.1f} µs per row end to end, {ceiling_cpu * 1e6:.1f} µs "
              f"inserting pre-built rows = {1 / cpu:,.0f} rows/s per core of theirs (the ClickHouse server's own "
              "work comes on top)")
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


def chain_cost(base: str, records: int, batch_size: int, procs: int, repeat: int) -> None:
    """The archive's own path unchained, chained with a block insert per batch (PAODAN_CHAIN_FLUSH_S=0)
    and chained with blocks gathered (the setting), in a rotating order in the same run; the best of
    each counts."""
    url = f"{base}/{unique('paodan_bench_')}"
    archive = ClickHouseArchive(url)
    flush_s = archive_mod.CHAIN.flush_s
    modes = {"unchained": (False, None), "per batch": (True, 0.0), "gathered": (True, flush_s)}
    names = list(modes)
    try:
        migrate(archive)
        tag = unique("bench")
        rates: dict[str, list[float]] = {m: [] for m in modes}
        cpus: dict[str, list[float]] = {m: [] for m in modes}
        for n in range(repeat):
            for mode in names[n % 3:] + names[:n % 3]:
                chained, every_s = modes[mode]
                rate, cpu = _in_processes(url, f"{tag}-{names.index(mode)}{n}", records, batch_size, procs,
                                          prebuilt=False, chained=chained, every_s=every_s)
                rates[mode].append(rate)
                cpus[mode].append(cpu)
        [(blocks, chained_records)] = archive.execute(f"SELECT count(), sum(records) FROM {archive.database}.archive_chain")
        best = {m: max(r) for m, r in rates.items()}
        cpu = {m: statistics.median(c) for m, c in cpus.items()}
        off = best["unchained"]
        runs = "; ".join(f"{m} {', '.join(f'{r:,.0f}' for r in rates[m])}" for m in modes)
        print(f"hash chain cost, {procs} process(es), {records:,} chat records in batches of {batch_size:,}, "
              f"rotating, best of {repeat}: unchained {off:,.0f} rows/s; chained, a block insert per batch "
              f"{best['per batch']:,.0f} = {best['per batch'] / off:.3f} x; chained, blocks gathered for {flush_s:g}s "
              f"{best['gathered']:,.0f} = {best['gathered'] / off:.3f} x (runs: {runs}); {chained_records:,} "
              f"records chained in {blocks:,} blocks; {_load()}")
        print(f"  CPU of the archiving processes, median µs per row: unchained {cpu['unchained'] * 1e6:.2f}, "
              f"per batch {cpu['per batch'] * 1e6:.2f}, gathered {cpu['gathered'] * 1e6:.2f}")
    finally:
        archive.execute(f"DROP DATABASE IF EXISTS {archive.database}")


def chain_cost_interleaved(base: str, records: int, batch_size: int) -> None:
    """The same comparison in one process, batch by batch: unchained batches, chained batches with a
    block insert each (PAODAN_CHAIN_FLUSH_S=0) and chained batches with blocks gathered for
    PAODAN_CHAIN_FLUSH_S of their own time (as the consumer's clock would run if it did only that)
    take turns in a rotating order, so a busy moment of the shared machine falls on all alike; each
    batch's time is building its rows (and, chained, its digests) plus writing it (and, when due, the
    blocks gathered).

    Reported per mode: the rate over all rounds; the median over rounds of a round's unchained time to
    its chained time (the time of the gathered blocks' inserts spread evenly over the rounds), which a
    busy moment on one batch does not move; and the archiving process's CPU per row."""
    url = f"{base}/{unique('paodan_bench_')}"
    archive = ClickHouseArchive(url)
    flush_s = archive_mod.CHAIN.flush_s
    modes = {"unchained": None, "per batch": 0.0, "gathered": flush_s}
    names = list(modes)
    rounds = max(3, records // batch_size // len(names))
    try:
        migrate(archive)
        tag = unique("bench")
        now = int(time.time() * 1000)
        took: dict[str, list[float]] = {m: [] for m in modes}  # per round, without gathered inserts
        inserts = dict.fromkeys(modes, 0.0)  # the gathered blocks' inserts
        cpu = dict.fromkeys(modes, 0.0)
        rows = dict.fromkeys(modes, 0)
        buffers = {m: BlockBuffer(archive_mod.chain.Chainer(m)) for m in modes}
        own = dict.fromkeys(modes, 0.0)  # gathered: own time since its last block insert

        def flush(mode: str) -> None:
            began, cpu_began = time.perf_counter(), time.process_time()
            buffers[mode].flush(archive)
            inserts[mode] += time.perf_counter() - began
            cpu[mode] += time.process_time() - cpu_began
            own[mode] = 0.0

        for n in range(rounds):
            for mode in names[n % 3:] + names[:n % 3]:  # each mode first, middle and last in turn
                every_s = modes[mode]
                first = rows[mode]
                raws = [(MSGAUDIT, f"emp{i % 500}".encode(), chat(f"{tag}{names.index(mode)}", i, now + i))
                        for i in range(first, first + batch_size)]
                archive_mod.CHAIN = dataclasses.replace(archive_mod.CHAIN, enabled=every_s is not None)
                began, cpu_began = time.perf_counter(), time.process_time()
                # Chained batches follow on from each other, as one partition's do in the archive consumer.
                write_chained(archive, Batch.of(raws, first_offset=first), buffers[mode],
                              0.0 if every_s == 0 else float("inf"))
                spent = time.perf_counter() - began
                cpu[mode] += time.process_time() - cpu_began
                took[mode].append(spent)
                own[mode] += spent
                rows[mode] += batch_size
                if every_s and own[mode] >= every_s:
                    flush(mode)
        for mode in modes:
            flush(mode)
        total = {m: sum(took[m]) + inserts[m] for m in modes}
        off = total["unchained"]

        def median_ratio(mode: str) -> float:
            spread = inserts[mode] / rounds
            return statistics.median(u / (t + spread) for u, t in zip(took["unchained"], took[mode]))

        print(f"hash chain cost, one process, {rounds} rounds of a {batch_size:,}-record batch per mode, modes "
              f"interleaved: unchained {rows['unchained'] / off:,.0f} rows/s; chained, a block insert per batch "
              f"{rows['per batch'] / total['per batch']:,.0f} rows/s = {off / total['per batch']:.3f} x (median of "
              f"rounds {median_ratio('per batch'):.3f}); chained, blocks gathered for {flush_s:g}s "
              f"{rows['gathered'] / total['gathered']:,.0f} rows/s = {off / total['gathered']:.3f} x (median of "
              f"rounds {median_ratio('gathered'):.3f}); {_load()}")
        print("  CPU of the archiving process per row: " + ", ".join(
            f"{m} {cpu[m] / rows[m] * 1e6:.2f} µs" for m in modes) + " (the ClickHouse server's work comes on top)")
    finally:
        archive_mod.CHAIN = dataclasses.replace(archive_mod.CHAIN, enabled=True)
        archive.execute(f"DROP DATABASE IF EXISTS {archive.database}")


class _StartTogether(ArchiveConsumer):
    """The archive consumer, holding back once positioned until every process of the group is (so the
    figure is the group's rate, not one process's rate and a rebalance)."""

    def __init__(self, settings, group: str, topics: dict[str, str], ready, go):
        super().__init__(settings, group, topics)
        self.ready, self.go = ready, go

    async def _positioned(self, consumer, timeout: float = 60.0) -> None:
        await super()._positioned(consumer, timeout)
        self.ready.set()
        while not self.go.is_set():
            await asyncio.sleep(0.05)


def _archive_process(topic: str, url: str, group: str, batch_rows: int, ready, go) -> None:
    """A child process running the archive consumer (streams.archive) on the private topic, as if it
    were `wecom.msgaudit`, into the benchmark's database; the parent ends it."""
    settings = dataclasses.replace(load(), clickhouse=url, offset_reset="earliest", sink_batch_rows=batch_rows)
    asyncio.run(_StartTogether(settings, group, {topic: MSGAUDIT}, ready, go).run())


async def _raw_consume(kafka: str, topic: str, records: int) -> float:
    """Records per second of a bare aiokafka consumer reading the topic from the start (one process)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, auto_offset_reset="earliest", group_id=None,
                                enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        got, began = 0, None
        while got < records:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            began = began or time.monotonic()
            got += sum(len(messages) for messages in batch.values())
        return got / (time.monotonic() - began)
    finally:
        await consumer.stop()


async def consumer_rate(settings, base: str, records: int, procs: int, batch_rows: int) -> None:
    """Sustained archive rate through Kafka: a backlog of chat records on a private 8-partition topic,
    archived by `procs` archive consumer processes (the worker's own code, PAODAN_ARCHIVE_PROCESSES), next
    to a bare aiokafka consumer reading the same records in the same run."""
    database, topic = unique("paodan_bench_"), unique("bench.archive.")
    archive = ClickHouseArchive(f"{base}/{database}")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    await admin.start()
    children = []
    try:
        migrate(archive)
        await admin.create_topics([NewTopic(topic, 8, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, linger_ms=20, max_batch_size=512 * 1024)
        await producer.start()
        now_ms = int(time.time() * 1000)
        for i in range(records):
            await producer.send(topic, key=f"emp{i % 500}".encode(), value=chat(topic, i, now_ms + i))
        await producer.stop()
        raw = await _raw_consume(settings.kafka, topic, records)
        ctx = multiprocessing.get_context("spawn")
        group = unique("bench-archive-")
        ready, go = [ctx.Event() for _ in range(procs)], ctx.Event()
        children = [ctx.Process(target=_archive_process, args=(topic, f"{base}/{database}", group, batch_rows,
                                                               ready[n], go)) for n in range(procs)]
        for child in children:
            child.start()
        for event in ready:  # every process positioned: the group's rebalancing is over
            await asyncio.to_thread(event.wait, 120)
        go.set()
        began = time.monotonic()
        deadline = began + 120 + records / 5000
        while time.monotonic() < deadline:
            [(stored,)] = await asyncio.to_thread(archive.execute, f"SELECT count() FROM {database}.messages")
            now = time.monotonic()
            if stored >= records:
                break
            await asyncio.sleep(0.05)
        rate = stored / (now - began)
        print(f"archive consumer, {procs} process(es), a backlog of {records:,} chat records on 8 partitions, "
              f"PAODAN_SINK_BATCH={batch_rows}: {rate:,.0f} rows/s from Kafka into ClickHouse = {rate / raw:.2f} x "
              f"a bare aiokafka consumer reading them ({raw:,.0f} records/s, one process, same run); "
              f"{stored:,} stored; {_load()}")
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(30)
        await admin.delete_topics([topic])
        await admin.close()
        archive.execute(f"DROP DATABASE IF EXISTS {database}")


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
                await producer.send(MSGAUDIT, key=f"emp{i % 500}".encode(), value=chat(tag, i, now_ms))
                i += 1
            await asyncio.sleep(0.005)
        await producer.flush()
    finally:
        await producer.stop()


async def _poll(archive: ClickHouseArchive, tag: str, sent: dict[int, float], seen: dict[int, float],
                expected: int, timeout: float) -> None:
    """Note when each record first shows in ClickHouse. Each poll asks only for records from the oldest
    not seen yet on (about one batch), so the poller's own load on the machine stays small."""
    deadline = time.monotonic() + timeout
    lowest = 0
    while len(seen) < expected and time.monotonic() < deadline:
        rows = await asyncio.to_thread(archive.execute, f"SELECT seq FROM {archive.database}.messages WHERE "
                                       "corpid = %(tag)s AND seq >= %(lowest)s", {"tag": tag, "lowest": lowest})
        now = time.monotonic()
        for (seq,) in rows:
            if seq not in seen and seq in sent:
                seen[seq] = now
        while lowest in seen:
            lowest += 1
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
                  f"(PAODAN_SINK_BATCH={settings.sink_batch_rows}, PAODAN_SINK_FLUSH={flush or settings.sink_flush_s}"
                  f"s, PAODAN_ARCHIVE_PROCESSES={settings.archive_processes}, polled every 0.1s; {_load()})")
            for line in worker.log().splitlines():
                if "archived " in line and " batches over " in line:
                    print("  worker:", line.split("] ")[-1])
        finally:
            worker.stop()
            await delete_app_topics(settings.kafka, worker.app_id)
            archive.execute(f"DROP DATABASE IF EXISTS {database}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=500_000)
    p.add_argument("--batch", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=3, help="insert-rate runs of each kind (the best counts)")
    p.add_argument("--procs", type=int, default=2, help="archive processes for the insert rate")
    p.add_argument("--rate", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--skip-lag", action="store_true")
    p.add_argument("--skip-consumer", action="store_true")
    p.add_argument("--sink-batch", type=int, help="PAODAN_SINK_BATCH for the archive consumer run "
                   "(default: the setting)")
    p.add_argument("--skip-insert", action="store_true")
    p.add_argument("--skip-chain", action="store_true", help="skip the hash chain's cost (chained vs unchained)")
    p.add_argument("--skip-chain-procs", action="store_true",
                   help="measure the chain's cost only in one process, interleaved (the steadiest figure)")
    p.add_argument("--flush", type=float, help="PAODAN_SINK_FLUSH for the worker in the lag run")
    args = p.parse_args()
    settings = load()
    base = settings.clickhouse.rsplit("/", 1)[0]
    server = ClickHouseArchive(settings.clickhouse).server_version()
    print(f"ClickHouse {server} at {base}; {os.cpu_count()} cores shared with the rest of the stack ({_load()})")
    for procs in [] if args.skip_insert else sorted({1, args.procs}):
        insert_rate(base, args.records, args.batch, procs, args.repeat)
    if not args.skip_chain:
        chain_cost_interleaved(base, args.records * args.repeat, args.batch)
    for procs in [] if args.skip_chain or args.skip_chain_procs else sorted({1, args.procs}):
        chain_cost(base, args.records, args.batch, procs, args.repeat)
    if not args.skip_consumer:
        for procs in sorted({1, args.procs}):
            asyncio.run(consumer_rate(settings, base, args.records, procs,
                                      args.sink_batch or settings.sink_batch_rows))
    if not args.skip_lag:
        asyncio.run(lag(settings, base, args.rate, args.seconds, args.flush))


if __name__ == "__main__":
    main()
