"""Alerts and risk updates into the board's live state in Redis (sinks.redis_live, sinks.redis_risk),
read with a Kafka consumer of its own, in the worker's first archive process (streams/archive.py).

Why not a Faust agent: before a rebalance Faust waits until every agent has acked its in-flight events,
so an agent retrying a Redis that is down would hold up the whole worker, detection included. This
consumer (group `{app_id}-live`) is the only thing a Redis outage holds up: it retries the batch until
Redis takes it and only then commits the batch's offsets, so nothing is lost across an outage or a crash,
and a redelivered alert is ignored by revision (and never republished).

Redis is a cache this consumer can rebuild. After each batch it records in Redis the offsets Redis now
holds everything before (`paodan:live:applied:{group}`). On start, a partition whose committed offset is
ahead of that marker — Redis restarted from an older snapshot, was flushed or lost its disk — is read
again from the marker (from its start when the marker is gone); upserts ignore revisions Redis has, so
re-reading is harmless. While it catches up `paodan:resync` is set and the board shows a banner.

Small batches and a short poll: the board should show an alert well within a second. The consumer logs
"live alerts consumer ready" once its partitions are positioned (records produced after it reach Redis).
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError

from config.settings import Settings
from formats.topics import ALERTS as TOPIC
from formats.topics import RISK as RISK_TOPIC
from sinks.redis_live import LiveAlerts
from sinks.redis_risk import LiveRisk
from metrics.archive import REDIS_RETRIES
from sinks.retry import until_written

log = logging.getLogger(__name__)


def _written(write, what: str, **kw):
    """sinks.retry.until_written, each failed attempt counted on /metrics."""
    return until_written(write, what, on_error=REDIS_RETRIES.inc, **kw)
BATCH = 500
# What each topic's records must carry to be shown on the board.
REQUIRED = {TOPIC: ("alert_id", "ts"), RISK_TOPIC: ("employee_id", "ts", "score")}


def decode(values: list[bytes], topic: str = TOPIC) -> list[dict]:
    """The well-formed records among the values (the worker wrote them; anything else is logged)."""
    out = []
    for value in values:
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError:
            record = None
        if isinstance(record, dict) and all(k in record for k in REQUIRED[topic]):
            out.append(record)
        else:
            log.error("%s holds a record that is not shown on the board: %.200r", topic, value)
    return out


async def positioned(consumer: AIOKafkaConsumer, timeout: float = 60.0) -> None:
    """Wait (up to `timeout`) for a group consumer's assignment and resolve every position, so that
    records produced after this returns are the consumer's (what its "ready" log line promises)."""
    deadline = time.monotonic() + timeout
    while not consumer.assignment() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for tp in consumer.assignment():
        await consumer.position(tp)


async def feed(s: Settings) -> None:
    consumer = AIOKafkaConsumer(TOPIC, RISK_TOPIC, bootstrap_servers=s.kafka, group_id=f"{s.app_id}-live",
                                enable_auto_commit=False, auto_offset_reset=s.offset_reset,
                                session_timeout_ms=10_000, heartbeat_interval_ms=2_000,
                                max_poll_interval_ms=3_600_000)  # a long Redis outage is not a dead consumer
    live, risk = LiveAlerts(s.redis), LiveRisk(s.redis)
    await consumer.start()
    try:
        await positioned(consumer)
        group = f"{s.app_id}-live"
        catching_up, held = await _resync(consumer, live, group)
        log.info("live alerts consumer ready (group %s-live, %d partitions) → Redis", s.app_id,
                 len(consumer.assignment()))
        # What Redis vouches for now: a Redis that loses it later is caught even before this consumer
        # writes anything.
        mine = {f"{tp.topic}:{tp.partition}" for tp in consumer.assignment()}
        written: dict[str, int] = {k: v for k, v in held.items() if k in mine}
        checked = time.monotonic()
        while True:
            if time.monotonic() - checked > CHECK_S:
                checked = time.monotonic()
                await _still_held(live, group, written)
            batch = await consumer.getmany(timeout_ms=50, max_records=BATCH)
            alerts = decode([m.value for tp, msgs in batch.items() if tp.topic == TOPIC for m in msgs])
            updates = decode([m.value for tp, msgs in batch.items() if tp.topic == RISK_TOPIC for m in msgs],
                             RISK_TOPIC)
            if alerts:
                await _written(lambda: live.upsert_many(alerts), f"publish {len(alerts)} alerts to Redis",
                                    max_delay=5.0)
            if updates:
                await _written(lambda: risk.upsert_many(updates),
                                    f"publish {len(updates)} risk updates to Redis", max_delay=5.0)
            if batch:
                reached = {f"{tp.topic}:{tp.partition}": msgs[-1].offset + 1 for tp, msgs in batch.items() if msgs}
                if not await _written(lambda: live.mark_applied(group, reached, written), "mark Redis's offsets",
                                           max_delay=5.0):
                    raise RedisLost("Redis no longer holds the offsets this consumer marked")
                written.update(reached)
                if catching_up:
                    for tp, msgs in batch.items():
                        if msgs and tp in catching_up and msgs[-1].offset + 1 >= catching_up[tp]:
                            del catching_up[tp]
                    if not catching_up:
                        await _written(lambda: live.set_resync(None), "clear the resync banner", max_delay=5.0)
                        log.info("Redis resynced from Kafka")
                try:
                    await consumer.commit()
                except CommitFailedError as exc:  # a rebalance moved the partitions: redelivery is harmless
                    log.warning("live alerts offsets not committed (%s)", exc)
    finally:
        await consumer.stop()
        await live.close()
        await risk.close()


class RedisLost(Exception):
    """Redis no longer holds what this consumer wrote to it: start again, resyncing."""


CHECK_S = 1.0  # how often a running consumer checks that Redis still holds what it wrote


async def _still_held(live: LiveAlerts, group: str, written: dict[str, int]) -> None:
    """Raise RedisLost when Redis restarted without (all of) what this consumer wrote: a Redis killed
    and back from an older snapshot while the worker ran."""
    if not written:
        return
    try:
        held = await live.applied(group)
    except Exception:  # noqa: BLE001 - Redis down: the next write waits for it, the next check decides
        return
    lost = [k for k, v in written.items() if held.get(k, -1) < v]
    if lost:
        raise RedisLost(f"Redis lost the alerts of {len(lost)} partitions")


async def _resync(consumer: AIOKafkaConsumer, live: LiveAlerts, group: str) -> tuple[dict, dict[str, int]]:
    """Position every partition Redis is behind on at what Redis holds (see the module's docstring);
    returns ({partition: end offset to reach} for them, empty when Redis is current; Redis's marks). A
    group that never committed is new, not behind: it starts where `offset_reset` says."""
    held = await _written(lambda: live.applied(group), "read Redis's offsets", max_delay=5.0)
    behind = {}
    for tp in consumer.assignment():
        committed = await consumer.committed(tp)
        mark = held.get(f"{tp.topic}:{tp.partition}")
        if committed is not None and (mark is None or mark < committed):
            behind[tp] = mark
    if not behind:
        return {}, held
    ends = await consumer.end_offsets(list(behind))
    behind = {tp: mark for tp, mark in behind.items() if ends[tp] > (mark or 0)}
    if not behind:
        return {}, held
    log.warning("Redis lacks what %d partitions of %s committed (lost or older data): re-reading them",
                len(behind), group)
    await _written(lambda: live.set_resync({"since": int(time.time() * 1000), "partitions": len(behind)}),
                        "set the resync banner", max_delay=5.0)
    for tp, mark in behind.items():
        if mark is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, mark)
    return {tp: ends[tp] for tp in behind}, held


async def run(s: Settings) -> None:
    """Feed Redis until cancelled, reconnecting after Kafka errors. Runs in the worker's first archive
    process (streams/archive.py), beside the archive consumer: decoding alerts and writing them to
    Redis is work the detecting process need not do."""
    while True:
        try:
            await feed(s)
        except RedisLost as exc:
            log.warning("live alerts consumer: %s; resyncing", exc)
        except KafkaError as exc:
            log.warning("live alerts consumer: Kafka error %s; restarting in 2s", exc)
            await asyncio.sleep(2)
