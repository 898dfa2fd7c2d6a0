"""Sending a record that cannot be processed to `paodan.deadletter` (the format: formats/deadletter.py)."""

from __future__ import annotations

import logging

import orjson

from formats.deadletter import dead_letter, dead_letter_key
from streams import topics

log = logging.getLogger(__name__)


async def send(message, error: str):
    """Dead-letter a consumed Kafka message (a Faust `event.message`) with `error` as the reason;
    returns the future Kafka resolves once it has the record."""
    value = dead_letter(message.topic, message.partition, message.offset, error, message.value)
    log.warning("dead-lettered %s[%s]@%s: %s", message.topic, message.partition, message.offset, error)
    return await topics.deadletter.send(key=dead_letter_key(message.key), value=orjson.dumps(value))
