"""The archive consumer: every stream into ClickHouse (CONTRACT §10). (Alerts into Redis: streams.live.)

Why not Faust agents for the archive: Faust hands each record of a topic to every agent subscribed to it
and waits when any agent's buffer is full, so an archive agent held up by a ClickHouse outage would soon
hold up the detecting agents of the same topic. The archive therefore reads with its own Kafka consumer
group (`{app_id}-archive`), decoupled from detection: ClickHouse can be down for as long as Kafka keeps
the records, and detection and alerting go on.

It runs in PAODAN_ARCHIVE_PROCESSES child processes of the worker (cores of their own for decoding and
building rows; they die with the worker). Per batch — up to PAODAN_SINK_BATCH records or PAODAN_SINK_FLUSH
seconds, so about one insert per second per table — it builds the rows and inserts them in a thread,
retrying with backoff until ClickHouse accepted all of them (sinks.retry), and only then commits the
batch's offsets; the next batch is collected meanwhile. A crash or a rebalance redelivers an uncommitted
batch, which the ReplacingMergeTree tables store once. The range assignor puts the same partition of
`paodan.alerts` and `paodan.alert_actions` (both keyed by the alert's employee) on the same consumer,
which folds an alert's revisions and triage actions in order.

A record the archive cannot turn into a row (not JSON, no natural id) is skipped here: the detecting
agent of that topic sends it to `paodan.deadletter` with the reason.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections import defaultdict
from typing import Any, Callable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError

from config.settings import Settings
from sinks.clickhouse import ClickHouseArchive
from sinks.clickhouse.rows import contact_row, hr_row, message_row, now, order_row
from sinks.clickhouse.schema import CONTACT_EVENTS, HR_EVENTS, MESSAGES, ORDERS, Table, apply_retention
from sinks.clickhouse.writer import ensure_schema_once, write_alert_changes
from sinks.retry import until_written
from streams import topics
from streams.app import app, settings
from streams.records import RecordError, decode_msgaudit, loads_object, message_text

log = logging.getLogger(__name__)

# A batch held while ClickHouse is down must not get the consumer thrown out of its group.
MAX_POLL_INTERVAL_MS = 6 * 3600 * 1000
RETENTION_EVERY_S = 6 * 3600.0

Records = list[tuple[bytes | None, bytes | None]]  # (key, value) as they came from Kafka


def message_rows(records: Records) -> list[tuple]:
    rows = []
    stamp = now()  # one ingestion time per batch
    for key, value in records:
        try:
            record, _ = decode_msgaudit(key, value)
        except RecordError:
            continue  # the chat agent dead-letters it
        rows.append(message_row(record, message_text(record), stamp, value))
    return rows


def _rows_of(build: Callable[[dict[str, Any]], tuple | None]) -> Callable[[Records], list[tuple]]:
    def rows(records: Records) -> list[tuple]:
        out = []
        for _, value in records:
            try:
                row = build(loads_object(value))
            except RecordError:
                continue  # dead-lettered by the topic's detecting agent
            if row is not None:
                out.append(row)
        return out
    return rows


# Input topic → (table, rows from records).
EVENT_TABLES: dict[str, tuple[Table, Callable[[Records], list[tuple]]]] = {
    topics.msgaudit.get_topic_name(): (MESSAGES, message_rows),
    topics.contacts.get_topic_name(): (CONTACT_EVENTS, _rows_of(contact_row)),
    topics.orders.get_topic_name(): (ORDERS, _rows_of(order_row)),
    topics.hr.get_topic_name(): (HR_EVENTS, _rows_of(hr_row)),
}
ALERTS_TOPIC = topics.alerts.get_topic_name()
ACTIONS_TOPIC = topics.alert_actions.get_topic_name()
ARCHIVED_TOPICS = (*EVENT_TABLES, ALERTS_TOPIC, ACTIONS_TOPIC)


def _json_object(value: bytes | None) -> dict[str, Any] | None:
    try:
        obj = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        obj = None
    return obj if isinstance(obj, dict) else None


def write_batch(archive: ClickHouseArchive, batch: list[tuple[str, bytes | None, bytes | None]]) -> dict[str, int]:
    """Archive one batch of (topic, key, value) in topic order; return rows written per table.

    Safe to run again on the same batch (the retry after a failure does): every table deduplicates."""
    by_topic: dict[str, Records] = defaultdict(list)
    changes: list[tuple[str, dict[str, Any]]] = []
    for topic, key, value in batch:
        if topic in EVENT_TABLES:
            by_topic[topic].append((key, value))
        else:
            change = _json_object(value)
            if change is None:
                log.error("%s holds a record that is not a JSON object; not archived", topic)
                continue
            changes.append(("alert" if topic == ALERTS_TOPIC else "action", change))
    written = {}
    for topic, records in by_topic.items():
        table, rows_of = EVENT_TABLES[topic]
        written[table.name] = archive.insert(table, rows_of(records))
    if changes:
        written["alert_actions"], written["alerts"] = write_alert_changes(archive, changes)
    return written


class _Stats:
    """Throughput and write times, logged every minute so operators see the archive keeping up."""

    def __init__(self, every_s: float = 60.0):
        self.every_s = every_s
        self._reset()

    def _reset(self) -> None:
        self.since, self.records, self.batches, self.write_s, self.max_write_s = time.monotonic(), 0, 0, 0.0, 0.0

    def add(self, records: int, write_s: float) -> None:
        self.records += records
        self.batches += 1
        self.write_s += write_s
        self.max_write_s = max(self.max_write_s, write_s)

    def maybe_log(self) -> None:
        took = time.monotonic() - self.since
        if took >= self.every_s and self.batches:
            log.info("archived %d records in %d batches over %.0fs (%.0f records/s); write %.0f ms mean, %.0f ms max",
                     self.records, self.batches, took, self.records / took, 1000 * self.write_s / self.batches,
                     1000 * self.max_write_s)
            self._reset()


class ArchiveConsumer:
    """Kafka → ClickHouse with offsets committed after the insert; see the module docstring."""

    def __init__(self, settings: Settings, group: str | None = None):
        self.settings = settings
        self.group = group or f"{settings.app_id}-archive"
        self._archive: ClickHouseArchive | None = None
        self.batches = 0
        self._last_retention = 0.0
        self._stats = _Stats(float(os.environ.get("PAODAN_ARCHIVE_STATS_S", "60")))

    def _get(self) -> ClickHouseArchive:
        if self._archive is None:
            archive = ClickHouseArchive(self.settings.clickhouse)
            ensure_schema_once(archive, self.settings.clickhouse, self.settings.retention_days)
            self._archive = archive
        return self._archive

    def _reset(self) -> None:
        if self._archive is not None:
            self._archive.close()
        self._archive = None

    def _write(self, batch) -> dict[str, int]:
        archive = self._get()
        written = write_batch(archive, batch)
        if time.monotonic() - self._last_retention > RETENTION_EVERY_S:
            # Drop expired monthly partitions where the server has no TTL (a no-op where it has).
            apply_retention(archive, self.settings.retention_days)
            self._last_retention = time.monotonic()
        return written

    async def _collect(self, consumer: AIOKafkaConsumer):
        """Up to sink_batch_rows records, or what arrived within sink_flush_s of the first one."""
        batch: list[tuple[str, bytes | None, bytes | None]] = []
        offsets: dict[TopicPartition, int] = {}
        limit = self.settings.sink_batch_rows
        deadline = None
        while len(batch) < limit:
            wait = 1.0 if deadline is None else deadline - time.monotonic()
            if wait <= 0:
                break
            got = await consumer.getmany(timeout_ms=int(wait * 1000), max_records=limit - len(batch))
            for tp, messages in got.items():
                for m in messages:
                    batch.append((tp.topic, m.key, m.value))
                offsets[tp] = messages[-1].offset + 1
            if batch and deadline is None:
                deadline = time.monotonic() + self.settings.sink_flush_s
            if not batch:
                break  # idle: come back to the caller (lets it notice cancellation promptly)
        return batch, offsets

    async def _positioned(self, consumer: AIOKafkaConsumer, timeout: float = 60.0) -> None:
        """Wait for the group's assignment and resolve every position, then say so in the log (tests and
        operators wait for "archive consumer ready": records produced after it are archived)."""
        deadline = time.monotonic() + timeout
        while not consumer.assignment() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for tp in consumer.assignment():
            await consumer.position(tp)
        log.info("archive consumer ready (group %s, %d partitions) → %s", self.group,
                 len(consumer.assignment()), self.settings.clickhouse.split("@")[-1])

    async def _store(self, consumer: AIOKafkaConsumer, batch, offsets: dict[TopicPartition, int]) -> None:
        """Write the batch until ClickHouse accepts it, then commit its offsets."""
        began = time.monotonic()
        # Backoff capped at 5 s: the archive catches up within seconds of ClickHouse's return.
        await until_written(lambda: asyncio.to_thread(self._write, batch), f"archive {len(batch)} records",
                            on_error=self._reset, max_delay=5.0)
        self._stats.add(len(batch), time.monotonic() - began)
        try:
            await consumer.commit(offsets)
        except CommitFailedError as exc:
            # A rebalance took the partitions: their new owner re-reads and the tables dedupe.
            log.warning("archive offsets not committed (%s); the batch will be stored again, once", exc)
        self.batches += 1
        self._stats.maybe_log()

    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            *ARCHIVED_TOPICS, bootstrap_servers=s.kafka, group_id=self.group, enable_auto_commit=False,
            auto_offset_reset=s.offset_reset, partition_assignment_strategy=(RangePartitionAssignor,),
            max_poll_interval_ms=MAX_POLL_INTERVAL_MS, session_timeout_ms=10_000, heartbeat_interval_ms=2_000,
            max_partition_fetch_bytes=4 * 1024 * 1024)
        await consumer.start()
        writing: asyncio.Task | None = None
        try:
            await until_written(lambda: asyncio.to_thread(self._get), "archive schema migration",
                                on_error=self._reset)
            await self._positioned(consumer)
            # One batch is written (in a thread) while the next one is collected: a record waits for at
            # most one batch window plus one write. Writes and commits stay in order, one at a time.
            while True:
                batch, offsets = await self._collect(consumer)
                if writing is not None:
                    await writing
                    writing = None
                if batch:
                    writing = asyncio.create_task(self._store(consumer, batch, offsets))
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
            await consumer.stop()
            self._reset()


def _archive_process_main() -> None:
    """Entry point of the archive's child process: dies with the worker, logs like it."""
    try:  # Linux: the kernel signals us when the worker dies, even by SIGKILL
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    async def main() -> None:
        while True:
            try:
                await ArchiveConsumer(settings).run()
            except KafkaError as exc:
                log.warning("archive consumer: Kafka error %s; restarting in 2s", exc)
                await asyncio.sleep(2)

    asyncio.run(main())


@app.task
async def archive_consumer():
    """Run the archive consumer in PAODAN_ARCHIVE_PROCESSES child processes of the worker (one group:
    they share the partitions), each restarted if it dies.

    Processes of their own give the archive its own cores: building rows (JSON, normalisation) is CPU
    work that would otherwise compete with detection for the worker's one Python thread."""
    await asyncio.gather(*(_archive_process(n) for n in range(settings.archive_processes)))


async def _archive_process(n: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    while True:
        proc = ctx.Process(target=_archive_process_main, name=f"paodan-archive-{n}", daemon=True)
        proc.start()
        try:
            await asyncio.to_thread(proc.join)
        except asyncio.CancelledError:
            proc.terminate()
            await asyncio.to_thread(proc.join, 30)
            raise
        log.warning("archive process %d exited with %s; restarting in 2s", n, proc.exitcode)
        await asyncio.sleep(2)
