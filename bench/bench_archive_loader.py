"""Benchmark: `paodan ingest archive` loading decrypted chat-archive records into the real Kafka.

Writes N JSON lines (a mix of employee messages, customer messages, group messages with two employee
copies, and switch records), loads them with a fresh state file exactly as the command does (parse,
validate, key, produce with acks=all + idempotence, checkpoint after every acknowledged batch), and
prints lines/s and records/s. For scale it then produces the same number of ready-made values with a
bare aiokafka producer of the same settings — the ceiling on this machine — and prints the ratio.

Usage: .venv/bin/python -m bench.bench_archive_loader [--lines 200000] [--batch 5000]
Target (issue #5): ≥ 50,000 records/s. Needs `paodan stack up`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from config.settings import load
from ingest.archive_loader import TOPIC, load_archive


def lines(n: int, tag: str) -> bytes:
    out = []
    emps = [f"bench{tag}{i}" for i in range(50)]
    for seq in range(1, n + 1):
        a, b = emps[seq % 50], emps[(seq * 7) % 50]
        kind = seq % 10
        if kind == 9:
            rec = {"msgid": f"{tag}-{seq}", "action": "switch", "time": 1764210000000, "user": a}
        elif kind in (7, 8):
            rec = {"msgid": f"{tag}-{seq}", "action": "send", "from": "wmCUSTOMER", "tolist": [a, b, "wmX"],
                   "roomid": "wrG", "msgtime": 1764210000000 + seq, "msgtype": "text", "text": {"content": "多少钱？"}}
        elif kind in (4, 5, 6):
            rec = {"msgid": f"{tag}-{seq}", "action": "send", "from": "wmCUSTOMER", "tolist": [a], "roomid": "",
                   "msgtime": 1764210000000 + seq, "msgtype": "text", "text": {"content": "什么时候发货"}}
        else:
            rec = {"msgid": f"{tag}-{seq}", "action": "send", "from": a, "tolist": ["wmCUSTOMER"], "roomid": "",
                   "msgtime": 1764210000000 + seq, "msgtype": "text",
                   "text": {"content": "您好，这款今天有满减活动，官方旗舰店下单就行。"}}
        rec["seq"] = seq
        out.append(orjson.dumps(rec))
    return b"\n".join(out) + b"\n"


async def raw_ceiling(kafka: str, values: list[tuple[bytes, bytes]], batch: int) -> float:
    """The same copies as ready-made bytes through the same producer path (one record batch per
    partition, send_batch, acks=all): what Kafka and aiokafka take here without any loader work."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True, linger_ms=0,
                                max_batch_size=1 << 20, max_request_size=16 << 20)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(TOPIC))
        partition_of = {k: DefaultPartitioner()(k, partitions, partitions) for k in {k for k, _ in values}}
        began = time.perf_counter()
        for i in range(0, len(values), batch):
            open_batches: dict = {}
            futures = []
            for k, v in values[i:i + batch]:
                p = partition_of[k]
                b = open_batches.setdefault(p, producer.create_batch())
                if b.append(key=k, value=v, timestamp=None) is None:
                    futures.append(await producer.send_batch(open_batches.pop(p), TOPIC, partition=p))
                    open_batches[p] = producer.create_batch()
                    open_batches[p].append(key=k, value=v, timestamp=None)
            for p, b in open_batches.items():
                futures.append(await producer.send_batch(b, TOPIC, partition=p))
            await asyncio.gather(*futures)
        return time.perf_counter() - began
    finally:
        await producer.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    settings = load()
    tag = secrets.token_hex(3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "archive.jsonl"
        path.write_bytes(lines(args.lines, tag))
        began = time.perf_counter()
        stats = asyncio.run(load_archive(settings.kafka, str(path), f"wwbench{tag}", Path(tmp) / "state.json",
                                         use_directory=False, batch=args.batch, quiet=True))
        took = time.perf_counter() - began
        size = os.path.getsize(path)
    values = [(f"bench{tag}{i % 50}".encode(), b'{"msgid":"x","action":"send","from":"a","tolist":["wmC"],'
               b'"roomid":"","msgtime":1,"msgtype":"text","text":{"content":"\xe6\x82\xa8\xe5\xa5\xbd"},'
               b'"corpid":"ww","seq":1}') for i in range(stats.produced)]
    raw = asyncio.run(raw_ceiling(settings.kafka, values, args.batch))
    print(f"archive loader, {os.cpu_count()} cores shared with Kafka")
    print(f"  settings: {args.lines:,} lines ({size / 1e6:.1f} MB), batch {args.batch}, acks=all, idempotent, "
          f"linger 0 ms, state file fsynced per batch, directory off")
    print(f"  loader: {stats.lines / took:,.0f} lines/s, {stats.produced / took:,.0f} records/s "
          f"({stats.produced:,} records in {took:.2f}s, {stats.dead} dead)")
    print(f"  bare producer, same records: {stats.produced / raw:,.0f} records/s; "
          f"loader/bare = {raw / took:.2f}")


if __name__ == "__main__":
    main()
