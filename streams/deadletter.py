"""Sending a record that cannot be processed to `paodan.deadletter` (CONTRACT.md §1)."""

from __future__ import annotations

import logging

import orjson

from streams import topics
from streams.records import dead_letter

log = logging.getLogger(__name__)

KEY_LIMIT = 1024


async def send(message, error: str):
    """Dead-letter a consumed Kafka message (a Faust `event.message`) with `error` as the reason;
    returns the future Kafka resolves once it has the record."""
    value = dead_letter(message.topic, message.partition, message.offset, error, message.value)
    log.warning("dead-lettered %s[%s]@%s: %s", message.topic, message.partition, message.offset, error)
    key = message.key
    if key is not None and len(key) > KEY_LIMIT:
        # An oversized key would make the dead letter itself too large to send.
        key = key[:KEY_LIMIT]
    return await topics.deadletter.send(key=key, value=orjson.dumps(value))
