"""Chat-content agent: `wecom.msgaudit` → detectors → `paodan.alerts`.

State per employee lives in the `chat_state` table (changelog-backed, RocksDB on disk), keyed like the
topic, so the partition that owns an employee's messages owns their state. Records that could not be
processed go to the dead-letter topic; records detection saw only in part (unknown types, texts
past the scanned length) are counted, and the counts are logged every minute.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import orjson

from detectors.content.parts import skipped
from streams import deadletter, topics
from streams.app import app
from streams.processing import process_msgaudit
from streams.records import RecordError
from streams.directory import lookup
from streams.rules_state import current_rules

# Keyed by employee id (str); values are the detector's state dicts, stored as JSON by Faust.
chat_state = app.Table("chat_state", default=None)
counts: Counter[str] = Counter()
log = logging.getLogger(__name__)


async def publish(alert) -> None:
    body = alert.to_dict()
    body["detected_at"] = int(time.time() * 1000)
    await topics.alerts.send(key=alert.employee_id.encode(), value=orjson.dumps(body))


@app.agent(topics.msgaudit)
async def chat(stream):
    async for event in stream.events():
        employee = (event.key or b"").decode("utf-8", "replace")
        state = chat_state.get(employee)
        rules = current_rules()
        try:
            record, new_state, alerts = process_msgaudit(event.key, event.value, state, rules, lookup(employee))
        except RecordError as exc:
            counts["dead_lettered"] += 1
            await deadletter.send(event, str(exc))
            continue
        counts["records"] += 1
        partial = skipped(record, rules.rule("chat.content").max_text_chars)
        if partial:
            counts[partial] += 1
        if new_state is not None:
            chat_state[employee] = new_state
        for alert in alerts:
            await publish(alert)


@app.timer(interval=60.0)
async def log_counts() -> None:
    if counts:
        log.info("chat content: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
