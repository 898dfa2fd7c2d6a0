"""Helpers for integration tests against the real local stack (`paodan stack up`).

- `Worker`: a `paodan worker` subprocess with its own consumer group, data dir and log, started fresh
  for a test session (or a test), stopped with SIGTERM or killed with SIGKILL on request.
- `produce` / `Consumer`: talk to the real Kafka broker with aiokafka.
- `free_port` / `wait_listening`: for the servers tests start (board, ingest server, a private Redis).
Nothing here stands in for Kafka, Redis or ClickHouse; it only drives them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from streams.worker import wait_ready

REPO = Path(__file__).resolve().parent.parent


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(proc: subprocess.Popen, port: int, timeout: float, what: str, log_path: Path | None = None) -> None:
    """Wait until `proc` accepts connections on `port`; raise if it exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path and log_path.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log_path}\n{tail}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{what} not listening on {port} within {timeout}s")


class Worker:
    """`paodan worker` in a subprocess. `env` overrides are applied on top of the test environment."""

    def __init__(self, tmp: Path, app_id: str | None = None, env: dict[str, str] | None = None,
                 name: str = "worker"):
        self.app_id = app_id or unique("paodan-test-")
        self.tmp = tmp
        self.log_path = tmp / f"{name}.log"
        self.data_dir = tmp / f"{name}-data"
        self.env = {**os.environ, "PAODAN_APP_ID": self.app_id, "PAODAN_DATA_DIR": str(self.data_dir),
                    "PAODAN_OFFSET_RESET": "latest", "PAODAN_COMMIT_INTERVAL": "0.2",
                    # Test workers run the checkout's rules, never what someone published to paodan.rules.
                    "PAODAN_RULES_TOPIC": "paodan.rules.tests", **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> "Worker":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "paodan", "worker"], cwd=REPO, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop(signal.SIGKILL)  # a worker that never got ready must not outlive the test run
            raise
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float, after: int = 0) -> None:
        """Wait until every part of the worker is positioned (streams.worker.READY_LINES) in the log
        from byte `after` on."""
        wait_ready(self.log_path, self.proc, timeout, after)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


async def delete_app_topics(bootstrap: str, app_id: str) -> int:
    """Delete the topics a finished worker of `app_id` made (its changelogs and internal topics, all
    named after it); returns how many. Benchmarks make a fresh application each run, and a broker
    that keeps every run's topics ends up holding more partitions than it may open files."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(f"{app_id}-")]
        if mine:
            await admin.delete_topics(mine)
        return len(mine)
    finally:
        await admin.close()


async def produce(bootstrap: str, records: list[tuple[str, str | bytes | None, Any]]) -> None:
    """Produce (topic, key, value) records; dict values are JSON-encoded, bytes are sent as they are."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic, key, value in records:
            k = key.encode() if isinstance(key, str) else key
            v = value if isinstance(value, (bytes, type(None))) else orjson.dumps(value)
            await producer.send_and_wait(topic, key=k, value=v)
    finally:
        await producer.stop()


class Consumer:
    """Reads a topic from its current end (positions fixed at `start()`), for asserting on output."""

    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> "Consumer":
        # Without a group, aiokafka assigns every partition of the topic at start().
        self.consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap,
                                         enable_auto_commit=False, group_id=None)
        await self.consumer.start()
        tps = sorted(self.consumer.assignment())
        assert tps, f"topic {self.topic} does not exist (run `paodan stack up`)"
        await self.consumer.seek_to_end(*tps)
        for tp in tps:  # resolve positions now, so records produced after start() are seen
            await self.consumer.position(tp)
        return self

    async def until(self, predicate: Callable[[Any], bool], timeout: float = 10.0, count: int = 1,
                    distinct: Callable[[Any], Any] | None = None) -> list[Any]:
        """Records (key, JSON value) matching `predicate` until `count` were seen; TimeoutError else.

        With `distinct`, records with the same `distinct(record)` count once and only the first is
        returned: while several workers run (the session's and a test's own), each publishes the same
        alert — same id, same content — and a test asks how many different ones there were."""
        assert self.consumer is not None
        found: list[Any] = []
        seen: set[Any] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                for m in msgs:
                    try:
                        value = orjson.loads(m.value)
                    except orjson.JSONDecodeError:
                        value = m.value
                    item = (m.key.decode() if m.key else None, value)
                    if not predicate(item):
                        continue
                    if distinct is not None:
                        marker = distinct(item)
                        if marker in seen:
                            continue
                        seen.add(marker)
                    found.append(item)
            if len(found) >= count:
                return found
        raise TimeoutError(f"{self.topic}: {len(found)}/{count} matching records within {timeout}s")

    async def stop(self) -> None:
        if self.consumer:
            await self.consumer.stop()


def alert_revision(record: Any) -> tuple[str, int]:
    """`distinct` for `paodan.alerts`: one alert revision, whichever worker published it."""
    return record[1]["alert_id"], record[1].get("revision", 1)


DIVERSION = "亲，这款你去拼多多下单，比这里便宜"


async def chat_alerts(bootstrap: str, prefix: str, n: int = 3, timeout: float = 30) -> tuple[list[str], set[str]]:
    """Send one diverting chat message from each of `n` new employees and wait for their alerts on
    `paodan.alerts`: (the employees, the alert ids)."""
    from tests.integration.test_walking_skeleton import chat_record

    employees = [unique(prefix) for _ in range(n)]
    topic = await Consumer(bootstrap, "paodan.alerts").start()
    try:
        await produce(bootstrap, [("wecom.msgaudit", e, chat_record(e, DIVERSION)) for e in employees])
        found = await topic.until(lambda kv: kv[1]["employee_id"] in employees, timeout=timeout, count=n,
                                  distinct=alert_revision)
    finally:
        await topic.stop()
    return employees, {a["alert_id"] for _, a in found}
