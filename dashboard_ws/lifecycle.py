"""The alert lifecycle: who may do what to an alert, and what the alert's triage state becomes.

Pure: no Redis, no clock (the caller passes `now`), so every rule here is a unit test away.

Statuses: `new` → `acknowledged` → `assigned` → `resolved` (as true_positive, false_positive or benign),
with `escalated` (handed to compliance) possible from any open status and `reopen` taking a resolved
alert back to `acknowledged`. Comments never change the status. Silences are not about one alert; they
live in `dashboard_ws.actions`.

Permissions: a supervisor acts on their own team's alerts only and cannot silence; compliance acts on
every alert; admin acts on every alert and alone may silence rules and employees. Nobody acts on an
alert about themselves.
"""

from __future__ import annotations

from typing import Any

from dashboard_ws.auth import Claims

STATUSES = ("new", "acknowledged", "assigned", "escalated", "resolved")
OPEN = ("new", "acknowledged", "assigned", "escalated")
RESOLUTIONS = ("true_positive", "false_positive", "benign")
ALERT_ACTIONS = ("acknowledge", "assign", "claim", "comment", "resolve", "reopen", "escalate")
MAX_COMMENT = 2000
MAX_COMMENTS = 200
MAX_HISTORY = 100


class ActionError(ValueError):
    """The action is not allowed or not well-formed; str() is shown to the user as is."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def authorize(claims: Claims, action: str, alert: dict[str, Any] | None) -> None:
    """Raise ActionError unless `claims` may perform `action` (on `alert`, if it is about one)."""
    if action == "silence":
        if claims.role != "admin":
            raise ActionError("forbidden", "only an admin may silence a rule or an employee")
        return
    if alert is None or not claims.can_see(alert):
        # Same answer for "no such alert" and "not yours": a supervisor learns nothing about other teams.
        raise ActionError("not_found", "no such alert")
    if claims.sub and alert.get("employee_id") == claims.sub:
        # Triage of one's own alert is never impartial, whatever the role.
        raise ActionError("forbidden", "不能处理关于自己的预警 / you cannot act on an alert about yourself")


def _text(detail: dict[str, Any], key: str, required: bool) -> str:
    value = detail.get(key, "")
    if not isinstance(value, str):
        raise ActionError("bad_request", f"detail.{key} must be text")
    value = value.strip()
    if required and not value:
        raise ActionError("bad_request", f"detail.{key} is required")
    if len(value) > MAX_COMMENT:
        raise ActionError("bad_request", f"detail.{key} is longer than {MAX_COMMENT} characters")
    return value


def initial_state() -> dict[str, Any]:
    return {"status": "new", "assignee": None, "resolution": None, "comments": [], "history": [],
            "updated_at": None, "updated_by": None}


def apply(state: dict[str, Any], action: str, detail: dict[str, Any], actor: str, now_ms: int
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The triage state after `actor` performs `action`, and the cleaned `detail` to record.

    Raises ActionError for an unknown action, a missing field or a transition that makes no sense
    (acknowledging a resolved alert, reopening an open one…).
    """
    if action not in ALERT_ACTIONS:
        raise ActionError("bad_request", f"unknown action {action!r}")
    new = {**initial_state(), **state}
    new["comments"] = list(new["comments"])
    new["history"] = list(new["history"])
    status = new["status"]
    clean: dict[str, Any] = {}
    if action != "comment" and action != "reopen" and status == "resolved":
        raise ActionError("conflict", "the alert is resolved; reopen it first")
    if action == "acknowledge":
        if status != "new":
            raise ActionError("conflict", f"the alert is already {status}")
        new["status"] = "acknowledged"
    elif action in ("assign", "claim"):
        assignee = actor if action == "claim" else _text(detail, "assignee", True)
        clean["assignee"] = assignee
        new["status"], new["assignee"] = "assigned", assignee
    elif action == "comment":
        clean["text"] = _text(detail, "text", True)
        new["comments"] = (new["comments"] + [{"by": actor, "ts": now_ms, "text": clean["text"]}])[-MAX_COMMENTS:]
    elif action == "resolve":
        resolution = detail.get("resolution")
        if resolution not in RESOLUTIONS:
            raise ActionError("bad_request", f"detail.resolution must be one of {', '.join(RESOLUTIONS)}")
        clean["resolution"] = resolution
        note = _text(detail, "note", False)
        if note:
            clean["note"] = note
        new["status"], new["resolution"] = "resolved", resolution
    elif action == "reopen":
        if status != "resolved":
            raise ActionError("conflict", "only a resolved alert can be reopened")
        new["status"], new["resolution"] = "acknowledged", None
    elif action == "escalate":
        if status == "escalated":
            raise ActionError("conflict", "the alert is already escalated")
        reason = _text(detail, "reason", False)
        if reason:
            clean["reason"] = reason
        new["status"] = "escalated"
    new["updated_at"], new["updated_by"] = now_ms, actor
    new["history"] = (new["history"] + [{"action": action, "by": actor, "ts": now_ms}])[-MAX_HISTORY:]
    return new, clean
