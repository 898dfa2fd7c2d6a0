"""Behaviour detection on the real stack: a slice of the simulated company through Kafka and a worker.

- live vs replay: the same records give the same alert ids through the worker as through `paodan replay`;
- recovery: a worker killed with SIGKILL mid-stream and restarted with an EMPTY data dir (so its state
  can only come back from the changelogs) ends with exactly replay's alerts, none lost, no event
  counted twice (a re-sent revision is byte-identical apart from detected_at);
Each test uses its own id prefix, so tests and runs never see each other's employees.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import signal
import sys
import time

import orjson
import pytest
import redis

from config.rules import load_rules
from ingest import simulator
from streams.replay import Replay
from tests.live import Worker, unique

pytestmark = pytest.mark.integration


def company_slice(prefix: str) -> list[tuple[str, str, dict]]:
    """Directory, customer allocation and the plants' working days of a 15-person company."""
    world = simulator.build(seed=11, size=15, prefix=prefix)
    return list(simulator.records(world, days=world.work_day(14) + 1, first_day=world.work_day(11)))


async def produce(bootstrap: str, records, rate: float = 150.0) -> None:
    """Produce in event-time order at `rate` records/s, as the systems feeding Kafka would: the worker
    keeps up, so the four topics reach it interleaved as they happened. (Faust does not merge topics by
    timestamp; a backlog of days dumped at once reaches it topic by topic, see the docs.)"""
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2)
    await producer.start()
    began = time.monotonic()
    try:
        for i, (topic, key, value) in enumerate(records):
            await producer.send(topic, key=key.encode(), value=orjson.dumps(value))
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
    finally:
        await producer.stop()


def replayed(settings, records) -> dict[str, dict]:
    """alert_id -> the last revision `paodan replay` writes for these records."""
    out = io.BytesIO()
    replay = Replay(load_rules(settings.rules_file), out, sys.stderr)
    for i, (topic, key, value) in enumerate(records):
        replay.line(f"slice:{i}", orjson.dumps({"topic": topic, "key": key, "value": value}))
    alerts = {}
    for line in out.getvalue().splitlines():
        a = orjson.loads(line)
        alerts[a["alert_id"]] = a
    return alerts


def wait_for_line(path, line: str, after: int, timeout: float) -> None:
    """Wait until `line` is in the log at `path` from byte `after` on."""
    deadline = time.monotonic() + timeout
    while line not in path.read_text(errors="replace")[after:]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{line!r} not in {path} within {timeout:.0f}s")
        time.sleep(0.2)


class AlertLog:
    """Every alert for our employees on `paodan.alerts`, in arrival order."""

    def __init__(self, settings, prefix: str):
        from aiokafka import AIOKafkaConsumer
        self.prefix = prefix
        self.consumer = AIOKafkaConsumer("paodan.alerts", bootstrap_servers=settings.kafka, group_id=None,
                                         enable_auto_commit=False)
        self.seen: list[dict] = []

    async def start(self) -> "AlertLog":
        await self.consumer.start()
        tps = sorted(self.consumer.assignment())
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)
        return self

    async def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                for m in msgs:
                    a = orjson.loads(m.value)
                    if a["employee_id"].startswith(self.prefix):
                        self.seen.append(a)

    async def until(self, expected: set[str], timeout: float) -> None:
        """Read until every expected id arrived, then a little longer to catch strays."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not expected <= self.ids():
            await self.drain(0.5)
        await self.drain(2.0)

    async def until_any(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.seen:
            await self.drain(0.5)

    def ids(self) -> set[str]:
        return {a["alert_id"] for a in self.seen}

    def assert_ids(self, expected: dict[str, dict]) -> None:
        got = {a["alert_id"]: a for a in self.seen}
        diff = [f"missing {a['rule']} {a['employee_id']}: {a['explanation']}" for i, a in expected.items() if i not in got]
        diff += [f"extra {a['rule']} {a['employee_id']}: {a['explanation']}" for i, a in got.items() if i not in expected]
        assert not diff, "\n".join(diff)

    def assert_same_redeliveries(self) -> None:
        """A revision sent twice (replayed after a crash) must say exactly the same thing."""
        by_rev: dict[tuple[str, int], dict] = {}
        for a in self.seen:
            body = {k: v for k, v in a.items() if k != "detected_at"}
            first = by_rev.setdefault((a["alert_id"], a["revision"]), body)
            changed = {k: (first.get(k), body.get(k)) for k in set(first) | set(body) if first.get(k) != body.get(k)}
            assert not changed, f"alert {a['rule']} revision {a['revision']} sent twice, different: {changed}"

    async def stop(self) -> None:
        await self.consumer.stop()


async def test_live_and_replay_raise_the_same_alerts(stack, worker):
    prefix = unique("bl") + "-"
    records = company_slice(prefix)
    expected = replayed(stack, records)
    assert {a["rule"] for a in expected.values()} >= {"orders.approval", "followup.others_customers",
                                                      "contacts.transfer_fail", "risk.score"}
    log = await AlertLog(stack, prefix).start()
    try:
        await produce(stack.kafka, records)
        await log.until(set(expected), timeout=90)
    finally:
        await log.stop()
    log.assert_ids(expected)
    # Risk updates reach Redis for the board's leaderboard.
    r = redis.Redis.from_url(stack.redis)
    risky = {e.decode() for e in r.hkeys("paodan:risk") if e.decode().startswith(prefix)}
    assert {a["employee_id"] for a in expected.values() if a["rule"] == "risk.score"} <= risky
    top = orjson.loads(r.hget("paodan:risk", sorted(risky)[0]))
    assert 0 < top["score"] <= 100 and top["contributions"]


# With the group pinned (below), a partition without a committed offset is one of the application's own
# internal topics: read it from its start, as production does (PAODAN_OFFSET_RESET=earliest), so a
# worker taking over another's partitions never skips what was sent to them.
FROM_PINNED = {"PAODAN_OFFSET_RESET": "earliest"}


async def pin_group_at_end(bootstrap: str, group: str) -> None:
    """Commit the group's offsets at the current end of every input topic, so a restarted worker resumes
    exactly where the killed one committed (never by `auto_offset_reset`). The engine's internal topics
    are the application's own: a new group finds them empty."""
    from aiokafka import AIOKafkaConsumer
    topics = ("wecom.msgaudit", "wecom.contacts", "crm.orders", "hr.events")
    c = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None)
    await c.start()
    try:
        end = await c.end_offsets(sorted(c.assignment()))
    finally:
        await c.stop()
    g = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await g.start()
    try:
        g.assign(list(end))
        await g.commit(end)
    finally:
        await g.stop()


def _half(records):
    """Split after the allocations and the first plant day, so the second half builds on restored state."""
    cut = len(records) * 2 // 3
    return records[:cut], records[cut:]


async def test_a_killed_worker_restores_state_from_changelogs_and_loses_nothing(stack, tmp_path):
    prefix = unique("br") + "-"
    records = company_slice(prefix)
    expected = replayed(stack, records)
    first, second = _half(records)
    w = Worker(tmp_path, name="recovery", env=FROM_PINNED)
    await pin_group_at_end(stack.kafka, w.app_id)
    w.start()
    log = await AlertLog(stack, prefix).start()
    try:
        await produce(stack.kafka, first)
        await log.until_any(timeout=60)
        assert log.seen, "the first half raised no alert before the kill"
        w.stop(signal.SIGKILL)
        shutil.rmtree(w.data_dir)  # nothing local survives: state must come back from the changelogs
        # Same consumer group, new data dir: Faust restores the tables from their changelog topics.
        w = Worker(tmp_path, app_id=w.app_id, name="recovery-restarted", env=FROM_PINNED).start(timeout=120)
        await produce(stack.kafka, second)
        await log.until(set(expected), timeout=90)
    finally:
        await log.stop()
        w.stop()
    log.assert_ids(expected)
    log.assert_same_redeliveries()
