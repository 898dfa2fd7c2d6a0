"""The pipeline's own figures for `/metrics`, read on scrape (at most every `ttl_s`) from Kafka and
ClickHouse, so that any server exposes them whatever process does the work: records in per topic,
consumer lag per group and topic, the detection agent's records processed (its consumer group's
committed offsets: `rate()` gives records/s; the rate between the last two reads is given too) and lag,
dead letters, alerts by rule and severity, archive rows per table (rejected records among them), and
the archive chain's heads. A source that cannot be read leaves its figures out and sets
`paodan_metrics_source_up{source}` to 0; the scrape itself never fails."""

from __future__ import annotations

import asyncio
import logging
import time

from config.settings import Settings
from formats import topics
from metrics.exposition import Registry

log = logging.getLogger(__name__)

TOPICS = (*topics.INPUTS, topics.ALERTS, topics.ALERT_ACTIONS, topics.DEADLETTER)


class PipelineMetrics:
    def __init__(self, settings: Settings, registry: Registry, ttl_s: float = 10.0):
        self.settings, self.ttl_s = settings, ttl_s
        r = registry
        self.records = r.counter("paodan_topic_records_total", "Records ever written to a Kafka topic (end offsets)")
        self.lag = r.gauge("paodan_consumer_lag_records", "Records a consumer group is behind, per topic")
        self.deadletters = r.counter("paodan_deadletters_total", "Records sent to paodan.deadletter")
        self.alerts = r.gauge("paodan_alerts", "Archived alerts by rule and severity")
        self.rows = r.gauge("paodan_archive_rows", "Rows in the ClickHouse archive per table (before deduplication)")
        self.chain_seq = r.gauge("paodan_archive_chain_head_seq", "Blocks in an archive hash chain (its head's seq)")
        self.chain_records = r.gauge("paodan_archive_chain_records", "Records in an archive hash chain")
        self.chain_offset = r.gauge("paodan_archive_chain_head_offset", "Last Kafka offset an archive chain covers")
        self.detected = r.counter("paodan_detection_records_total",
                                  "Records the detection agent has processed, per input topic (committed offsets)")
        self.detect_rate = r.gauge("paodan_detection_records_per_second",
                                   "Records per second the detection agent processed between the last two reads")
        self.detect_lag = r.gauge("paodan_detection_lag_records", "Records the detection agent is behind, per topic")
        self._last_detected: tuple[float, dict[str, int]] | None = None
        self.up = r.gauge("paodan_metrics_source_up", "Whether a source of these figures could be read (1) or not (0)")
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._at < self.ttl_s:
                return
            self._at = time.monotonic()
            await asyncio.gather(self._kafka(), asyncio.to_thread(self._clickhouse))

    async def _kafka(self) -> None:
        from config.health import load_health
        from streams.health_probe import Probe

        probe = Probe(self.settings, load_health())
        try:
            await asyncio.wait_for(probe.start(), 5)
            ends = {}
            for topic in TOPICS:
                tps = await probe._partitions(topic)
                if tps:
                    ends[topic] = sum((await probe._consumer.end_offsets(tps)).values())
            lag = await probe._lag()
            committed = probe.committed
        except Exception as exc:
            log.warning("metrics: Kafka not read (%s: %s)", type(exc).__name__, exc)
            self.up.set(0, source="kafka")
            return
        finally:
            await probe.stop()
        for family in (self.records, self.lag, self.deadletters):
            family.clear()
        for topic, n in ends.items():
            self.records.set(n, topic=topic)
        self.deadletters.set(ends.get(topics.DEADLETTER, 0))
        for (group, topic), n in lag.items():
            self.lag.set(n, group=group, topic=topic)
        self._detection(committed, lag)
        self.up.set(1, source="kafka")

    def _detection(self, committed: dict[tuple[str, str], int], lag: dict[tuple[str, str], int]) -> None:
        """The detection agent's figures: its consumer group is the app id (streams/app.py)."""
        group = self.settings.app_id
        done = {topic: n for (g, topic), n in committed.items() if g == group}
        for family in (self.detected, self.detect_rate, self.detect_lag):
            family.clear()
        for topic, n in done.items():
            self.detected.set(n, topic=topic)
            self.detect_lag.set(lag.get((group, topic), 0), topic=topic)
        now = time.monotonic()
        if self._last_detected is not None and now > self._last_detected[0]:
            then, before = self._last_detected
            for topic, n in done.items():
                self.detect_rate.set(max(0, n - before.get(topic, n)) / (now - then), topic=topic)
        self._last_detected = (now, done)

    def _clickhouse(self) -> None:
        from sinks.clickhouse import ClickHouseArchive

        try:
            archive = ClickHouseArchive(self.settings.clickhouse)
        except Exception as exc:
            log.warning("metrics: ClickHouse not reached (%s: %s)", type(exc).__name__, exc)
            self.up.set(0, source="clickhouse")
            return
        db = archive.database
        queries = {
            "rows": ("SELECT table, sum(rows) FROM system.parts WHERE database = %(db)s AND active GROUP BY table",
                     (self.rows,)),
            "alerts": (f"SELECT rule, severity, count() FROM {db}.alerts FINAL GROUP BY rule, severity", (self.alerts,)),
            "chain": (f"SELECT writer, source, corp, part, max(seq), sum(records), max(last_offset) "
                      f"FROM {db}.archive_chain GROUP BY writer, source, corp, part",
                      (self.chain_seq, self.chain_records, self.chain_offset)),
        }
        up = 1
        try:
            for what, (sql, families) in queries.items():
                try:
                    result = archive.execute(sql, {"db": db} if "%(db)s" in sql else None)
                except Exception as exc:  # e.g. a database not migrated yet: the other figures still count
                    log.warning("metrics: %s not read from ClickHouse (%s: %s)", what, type(exc).__name__,
                                str(exc).splitlines()[0])
                    up = 0
                    continue
                for family in families:
                    family.clear()
                self._fill(what, result)
        finally:
            archive.close()
        self.up.set(up, source="clickhouse")

    def _fill(self, what: str, result: list[tuple]) -> None:
        if what == "rows":
            for table, n in result:
                self.rows.set(int(n), table=table)
        elif what == "alerts":
            for rule, severity, n in result:
                self.alerts.set(int(n), rule=rule, severity=severity)
        else:
            for writer, source, corp, part, seq, records, last in result:
                labels = {"writer": writer, "source": source, "corp": corp, "part": str(part)}
                self.chain_seq.set(int(seq), **labels)
                self.chain_records.set(int(records), **labels)
                self.chain_offset.set(int(last), **labels)
