"""Pipeline health on the real Kafka: a chat archive gone quiet, a stale HR feed, a lagging consumer group
and a burst of dead letters are read from the broker and published as `system.*` alerts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from config.health import HealthSettings
from streams import health
from streams.health_probe import Probe, run
from tests.live import Consumer, unique

pytestmark = pytest.mark.integration


async def test_quiet_stale_lagging_and_dead_letters_become_system_alerts(stack):
    settings = stack
    tag = unique("ithealth")
    names = {f: f"{tag}.{f}" for f in ("msgaudit", "hr", "orders", "deadletter", "alerts", "input")}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    await admin.start()
    await admin.create_topics([NewTopic(t, 2, 1) for t in names.values()])
    now = int(time.time() * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka)
    await producer.start()
    group = f"{tag}-group"
    try:
        for topic, ts in ((names["msgaudit"], now - 3 * health.HOUR), (names["msgaudit"], now - 40 * health.MINUTE),
                          (names["hr"], now - 50 * health.HOUR), (names["orders"], now - health.HOUR)):
            await producer.send_and_wait(topic, b"{}", key=b"e1", timestamp_ms=ts)
        for i in range(30):
            await producer.send_and_wait(names["deadletter"], b"{}", key=b"e1", timestamp_ms=now - 60_000 + i)
        for i in range(40):
            await producer.send_and_wait(names["input"], b"{}", key=f"e{i}".encode())
        # A consumer group that committed nothing past the start: 40 records behind.
        member = AIOKafkaConsumer(bootstrap_servers=settings.kafka, group_id=group, enable_auto_commit=False)
        await member.start()
        tps = [TopicPartition(names["input"], p) for p in (0, 1)]
        member.assign(tps)
        await member.commit({tp: 0 for tp in tps})
        await member.stop()

        # Quiet counts from the start of the working day: put "now" at the company's local noon, whatever
        # the wall clock says, so the 40 quiet minutes all fall inside it.
        noon_offset = (12 - now // health.HOUR % 24 + 12) % 24 - 12
        cfg = dataclasses.replace(HealthSettings(), utc_offset_h=float(noon_offset), work_start_h=0.0,
                                  work_end_h=24.0, lag_records=30, every_s=1.0)
        probe = Probe(settings, cfg, feeds={f: names[f] for f in ("msgaudit", "hr", "orders")}, groups=[group],
                      deadletter_topic=names["deadletter"], archive=False)
        await probe.start()
        try:
            snap = await probe.snapshot(now)
        finally:
            await probe.stop()
        assert snap.last_ms == {"msgaudit": now - 40 * health.MINUTE, "hr": now - 50 * health.HOUR,
                                "orders": now - health.HOUR}
        assert snap.lag == {(group, names["input"]): 40}
        assert (snap.deadletters_recent, snap.deadletters_day) == (30, 0)
        assert sorted(a["rule"] for a in health.evaluate(snap, cfg)) == sorted(
            [health.ARCHIVE_SILENT, health.FEED_STALE, health.CONSUMER_LAG, health.DEADLETTER_SURGE])

        # The running check publishes them to the alert topic.
        alerts = await Consumer(settings.kafka, names["alerts"]).start()
        task = asyncio.create_task(run(settings, names["alerts"], Probe(
            settings, cfg, feeds={f: names[f] for f in ("msgaudit", "hr", "orders")}, groups=[group],
            deadletter_topic=names["deadletter"], archive=False)))
        try:
            [(key, alert)] = await alerts.until(lambda kv: kv[1].get("rule") == health.ARCHIVE_SILENT, timeout=30)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await alerts.stop()
        assert key == "_system" and alert["employee_id"] == "_system" and "剩余约" in alert["explanation"]
    finally:
        await producer.stop()
        await admin.delete_topics(list(names.values()))
        await admin.close()
