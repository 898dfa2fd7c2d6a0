"""Live alert state in Redis, the change log board servers resume from, and the pub/sub channel they fan out.

Keys (all under the `paodan:` prefix):
- `paodan:alert:{alert_id}` — hash with `revision` and `json` (the alert as published by the worker)
- `paodan:state:{alert_id}` — hash with `version` and `json` (triage state: status, assignee, comments…)
- `paodan:alerts` — sorted set of alert ids scored by event time, newest last
- `paodan:alerts:team:{team}` — the same for one team, so a supervisor's snapshot is their team's newest
  alerts however busy the other teams are
- `paodan:seq` — counter; every change (alert, action, silence) gets the next sequence number
- `paodan:changes` — capped stream of every change, entry id `{seq}-0`: a board that lost its
  subscription, or a browser that reconnects with `?since=seq`, replays from here without gaps
- `paodan:epoch` — random id of this Redis data set; a Redis that lost its data starts a new epoch,
  and sequence numbers from the old one mean nothing (the board sends a fresh snapshot instead)
- `paodan:live:applied:{group}` — hash `{topic}:{partition}` → the next offset of `paodan.alerts` /
  `paodan.risk` this data set holds everything before (streams/live.py): the marker that tells a Redis
  that lost data, or came back from an older snapshot, from one that is current
- `paodan:resync` — JSON `{"since": ms, "partitions": n}` while the live feed re-reads what Redis lost;
  the board shows a banner while it exists
- `paodan:silences` — hash `rule:{rule}` / `employee:{id}` → silence JSON with `until` (ms)
- `paodan:precision` — hash `{rule}|{resolution}` → count of alerts currently resolved that way
- `paodan:action_outbox` — stream of action payloads waiting to be produced to Kafka
  (`paodan.alert_actions`); written in the same Lua call as the state change, so an action is never
  recorded without also being queued for the audit trail
- channel `paodan:alerts` — each change as `{"seq": n, "type": …, …}` (the exact bytes clients receive)

Every write is one Lua script: the change, its sequence number, the change-log entry and the PUBLISH
happen atomically, so publish order is sequence order. A redelivered or older alert revision is ignored
(`SET NX` semantics by revision) and never republished: a worker replaying after a crash does not
double-count. Triage state is written with compare-and-set on its version, so two board processes acting
on one alert at once cannot overwrite each other.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

PREFIX = "paodan:"
ALERTS_ZSET = PREFIX + "alerts"
SEQ_KEY = PREFIX + "seq"
EPOCH_KEY = PREFIX + "epoch"
CHANGES = PREFIX + "changes"
SILENCES = PREFIX + "silences"
PRECISION = PREFIX + "precision"
OUTBOX = PREFIX + "action_outbox"
CHANNEL = PREFIX + "alerts"
RESYNC_KEY = PREFIX + "resync"
# Live state is for the board; the archive keeps history. Alerts older than this leave Redis.
ALERT_TTL_S = 14 * 24 * 3600
MAX_LIVE_ALERTS = 20_000
# How far back a reconnecting board can resume; older gaps get a snapshot instead.
CHANGES_MAXLEN = 50_000
RESOLUTIONS = ("true_positive", "false_positive", "benign")

# Appends the change in ARGV[1] (a JSON object without its seq) to the log and the channel; needs
# KEYS[1] = seq counter, KEYS[2] = change stream. Leaves the new sequence number in `seq`.
_APPEND_CHANGE = """
local seq = redis.call('INCR', KEYS[1])
local msg = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'm', msg)
redis.call('PUBLISH', ARGV[3], msg)
"""

# KEYS: seq, changes, alert hash, alerts zset, the team's alerts zset.
# ARGV: change, maxlen, channel, id, revision, json, ts, ttl, cap
_UPSERT = """
local cur = redis.call('HGET', KEYS[3], 'revision')
if cur and tonumber(cur) >= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[3], 'revision', ARGV[5], 'json', ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[8])
for i = 4, 5 do
  redis.call('ZADD', KEYS[i], ARGV[7], ARGV[4])
  local n = redis.call('ZCARD', KEYS[i])
  if n > tonumber(ARGV[9]) then redis.call('ZREMRANGEBYRANK', KEYS[i], 0, n - tonumber(ARGV[9]) - 1) end
end
""" + _APPEND_CHANGE + "return seq\n"

# KEYS: seq, changes, state hash, precision hash, outbox.
# ARGV: change, maxlen, channel, expected version, state json, ttl, precision field +1, field -1,
#       outbox payload, rule as a JSON string, rule's field prefix.
# The change gets the rule's precision counts spliced in, so every viewer's figures move with it.
# KEYS: the applied hash. ARGV: n, then n × (field, offset, the offset this writer last set there or "").
# Refuses (0) when any mark is not what the writer last set: the data set changed underneath (a Redis
# back empty or from an older snapshot), and moving the mark on would vouch for alerts it lost.
_MARK = """
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local last = ARGV[4 + 3 * i]
  if last ~= '' and redis.call('HGET', KEYS[1], ARGV[2 + 3 * i]) ~= last then return 0 end
end
for i = 0, n - 1 do redis.call('HSET', KEYS[1], ARGV[2 + 3 * i], ARGV[3 + 3 * i]) end
return 1
"""

_ACTION = """
local v = redis.call('HGET', KEYS[3], 'version') or '0'
if v ~= ARGV[4] then return -1 end
redis.call('HSET', KEYS[3], 'version', tonumber(v) + 1, 'json', ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[6])
if ARGV[7] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[7], 1) end
if ARGV[8] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[8], -1) end
local counts = {}
for _, r in ipairs({'true_positive', 'false_positive', 'benign'}) do
  counts[#counts + 1] = '"' .. r .. '":' .. (redis.call('HGET', KEYS[4], ARGV[11] .. r) or '0')
end
ARGV[1] = '{"precision":{"rule":' .. ARGV[10] .. ',' .. table.concat(counts, ',') .. '},' .. string.sub(ARGV[1], 2)
""" + _APPEND_CHANGE + """
redis.call('XADD', KEYS[5], '*', 'p', ARGV[9])
return seq
"""

# KEYS: seq, changes, silences, outbox. ARGV: change, maxlen, channel, field, silence json, payload
_SILENCE = """
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
""" + _APPEND_CHANGE + """
redis.call('XADD', KEYS[4], '*', 'p', ARGV[6])
return seq
"""


def team_key(team: str) -> str:
    return f"{ALERTS_ZSET}:team:{team}"


def alert_key(alert_id: str) -> str:
    return f"{PREFIX}alert:{alert_id}"


def state_key(alert_id: str) -> str:
    return f"{PREFIX}state:{alert_id}"


def precision_field(rule: str, resolution: str) -> str:
    return f"{rule}|{resolution}"


class Conflict(Exception):
    """Someone changed the alert's triage state between our read and our write: read again and retry."""


def connect(url: str, socket_timeout: float = 5, max_connections: int = 32) -> aioredis.Redis:
    """An asyncio Redis client with a bounded pool (a reconnect storm of a thousand viewers queues for
    32 connections instead of opening a thousand) that retries a command on a fresh connection when a
    pooled one turns out dead (after a Redis restart every pooled connection fails once)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=10, socket_timeout=socket_timeout,
        socket_connect_timeout=3, retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError])
    return aioredis.Redis(connection_pool=pool)


class LiveAlerts:
    def __init__(self, url: str, *, socket_timeout: float = 5):
        self.url = url
        self.redis = connect(url, socket_timeout)
        self._upsert = self.redis.register_script(_UPSERT)
        self._action = self.redis.register_script(_ACTION)
        self._mark = self.redis.register_script(_MARK)
        self._silence = self.redis.register_script(_SILENCE)

    # --- the worker's side ----------------------------------------------------------------------

    async def upsert(self, alert: dict[str, Any]) -> int:
        """Store and publish an alert; return its sequence number, or 0 if Redis had this revision."""
        body = orjson.dumps(alert)
        change = b'{"type":"alert","alert":' + body + b"}"
        return int(await self._upsert(
            keys=[SEQ_KEY, CHANGES, alert_key(alert["alert_id"]), ALERTS_ZSET, team_key(alert.get("team") or "")],
            args=[change, CHANGES_MAXLEN, CHANNEL, alert["alert_id"], int(alert.get("revision", 1)), body,
                  int(alert["ts"]), ALERT_TTL_S, MAX_LIVE_ALERTS]))

    async def upsert_many(self, alerts: list[dict[str, Any]]) -> int:
        published = 0
        for alert in alerts:
            published += 1 if await self.upsert(alert) else 0
        return published

    async def applied(self, group: str) -> dict[str, int]:
        """The offsets this data set holds everything before (`mark_applied`), by `topic:partition`."""
        held = await self.redis.hgetall(f"{PREFIX}live:applied:{group}")
        return {k.decode(): int(v) for k, v in held.items()}

    async def mark_applied(self, group: str, offsets: dict[str, int], last: dict[str, int] | None = None) -> bool:
        """Written after the batch's upserts: the marker never runs ahead of the data it vouches for.
        With `last` (what this writer set before), False and nothing written when a mark is not that
        any more: Redis lost data since (the caller re-reads what it wrote)."""
        if not offsets:
            return True
        last = last or {}
        args: list = [len(offsets)]
        for field, offset in offsets.items():
            args += [field, offset, last.get(field, "")]
        return bool(await self._mark(keys=[f"{PREFIX}live:applied:{group}"], args=args))

    async def set_resync(self, info: dict[str, Any] | None) -> None:
        if info is None:
            await self.redis.delete(RESYNC_KEY)
        else:
            await self.redis.set(RESYNC_KEY, orjson.dumps(info))

    async def resync(self) -> dict[str, Any] | None:
        raw = await self.redis.get(RESYNC_KEY)
        return orjson.loads(raw) if raw else None

    # --- the board's read side ------------------------------------------------------------------

    async def epoch(self) -> str:
        """This data set's epoch, created on first use (a Redis that lost its data gets a new one)."""
        await self.redis.set(EPOCH_KEY, secrets.token_hex(6), nx=True)
        return (await self.redis.get(EPOCH_KEY) or b"").decode()

    async def latest(self, limit: int = 500, team: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        """The newest `limit` alerts (oldest first) — of one `team`, or of all — each with its triage
        `state`, and the sequence number they are current as of."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(SEQ_KEY)
            pipe.zrange(ALERTS_ZSET if team is None else team_key(team), -limit, -1)
            seq_raw, ids = await pipe.execute()
            if ids:
                for aid in ids:
                    pipe.hget(alert_key(aid.decode()), "json")
                    pipe.hget(state_key(aid.decode()), "json")
                bodies = await pipe.execute()
            else:
                bodies = []
        alerts = []
        for body, state in zip(bodies[::2], bodies[1::2]):
            if body:
                alert = orjson.loads(body)
                if state:
                    alert["state"] = orjson.loads(state)
                alerts.append(alert)
        return int(seq_raw or 0), alerts

    async def alert(self, alert_id: str) -> tuple[dict[str, Any] | None, dict[str, Any], str]:
        """One alert, its triage state (empty if never touched) and the state's version."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(alert_key(alert_id), "json")
            pipe.hmget(state_key(alert_id), ["version", "json"])
            body, (version, state) = await pipe.execute()
        return (orjson.loads(body) if body else None, orjson.loads(state) if state else {},
                (version or b"0").decode())

    async def changes_since(self, seq: int) -> list[bytes] | None:
        """Every change after `seq`, oldest first, or None when the log no longer reaches back that far
        (trimmed, or `seq` is from before Redis lost its data): the caller needs a snapshot then."""
        current = int(await self.redis.get(SEQ_KEY) or 0)
        if seq > current:
            return None
        if seq == current:
            return []
        entries = await self.redis.xrange(CHANGES, min=f"{seq + 1}-0", max="+")
        if not entries or int(entries[0][0].split(b"-")[0]) != seq + 1:
            return None
        return [fields[b"m"] for _, fields in entries]

    async def silences(self, now_ms: int) -> list[dict[str, Any]]:
        """Silences still in force."""
        raw = await self.redis.hgetall(SILENCES)
        found = [orjson.loads(v) for v in raw.values()]
        return sorted((s for s in found if s.get("until", 0) > now_ms), key=lambda s: s["until"])

    async def precision(self) -> dict[str, dict[str, int]]:
        """Per rule, how many alerts are currently resolved as each resolution."""
        out: dict[str, dict[str, int]] = {}
        for field, count in (await self.redis.hgetall(PRECISION)).items():
            rule, _, resolution = field.decode().rpartition("|")
            out.setdefault(rule, dict.fromkeys(RESOLUTIONS, 0))[resolution] = int(count)
        return out

    # --- the board's write side -----------------------------------------------------------------

    async def record_action(self, *, alert: dict[str, Any], expected_version: str, state: dict[str, Any],
                            change: dict[str, Any], payload: dict[str, Any], resolution_before: str | None,
                            resolution_after: str | None) -> int:
        """Commit a triage action: new state (compare-and-set), precision counts, change log, publish,
        and the Kafka outbox, atomically. Raises Conflict if the state moved since it was read."""
        rule = alert["rule"]
        plus = precision_field(rule, resolution_after) if resolution_after != resolution_before and resolution_after else ""
        minus = precision_field(rule, resolution_before) if resolution_after != resolution_before and resolution_before else ""
        seq = int(await self._action(
            keys=[SEQ_KEY, CHANGES, state_key(alert["alert_id"]), PRECISION, OUTBOX],
            args=[orjson.dumps(change), CHANGES_MAXLEN, CHANNEL, expected_version, orjson.dumps(state),
                  ALERT_TTL_S, plus, minus, orjson.dumps(payload), orjson.dumps(rule), f"{rule}|"]))
        if seq < 0:
            raise Conflict(alert["alert_id"])
        return seq

    async def record_silence(self, field: str, silence: dict[str, Any], change: dict[str, Any],
                             payload: dict[str, Any]) -> int:
        return int(await self._silence(
            keys=[SEQ_KEY, CHANGES, SILENCES, OUTBOX],
            args=[orjson.dumps(change), CHANGES_MAXLEN, CHANNEL, field, orjson.dumps(silence),
                  orjson.dumps(payload)]))

    async def close(self) -> None:
        await self.redis.aclose()
