"""Resignation hand-over on the board: each leaver's customers, a suggested taker, a one-click transfer.

From the archive's `hr_events` (what HR and the CRM send on `hr.events`):
- a `resignation` (its `last_day`) names a leaver;
- `assignment` records say who owns each customer now (the latest one per customer), which gives both
  the leaver's customers and everyone's load;
- the directory (dashboard_ws.directory) gives teams and who is still active;
- `contact_events` say which of them ended the relationship in WeCom (`gone`: deleted either way,
  not by an on-job transfer): they cannot be handed over and are not counted as waiting.
The suggested taker is an active member of the leaver's team, not leaving themselves, doing the same
job (directory `role`) if anyone does, with the fewest customers (ties: userid order). Customers whose transfer was started from here are kept apart as
`started` (`paodan:handover:<leaver>`, written by dashboard_ws.wecom_actions), since the CRM's new
assignment arrives only after WeCom's 24-hour takeover. `overdue_days` counts the days since `last_day`
while customers remain. The transfer itself is `wecom_transfer` (on-job before `last_day`, resigned after).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Mapping

import orjson

from dashboard_ws import directory
from dashboard_ws.audit import Audit
from dashboard_ws.auth import Claims
from dashboard_ws.lifecycle import ActionError

STARTED_PREFIX = "paodan:handover:"
DAY_MS = 86_400_000


def _read(archive) -> dict[str, Any]:
    db = archive.database
    resignations = archive.execute(f"SELECT employee_id, argMax(detail, ts) FROM {db}.hr_events "
                                   "WHERE type = 'resignation' GROUP BY employee_id")
    owners = archive.execute(f"SELECT customer_id, argMax(employee_id, ts) FROM {db}.hr_events "
                             "WHERE type = 'assignment' AND customer_id != '' GROUP BY customer_id")
    leavers = [e for e, _ in resignations]
    # Customers whose relationship with the leaver ended in WeCom (they deleted the leaver, or the leaver
    # deleted them): nothing left to hand over, as detectors/handover.py counts it too.
    gone = archive.execute(f"SELECT employee_id, external_user_id FROM {db}.contact_events "
                           "WHERE employee_id IN %(leavers)s GROUP BY employee_id, external_user_id "
                           "HAVING argMax(change_type, ts) = 'del_follow_user' OR (argMax(change_type, ts) = "
                           "'del_external_contact' AND argMax(source, ts) != 'DELETE_BY_TRANSFER')",
                           {"leavers": tuple(leavers)}) if leavers else []
    ended: dict[str, set[str]] = {}
    for e, c in gone:
        ended.setdefault(e, set()).add(c)
    return {"people": directory.load(archive), "owners": dict(owners), "gone": ended,
            "last_days": {e: int(orjson.loads(d or "{}").get("last_day") or 0) for e, d in resignations}}


def suggest_taker(leaver: str, people: Mapping[str, Mapping[str, Any]], load: Mapping[str, int],
                  leaving: set[str]) -> str | None:
    """The active member of the leaver's team with the fewest customers, not leaving themselves (pure)."""
    team = (people.get(leaver) or {}).get("team")
    candidates = [e for e, p in people.items() if team and p.get("team") == team and e != leaver
                  and e not in leaving and (p.get("status") or "active") != "resigned"]
    # Someone doing the leaver's job (a sales member for a sales member) before, say, the team's manager.
    role = (people.get(leaver) or {}).get("role")
    same_job = [e for e in candidates if role and people[e].get("role") == role]
    return min(same_job or candidates, key=lambda e: (load.get(e, 0), e)) if candidates else None


def handovers(claims: Claims, data: Mapping[str, Any], started: Mapping[str, set[str]], now_ms: int
              ) -> list[dict[str, Any]]:
    """The leavers `claims` may see, with their customers and a suggested taker (pure)."""
    people, owners, last_days = data["people"], data["owners"], data["last_days"]
    load = Counter(owners.values())
    out = []
    for leaver, last_day in sorted(last_days.items(), key=lambda kv: kv[1]):
        entry = people.get(leaver) or {}
        if not claims.sees_team(entry.get("team")) or leaver == claims.sub:
            continue
        gone = data.get("gone", {}).get(leaver, set())
        mine = sorted(c for c, owner in owners.items() if owner == leaver and c not in gone)
        done = started.get(leaver, set())
        remaining = [c for c in mine if c not in done]
        out.append({"employee": leaver, "name": entry.get("name", ""), "team": entry.get("team", ""),
                    "last_day": last_day, "customers": remaining, "started": sorted(set(mine) & done),
                    "gone": sorted(c for c, owner in owners.items() if owner == leaver and c in gone),
                    "suggested": suggest_taker(leaver, people, load, set(last_days)),
                    "overdue_days": (now_ms - last_day) // DAY_MS if remaining and last_day and now_ms > last_day
                    else 0})
    return out


class Handovers:
    def __init__(self, redis, audit: Audit, clock=time.time):
        self.redis = redis
        self.audit = audit
        self.clock = clock

    async def listing(self, claims: Claims) -> list[dict[str, Any]]:
        try:
            data = await self.audit.query(_read)
        except Exception as exc:  # noqa: BLE001
            raise ActionError("unavailable", "暂时无法读取人事记录，请稍后再试 / HR records cannot be read now; "
                              f"try again shortly ({type(exc).__name__})") from None
        started = {leaver: {c.decode() for c in await self.redis.hkeys(STARTED_PREFIX + leaver)}
                   for leaver in data["last_days"]}
        return handovers(claims, data, started, int(self.clock() * 1000))


async def mark_started(redis, leaver: str, customers: list[str], takeover: str, now_ms: int) -> None:
    """Remember customers whose hand-over began here (until the CRM's assignment catches up)."""
    if customers:
        await redis.hset(STARTED_PREFIX + leaver, mapping={c: orjson.dumps({"to": takeover, "ts": now_ms})
                                                           for c in customers})
        await redis.expire(STARTED_PREFIX + leaver, 30 * 86_400)


def handlers(hand: Handovers) -> dict[str, Any]:
    """Board websocket action `list_handovers`: the reply carries `handovers`."""

    async def listing(claims: Claims, msg: dict[str, Any]) -> dict[str, Any]:
        return {"handovers": await hand.listing(claims)}

    return {"list_handovers": listing}
