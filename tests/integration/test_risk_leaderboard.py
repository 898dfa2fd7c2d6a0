"""The risk leaderboard in Redis (sinks/redis_risk.py), as the board reads it: the company's riskiest
for compliance, and for a supervisor the riskiest of their own team — however far down the company's
ranking the team stands."""

from __future__ import annotations

import time

import pytest

from dashboard_ws.auth import Claims
from dashboard_ws.fanout import RISK_TOP, Fanout
from sinks.redis_live import LiveAlerts
from sinks.redis_risk import HASH, RANK, LiveRisk, team_rank
from tests.live import unique

pytestmark = pytest.mark.integration


async def forget(risk: LiveRisk, teams: tuple[str, ...]) -> None:
    """Remove what a test stored: its teams' employees, from the company's ranking too."""
    for team in teams:
        employees = await risk.redis.zrange(team_rank(team), 0, -1)
        if employees:
            await risk.redis.hdel(HASH, *employees)
            await risk.redis.zrem(RANK, *employees)
        await risk.redis.delete(team_rank(team))


def update(employee: str, team: str, score: float, ts: int) -> dict:
    return {"employee_id": employee, "team": team, "branch": "SH-01", "score": score, "level": "high", "ts": ts,
            "contributions": []}


async def test_a_supervisor_sees_their_team_however_low_it_ranks(settings):
    risk, live = LiveRisk(settings.redis), LiveAlerts(settings.redis)
    quiet, loud = unique("安静组"), unique("吵闹组")
    now = int(time.time() * 1000)
    mine = [unique("quiet_") for _ in range(3)]
    try:
        # Twelve times a leaderboard of riskier people elsewhere, above anyone stored already: the quiet
        # team is nowhere near the top.
        top = await risk.redis.zrevrange(RANK, 0, 0, withscores=True)
        base = (top[0][1] if top else 0.0) + 1.0
        await risk.upsert_many([update(unique("loud_"), loud, base + i, now) for i in range(12 * RISK_TOP)])
        await risk.upsert_many([update(e, quiet, 5.0 + i, now) for i, e in enumerate(mine)])
        fanout = Fanout(live, settings.redis)
        supervisor = Claims("supervisor", quiet, exp=now // 1000 + 60, jti=unique("j"))
        seen = await fanout.risk_for(supervisor)
        assert [r["employee_id"] for r in seen] == mine[::-1]  # riskiest first
        assert [r["employee_id"] for r in await risk.top(2, team=quiet)] == [mine[2], mine[1]]
        officer = Claims("compliance", "", exp=now // 1000 + 60, jti=unique("j"))
        assert all(r["team"] == loud for r in await fanout.risk_for(officer))
        assert len(await fanout.risk_for(officer)) == RISK_TOP
    finally:
        await forget(risk, (quiet, loud))
        await risk.close()
        await live.close()


async def test_an_employee_who_moves_team_leaves_the_old_teams_board(settings):
    risk = LiveRisk(settings.redis)
    old, new, employee = unique("旧组"), unique("新组"), unique("mover_")
    now = int(time.time() * 1000)
    try:
        await risk.upsert_many([update(employee, old, 40.0, now)])
        assert [r["employee_id"] for r in await risk.top(5, team=old)] == [employee]
        await risk.upsert_many([update(employee, new, 45.0, now + 1000)])
        assert await risk.top(5, team=old) == []
        assert [r["score"] for r in await risk.top(5, team=new)] == [45.0]
        # An older update (a worker replaying after a crash) moves nothing back.
        assert await risk.upsert_many([update(employee, old, 99.0, now)]) == 0
        assert await risk.top(5, team=old) == []
        # Nor does an entry without a team (JSON null) linger in the no-team ranking once it has one.
        await risk.upsert_many([{**update(employee, new, 50.0, now + 2000), "team": None}])
        assert await risk.redis.zscore(team_rank(""), employee) == 50.0
        await risk.upsert_many([update(employee, new, 55.0, now + 3000)])
        assert await risk.redis.zscore(team_rank(""), employee) is None
    finally:
        await forget(risk, (old, new))
        await risk.redis.hdel(HASH, employee)
        await risk.redis.zrem(RANK, employee)
        await risk.redis.zrem(team_rank(""), employee)
        await risk.close()
