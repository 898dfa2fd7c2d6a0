"""Faust tables of JSON documents that Faust stores and restores as bytes, never decoding them.

Every table here holds a JSON document per key (an employee's state, a directory entry, a customer's
owner). Faust's own JSON codec would decode each value wherever the bytes pass through it — including
every changelog record read while a worker restores its tables, although the RocksDB store then
writes the record's raw bytes and throws the decoded value away: a third of a restore's time. So the
tables are declared with raw values, and the agents encode and decode the documents themselves, once,
with orjson. Keys keep Faust's JSON encoding (`"emp1"`), and the value bytes are the same JSON as
before, so stores and changelogs written either way read the same.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.app import app


def table(name: str, **options: Any):
    """A changelog-backed table of JSON documents (partitioned like the input topics)."""
    return app.Table(name, default=None, value_type=bytes, **options)


def global_table(name: str, **options: Any):
    """A table of JSON documents every worker holds in full."""
    return app.GlobalTable(name, default=None, value_type=bytes, **options)


def get(t, key: str) -> Any:
    """The document under `key`, or None. One store look-up: Faust's `Table.get` asks the store whether
    the key is there and then reads it (two RocksDB reads; four for a global table, which also probes
    the bloom filter each time). For tables without windows or expiry, as all of these are."""
    raw = t.data.get(key)
    return None if raw is None else orjson.loads(raw)


def put(t, key: str, document: Any) -> None:
    """Store `document` under `key` (and send it to the table's changelog). Inside an agent only: the
    current event decides the partition."""
    t[key] = orjson.dumps(document)
