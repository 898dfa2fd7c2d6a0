"""Notifications as a consumer of `paodan.alerts` of their own (group `{app_id}-notify`), in the worker's
first archive process beside the live feed (streams/archive.py): they flow whether or not a board is open.

Each alert record goes to `sinks.notify.Notifier.offer()`, which routes, redacts, rate-limits, holds
back in quiet hours and escalates (its docstring). Offsets are committed as the consumer goes: a
notification is a courtesy on top of the board and the alert topic, so a crash may skip the few alerts
still queued rather than notify them twice (Redis `SET NX` already stops repeats across processes).
Without a routing file (`PAODAN_NOTIFY`, default `config/notify.yaml`) nothing runs.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from config.settings import Settings
from formats.topics import ALERTS
from sinks.notify import Notifier
from streams.live import positioned

log = logging.getLogger(__name__)


async def run(settings: Settings, notifier: Notifier | None = None, ready: asyncio.Event | None = None) -> None:
    """Notify from `paodan.alerts` until cancelled (`ready` is set once the consumer is positioned)."""
    notifier = notifier or Notifier.from_settings(settings)
    if notifier is None:
        return
    delivering = asyncio.create_task(notifier.run())
    try:
        while True:
            try:
                await _consume(settings, notifier, ready)
            except KafkaError as exc:
                log.warning("notify consumer: Kafka error %s; restarting in 2s", exc)
                await asyncio.sleep(2)
    finally:
        delivering.cancel()


async def _consume(settings: Settings, notifier: Notifier, ready: asyncio.Event | None) -> None:
    # A new group starts at the end: a first deployment must not notify the topic's whole history.
    consumer = AIOKafkaConsumer(ALERTS, bootstrap_servers=settings.kafka, group_id=f"{settings.app_id}-notify",
                                auto_offset_reset="latest", enable_auto_commit=True)
    await consumer.start()
    try:
        await positioned(consumer)
        log.info("notify consumer ready (group %s-notify, %d partitions)", settings.app_id,
                 len(consumer.assignment()))
        if ready is not None:
            ready.set()
        async for record in consumer:
            try:
                alert = orjson.loads(record.value)
            except orjson.JSONDecodeError:
                continue  # the live feed reports malformed alert records; nothing to notify
            if isinstance(alert, dict) and isinstance(alert.get("alert_id"), str):
                notifier.offer(alert)
    finally:
        await consumer.stop()
