"""The employee directory (team, branch, manager, status, timezone) from `hr.events` `employee` upserts.

Kept in a table keyed by employee id. `hr.events` is co-partitioned with the other input topics, so the
worker that owns an employee's chat also owns their directory entry and can stamp team and branch on
alerts without a remote look-up. The detection agent (streams/detection.py), which reads every HR
event, writes the entries (streams.processing.directory_entry).
"""

from __future__ import annotations

from typing import Any

from streams import tables

# Keyed by employee id (str); values are JSON documents (faustkit/tables.py).
directory = tables.table("directory")


def lookup(employee_id: str) -> dict[str, Any]:
    return directory.get(employee_id) or {}
