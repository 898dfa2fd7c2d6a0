"""Employee risk scores in Redis, for the board's leaderboard (written from the `paodan.risk` topic).

Keys:
- `paodan:risk` — hash: employee id → the latest risk update as JSON
  (`{"employee_id", "team", "branch", "score", "level", "ts", "contributions": [{"rule", "alert_id",
  "points"}]}`; `ts` is the event time the score was computed at; scores decay, so a board showing an
  old entry may say "as of ts")
- `paodan:risk:rank` — sorted set: employee id scored by risk score (ZREVRANGE for the top N)
- `paodan:risk:rank:team:{team}` — the same, one per team (a supervisor's leaderboard: the riskiest
  of their own team, however low the team stands in the whole company); an employee who moves team
  leaves the old team's set
- channel `paodan:risk` — every accepted update, the same JSON

Each update is one Lua call: an update older (by `ts`) than the stored one is ignored and not
republished, so a worker replaying after a crash never moves a score backwards.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

HASH = "paodan:risk"
RANK = "paodan:risk:rank"
TEAM_RANK = "paodan:risk:rank:team:"
CHANNEL = "paodan:risk"


def team_rank(team: str) -> str:
    return TEAM_RANK + team


# KEYS: hash, rank, the team's rank. ARGV: employee, ts, score, json, channel, team rank prefix
_UPSERT = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local old = cjson.decode(cur)
  if tonumber(old.ts) and tonumber(old.ts) > tonumber(ARGV[2]) then return 0 end
  local team = old.team
  if type(team) ~= 'string' then team = '' end  -- absent or JSON null (cjson.null): no team
  local old_rank = ARGV[6] .. team
  if old_rank ~= KEYS[3] then redis.call('ZREM', old_rank, ARGV[1]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('PUBLISH', ARGV[5], ARGV[4])
return 1
"""


class LiveRisk:
    def __init__(self, url: str, *, socket_timeout: float = 5):
        self.redis = aioredis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=3)
        self._upsert = self.redis.register_script(_UPSERT)

    async def upsert_many(self, updates: list[dict[str, Any]]) -> int:
        """Store and publish each update unless a newer one is stored; returns how many were accepted."""
        accepted = 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for u in updates:
                await self._upsert(keys=[HASH, RANK, team_rank(u.get("team") or "")],
                                   args=[u["employee_id"], int(u["ts"]), float(u["score"]), orjson.dumps(u),
                                         CHANNEL, TEAM_RANK], client=pipe)
            for result in await pipe.execute():
                accepted += int(result or 0)
        return accepted

    async def top(self, n: int = 20, team: str | None = None) -> list[dict[str, Any]]:
        """The `n` highest scores, in the whole company or in one team."""
        ids = await self.redis.zrevrange(RANK if team is None else team_rank(team), 0, n - 1)
        if not ids:
            return []
        values = await self.redis.hmget(HASH, ids)
        return [orjson.loads(v) for v in values if v]

    async def close(self) -> None:
        await self.redis.aclose()
