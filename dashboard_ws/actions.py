"""Triage actions arriving on a viewer's websocket: check, record in Redis, broadcast, queue for Kafka.

A client sends `{"type": "action", "action": …, "alert_id": …, "detail": {…}, "request_id": …}` and gets
`{"type": "action_result", "request_id", "ok", …}` back; the change itself reaches every viewer allowed
to see it (the actor included) through Redis pub/sub, so all board processes agree.

The payload produced to `paodan.alert_actions` (key: the alert's employee_id) is built by
`action_payload`; `action_id` is unique per action so downstream sinks deduplicate redeliveries.

An admin also lists and revokes board tokens here (`list_tokens`, `revoke_token` with `detail.jti`); the
reply carries `tokens` (ids, roles, teams, users, expiry — never a token itself).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, Callable

from dashboard_ws import tokens
from dashboard_ws.auth import Claims
from dashboard_ws.lifecycle import ActionError, apply, authorize
from sinks.redis_live import Conflict, LiveAlerts

log = logging.getLogger("paodan.board.actions")
SILENCE_TARGETS = ("rule", "employee")
TOKEN_ACTIONS = ("list_tokens", "revoke_token")
MAX_SILENCE_MINUTES = 90 * 24 * 60
CAS_ATTEMPTS = 5


def action_payload(claims: Claims, action: str, alert: dict[str, Any] | None, now_ms: int, *,
                   status: str | None, resolution: str | None, detail: dict[str, Any],
                   employee_id: str = "", team: str | None = None) -> dict[str, Any]:
    """One `paodan.alert_actions` record (docs/board.md)."""
    alert = alert or {}
    return {"action_id": secrets.token_hex(16), "alert_id": alert.get("alert_id", ""),
            "employee_id": alert.get("employee_id", employee_id),
            "team": alert.get("team", "") if team is None else team, "action": action,
            "actor": claims.actor, "actor_role": claims.role, "ts": now_ms, "status": status,
            "resolution": resolution, "detail": detail}


class Actions:
    def __init__(self, live: LiveAlerts, clock: Callable[[], float] = time.time):
        self.live = live
        self.clock = clock
        # action name → async handler(claims, message) → reply fields; raises ActionError.
        self.extra: dict[str, Callable[[Claims, dict[str, Any]], Any]] = {}

    async def perform(self, claims: Claims, message: dict[str, Any]) -> dict[str, Any]:
        """Carry out one action message; the reply for the sender (never raises ActionError)."""
        reply: dict[str, Any] = {"type": "action_result", "request_id": message.get("request_id")}
        try:
            action = message.get("action")
            detail = message.get("detail") or {}
            if not isinstance(action, str) or not isinstance(detail, dict):
                raise ActionError("bad_request", "an action needs `action` (text) and `detail` (object)")
            if action in TOKEN_ACTIONS:
                return {**reply, "ok": True, **await self._tokens(claims, action, detail)}
            if action in self.extra:  # WeCom sign-in's privileges and WeCom actions, when configured
                return {**reply, "ok": True, **await self.extra[action](claims, message)}
            if action == "silence":
                seq = await self._silence(claims, message.get("alert_id"), detail)
            else:
                seq = await self._on_alert(claims, action, str(message.get("alert_id") or ""), detail)
        except ActionError as exc:
            return {**reply, "ok": False, "error": exc.code, "message": str(exc)}
        return {**reply, "ok": True, "seq": seq}

    async def _tokens(self, claims: Claims, action: str, detail: dict[str, Any]) -> dict[str, Any]:
        """Admin only: the issued tokens (ids and scopes, never the tokens), and revoking one by id."""
        if claims.role != "admin":
            raise ActionError("forbidden", "only an admin manages tokens")
        url = self.live.url
        if action == "revoke_token":
            jti = detail.get("jti")
            if not isinstance(jti, str) or not jti:
                raise ActionError("bad_request", "detail.jti (the token id) is required")
            if not await asyncio.to_thread(tokens.revoke, url, jti):
                raise ActionError("not_found", "no such unexpired token")
            log.info("token %s revoked by %s", jti, claims.actor)
        return {"tokens": await asyncio.to_thread(tokens.listing, url)}

    async def _on_alert(self, claims: Claims, action: str, alert_id: str, detail: dict[str, Any]) -> int:
        for _ in range(CAS_ATTEMPTS):
            alert, state, version = await self.live.alert(alert_id) if alert_id else (None, {}, "0")
            authorize(claims, action, alert)
            assert alert is not None
            now = int(self.clock() * 1000)
            new_state, clean = apply(state, action, detail, claims.actor, now)
            payload = action_payload(claims, action, alert, now, status=new_state["status"],
                                     resolution=new_state["resolution"], detail=clean)
            change = {"type": "action", "team": alert.get("team", ""), "alert_id": alert_id,
                      "action": payload, "state": new_state}
            try:
                return await self.live.record_action(
                    alert=alert, expected_version=version, state=new_state, change=change, payload=payload,
                    resolution_before=state.get("resolution"), resolution_after=new_state["resolution"])
            except Conflict:
                continue  # someone acted on it at the same moment: decide again on the new state
        raise ActionError("busy", "the alert is changing too fast; try again")

    async def _silence(self, claims: Claims, alert_id: Any, detail: dict[str, Any]) -> int:
        """Silence a rule or an employee for `detail.minutes` (0 lifts a silence)."""
        alert = None
        if alert_id:
            alert, _, _ = await self.live.alert(str(alert_id))
            if alert is None or not claims.can_see(alert):
                raise ActionError("not_found", "no such alert")
        authorize(claims, "silence", alert)
        target = detail.get("target")
        if target not in SILENCE_TARGETS:
            raise ActionError("bad_request", "detail.target must be rule or employee")
        value = detail.get("value") or (alert or {}).get("rule" if target == "rule" else "employee_id")
        minutes = detail.get("minutes")
        if not isinstance(value, str) or not value:
            raise ActionError("bad_request", "detail.value (the rule or employee id) is required")
        if not isinstance(minutes, (int, float)) or not 0 <= minutes <= MAX_SILENCE_MINUTES:
            raise ActionError("bad_request", f"detail.minutes must be a number from 0 to {MAX_SILENCE_MINUTES}")
        reason = str(detail.get("reason") or "")[:500]
        now = int(self.clock() * 1000)
        # A rule silence concerns every team; an employee silence only the employee's team.
        team = None if target == "rule" else (alert or {}).get("team", "")
        silence = {"target": target, "value": value, "until": now + int(minutes * 60_000), "by": claims.actor,
                   "reason": reason, "team": team, "ts": now}
        clean = {"target": target, "value": value, "minutes": minutes, "until": silence["until"], "reason": reason}
        payload = action_payload(claims, "silence", alert, now, status=None, resolution=None, detail=clean,
                                 employee_id=value if target == "employee" else "", team=team or "")
        change = {"type": "silence", "team": team, "silence": silence, "action": payload}
        return await self.live.record_silence(f"{target}:{value}", silence, change, payload)
