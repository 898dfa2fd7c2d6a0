"""The employee directory (team, branch, manager, status, timezone) from `hr.events` `employee` upserts.

Kept in a table keyed by employee id. `hr.events` is co-partitioned with the other input topics, so the
worker that owns an employee's chat also owns their directory entry and can stamp team and branch on
alerts without a remote look-up. The detection agent (streams/detection.py), which reads every HR
event, writes the entries (streams.processing.directory_entry).
"""

from __future__ import annotations

from typing import Any

from streams.app import app

# Keyed by employee id (str); values are dicts, stored as JSON by Faust.
directory = app.Table("directory", default=None)


def read(table, key: str) -> Any:
    """`table.get(key)` in one store look-up. Faust's `Table.get` asks the store whether the key is
    there and then reads it: two RocksDB reads (four for a global table, which also probes the bloom
    filter each time). The store's own `get` reads once. For tables without windows or expiry only:
    it skips their bookkeeping."""
    return table.data.get(key)


def lookup(employee_id: str) -> dict[str, Any]:
    return read(directory, employee_id) or {}
