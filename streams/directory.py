"""The employee directory (team, branch, manager, status, timezone) from `hr.events` `employee` upserts.

Kept in a table keyed by employee id. `hr.events` is co-partitioned with the other input topics, so the
worker that owns an employee's chat also owns their directory entry and can stamp team and branch on
alerts without a remote look-up.
"""

from __future__ import annotations

from typing import Any

from streams import deadletter, topics
from streams.app import app
from streams.records import RecordError, decode_hr

# Keyed by employee id (str); values are dicts, stored as JSON by Faust.
directory = app.Table("directory", default=None)


def lookup(employee_id: str) -> dict[str, Any]:
    return directory.get(employee_id) or {}


@app.agent(topics.hr)
async def hr_events(stream):
    async for event in stream.events():
        try:
            rec = decode_hr(event.key, event.value)
        except RecordError as exc:
            await deadletter.send(event, str(exc))
            continue
        if rec["type"] == "employee":
            entry = {k: rec.get(k) for k in ("name", "team", "branch", "manager_id", "role", "status",
                                            "timezone") if rec.get(k) is not None}
            directory[rec["employee_id"]] = entry
