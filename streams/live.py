"""Alerts and risk updates into the board's live state in Redis (sinks.redis_live, sinks.redis_risk),
read with a Kafka consumer of its own, in the worker's first archive process (streams/archive.py).

Why not a Faust agent: before a rebalance Faust waits until every agent has acked its in-flight events,
so an agent retrying a Redis that is down would hold up the whole worker, detection included. This
consumer (group `{app_id}-live`) is the only thing a Redis outage holds up: it retries the batch until
Redis takes it and only then commits the batch's offsets, so nothing is lost across an outage or a crash,
and a redelivered alert is ignored by revision (and never republished).

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
from sinks.redis_live import LiveAlerts
from sinks.redis_risk import LiveRisk
from sinks.retry import until_written

log = logging.getLogger(__name__)
TOPIC = "paodan.alerts"
RISK_TOPIC = "paodan.risk"
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


async def feed(s: Settings) -> None:
    consumer = AIOKafkaConsumer(TOPIC, RISK_TOPIC, bootstrap_servers=s.kafka, group_id=f"{s.app_id}-live",
                                enable_auto_commit=False, auto_offset_reset=s.offset_reset,
                                session_timeout_ms=10_000, heartbeat_interval_ms=2_000,
                                max_poll_interval_ms=3_600_000)  # a long Redis outage is not a dead consumer
    live, risk = LiveAlerts(s.redis), LiveRisk(s.redis)
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        while not consumer.assignment() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for tp in consumer.assignment():
            await consumer.position(tp)
        log.info("live alerts consumer ready (group %s-live, %d partitions) → Redis", s.app_id,
                 len(consumer.assignment()))
        while True:
            batch = await consumer.getmany(timeout_ms=50, max_records=BATCH)
            alerts = decode([m.value for tp, msgs in batch.items() if tp.topic == TOPIC for m in msgs])
            updates = decode([m.value for tp, msgs in batch.items() if tp.topic == RISK_TOPIC for m in msgs],
                             RISK_TOPIC)
            if alerts:
                await until_written(lambda: live.upsert_many(alerts), f"publish {len(alerts)} alerts to Redis",
                                    max_delay=5.0)
            if updates:
                await until_written(lambda: risk.upsert_many(updates),
                                    f"publish {len(updates)} risk updates to Redis", max_delay=5.0)
            if batch:
                try:
                    await consumer.commit()
                except CommitFailedError as exc:  # a rebalance moved the partitions: redelivery is harmless
                    log.warning("live alerts offsets not committed (%s)", exc)
    finally:
        await consumer.stop()
        await live.close()
        await risk.close()


async def run(s: Settings) -> None:
    """Feed Redis until cancelled, reconnecting after Kafka errors. Runs in the worker's first archive
    process (streams/archive.py), beside the archive consumer: decoding alerts and writing them to
    Redis is work the detecting process need not do."""
    while True:
        try:
            await feed(s)
        except KafkaError as exc:
            log.warning("live alerts consumer: Kafka error %s; restarting in 2s", exc)
            await asyncio.sleep(2)
