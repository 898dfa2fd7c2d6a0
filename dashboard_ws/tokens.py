"""Issued and revoked board tokens, kept in Redis so every board process enforces a revocation at once.

- `paodan:tokens` — hash `jti` → `{"role", "team", "sub", "iat", "exp"}` of issued tokens (never the token
  itself: a listing must not be usable to sign in), for `paodan token list`
- `paodan:revoked` — hash `jti` → expiry (s); a board checks it on every connect
- channel `paodan:revocations` — the revoked `jti`; board processes close open connections using it

The CLI (`paodan token issue|list|revoke`) uses the synchronous client here; the board reads the same
keys with its asyncio client (dashboard_ws.fanout).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis

from dashboard_ws.auth import Claims

TOKENS = "paodan:tokens"
REVOKED = "paodan:revoked"
REVOCATIONS = "paodan:revocations"


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)


def _forget_expired(r: redis.Redis, now: float) -> None:
    """Expired tokens are refused anyway; drop them from both hashes so they stay small."""
    for key in (TOKENS, REVOKED):
        for jti, value in r.hgetall(key).items():
            exp = orjson.loads(value)["exp"] if key == TOKENS else int(value)
            if exp < now:
                r.hdel(key, jti)


def record(url: str, claims: Claims, issued_at: int) -> None:
    r = _client(url)
    try:
        r.hset(TOKENS, claims.jti, orjson.dumps({"role": claims.role, "team": claims.team, "sub": claims.sub,
                                                 "iat": issued_at, "exp": claims.exp}))
    finally:
        r.close()


def revoke(url: str, jti: str, now: float | None = None) -> bool:
    """Revoke a token by its id; False if no such (unexpired) token was ever recorded."""
    r = _client(url)
    try:
        _forget_expired(r, now or time.time())
        info = r.hget(TOKENS, jti)
        if info is None:
            return False
        r.hset(REVOKED, jti, orjson.loads(info)["exp"])
        r.publish(REVOCATIONS, jti)
        return True
    finally:
        r.close()


def listing(url: str, now: float | None = None) -> list[dict[str, Any]]:
    """Unexpired issued tokens, oldest first, each with `jti` and `revoked`."""
    r = _client(url)
    try:
        _forget_expired(r, now or time.time())
        revoked = {j.decode() for j in r.hkeys(REVOKED)}
        rows = [{"jti": jti.decode(), **orjson.loads(v), "revoked": jti.decode() in revoked}
                for jti, v in r.hgetall(TOKENS).items()]
        return sorted(rows, key=lambda row: row["iat"])
    finally:
        r.close()
