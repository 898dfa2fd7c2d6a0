"""The employee directory as the board needs it for roles: the latest `employee` HR record of everyone.

Read from the archive's `hr_events` (the same `hr.events` upserts the worker keeps in its directory
table, streams/directory.py), since the worker's table lives inside the worker. Called at sign-in and
when a viewer connects, so a move between teams takes effect at the next connect.
"""

from __future__ import annotations

from typing import Any

from sinks.clickhouse.connection import Archive

FIELDS = ("team", "branch", "manager_id", "role", "status", "name")


def load(archive: Archive) -> dict[str, dict[str, Any]]:
    """employee id → {team, branch, manager_id, role, status, name} from each one's latest record."""
    cols = ", ".join(f"argMax({f}, ts)" for f in FIELDS)
    rows = archive.execute(f"SELECT employee_id, {cols} FROM {archive.database}.hr_events "
                           "WHERE type = 'employee' GROUP BY employee_id")
    return {row[0]: {f: v for f, v in zip(FIELDS, row[1:]) if v} for row in rows}
