"""Benchmark: the WeCom callback receiver on loopback, end to end into the real Kafka.

Starts `paodan ingest callback` as its own process (fresh credentials, a free port), pre-builds N
distinct signed and encrypted `change_external_contact` POSTs as WeCom would send them, then fires them
from C concurrent connections. Every 200 means: signature checked, decrypted, parsed, routed and
acknowledged by Kafka (acks=all, idempotent producer). Prints requests/s and latency percentiles.

Usage: .venv/bin/python -m bench.bench_callback [--requests 20000] [--concurrency 32]
Targets (issue #5): ≥ 2,000 req/s with p99 < 50 ms. Needs `paodan stack up`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time

import aiohttp

from config.settings import load
from ingest.wecom_client import contact_event, event_xml, signed_post
from ingest.wecom_crypto import WecomCrypto
from tests.ingest_server import IngestServer


def build(crypto: WecomCrypto, corpid: str, n: int, tag: str) -> list[tuple[dict, bytes]]:
    return [signed_post(crypto, corpid, event_xml(contact_event(corpid, "add_external_contact", f"bench{i % 200}",
                                                                f"wm{tag}{i:08d}", State="bench")))
            for i in range(n)]


async def fire(url: str, requests: list[tuple[dict, bytes]], concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue = iter(requests)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for query, body in queue:
            began = time.perf_counter()
            async with session.post(url, params=query, data=body) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        took = time.perf_counter() - began
    return took, latencies, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    server = IngestServer(env={"PAODAN_KAFKA": load().kafka}).start()
    url, crypto, corpid = server.url + "/wecom/callback", server.crypto, server.corpid
    try:
        tag = secrets.token_hex(3)
        asyncio.run(fire(url, build(crypto, corpid, 500, tag + "w"), args.concurrency))  # warm-up
        requests = build(crypto, corpid, args.requests, tag)
        took, lat, errors = asyncio.run(fire(url, requests, args.concurrency))
    finally:
        server.stop()
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
    print(f"callback receiver, loopback, {os.cpu_count()} cores shared with Kafka and the load generator")
    print(f"  settings: concurrency {args.concurrency}, {args.requests} distinct events, acks=all, idempotent, "
          f"linger 0 ms, each 200 after Kafka's ack")
    print(f"  throughput: {args.requests / took:,.0f} req/s ({errors} non-200)")
    print(f"  latency: p50 {pct(0.50):.1f} ms, p90 {pct(0.90):.1f} ms, p99 {pct(0.99):.1f} ms, "
          f"max {lat[-1] * 1000:.1f} ms, mean {statistics.fmean(lat) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
