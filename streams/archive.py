"""Archive agents: every stream into ClickHouse (CONTRACT §10), alerts into Redis live state.

Each agent takes events in batches (`take_events`: up to PAODAN_SINK_BATCH rows or PAODAN_SINK_FLUSH
seconds, so about one insert per second per table). Faust acks a batch, and so lets its offsets be
committed, only after the body finished with it — and the body does not finish until ClickHouse accepted
the batch (sinks.retry backs off and retries for as long as it takes). A ClickHouse outage therefore
stalls only these agents' commits while Kafka keeps the records; detection and alerting go on, and the
archive catches up when the server is back. A crash redelivers the uncommitted batch, which the
ReplacingMergeTree tables store once.

A record an agent cannot turn into a row (no natural id) is skipped here: the detecting agent of that
topic sends it to `paodan.deadletter`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import orjson

from sinks.clickhouse import ClickHouseArchive
from sinks.clickhouse.rows import contact_row, hr_row, message_row, order_row
from sinks.clickhouse.schema import CONTACT_EVENTS, HR_EVENTS, MESSAGES, ORDERS, Table, apply_retention
from sinks.clickhouse.writer import ensure_schema_once, write_alert_changes
from sinks.redis_live import LiveAlerts
from sinks.retry import until_written
from streams import topics
from streams.app import app, settings
from streams.records import RecordError, decode_msgaudit, loads_object, message_text

log = logging.getLogger(__name__)


class _Archive:
    """One ClickHouse connection per agent (clickhouse-driver clients are not shared between threads);
    the schema is migrated by whichever agent connects first."""

    def __init__(self) -> None:
        self._archive: ClickHouseArchive | None = None

    def get(self) -> ClickHouseArchive:
        if self._archive is None:
            archive = ClickHouseArchive.from_settings(settings)
            ensure_schema_once(archive, settings.clickhouse, settings.retention_days)
            self._archive = archive
        return self._archive

    def reset(self) -> None:
        if self._archive is not None:
            self._archive.close()
        self._archive = None

    async def run(self, work: Callable[[ClickHouseArchive], Any], what: str) -> Any:
        """`work(archive)` in a thread, retried with backoff (fresh connection each time) until it succeeds."""
        return await until_written(lambda: asyncio.to_thread(lambda: work(self.get())), what,
                                   on_error=self.reset)


def _objects(events) -> list[dict[str, Any]]:
    out = []
    for event in events:
        try:
            out.append(loads_object(event.value))
        except RecordError:
            pass  # dead-lettered by the topic's detecting agent
    return out


def _message_rows(events) -> list[tuple]:
    rows = []
    for event in events:
        try:
            record, _ = decode_msgaudit(event.key, event.value)
        except RecordError:
            continue  # the chat agent dead-letters it
        rows.append(message_row(record, message_text(record)))
    return rows


def _row_builder(build: Callable[[dict[str, Any]], tuple | None]) -> Callable[[list], list[tuple]]:
    def rows(events) -> list[tuple]:
        return [row for rec in _objects(events) for row in [build(rec)] if row is not None]
    return rows


def _event_sink(topic, table: Table, rows_of: Callable[[list], list[tuple]]) -> None:
    """Register an agent that archives `topic` into `table` in batches."""
    archive = _Archive()

    async def sink(stream):
        async for events in stream.take_events(settings.sink_batch_rows, within=settings.sink_flush_s):
            rows = rows_of(events)
            if rows:
                await archive.run(lambda a: a.insert(table, rows), f"archive {len(rows)} {table.name}")

    sink.__name__ = sink.__qualname__ = f"archive_{table.name}"
    app.agent(topic, name=f"{__name__}.archive_{table.name}")(sink)


_event_sink(topics.msgaudit, MESSAGES, _message_rows)
_event_sink(topics.contacts, CONTACT_EVENTS, _row_builder(contact_row))
_event_sink(topics.orders, ORDERS, _row_builder(order_row))
_event_sink(topics.hr, HR_EVENTS, _row_builder(hr_row))


def _json(event) -> dict[str, Any] | None:
    try:
        value = orjson.loads(event.value)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        log.error("%s holds a record that is not a JSON object at offset %s", event.message.topic,
                  event.message.offset)
        return None
    return value


# Revisions and triage actions of the same alerts, in one stream: both topics are keyed by the alert's
# employee and co-partitioned, so this worker owns every change of its alerts and folds them in order.
_alert_changes_topic = app.topic(topics.alerts.get_topic_name(), topics.alert_actions.get_topic_name(),
                                 key_serializer="raw", value_serializer="raw")
_alerts_archive = _Archive()


@app.agent(_alert_changes_topic)
async def archive_alert_changes(stream):
    async for events in stream.take_events(settings.sink_batch_rows, within=settings.sink_flush_s):
        changes = [("alert" if event.message.topic == topics.alerts.get_topic_name() else "action", value)
                   for event in events for value in [_json(event)] if value is not None]
        if changes:
            await _alerts_archive.run(lambda a: write_alert_changes(a, changes),
                                      f"archive {len(changes)} alert changes")


_retention_archive = _Archive()


@app.task
async def migrate_archive():
    """Apply pending schema migrations as the worker starts, not only at the first write."""
    await _retention_archive.run(lambda a: a.server_version(), "archive schema migration")


@app.timer(interval=6 * 3600.0, on_leader=True)
async def enforce_retention():
    """Drop expired monthly partitions on servers without TTL (a no-op where the TTL does it)."""
    await _retention_archive.run(lambda a: apply_retention(a, settings.retention_days), "archive retention")


def _alerts(events) -> list[dict]:
    return [value for event in events for value in [_json(event)] if value is not None]


_live: LiveAlerts | None = None


@app.agent(topics.alerts)
async def live_alerts(stream):
    # Small batches, short wait: the board should see an alert well within a second.
    global _live
    async for events in stream.take_events(500, within=0.05):
        alerts = _alerts(events)
        if not alerts:
            continue
        if _live is None:
            _live = LiveAlerts(settings.redis)
        await until_written(lambda: _live.upsert_many(alerts), f"publish {len(alerts)} alerts to Redis")
