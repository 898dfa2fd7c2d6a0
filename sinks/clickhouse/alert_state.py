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

from sinks.clickhouse.rows import MAX_UINT32, RESOLUTIONS, day, uint
from sinks.clickhouse.schema import ALERTS

STATUS_AFTER = {"acknowledge": "acknowledged", "ack": "acknowledged", "assign": "assigned",
                "claim": "assigned", "resolve": "resolved", "reopen": "acknowledged", "escalate": "escalated"}
# Actions recorded in the audit trail that do not change the alert (comments, views of chat content…).
_DETECTION = ("revision", "rule", "severity", "score", "employee_id", "team", "branch", "ts", "window_start",
              "window_end", "window_date", "title", "explanation", "evidence", "rules_version",
              "detected_at", "raw")


class BadAlert(ValueError):
    """A record on paodan.alerts that is not an alert (CONTRACT §6); it is logged and not archived."""


def _need(value: Any, name: str, limit: int = 2**63 - 1) -> int:
    n = uint(value, limit)
    if n is None:
        raise BadAlert(f"{name} must be a non-negative integer, got {value!r}")
    return n


def from_alert(alert: dict[str, Any]) -> dict[str, Any]:
    """The detection columns of an alert as published on `paodan.alerts` (CONTRACT §6); BadAlert if
    it is not one."""
    try:
        window = alert["window"]
        start = _need(window["start"], "window.start")
        score = float(alert["score"])
        text = {k: alert[k] for k in ("alert_id", "rule", "severity", "employee_id", "title", "explanation",
                                      "rules_version")}
    except (KeyError, TypeError, ValueError) as exc:
        raise BadAlert(f"not an alert: {type(exc).__name__}: {exc}") from None
    if not all(isinstance(v, str) for v in text.values()) or not text["alert_id"] or score != score:
        raise BadAlert("not an alert: alert_id, rule, severity, employee_id, title, explanation and "
                       "rules_version must be text, score a number")
    return {
        **text, "revision": _need(alert.get("revision", 1), "revision", MAX_UINT32), "score": score,
        "team": str(alert.get("team") or ""), "branch": str(alert.get("branch") or ""),
        "ts": _need(alert.get("ts"), "ts"), "window_start": start,
        "window_end": _need(window.get("end"), "window.end"), "window_date": day(start),
        "evidence": orjson.dumps(alert.get("evidence", [])).decode(),
        "detected_at": uint(alert.get("detected_at")) or 0, "raw": orjson.dumps(alert).decode(),
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
    kind = str(action.get("action") or "")
    status = action.get("status") or STATUS_AFTER.get(kind)
    detail = action.get("detail") if isinstance(action.get("detail"), dict) else {}
    new = dict(prev)
    if status is not None:
        new["status"] = str(status)
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
    new["updated_at"] = max(int(prev.get("updated_at") or 0), uint(action.get("ts")) or 0)
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
