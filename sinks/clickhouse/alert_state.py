"""The `alerts` row of an alert: its latest detection revision with its triage state folded in.

Two streams change an alert: new revisions from the worker (`paodan.alerts`) and triage actions from the
board (`paodan.alert_actions`). Both are keyed by the alert's employee, so one worker owns both for an
alert and folds them in order. The fold is pure (dicts in, dicts out); the archive agent reads the
previous row from ClickHouse, folds a batch in and writes the result with a higher `version`, so the
ReplacingMergeTree keeps the latest state.

Statuses follow the board (dashboard_ws.lifecycle): new → acknowledged → assigned → resolved, with
escalated from any open status and reopen taking a resolved alert back to acknowledged. An action that
carries `status` (the board's own answer) wins over the mapping below.
"""

from __future__ import annotations

from typing import Any

import orjson

from sinks.clickhouse.rows import RESOLUTIONS, day
from sinks.clickhouse.schema import ALERTS

STATUS_AFTER = {"acknowledge": "acknowledged", "ack": "acknowledged", "assign": "assigned",
                "claim": "assigned", "resolve": "resolved", "reopen": "acknowledged", "escalate": "escalated"}
# Actions recorded in the audit trail that do not change the alert (comments, views of chat content…).
_DETECTION = ("revision", "rule", "severity", "score", "employee_id", "team", "branch", "ts", "window_start",
              "window_end", "window_date", "title", "explanation", "evidence", "rules_version",
              "detected_at", "raw")


def from_alert(alert: dict[str, Any]) -> dict[str, Any]:
    """The detection columns of an alert as published on `paodan.alerts` (CONTRACT §6)."""
    start = int(alert["window"]["start"])
    return {
        "alert_id": alert["alert_id"], "revision": int(alert.get("revision", 1)), "rule": alert["rule"],
        "severity": alert["severity"], "score": float(alert["score"]), "employee_id": alert["employee_id"],
        "team": alert.get("team") or "", "branch": alert.get("branch") or "", "ts": int(alert["ts"]),
        "window_start": start, "window_end": int(alert["window"]["end"]), "window_date": day(start),
        "title": alert["title"], "explanation": alert["explanation"],
        "evidence": orjson.dumps(alert.get("evidence", [])).decode(), "rules_version": alert["rules_version"],
        "detected_at": int(alert.get("detected_at") or 0), "raw": orjson.dumps(alert).decode(),
    }


def new_state(detection: dict[str, Any]) -> dict[str, Any]:
    return {**detection, "version": 0, "status": "new", "assignee": "", "resolution": "", "updated_at": 0}


def with_revision(prev: dict[str, Any] | None, alert: dict[str, Any]) -> dict[str, Any]:
    """`prev` updated to a (re)delivered revision; an older or equal revision changes nothing."""
    detection = from_alert(alert)
    if prev is None:
        return new_state(detection)
    if detection["revision"] <= int(prev["revision"]):
        return prev
    return {**prev, **{k: detection[k] for k in _DETECTION}}


def with_action(prev: dict[str, Any], action: dict[str, Any]) -> dict[str, Any]:
    """`prev` after a triage action; actions that change nothing (comment, view_content) return it as is."""
    kind = action.get("action")
    status = action.get("status") or STATUS_AFTER.get(kind)
    detail = action.get("detail") if isinstance(action.get("detail"), dict) else {}
    new = dict(prev)
    if status:
        new["status"] = status
    if kind == "claim":
        new["assignee"] = str(action.get("actor") or "")
    elif kind == "assign":
        new["assignee"] = str(detail.get("assignee") or action.get("assignee") or new["assignee"])
    resolution = action.get("resolution") or detail.get("resolution")
    if kind == "resolve" and resolution in RESOLUTIONS:
        new["resolution"] = resolution
    elif kind == "reopen":
        new["resolution"] = ""
    if new == prev:
        return prev
    new["updated_at"] = max(int(prev.get("updated_at") or 0), int(action.get("ts") or 0))
    return new


def fold(prev: dict[str, Any] | None, changes: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    """Apply ("alert", alert) and ("action", action) changes in order; None while no revision is known."""
    state = prev
    for kind, change in changes:
        if kind == "alert":
            state = with_revision(state, change)
        elif state is not None:
            state = with_action(state, change)
    return state


def to_row(state: dict[str, Any]) -> tuple:
    return tuple(state[c] for c in ALERTS.column_names)


def from_row(row: tuple) -> dict[str, Any]:
    return dict(zip(ALERTS.column_names, row))
