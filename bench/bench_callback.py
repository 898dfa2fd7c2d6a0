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
from urllib.parse import urlencode

from config.settings import load
from ingest.wecom_client import contact_event, event_xml, signed_post
from ingest.wecom_crypto import WecomCrypto
from tests.ingest_server import IngestServer


def build(crypto: WecomCrypto, corpid: str, port: int, n: int, tag: str) -> list[bytes]:
    """n distinct events as complete HTTP/1.1 keep-alive requests, ready to write to a socket."""
    out = []
    for i in range(n):
        fields = contact_event(corpid, "add_external_contact", f"bench{i % 200}", f"wm{tag}{i:08d}", State="bench")
        query, body = signed_post(crypto, corpid, event_xml(fields))
        head = (f"POST /wecom/callback?{urlencode(query)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n")
        out.append(head.encode() + body)
    return out


async def fire(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[float], int]:
    """Send the requests over `concurrency` keep-alive connections, one in flight on each (like wrk):
    a bare-socket client, so the load generator takes little of the CPU the server and Kafka share."""
    latencies: list[float] = []
    errors = 0
    queue = iter(requests)

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for request in queue:
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    server = IngestServer(env={"PAODAN_KAFKA": load().kafka}).start()
    crypto, corpid, port = server.crypto, server.corpid, server.port
    try:
        tag = secrets.token_hex(3)
        asyncio.run(fire(port, build(crypto, corpid, port, 500, tag + "w"), args.concurrency))  # warm-up
        requests = build(crypto, corpid, port, args.requests, tag)
        took, lat, errors = asyncio.run(fire(port, requests, args.concurrency))
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
