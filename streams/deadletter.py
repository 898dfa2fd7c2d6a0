"""Sending a record that cannot be processed to `paodan.deadletter` (CONTRACT.md §1)."""

from __future__ import annotations

import logging

import orjson

from streams import topics
from streams.records import dead_letter

log = logging.getLogger(__name__)


async def send(event, error: str):
    """Dead-letter the Faust event's original message with `error` as the reason; returns the future
    Kafka resolves once it has the record."""
    msg = event.message
    value = dead_letter(msg.topic, msg.partition, msg.offset, error, event.value)
    log.warning("dead-lettered %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, error)
    return await topics.deadletter.send(key=event.key, value=orjson.dumps(value))
