"""The archive consumer: every stream into ClickHouse (CONTRACT §10). Its first process also runs the
feed of alerts into Redis (streams.live), the health checks and the notifications (streams.notify_feed).

Why not Faust agents for the archive: Faust hands each record of a topic to every agent subscribed to it
and waits when any agent's buffer is full, so an archive agent held up by a ClickHouse outage would soon
hold up the detecting agents of the same topic. The archive therefore reads with its own Kafka consumer
group (`{app_id}-archive`), decoupled from detection: ClickHouse can be down for as long as Kafka keeps
the records, and detection and alerting go on.

It runs in PAODAN_ARCHIVE_PROCESSES child processes of the worker (cores of their own for decoding and
building rows; they die with the worker). Records become rows as they are fetched (`Batch`). A batch
closes at PAODAN_SINK_BATCH records or in time for its oldest record to be in ClickHouse about
PAODAN_SINK_FLUSH seconds after it was sent (`closing_time`: about one insert per second per table); it
is then inserted in a thread, retried with backoff until ClickHouse accepted all of it (sinks.retry), and
only then are the batch's offsets committed; the next batch is collected meanwhile. A crash or a
rebalance redelivers an uncommitted batch, which the ReplacingMergeTree tables store once. The range
assignor puts the same partition of `paodan.alerts` and `paodan.alert_actions` (both keyed by the
alert's employee) on the same consumer, which folds an alert's revisions and triage actions in order.

A record the archive cannot turn into a row (not a JSON object, no natural id), or that the detecting
agent's decoder rejects (a negative amount, an unknown event, a chat record detection refuses), is kept
apart in `rejected_records` with the reason and where it was read (topic, partition, offset; at most
RAW_LIMIT of its bytes, with the size and SHA-256 of all of them): the detecting agent dead-letters it,
and no rejected record sits among the valid rows analysts query.

The hash chain's blocks (sinks/chain.py) are linked as each batch is written and inserted together
every PAODAN_CHAIN_FLUSH_S (`BlockBuffer`); a batch's offsets are committed once its blocks are in.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from config.chain import ChainSettings, load_chain
from config.settings import Settings
from metrics import archive as archive_metrics
from sinks import chain
from sinks.clickhouse import ClickHouseArchive, alert_state
from formats.topics import media_text
from sinks.clickhouse.rows import (action_row, contact_row, hr_row, media_text_row, message_row, order_row,
                                   rejected_row)
from sinks.clickhouse.schema import (ARCHIVE_CHAIN, CONTACT_EVENTS, HR_EVENTS, MEDIA_TEXTS, MESSAGES, ORDERS,
                                     REJECTED_RECORDS, Table, apply_retention)
from sinks.clickhouse.writer import ensure_schema_once, write_alert_changes
from sinks.retry import until_written
from streams import live, notify_feed, topics
from streams.app import app, settings
from formats.records import (RecordError, decode_contact, decode_hr, decode_msgaudit, decode_order, hr_event,
                             loads_object, message_text)

log = logging.getLogger(__name__)

# A batch held while ClickHouse is down must not get the consumer thrown out of its group.
MAX_POLL_INTERVAL_MS = 6 * 3600 * 1000
RETENTION_EVERY_S = 6 * 3600.0

Records = list[tuple[bytes | None, bytes | None]]  # (key, value) as they came from Kafka


Rejected = list[tuple[int, str]]  # (index in the records, reason)


def _rows_of(build: Callable[[dict[str, Any], int, bytes], tuple | None],
             check: Callable[[bytes | None, dict[str, Any]], Any] | None = None
             ) -> Callable[[Records], tuple[list[tuple], Rejected]]:
    """Rows of one table from a topic's records: `build(record, ingested_at, raw bytes)` per record,
    and the records refused, with why. `check(key, record)` is the detecting agent's decoder: a record
    it rejects is dead-lettered there and must not sit among the valid rows."""
    def rows(records: Records) -> tuple[list[tuple], Rejected]:
        out, refused = [], []
        stamp = int(time.time())  # one ingestion time (DateTime, epoch seconds) per batch
        for i, (key, value) in enumerate(records):
            try:
                rec = loads_object(value)
                if check is not None:
                    check(key, rec)
                row = build(rec, stamp, value)
            except RecordError as exc:
                refused.append((i, str(exc)))
                continue
            if row is None:
                refused.append((i, "no natural id (missing or invalid id or time fields)"))
            else:
                out.append(row)
        return out, refused
    return rows


def _message(rec: dict[str, Any], stamp: int, raw: bytes) -> tuple | None:
    return message_row(rec, message_text(rec), stamp, raw)


def _plainly_valid_chat(rec: dict[str, Any]) -> bool:
    """A quick test passed by the usual chat record, which formats.records.decode_msgaudit accepts
    (the decoder costs as much as building the row): the decoder judges only the others."""
    get = rec.get
    msgid, action, msgtime, tolist = get("msgid"), get("action"), get("msgtime"), get("tolist", [])
    sender, msgtype, roomid = get("from"), get("msgtype"), get("roomid")
    return (action in ("send", "recall") and type(msgid) is str and msgid != "" and type(sender) is str and sender != ""
            and type(msgtime) is int and msgtime >= 0 and type(msgtype) is str and msgtype != ""
            and type(tolist) is list and (roomid is None or type(roomid) is str)
            and (msgtype != "text" or type(get("text")) is dict))


def _check_chat(key: bytes | None, rec: dict[str, Any]) -> None:
    if not _plainly_valid_chat(rec):
        decode_msgaudit(key, rec)


_chat_rows = _rows_of(_message, _check_chat)


def message_rows(records: Records) -> list[tuple]:
    """`messages` rows of chat records (those detection accepts)."""
    return _chat_rows(records)[0]


# Input topic → (table, rows from records).
EVENT_TABLES: dict[str, tuple[Table, Callable[[Records], tuple[list[tuple], Rejected]]]] = {
    topics.msgaudit.get_topic_name(): (MESSAGES, _chat_rows),
    topics.contacts.get_topic_name(): (CONTACT_EVENTS, _rows_of(contact_row, decode_contact)),
    topics.orders.get_topic_name(): (ORDERS, _rows_of(order_row, decode_order)),
    topics.hr.get_topic_name(): (HR_EVENTS, _rows_of(hr_row, lambda key, rec: hr_event(decode_hr(key, dict(rec))))),
}
ALERTS_TOPIC = topics.alerts.get_topic_name()
ACTIONS_TOPIC = topics.alert_actions.get_topic_name()
ARCHIVED_TOPICS = (*EVENT_TABLES, ALERTS_TOPIC, ACTIONS_TOPIC)
# What the media agent read from images and voice (`{app_id}-media-text`, streams/media_agent.py), archived
# under this name: derived from chat records the chain already holds, so not chained itself.
MEDIA_TEXT = "media-text"
_media_rows = _rows_of(lambda rec, stamp, raw: media_text_row(rec, stamp))


def _json_object(value: bytes | None) -> dict[str, Any] | None:
    try:
        obj = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        obj = None
    return obj if isinstance(obj, dict) else None


@dataclass
class Batch:
    """One write's worth of records, turned into rows as they arrive: a closed batch waits only for its
    insert, and a retried write does not build its rows again. Alert revisions and triage actions are
    kept as records (in topic order) and folded at write time, against what the archive holds then."""

    rows: dict[Table, list[tuple]] = field(default_factory=dict)
    changes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    size: int = 0  # records
    offsets: dict[TopicPartition, int] = field(default_factory=dict)  # next offset per partition
    oldest: float = float("inf")  # Kafka timestamp of its oldest record (epoch s)
    closed: float = 0.0  # when collection ended (epoch s)
    building: float = 0.0  # seconds spent building rows
    # The hash chain (sinks.chain): the batch's records as the chain sees them, in order; the offsets
    # each (source table, partition) covered; the chains' heads once written.
    pending: list[chain.Pending] = field(default_factory=list)
    chain_ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    chained: dict[chain.ChainKey, chain.Head] = field(default_factory=dict)
    linked: bool = False  # its blocks are in a BlockBuffer

    @classmethod
    def of(cls, records: list[tuple[str, bytes | None, bytes | None]], first_offset: int = 0,
           partition: int = 0) -> "Batch":
        """A batch of (topic, key, value) records (benchmarks and tests), each topic's records from
        `first_offset` of `partition`."""
        by_topic: dict[str, Records] = defaultdict(list)
        for topic, key, value in records:
            by_topic[topic].append((key, value))
        batch = cls()
        for topic, its_records in by_topic.items():
            batch.add(topic, its_records, partition, first_offset)
        return batch

    def add(self, topic: str, records: Records, partition: int = 0, first_offset: int = 0) -> None:
        """Records of one topic, in their order (from `first_offset` of `partition`)."""
        self.size += len(records)
        chained = CHAIN.enabled and bool(records)
        if topic == MEDIA_TEXT:
            rows, refused = _media_rows(records)
            self.rows.setdefault(MEDIA_TEXTS, []).extend(rows)
            if refused:
                log.warning("%d media-text records without a message id, a text or a time were not archived",
                            len(refused))
            return
        if topic in EVENT_TABLES:
            table, rows_of = EVENT_TABLES[topic]
            began = time.perf_counter()
            rows, refused = rows_of(records)
            self.rows.setdefault(table, []).extend(rows)
            self._reject(topic, records, partition, first_offset, refused, table.name)
            if chained:
                self._chain_range(table.name, partition, first_offset, len(records))
                self.pending.append(chain.pending_rows(chain.SOURCES[table.name], partition, rows))
            self.building += time.perf_counter() - began
            return
        if chained:
            self._chain_range("alerts" if topic == ALERTS_TOPIC else "alert_actions", partition, first_offset,
                              len(records))
        refused: Rejected = []
        for i, (key, value) in enumerate(records):
            change = _json_object(value)
            if change is None:
                log.error("%s holds a record that is not a JSON object; kept apart", topic)
                refused.append((i, "not a JSON object"))
                continue
            kind = "alert" if topic == ALERTS_TOPIC else "action"
            self.changes.append((kind, change))
            if chained:
                self._pend_change(kind, change, partition)
        self._reject(topic, records, partition, first_offset, refused, "")

    def _reject(self, topic: str, records: Records, partition: int, first_offset: int, refused: Rejected,
                table: str) -> None:
        """Keep refused records apart (`rejected_records`), never among the valid rows."""
        chained = CHAIN.enabled and bool(records)
        part = chain.rejected_part(topic, partition)
        if chained:  # every batch, rejects or not: the chain follows the partition's offsets
            self._chain_range(REJECTED_RECORDS.name, part, first_offset, len(records))
        if refused:
            rows = [rejected_row(topic, partition, first_offset + i, records[i][0], records[i][1], reason, table)
                    for i, reason in refused]
            self.rows.setdefault(REJECTED_RECORDS, []).extend(rows)
            if chained:
                self.pending.append(chain.pending_rows(chain.SOURCES[REJECTED_RECORDS.name], part, rows))

    def _chain_range(self, source: str, partition: int, first_offset: int, count: int) -> None:
        first, _ = self.chain_ranges.get((source, partition), (first_offset, 0))
        self.chain_ranges[(source, partition)] = (first, first_offset + count - 1)

    def _pend_change(self, kind: str, change: dict[str, Any], partition: int) -> None:
        """The chain's view of an alert revision or a triage action, if the archive will keep it."""
        if kind == "alert":
            try:
                revision = alert_state.from_alert(change)["revision"]
            except alert_state.BadAlert:
                return
            self.pending.append(chain.Pending("alerts", partition, [""], [[change["alert_id"]], [revision]],
                                              [chain.alert_digest(change)]))
            return
        row = action_row(change)
        if row is not None:
            self.pending.append(chain.pending_rows(chain.SOURCES["alert_actions"], partition, [row]))


# Whether the archive chains what it writes, and where checkpoints go (config/chain.py).
CHAIN = load_chain()
# Chain heads between batches, per process (one archive consumer per process).
CHAINER = chain.Chainer()


def write_rows(archive: ClickHouseArchive, batch: Batch) -> dict[str, int]:
    """A batch's rows (alert revisions and triage folded in), not its chain blocks; rows per table."""
    written = {table.name: archive.insert(table, rows) for table, rows in batch.rows.items()}
    if batch.changes:
        written["alert_actions"], written["alerts"] = write_alert_changes(archive, batch.changes)
    return written


def write_batch(archive: ClickHouseArchive, batch: Batch, chainer: chain.Chainer | None = None) -> dict[str, int]:
    """Archive a batch and its chain blocks at once; return rows written per table.

    Safe to run again on the same batch (the retry after a failure does): every table deduplicates,
    and a batch's chain blocks are the same however often they are made."""
    written = write_rows(archive, batch)
    if batch.pending:
        written[ARCHIVE_CHAIN.name] = _write_blocks(archive, batch, chainer or CHAINER)
    return written


def _write_blocks(archive: ClickHouseArchive, batch: Batch, chainer: chain.Chainer) -> int:
    """The batch's blocks after its rows (a crash between leaves rows that the redelivery chains)."""
    rows, heads = chainer.link(archive, batch.pending, batch.chain_ranges, int(time.time()))
    archive.insert(ARCHIVE_CHAIN, rows)
    chainer.commit(heads, {k: last + 1 for k, (_, last) in batch.chain_ranges.items()})
    batch.chained = heads
    return len(rows)


class BlockBuffer:
    """Chain blocks of batches whose rows are in, gathered for one `archive_chain` insert.

    The archive consumer links each batch as soon as its rows are written (linking is hashing, in
    memory), and inserts the blocks gathered every ChainSettings.flush_s; only then does it commit the
    batches' offsets and sign the heads. A crash before leaves rows whose offsets were not committed:
    the redelivery chains them again from the last block inserted, as with an unchained batch today."""

    def __init__(self, chainer: chain.Chainer) -> None:
        self.chainer = chainer
        self.rows: list[tuple] = []
        self.heads: dict[chain.ChainKey, chain.Head] = {}
        self.since: float | None = None  # when the oldest block waiting was linked (monotonic s)

    def link(self, archive: ClickHouseArchive, batch: Batch) -> None:
        """Add the batch's blocks (once: a retried write of the batch does not link it again)."""
        if batch.linked or not batch.pending:
            return
        rows, heads = self.chainer.link(archive, batch.pending, batch.chain_ranges, int(time.time()))
        self.chainer.commit(heads, {k: last + 1 for k, (_, last) in batch.chain_ranges.items()})
        self.rows += rows
        self.heads.update(heads)
        batch.chained, batch.linked = heads, True
        if self.since is None:
            self.since = time.monotonic()

    def due(self, every_s: float) -> bool:
        return self.since is None or time.monotonic() - self.since >= every_s

    def flush(self, archive: ClickHouseArchive) -> tuple[int, dict[chain.ChainKey, chain.Head]]:
        """Insert the blocks waiting (retried as they are if the insert fails); their count and the
        chains' heads they made."""
        if self.rows:
            archive.insert(ARCHIVE_CHAIN, self.rows)
        count, heads = len(self.rows), self.heads
        self.rows, self.heads, self.since = [], {}, None
        return count, heads


def write_chained(archive: ClickHouseArchive, batch: Batch, blocks: BlockBuffer,
                  every_s: float) -> tuple[dict[str, int], dict[chain.ChainKey, chain.Head] | None]:
    """The archive consumer's write: the batch's rows, its blocks linked into `blocks`, and the blocks
    gathered inserted if the oldest waited `every_s`. Rows written per table, and the heads made if the
    blocks went in (None: the batch's offsets wait for a later insert)."""
    written = write_rows(archive, batch)
    blocks.link(archive, batch)
    if not blocks.due(every_s):
        return written, None
    written[ARCHIVE_CHAIN.name], heads = blocks.flush(archive)
    return written, heads


def closing_time(oldest: float, fetched: float, flush_s: float, write_s: float = 0.0) -> float:
    """When a batch closes (epoch s), so that its oldest record is in ClickHouse about `flush_s` after it
    was produced (its Kafka timestamp): `write_s` (what recent writes took) before that — yet never
    sooner than half of `flush_s` after the record was fetched (at most about two inserts a second per
    table, however slow the writes or however far off a producer's clock), nor later than all of it.

    Timing from production rather than from the fetch means a record that waited in Kafka or in the
    fetch buffer (the consumer was busy writing) does not wait a whole window more; allowing for the
    write means a record's wait does not grow with the load on ClickHouse. With writes of a few tens
    of milliseconds (the usual case) that is about one insert per second per table."""
    return max(fetched + flush_s / 2, min(oldest + flush_s - write_s, fetched + flush_s))


class _Stats:
    """Where the time goes, logged every minute so operators see the archive keeping up: records per
    second; how old a batch's oldest record was when the batch closed (time in Kafka, in the fetch
    buffer and in the batch window); how long a closed batch waited for the previous write; and the
    write itself — building rows, the insert (retries included) and the offset commit."""

    PHASES = ("oldest", "queued", "rows", "insert", "commit")

    def __init__(self, every_s: float = 60.0):
        self.every_s = every_s
        self._reset()

    def _reset(self) -> None:
        self.since, self.records, self.batches = time.monotonic(), 0, 0
        self.sum = dict.fromkeys(self.PHASES, 0.0)
        self.max = dict.fromkeys(self.PHASES, 0.0)

    def add(self, records: int, took: dict[str, float]) -> None:
        self.records += records
        self.batches += 1
        for phase, seconds in took.items():
            self.sum[phase] += seconds
            self.max[phase] = max(self.max[phase], seconds)

    def maybe_log(self) -> None:
        took = time.monotonic() - self.since
        if took >= self.every_s and self.batches:
            log.info("archived %d records in %d batches over %.0fs (%.0f records/s); ms mean/max: %s",
                     self.records, self.batches, took, self.records / took,
                     ", ".join(f"{phase} {1000 * self.sum[phase] / self.batches:.0f}/{1000 * self.max[phase]:.0f}"
                               for phase in self.PHASES))
            self._reset()


class ArchiveConsumer:
    """Kafka → ClickHouse with offsets committed after the insert; see the module docstring."""

    def __init__(self, settings: Settings, group: str | None = None, topics: dict[str, str] | None = None,
                 chain_settings: ChainSettings | None = None):
        """`topics`: Kafka topic → the archived topic whose records it holds (a benchmark archives a
        private copy of a stream); by default every archived topic as itself."""
        self.settings = settings
        self.group = group or f"{settings.app_id}-archive"
        self.topics = topics or {**{t: t for t in ARCHIVED_TOPICS}, media_text(settings.app_id): MEDIA_TEXT}
        self._archive: ClickHouseArchive | None = None
        self.batches = 0
        self._writes: deque[float] = deque(maxlen=8)  # how long the last writes took (s)
        self._last_retention = 0.0
        self._stats = _Stats(float(os.environ.get("PAODAN_ARCHIVE_STATS_S", "60")))
        self._publisher = None  # signed chain checkpoints (sinks.chain_checkpoints)
        self._chainer = chain.Chainer(self.group)
        self._chain_settings = chain_settings or CHAIN
        self._blocks = BlockBuffer(self._chainer)
        # Offsets of batches written whose blocks wait in `_blocks` (committed with them).
        self._uncommitted: dict[TopicPartition, int] = {}

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

    def _write(self, batch: Batch) -> tuple[dict[str, int], dict[chain.ChainKey, chain.Head] | None]:
        """Write the batch's rows and link its blocks; insert the blocks gathered if they are due.
        Return the rows written per table and, if the blocks went in, the heads they made (None: the
        batch's offsets wait for a later insert)."""
        archive = self._get()
        written, heads = write_chained(archive, batch, self._blocks, self._chain_settings.flush_s)
        if time.monotonic() - self._last_retention > RETENTION_EVERY_S:
            # Drop expired monthly partitions where the server has no TTL (a no-op where it has).
            apply_retention(archive, self.settings.retention_days)
            self._last_retention = time.monotonic()
        return written, heads

    def _flush_blocks(self) -> tuple[dict[str, int], dict[chain.ChainKey, chain.Head]]:
        count, heads = self._blocks.flush(self._get())
        return {ARCHIVE_CHAIN.name: count}, heads

    async def _collect(self, consumer: AIOKafkaConsumer) -> Batch:
        """Up to sink_batch_rows records, closed at `closing_time`; what is already fetched when it
        closes still joins it, up to the limit (so a backlog goes in full batches)."""
        batch = Batch()
        limit, flush = self.settings.sink_batch_rows, self.settings.sink_flush_s
        close_at = None
        while batch.size < limit:
            wait = 1.0 if close_at is None else close_at - time.time()
            got = await consumer.getmany(timeout_ms=max(0, int(wait * 1000)), max_records=limit - batch.size)
            for tp, messages in got.items():
                batch.add(self.topics[tp.topic], [(m.key, m.value) for m in messages], tp.partition,
                          messages[0].offset)
                batch.offsets[tp] = messages[-1].offset + 1
                if messages[0].timestamp is not None:
                    batch.oldest = min(batch.oldest, messages[0].timestamp / 1000)
            if not batch.size:
                break  # idle: come back to the caller (lets it notice cancellation promptly)
            if close_at is None:
                fetched = time.time()
                close_at = closing_time(batch.oldest, fetched, flush, max(self._writes, default=0.0))
            elif not got and wait <= 0:
                break
        batch.closed = time.time()
        return batch

    async def _positioned(self, consumer: AIOKafkaConsumer, timeout: float = 60.0) -> None:
        """Wait for the group's assignment and resolve every position, then say so in the log (tests and
        operators wait for "archive consumer ready": records produced after it are archived)."""
        await live.positioned(consumer, timeout)
        log.info("archive consumer ready (group %s, %d partitions) → %s", self.group,
                 len(consumer.assignment()), self.settings.clickhouse.split("@")[-1])

    async def _store(self, consumer: AIOKafkaConsumer, batch: Batch) -> None:
        """Write the batch until ClickHouse accepts it, then (once its chain blocks are in) commit its
        offsets."""
        took = {"oldest": max(0.0, batch.closed - batch.oldest) if batch.oldest != float("inf") else 0.0,
                "queued": time.time() - batch.closed, "rows": batch.building}
        # Backoff capped at 5 s: the archive catches up within seconds of ClickHouse's return.
        began = time.perf_counter()
        written, heads = await until_written(lambda: asyncio.to_thread(self._write, batch),
                                             f"archive {batch.size} records", on_error=self._write_failed,
                                             max_delay=5.0)
        archive_metrics.written(written)
        took["insert"] = time.perf_counter() - began
        self._writes.append(took["queued"] + took["insert"])
        self._uncommitted.update(batch.offsets)
        began = time.perf_counter()
        if heads is not None:
            await self._committed(consumer, heads)
        took["commit"] = time.perf_counter() - began
        self.batches += 1
        self._stats.add(batch.size, took)
        self._stats.maybe_log()
        archive_metrics.batch(batch.size, took)

    async def _flush(self, consumer: AIOKafkaConsumer) -> None:
        """Insert the blocks waiting (the consumer is idle, or stopping) and commit their batches."""
        written, heads = await until_written(lambda: asyncio.to_thread(self._flush_blocks), "archive chain blocks",
                                             on_error=self._write_failed, max_delay=5.0)
        archive_metrics.written(written)
        await self._committed(consumer, heads)

    async def _committed(self, consumer: AIOKafkaConsumer, heads: dict[chain.ChainKey, chain.Head]) -> None:
        """Blocks are in: sign their heads, then commit the offsets of every batch they cover."""
        await self._checkpoint(heads)
        # A rebalance may have taken partitions meanwhile: their new owner re-reads them from the last
        # commit, and the tables store the records again only once.
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self._uncommitted.items() if tp in assigned}
        self._uncommitted = {}
        try:
            if offsets:
                await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("archive offsets not committed (%s); the batch will be stored again, once", exc)

    def _write_failed(self) -> None:
        archive_metrics.RETRIES.inc()
        self._reset()

    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            *self.topics, bootstrap_servers=s.kafka, group_id=self.group, enable_auto_commit=False,
            auto_offset_reset=s.offset_reset, partition_assignment_strategy=(RangePartitionAssignor,),
            max_poll_interval_ms=MAX_POLL_INTERVAL_MS, session_timeout_ms=10_000, heartbeat_interval_ms=2_000,
            max_partition_fetch_bytes=4 * 1024 * 1024)
        await consumer.start()
        writing: asyncio.Task | None = None
        try:
            await self._start_checkpoints()
            await until_written(lambda: asyncio.to_thread(self._get), "archive schema migration",
                                on_error=self._reset)
            await self._positioned(consumer)
            # One batch is written (in a thread) while the next one is collected: a record waits for its
            # batch window plus at most one write before its own. Writes and commits stay in order.
            while True:
                batch = await self._collect(consumer)
                if writing is not None:
                    await writing
                    writing = None
                if batch.size:
                    writing = asyncio.create_task(self._store(consumer, batch))
                elif self._blocks.rows:  # idle: the blocks waiting go in now
                    writing = asyncio.create_task(self._flush(consumer))
        finally:
            if writing is not None:
                # Stopping (or failing): let the batch being written finish, so its offsets are committed
                # and a restart does not write it again.
                with contextlib.suppress(Exception):
                    await writing
            if self._blocks.rows:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._flush(consumer), 10)
            try:
                await consumer.stop()
            finally:  # the checkpoint publisher's producer too, even when stopping the consumer failed
                await self._stop_checkpoints()
                self._reset()

    async def _start_checkpoints(self) -> None:
        if self._chain_settings.enabled and self._publisher is None:
            from sinks.chain_checkpoints import Publisher

            self._publisher = Publisher(self._chain_settings, self.settings.kafka, self.settings.clickhouse_database)
            await self._publisher.start()

    async def _stop_checkpoints(self) -> None:
        if self._publisher is not None:
            await self._publisher.stop()
            self._publisher = None

    async def _checkpoint(self, heads: dict[chain.ChainKey, chain.Head]) -> None:
        """Sign and keep the chains' heads once their blocks are in (sinks.chain_checkpoints)."""
        if self._publisher is not None and heads:
            await self._publisher.publish(heads, self.group)


def _archive_process_main(n: int) -> None:
    """Entry point of archive child process `n`: dies with the worker, logs like it. The first one
    also feeds the board's live state in Redis (streams.live), runs the health checks and sends the
    notifications (streams.notify_feed)."""
    try:  # Linux: the kernel signals us when the worker dies, even by SIGKILL
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")

    async def archive() -> None:
        while True:
            try:
                await ArchiveConsumer(settings).run()
            except KafkaError as exc:
                log.warning("archive consumer: Kafka error %s; restarting in 2s", exc)
                await asyncio.sleep(2)

    async def main() -> None:
        # SIGTERM (the worker stopping) cancels the consumers, which finish their writes, commit and
        # leave their groups, rather than exiting from inside the event loop with tasks still pending.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        await asyncio.gather(archive(), archive_metrics.serve(settings, n),
                             *([live.run(settings), _health(settings), notify_feed.run(settings)] if n == 0 else []))

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(main())


async def _health(settings: Settings) -> None:
    """Pipeline health checks (streams/health_probe.py), beside the live feed in the first process."""
    from streams import health_probe

    await health_probe.run(settings, ALERTS_TOPIC)


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
        proc = ctx.Process(target=_archive_process_main, args=(n,), name=f"paodan-archive-{n}", daemon=True)
        proc.start()
        try:
            await asyncio.to_thread(proc.join)
        except asyncio.CancelledError:
            proc.terminate()
            await asyncio.to_thread(proc.join, 30)
            raise
        # Exit 0 is a stop asked for (SIGTERM, usually with the whole worker: then this task is cancelled
        # in the sleep below); anything else is a crash.
        log.log(logging.INFO if proc.exitcode == 0 else logging.WARNING,
                "archive process %d exited with %s; restarting in 2s", n, proc.exitcode)
        await asyncio.sleep(2)
