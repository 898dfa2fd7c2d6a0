"""Archive agents: chat records and alerts into ClickHouse, alerts into Redis live state.

Each agent takes events in batches (`take_events`): Faust acks a batch, and so lets its offsets be
committed, only after the body finished with it — and the body does not finish until the sink accepted
the batch (sinks.retry). A sink outage therefore stalls only that agent's commits; detection goes on.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from sinks.clickhouse import ClickHouseArchive, alert_row, message_row
from sinks.redis_live import LiveAlerts
from sinks.retry import until_written
from streams import topics
from streams.app import app, settings
from streams.records import RecordError, decode_msgaudit, message_text

log = logging.getLogger(__name__)


class _Archive:
    """One ClickHouse connection per agent, schema ensured before the first write."""

    def __init__(self) -> None:
        self._archive: ClickHouseArchive | None = None

    def _get(self) -> ClickHouseArchive:
        if self._archive is None:
            archive = ClickHouseArchive.from_settings(settings)
            archive.ensure_schema()
            self._archive = archive
        return self._archive

    def reset(self) -> None:
        self._archive = None

    async def write(self, method: str, rows: list[tuple], what: str) -> None:
        await until_written(lambda: asyncio.to_thread(lambda: getattr(self._get(), method)(rows)),
                            what, on_error=self.reset)


def _message_rows(events) -> list[tuple]:
    rows = []
    for event in events:
        try:
            record, _ = decode_msgaudit(event.key, event.value)
        except RecordError:
            continue  # the chat agent dead-letters it
        rows.append(message_row(record, message_text(record)))
    return rows


_messages_archive = _Archive()
_alerts_archive = _Archive()


@app.agent(topics.msgaudit)
async def archive_messages(stream):
    async for events in stream.take_events(settings.sink_batch_rows, within=settings.sink_flush_s):
        rows = _message_rows(events)
        if rows:
            await _messages_archive.write("insert_messages", rows, f"archive {len(rows)} messages")


def _alerts(events) -> list[dict]:
    out = []
    for event in events:
        try:
            out.append(orjson.loads(event.value))
        except orjson.JSONDecodeError:
            log.error("paodan.alerts holds a record that is not JSON at offset %s", event.message.offset)
    return out


@app.agent(topics.alerts)
async def archive_alerts(stream):
    async for events in stream.take_events(settings.sink_batch_rows, within=settings.sink_flush_s):
        rows = [alert_row(a) for a in _alerts(events)]
        if rows:
            await _alerts_archive.write("insert_alerts", rows, f"archive {len(rows)} alerts")


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
