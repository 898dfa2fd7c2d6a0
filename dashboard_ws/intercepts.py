"""Adaptive protection: a high-risk employee's customer chats under a WeCom intercept rule for a set time.

`wecom_intercept` puts the employee under their own rule (`add_intercept_rule`: warn and block —
intercept_type 1 — the company's diversion phrases from its lexicon, or the words given, plus phone
numbers, e-mail addresses and red packets) until `days` from now; asking again for someone already
under a rule extends it without another rule, and asking with other words changes the rule's words
(`update_intercept_rule`; a rule removed in the admin console meanwhile is put in place again). When the time is up, `sweep` deletes the rule
(`del_intercept_rule`; a rule already removed in the admin console is simply forgotten). The board runs
the sweep every minute; `paodan act intercept --sweep` runs it once. With PAODAN_INTERCEPT_AUTO_LEVEL set
(config.wecom_app), the same round puts everyone whose risk level (`paodan:risk`, the rules' own level
lines) has reached it under a rule for PAODAN_INTERCEPT_AUTO_DAYS — adaptive protection. Same guarantees as every WeCom
action (dashboard_ws.wecom_actions): reason, confirmation, permission check, idempotency key, audit rows.

Redis: `paodan:intercepts` — hash employee → `{"rule_id", "until", "since", "by", "reason", "words"}`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any, Mapping

import orjson

from config.lexicon import Lexicon
from dashboard_ws.auth import Claims
from dashboard_ws.lifecycle import ActionError
from dashboard_ws.wecom_actions import WecomActions, _need, idempotency_key, supervises
from detectors.alert import SEVERITY_RANK
from ingest.wecom_api import WecomError
from sinks import redis_risk

log = logging.getLogger("paodan.board.intercepts")
INTERCEPTS = "paodan:intercepts"
MAX_DAYS = 90
MAX_WORDS = 300
DAY_MS = 86_400_000
SWEEPER = Claims(role="admin", team="", exp=0, jti="sweeper", sub="paodan:intercept-sweeper")
PROTECTOR = Claims(role="admin", team="", exp=0, jti="protector", sub="paodan:adaptive-protection")


def lexicon_words(lexicon: Lexicon) -> list[str]:
    """The lexicon's calls to act (`phrase` groups) that fit WeCom's word limits (≤32 characters, ≤300)."""
    words = [t.text for g in lexicon.groups if g.kind == "phrase" for t in g.terms if 0 < len(t.text) <= 32]
    return list(dict.fromkeys(words))[:MAX_WORDS]


def default_words(settings) -> list[str]:
    """The deployment's own lexicon words (its rules file); none if it cannot be read."""
    from config.rules import load_rules

    try:
        return lexicon_words(load_rules(settings.rules_file).lexicon)
    except Exception as exc:  # noqa: BLE001 - semantics (phone, e-mail, red packet) still apply
        log.warning("intercept rules get no lexicon words: %s", exc)
        return []


def rule_name(employee: str) -> str:
    """A rule name of ≤20 characters, one per employee (long userids are hashed, not truncated)."""
    return "跑单哨兵-" + hashlib.sha1(employee.encode()).hexdigest()[:10]


def check_intercept(claims: Claims, people: Mapping[str, Mapping[str, Any]], detail: Mapping[str, Any]
                    ) -> dict[str, Any]:
    """The cleaned request of a `wecom_intercept`, or ActionError (pure)."""
    reason = _need(detail)
    employee, days = detail.get("employee"), detail.get("days")
    if not isinstance(employee, str) or employee not in people:
        raise ActionError("bad_request", f"{employee} 不在通讯录 / {employee} is not in the directory")
    if employee == claims.sub:
        raise ActionError("forbidden", "不能对自己设置拦截 / you cannot put yourself under a rule")
    if people[employee].get("status") == "resigned":
        raise ActionError("bad_request", f"{employee} 已离职 / {employee} has left")
    if not supervises(claims, people, employee):
        raise ActionError("forbidden", f"{employee} 不在你管理的团队 / {employee} is not in a team you supervise")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise ActionError("bad_request", f"天数须为 1–{MAX_DAYS} / days must be 1–{MAX_DAYS}")
    words = detail.get("words") or []
    if not isinstance(words, list) or len(words) > MAX_WORDS or \
            not all(isinstance(w, str) and 0 < len(w) <= 32 for w in words):
        raise ActionError("bad_request", f"敏感词最多 {MAX_WORDS} 个、每个最多 32 字 / at most {MAX_WORDS} words "
                          "of at most 32 characters")
    return {"employee": employee, "days": days, "words": words, "reason": reason}


class Intercepts:
    def __init__(self, actions: WecomActions, default_words: list[str], clock=time.time):
        self.actions = actions
        self.default_words = default_words
        self.clock = clock

    async def active(self) -> dict[str, dict[str, Any]]:
        return {k.decode(): orjson.loads(v) for k, v in (await self.actions.redis.hgetall(INTERCEPTS)).items()}

    async def put(self, claims: Claims, detail: dict[str, Any]) -> dict[str, Any]:
        request = check_intercept(claims, await self.actions._people(), detail)
        employee = request["employee"]
        now = int(self.clock() * 1000)
        until = now + request["days"] * DAY_MS
        key = detail.get("key") or idempotency_key("wecom_intercept", employee, request["days"], sorted(request["words"]),
                                              now // DAY_MS)
        words = request["words"] or self.default_words
        audit_where = {"employee": employee}

        async def run() -> dict[str, Any]:
            current = (await self.active()).get(employee)
            if current is not None and request["words"] and set(words) != set(current.get("words") or ()):
                # Other words for a rule in place: WeCom changes the rule itself (update_intercept_rule).
                answer = await self.actions._call(
                    claims, "wecom_intercept_update", {"employee_id": employee},
                    {**request, "words": words, "from": employee, "rule_id": current["rule_id"]}, key,
                    lambda: self._update(current["rule_id"], words))
                current = None if answer.get("already_gone") else {**current, "words": words}
            if current is not None:
                entry = {**current, "until": max(current["until"], until)}
                await self.actions.audit.write(action="wecom_intercept", actor=claims.actor, actor_role=claims.role,
                                               employee_id=employee, status="extended",
                                               detail={**request, "key": key, "rule_id": current["rule_id"],
                                                       "until": entry["until"]})
            else:
                answer = await self.actions._call(
                    claims, "wecom_intercept", {"employee_id": employee}, {**request, "words": words, "from": employee},
                    key, lambda: self._add(employee, words))
                entry = {"rule_id": answer["rule_id"], "until": until, "since": now, "by": claims.actor,
                         "reason": request["reason"], "words": words}
            await self.actions.redis.hset(INTERCEPTS, employee, orjson.dumps(entry))
            return {**audit_where, **entry, "extended": current is not None}

        return await self.actions._once(key, run)

    async def _add(self, employee: str, words: list[str]) -> dict[str, Any]:
        return {"rule_id": await self.actions.api.add_intercept_rule(rule_name(employee), words, [employee])}

    async def _update(self, rule_id: str, words: list[str]) -> dict[str, Any]:
        try:
            await self.actions.api.update_intercept_rule(rule_id, words=words)
        except WecomError as exc:
            if exc.errcode != 40058:  # removed in the admin console: the caller puts a new rule in place
                raise
            return {"already_gone": True}
        return {"updated": True}

    async def sweep(self) -> list[dict[str, Any]]:
        """End every rule whose time is up; the entries ended."""
        now = int(self.clock() * 1000)
        ended = []
        for employee, entry in (await self.active()).items():
            if entry["until"] > now:
                continue
            try:
                await self.actions._call(SWEEPER, "wecom_intercept_end", {"employee_id": employee},
                                         {"employee": employee, "rule_id": entry["rule_id"], "from": employee},
                                         f"intercept-end:{entry['rule_id']}",
                                         lambda rid=entry["rule_id"]: self._delete(rid))
            except ActionError as exc:
                log.warning("could not end the intercept rule of %s: %s", employee, exc)
                continue
            await self.actions.redis.hdel(INTERCEPTS, employee)
            ended.append({"employee": employee, **entry})
        return ended

    async def _delete(self, rule_id: str) -> dict[str, Any]:
        try:
            await self.actions.api.del_intercept_rule(rule_id)
        except WecomError as exc:
            if exc.errcode != 40058:  # 40058: no such rule (removed in the console): nothing left to end
                raise
            return {"already_gone": True}
        return {"deleted": True}

    async def protect(self, level: str, days: int) -> list[dict[str, Any]]:
        """Adaptive protection: everyone whose current risk level is `level` or above and who is not yet
        under a rule gets one for `days` (actor `paodan:adaptive-protection`, audited like any other)."""
        if not level:
            return []
        active = await self.active()
        put = []
        for raw in (await self.actions.redis.hgetall(redis_risk.HASH)).values():
            risk = orjson.loads(raw)
            employee, current = risk.get("employee_id"), risk.get("level") or "info"
            if not employee or employee in active or SEVERITY_RANK.get(current, 0) < SEVERITY_RANK[level]:
                continue
            detail = {"employee": employee, "days": days, "confirm": True,
                      "reason": f"风险等级 {current}（分值 {risk.get('score', 0):.1f}）达到自动拦截线 {level} / "
                                f"risk level {current} reached the automatic intercept level {level}",
                      "key": f"auto-intercept:{employee}:{int(self.clock()) // 86_400}"}
            try:
                put.append(await self.put(PROTECTOR, detail))
            except ActionError as exc:
                log.warning("adaptive protection of %s not applied: %s", employee, exc)
        return put

    async def sweep_forever(self, every_s: float = 60.0, level: str = "", days: int = 7) -> None:
        while True:
            try:
                for entry in await self.sweep():
                    log.info("intercept rule of %s ended", entry["employee"])
                for entry in await self.protect(level, days):
                    log.info("adaptive protection: %s under rule %s", entry["employee"], entry["rule_id"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis/WeCom/ClickHouse away: try at the next round
                log.warning("intercept sweep failed (%s: %s)", type(exc).__name__, exc)
            await asyncio.sleep(every_s)


def handlers(intercepts: Intercepts) -> dict[str, Any]:
    """Board websocket action `wecom_intercept` (detail: employee, days, words?, reason, confirm, key)."""

    async def put(claims: Claims, msg: dict[str, Any]) -> dict[str, Any]:
        return {"result": await intercepts.put(claims, msg.get("detail") or {})}

    return {"wecom_intercept": put}
