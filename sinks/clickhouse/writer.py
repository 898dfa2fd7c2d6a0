"""Writing batches to the archive: event rows as they are, alert changes folded into the latest state.

These functions are synchronous (clickhouse-driver); the Faust agents in streams/archive.py run them in a
thread and retry them whole until they succeed, so each must be safe to run again on the same batch:
inserts are deduplicated by the tables' natural ids, and the alert fold reads what the previous attempt
already wrote and changes nothing twice.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterable

import orjson

from sinks.clickhouse import alert_state
from sinks.clickhouse.connection import Archive
from sinks.clickhouse.rows import action_row
from sinks.clickhouse.schema import ALERT_ACTIONS, ALERTS, DEFAULT_RETENTION_DAYS, migrate

log = logging.getLogger(__name__)

_schema_lock = threading.Lock()
_schema_done: set[tuple[str, str]] = set()


def ensure_schema_once(archive: Archive, url: str, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
    """Migrate the archive's database once per process (agents share it; the first one migrates)."""
    key = (url, archive.database)
    with _schema_lock:
        if key in _schema_done:
            return
        applied = migrate(archive, retention_days)
        if applied:
            log.info("ClickHouse %s (%s): applied migrations %s", archive.server_version(), archive.database,
                     applied)
        _schema_done.add(key)


def read_alerts(archive: Archive, alert_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The current `alerts` rows (latest version) of these ids."""
    ids = sorted(set(alert_ids))
    if not ids:
        return {}
    rows = archive.execute(f"SELECT {ALERTS.columns_sql()} FROM {archive.database}.alerts FINAL "
                           "WHERE alert_id IN %(ids)s", {"ids": tuple(ids)})
    return {row[0]: alert_state.from_row(row) for row in rows}


def read_actions(archive: Archive, alert_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Archived triage actions of these alerts, oldest first."""
    ids = sorted(set(alert_ids))
    if not ids:
        return {}
    rows = archive.execute(f"SELECT alert_id, action, actor, ts, status, resolution, detail FROM "
                           f"{archive.database}.alert_actions FINAL WHERE alert_id IN %(ids)s "
                           "ORDER BY alert_id, ts, action_id", {"ids": tuple(ids)})
    out: dict[str, list[dict[str, Any]]] = {}
    for alert_id, action, actor, ts, status, resolution, detail in rows:
        out.setdefault(alert_id, []).append({"action": action, "actor": actor, "ts": int(ts), "status": status,
                                             "resolution": resolution, "detail": orjson.loads(detail or "{}")})
    return out


def _valid(kind: str, change: dict[str, Any]) -> bool:
    """Whether a change can be archived; a bad one is logged and left out, never retried forever."""
    try:
        if kind == "alert":
            alert_state.from_alert(change)
        elif action_row(change) is None:
            raise alert_state.BadAlert("an action needs action_id, action and ts (ms)")
    except alert_state.BadAlert as exc:
        log.error("paodan.%s record not archived: %s", "alerts" if kind == "alert" else "alert_actions", exc)
        return False
    return True


def write_alert_changes(archive: Archive, changes: list[tuple[str, dict[str, Any]]]) -> tuple[int, int]:
    """Archive a batch of ("alert", alert) / ("action", action) changes in topic order.

    Actions go to `alert_actions` first; then every touched alert's row is re-read, the batch folded
    in, and the new state written with version + 1. An alert whose first revision arrives after some of
    its actions gets those archived actions folded in. Returns (actions written, alert rows written).
    """
    changes = [(kind, change) for kind, change in changes if _valid(kind, change)]
    actions = [action_row(change) for kind, change in changes if kind == "action"]
    archive.insert(ALERT_ACTIONS, actions)
    by_id: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for kind, change in changes:
        if change.get("alert_id"):
            by_id.setdefault(change["alert_id"], []).append((kind, change))
    previous = read_alerts(archive, by_id)
    missing = [i for i in by_id if i not in previous]
    archived = read_actions(archive, missing)
    rows = []
    for alert_id, its_changes in by_id.items():
        prev = previous.get(alert_id)
        if prev is None:
            state = alert_state.fold(None, [c for c in its_changes if c[0] == "alert"])
            if state is None:
                log.warning("actions for alert %s, which is not archived (yet): kept in alert_actions",
                            alert_id)
                continue
            state = alert_state.fold(state, [("action", a) for a in archived.get(alert_id, [])])
        else:
            state = alert_state.fold(prev, its_changes)
            if state is prev:
                continue  # a redelivery: nothing changed
        state = {**state, "version": (int(prev["version"]) if prev else 0) + 1}
        rows.append(alert_state.to_row(state))
    archive.insert(ALERTS, rows)
    return len(actions), len(rows)
