"""Employee risk scores in Redis, for the board's leaderboard (written from the `paodan.risk` topic).

Keys:
- `paodan:risk` — hash: employee id → the latest risk update as JSON
  (`{"employee_id", "team", "branch", "score", "level", "ts", "contributions": [{"rule", "alert_id",
  "points"}]}`; `ts` is the event time the score was computed at; scores decay, so a board showing an
  old entry may say "as of ts")
- `paodan:risk:rank` — sorted set: employee id scored by risk score (ZREVRANGE for the top N)
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
CHANNEL = "paodan:risk"

# KEYS: hash, rank. ARGV: employee, ts, score, json, channel
_UPSERT = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ts = tonumber(string.match(cur, '"ts":(%d+)'))
  if ts and ts > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
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
                await self._upsert(keys=[HASH, RANK], args=[u["employee_id"], int(u["ts"]), float(u["score"]),
                                                            orjson.dumps(u), CHANNEL], client=pipe)
            for result in await pipe.execute():
                accepted += int(result or 0)
        return accepted

    async def top(self, n: int = 20) -> list[dict[str, Any]]:
        ids = await self.redis.zrevrange(RANK, 0, n - 1)
        if not ids:
            return []
        values = await self.redis.hmget(HASH, ids)
        return [orjson.loads(v) for v in values if v]

    async def close(self) -> None:
        await self.redis.aclose()
