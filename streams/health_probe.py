"""What streams/health.py judges, read from Kafka: the newest record of each feed (the `msgaudit_notify`
callbacks among them), every consumer group's lag, and dead letters per window; and from ClickHouse and
the media store: chat media whose keep window is ending, and how many of a team each rule alerted on. The first archive process runs `run` (streams/archive.py), publishing
the resulting `system.*` alerts to `paodan.alerts` like any other alert (board, Redis, ClickHouse).
"""

from __future__ import annotations

import asyncio
import contextlib
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

FEEDS = {"msgaudit": topics.MSGAUDIT, "hr": topics.HR, "orders": topics.ORDERS,
         "notify": topics.EVENT_TOPICS["msgaudit_notify"]}
MEDIA_LIMIT = 100_000  # media records looked at per check


def media_facts(archive, store, cfg: HealthSettings, now_ms: int) -> health.MediaFacts:
    """Image and voice records between the keep window's end and `media_lead_h` before it, by whether
    the media store holds their file (`store`: ingest.media.store.MediaStore)."""
    oldest = now_ms - int(cfg.wecom_keep_h * health.HOUR)
    newest = now_ms - int(max(0.0, cfg.wecom_keep_h - cfg.media_lead_h) * health.HOUR)
    rows = archive.execute(
        f"SELECT msgtime, msgtype, lower(visitParamExtractString(raw, 'md5sum')) FROM {archive.database}.messages "
        "WHERE msg_date >= toDate(intDiv(%(lo)s, 1000)) AND msgtime >= %(lo)s AND msgtime <= %(hi)s "
        f"AND msgtype IN ('image', 'voice') LIMIT {MEDIA_LIMIT}", {"lo": oldest, "hi": newest})
    facts = health.MediaFacts()
    for ms, kind, md5 in rows:
        got = store.read(md5, kind, max_bytes=0) if md5 else None
        if got is None or got.reason is None or not got.missing and "10010" not in got.reason:
            continue  # no md5 to pull by, or the file is there (oversized for this look: max_bytes=0)
        if got.missing:
            facts.pending += 1
            facts.oldest_ms = int(ms) if facts.oldest_ms is None else min(facts.oldest_ms, int(ms))
        else:
            facts.expired += 1
    return facts


def rule_teams(archive, now_ms: int) -> dict[tuple[str, str], tuple[int, int]]:
    """(rule, team) → (employees alerted in the last 24 h, the team's active members by HR)."""
    db = archive.database
    members = dict(archive.execute(
        f"SELECT team, count() FROM (SELECT employee_id, argMax(team, ts) AS team, argMax(status, ts) AS status "
        f"FROM {db}.hr_events WHERE type = 'employee' GROUP BY employee_id) WHERE team != '' AND status != 'resigned' "
        "GROUP BY team"))
    alerted = archive.execute(
        f"SELECT rule, team, uniqExact(employee_id) FROM {db}.alerts WHERE ts >= %(since)s AND team != '' "
        "AND rule NOT LIKE 'system.%%' GROUP BY rule, team", {"since": now_ms - health.DAY})
    return {(rule, team): (int(n), int(members[team])) for rule, team, n in alerted if team in members}


class Probe:
    def __init__(self, settings: Settings, cfg: HealthSettings, feeds: dict[str, str] | None = None,
                 groups: list[str] | None = None, deadletter_topic: str = topics.DEADLETTER,
                 archive: bool = True):
        """`archive`: also read ClickHouse and the media store (media expiring, rule shares)."""
        self.settings, self.cfg = settings, cfg
        self.archive = archive
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
        """(group, topic) → records behind; also sets `committed`: (group, topic) → records processed
        (the group's committed offsets, summed over partitions)."""
        out: dict[tuple[str, str], int] = {}
        self.committed: dict[tuple[str, str], int] = {}
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
                self.committed[(group, tp.topic)] = self.committed.get((group, tp.topic), 0) + committed[tp].offset
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
        snap = health.Snapshot(now_ms, last, dict(self.feeds), await self._lag(), recent, day)
        if self.archive:
            await asyncio.to_thread(self._archive_facts, snap)
        return snap

    def _archive_facts(self, snap: health.Snapshot) -> None:
        """What ClickHouse and the media store say; left out (logged) if they cannot be read."""
        from ingest.media.store import MediaStore
        from sinks.clickhouse import ClickHouseArchive

        try:
            archive = ClickHouseArchive(self.settings.clickhouse)
        except Exception as exc:
            log.warning("pipeline health: ClickHouse not reached (%s: %s)", type(exc).__name__, exc)
            return
        try:
            store = MediaStore.from_env()
            if store is not None:  # media is pulled here: say when it runs out of time
                snap.media = media_facts(archive, store, self.cfg, snap.now_ms)
            snap.rule_teams = rule_teams(archive, snap.now_ms)
        except Exception as exc:  # e.g. a database not migrated yet
            log.warning("pipeline health: archive not read (%s: %s)", type(exc).__name__, str(exc).splitlines()[0])
        finally:
            archive.close()


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
    finally:  # whatever got started (a cancel may come in the middle of starting)
        for stop in (probe.stop, producer.stop):
            with contextlib.suppress(Exception):
                await stop()
