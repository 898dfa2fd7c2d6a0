"""Board fan-out benchmark: many websocket viewers, a steady stream of alerts, then a reconnect storm.

    .venv/bin/python -m bench.bench_fanout [--clients 1000] [--rate 50] [--seconds 20] [--procs 2]

Runs on private instances so the shared stack is untouched: a redis-server of its own on a free port and
one `paodan board` process pointed at it. Alerts are written exactly as the worker writes them
(sinks.redis_live, Lua upsert + PUBLISH); each carries the wall time it was written, and every viewer
records how long it took to arrive (Redis → the board's one subscription → the viewer's socket → parsed by
the viewer). Viewers run in `--procs` client processes on the same machine, so client CPU competes with
the board for the same cores: the figures are an upper bound on delivery time.

Then every viewer disconnects at once and reconnects with `?since=<last seq>&epoch=…` while alerts keep
coming: the storm's figures are how long until all viewers were resumed, and how many alerts any viewer
missed across the storm (must be 0).

Prints: delivery p50/p99/max, messages delivered, the board's CPU (% of one core, from /proc), viewers
dropped as slow, and the storm figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import orjson

from config.settings import load
from dashboard_ws.auth import issue
from sinks.redis_live import LiveAlerts
from tests.browser.boardkit import BoardProcess, PrivateRedis, make_alert

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# --- viewer processes -------------------------------------------------------------------------------

class Viewer(asyncio.Protocol):
    """A deliberately lean websocket viewer (RFC 6455 by hand: handshake, unmasked server frames, pong), so
    that a thousand of them in two processes measure the board rather than the client library."""

    def __init__(self, host: str, port: int, path: str):
        self.host, self.port, self.path = host, port, path
        self.latencies: dict[str, list[float]] = {"steady": [], "storm": []}
        self.phase = "steady"
        self.bench_seqs: set[int] = set()  # bench alert numbers seen
        self.seq = 0
        self.epoch = ""
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.errors = 0
        self.failed = False
        self.transport = None
        self.buf = b""
        self.upgraded = False

    async def run(self, since: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.synced.clear()
        self.closed.clear()
        path = self.path + (f"&since={self.seq}&epoch={self.epoch}" if since and self.epoch else "")
        for attempt in range(20):
            self.buf, self.upgraded = b"", False
            try:
                await loop.create_connection(lambda: self, self.host, self.port)
                key = base64.b64encode(os.urandom(16)).decode()
                self.transport.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                                     "Sec-WebSocket-Version: 13\r\n\r\n".encode())
                await asyncio.wait_for(self.synced.wait(), 60)
                return
            except Exception:  # noqa: BLE001 - the storm: retry like a browser would
                self.errors += 1
                if self.transport is not None:
                    self.transport.abort()
                await asyncio.sleep(0.2 * (attempt + 1))
        self.failed = True
        self.synced.set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed.set()

    def close(self) -> None:
        self.transport.write(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # close 1000, masked with a zero key
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.transport.abort()
                return
            self.upgraded, self.buf = True, self.buf[end + 4:]
        buf, at = self.buf, 0
        while len(buf) - at >= 2:
            opcode, size = buf[at] & 0x0F, buf[at + 1] & 0x7F
            head = 2
            if size == 126:
                if len(buf) - at < 4:
                    break
                size, head = int.from_bytes(buf[at + 2:at + 4], "big"), 4
            elif size == 127:
                if len(buf) - at < 10:
                    break
                size, head = int.from_bytes(buf[at + 2:at + 10], "big"), 10
            if len(buf) - at < head + size:
                break
            payload = buf[at + head:at + head + size]
            at += head + size
            if opcode == 9:  # ping → pong (masked with a zero key)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload)
            elif opcode == 1:
                self.on_text(payload, now)
        self.buf = buf[at:]

    def on_text(self, text: bytes, now: float) -> None:
        if text.startswith(b'{"seq":'):  # a live or replayed change: scan, don't parse
            self.seq = int(text[7:text.find(b",")])
            at = text.find(b'"bench_sent":')
            if at >= 0:
                n = text.find(b'"bench_n":')
                number = int(text[n + 10:text.find(b",", n)])
                self.latencies[self.phase].append((number, now - float(text[at + 13:text.find(b",", at)])))
                self.bench_seqs.add(number)
        elif not self.synced.is_set():
            msg = orjson.loads(text)
            if msg["type"] in ("snapshot", "resume"):
                self.seq, self.epoch = msg["seq"], msg["epoch"]
            self.bench_seqs.update(a["bench_n"] for a in msg.get("alerts", ()) if "bench_n" in a)
            if msg["type"] in ("snapshot", "snapshot_more", "resume") and not msg.get("more"):
                self.synced.set()


def client_process(url: str, count: int, conn) -> None:
    async def main():
        parsed = urlparse(url)
        path = f"{parsed.path}?{parsed.query}"
        viewers = [Viewer(parsed.hostname, parsed.port, path) for _ in range(count)]
        await asyncio.gather(*(v.run() for v in viewers))
        conn.send("ready")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # "storm"
        began = time.monotonic()
        for v in viewers:
            v.phase = "storm"
            v.close()
        await asyncio.gather(*(v.closed.wait() for v in viewers))
        await asyncio.gather(*(v.run(since=True) for v in viewers))
        conn.send(time.monotonic() - began)
        await loop.run_in_executor(None, conn.recv)  # "stop"
        for v in viewers:
            v.close()
        conn.send({"steady": [x for v in viewers for x in v.latencies["steady"]],
                   "storm": [x for v in viewers for x in v.latencies["storm"]],
                   "seen": [sorted(v.bench_seqs) for v in viewers], "errors": sum(v.errors for v in viewers),
                   "failed": sum(v.failed for v in viewers)})

    asyncio.run(main())


# --- the conductor -----------------------------------------------------------------------------------

async def publish(live: LiveAlerts, rate: float, seconds: float, start_n: int) -> int:
    n = start_n
    interval = 1.0 / rate
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        n += 1
        alert = make_alert("bench", employee=f"bench{n % 200:03d}", score=50 + n % 50)
        # Stamped last, so the text the viewer scans has them right after the contract fields.
        alert["bench_sent"] = time.time()
        alert["bench_n"] = n
        alert["bench_end"] = 0
        await live.upsert(alert)
        await asyncio.sleep(max(0.0, began + (n - start_n) * interval - time.monotonic()))
    return n


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


async def run(args) -> None:
    settings = load()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    redis = PrivateRedis(tmp / "redis").start()
    board = BoardProcess(tmp, env={"PAODAN_REDIS": redis.url}).start()
    live = LiveAlerts(redis.url)
    procs = []
    try:
        token = issue(settings.secret, "compliance", ttl_s=3600, sub="bench")
        url = f"{board.ws}?token={token}"
        ctx = mp.get_context("spawn")
        per = [args.clients // args.procs + (1 if i < args.clients % args.procs else 0) for i in range(args.procs)]
        print(f"[bench] {args.clients} viewers in {args.procs} processes → board pid {board.proc.pid} "
              f"(private redis :{redis.port})", flush=True)
        t0 = time.monotonic()
        for count in per:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=client_process, args=(url, count, child), daemon=True)
            p.start()
            procs.append((p, parent))
        for _, conn in procs:
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        print(f"[bench] all viewers connected with their snapshot in {time.monotonic() - t0:.1f}s", flush=True)

        pids = [board.proc.pid, redis.proc.pid] + [p.pid for p, _ in procs]
        cpu0, wall0 = [cpu_seconds(pid) for pid in pids], time.monotonic()
        n = await publish(live, args.rate, args.seconds, 0)
        wall = time.monotonic() - wall0
        cpu, redis_cpu, *client_cpu = [(cpu_seconds(pid) - c0) / wall for pid, c0 in zip(pids, cpu0)]
        steady_n = n
        await asyncio.sleep(1)

        # Reconnect storm while alerts keep coming.
        for _, conn in procs:
            conn.send("storm")
        storm_pub = asyncio.create_task(publish(live, args.rate, 3.0, n))
        storm = [await asyncio.get_running_loop().run_in_executor(None, conn.recv) for _, conn in procs]
        n = await storm_pub
        n = await publish(live, args.rate, 1.0, n)
        await asyncio.sleep(1.5)
        for _, conn in procs:
            conn.send("stop")
        results = [await asyncio.get_running_loop().run_in_executor(None, conn.recv) for _, conn in procs]
    finally:
        board_log = board.log_path.read_text(errors="replace")
        board.stop()
        await live.close()
        redis.stop()
        for p, _ in procs:
            p.join(5)

    steady = [x for r in results for _, x in r["steady"]]
    storm_lat = [x for r in results for _, x in r["storm"]]
    per_second: dict[int, list[float]] = {}
    for r in results:
        for number, x in r["steady"]:
            per_second.setdefault(int(number // args.rate), []).append(x)
    seen = [set(s) for r in results for s in r["seen"]]
    missing = sum(len(set(range(1, n + 1)) - s) for s in seen)
    dropped = board_log.count("dropping a slow viewer")
    print(f"\n== fan-out: {args.clients} viewers × {args.rate:g} alerts/s for {args.seconds:g}s "
          f"({steady_n} alerts, then a storm, {n} in all) ==")
    print(f"deliveries           {len(steady):,} steady + {len(storm_lat):,} around the storm "
          f"(expected {n * args.clients:,} in all)")
    print(f"delivery latency     p50 {statistics.median(steady) * 1000:.1f} ms   p99 {pct(steady, 99) * 1000:.1f} ms"
          f"   max {max(steady) * 1000:.1f} ms   (target p99 < 100 ms)")
    print("p99 by second         " + " ".join(f"{pct(v, 99) * 1000:.0f}" for _, v in sorted(per_second.items())) + " ms")
    print(f"board CPU            {cpu * 100:.0f}% of one core during the steady phase "
          f"(redis {redis_cpu * 100:.0f}%, viewer processes {' + '.join(f'{c * 100:.0f}%' for c in client_cpu)})")
    print(f"viewers dropped      {dropped} as too slow")
    print(f"around the storm     delivery p99 {pct(storm_lat, 99) * 1000:.0f} ms, max {max(storm_lat, default=0) * 1000:.0f} ms "
          "(alerts published while viewers were away arrive on resume)")
    print(f"reconnect storm      all {args.clients} resumed in {max(storm):.2f}s; "
          f"connect retries {sum(r['errors'] for r in results)}, gave up {sum(r['failed'] for r in results)}; alerts missed by any viewer: {missing}")
    print(f"machine              {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--procs", type=int, default=2)
    args = p.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
