"""What streams/health.py judges, read from Kafka: the newest record of each feed, every consumer group's
lag, and dead letters per window. The first archive process runs `run` (streams/archive.py), publishing
the resulting `system.*` alerts to `paodan.alerts` like any other alert (board, Redis, ClickHouse).
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from config.health import HealthSettings, load_health
from config.settings import Settings
from faustkit.kafka import cluster_metadata
from formats import topics
from streams import health
from streams.system_alert import SYSTEM_EMPLOYEE

log = logging.getLogger(__name__)

FEEDS = {"msgaudit": topics.MSGAUDIT, "hr": topics.HR, "orders": topics.ORDERS}


class Probe:
    def __init__(self, settings: Settings, cfg: HealthSettings, feeds: dict[str, str] | None = None,
                 groups: list[str] | None = None, deadletter_topic: str = topics.DEADLETTER):
        self.settings, self.cfg = settings, cfg
        self.feeds = feeds or dict(FEEDS)
        self.groups = groups or [settings.app_id, f"{settings.app_id}-archive"]
        self.deadletter_topic = deadletter_topic
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._cluster = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka, enable_auto_commit=False)
        await self._consumer.start()
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka)
        await self._admin.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._consumer = self._admin = None

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        if self._cluster is None:  # every topic's metadata, once per snapshot
            self._cluster = await cluster_metadata(self._consumer)
        parts = self._cluster.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(parts)]

    async def _newest(self, topic: str) -> int | None:
        """The newest record's timestamp (ms) on `topic`, None if it has none."""
        tps = await self._partitions(topic)
        if not tps:
            return None
        ends = await self._consumer.end_offsets(tps)
        starts = await self._consumer.beginning_offsets(tps)
        live = [tp for tp in tps if ends[tp] > starts[tp]]
        if not live:
            return None
        self._consumer.assign(live)
        for tp in live:
            self._consumer.seek(tp, ends[tp] - 1)
        newest, waiting = None, set(live)
        deadline = time.monotonic() + 5.0
        while waiting and time.monotonic() < deadline:
            got = await self._consumer.getmany(*waiting, timeout_ms=500)
            for tp, messages in got.items():
                waiting.discard(tp)
                for m in messages:
                    newest = m.timestamp if newest is None else max(newest, m.timestamp)
        return newest

    async def _lag(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for group in self.groups:
            try:
                committed = await self._admin.list_consumer_group_offsets(group)
            except Exception as exc:  # a group that does not exist yet has no lag
                log.debug("no offsets for %s: %s", group, exc)
                continue
            tps = [tp for tp, meta in committed.items() if meta is not None and meta.offset >= 0]
            if not tps:
                continue
            ends = await self._consumer.end_offsets(tps)
            for tp in tps:
                behind = max(0, ends[tp] - committed[tp].offset)
                out[(group, tp.topic)] = out.get((group, tp.topic), 0) + behind
        return out

    async def _count_since(self, tps: list[TopicPartition], ends: dict, since_ms: int) -> dict[TopicPartition, int]:
        """Offset of the first record at or after `since_ms`, per partition (its end when none is)."""
        found = await self._consumer.offsets_for_times({tp: since_ms for tp in tps})
        return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}

    async def _deadletters(self, now_ms: int) -> tuple[int, int]:
        tps = await self._partitions(self.deadletter_topic)
        if not tps:
            return 0, 0
        ends = await self._consumer.end_offsets(tps)
        window = int(self.cfg.deadletter_window_min * health.MINUTE)
        recent = await self._count_since(tps, ends, now_ms - window)
        before = await self._count_since(tps, ends, now_ms - window - health.DAY)
        return (sum(ends[tp] - recent[tp] for tp in tps), sum(recent[tp] - before[tp] for tp in tps))

    async def snapshot(self, now_ms: int | None = None) -> health.Snapshot:
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        self._cluster = None
        last = {feed: await self._newest(topic) for feed, topic in self.feeds.items()}
        recent, day = await self._deadletters(now_ms)
        return health.Snapshot(now_ms, last, dict(self.feeds), await self._lag(), recent, day)


async def run(settings: Settings, alerts_topic: str = topics.ALERTS, probe: Probe | None = None) -> None:
    """Check every PAODAN_HEALTH_EVERY seconds and publish what is wrong; never stops on an error."""
    probe = probe or Probe(settings, load_health())
    cfg = probe.cfg
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, linger_ms=5)
    started = False
    try:
        while True:
            try:
                if not started:
                    await probe.start()
                    await producer.start()
                    started = True
                alerts = health.evaluate(await probe.snapshot(), cfg)
                for alert in alerts:
                    await producer.send(alerts_topic, orjson.dumps(alert), key=SYSTEM_EMPLOYEE.encode())
                if alerts:
                    await producer.flush()
                    log.warning("pipeline health: %s", ", ".join(f"{a['rule']} ({a['severity']})" for a in alerts))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("pipeline health check failed (%s: %s); next in %.0fs", type(exc).__name__, exc,
                            cfg.every_s)
            await asyncio.sleep(cfg.every_s)
    finally:
        if started:
            await probe.stop()
            await producer.stop()
