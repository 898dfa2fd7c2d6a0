"""Live alert state in Redis, and the pub/sub channel that board servers fan out from.

Keys (all under the `paodan:` prefix):
- `paodan:alert:{alert_id}` — hash with `revision` and `json` (the alert as published)
- `paodan:alerts` — sorted set of alert ids scored by event time, newest last
- `paodan:seq` — counter; every change gets the next sequence number
- channel `paodan:alerts` — `{"seq": n, "alert": {…}}` for each change

The write is one Lua script, so a redelivered or older revision of an alert is ignored (`SET NX`
semantics by revision) and never republished: a worker replaying after a crash does not double-count.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

PREFIX = "paodan:"
ALERTS_ZSET = PREFIX + "alerts"
SEQ_KEY = PREFIX + "seq"
CHANNEL = PREFIX + "alerts"
# Live state is for the board; the archive keeps history. Alerts older than this leave Redis.
ALERT_TTL_S = 14 * 24 * 3600
MAX_LIVE_ALERTS = 20_000

_UPSERT = """
local cur = redis.call('HGET', KEYS[1], 'revision')
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'revision', ARGV[2], 'json', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
local n = redis.call('ZCARD', KEYS[2])
if n > tonumber(ARGV[7]) then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - tonumber(ARGV[7]) - 1) end
local seq = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[5], '{"seq":' .. seq .. ',"alert":' .. ARGV[3] .. '}')
return seq
"""


def alert_key(alert_id: str) -> str:
    return f"{PREFIX}alert:{alert_id}"


class LiveAlerts:
    def __init__(self, url: str):
        self.redis = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
        self._upsert = self.redis.register_script(_UPSERT)

    async def upsert(self, alert: dict[str, Any]) -> int:
        """Store and publish an alert; return its sequence number, or 0 if Redis had this revision."""
        body = orjson.dumps(alert)
        return int(await self._upsert(
            keys=[alert_key(alert["alert_id"]), ALERTS_ZSET, SEQ_KEY],
            args=[alert["alert_id"], int(alert.get("revision", 1)), body, int(alert["ts"]), CHANNEL,
                  ALERT_TTL_S, MAX_LIVE_ALERTS]))

    async def upsert_many(self, alerts: list[dict[str, Any]]) -> int:
        published = 0
        for alert in alerts:
            published += 1 if await self.upsert(alert) else 0
        return published

    async def latest(self, limit: int = 500) -> tuple[int, list[dict[str, Any]]]:
        """The newest `limit` alerts (oldest first) and the sequence number they are current as of."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(SEQ_KEY)
            pipe.zrange(ALERTS_ZSET, -limit, -1)
            seq_raw, ids = await pipe.execute()
        if not ids:
            return int(seq_raw or 0), []
        async with self.redis.pipeline(transaction=False) as pipe:
            for aid in ids:
                pipe.hget(alert_key(aid.decode()), "json")
            bodies = await pipe.execute()
        return int(seq_raw or 0), [orjson.loads(b) for b in bodies if b]

    async def close(self) -> None:
        await self.redis.aclose()
