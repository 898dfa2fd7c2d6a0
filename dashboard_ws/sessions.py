"""Board sessions opened by a WeCom sign-in, and the one-time OAuth `state`s, kept in Redis.

Several board processes share them, so a sign-in on one is valid on all and a sign-out or revocation
ends it everywhere at once:
- `paodan:session:<sha256(cookie)>` — `{"sub", "role", "teams", "iat", "exp", "jti"}` with a Redis TTL at
  `exp`; only the hash of the cookie is stored, so reading Redis does not let anyone sign in;
- `paodan:tokens` / `paodan:revoked` / channel `paodan:revocations` (dashboard_ws.tokens) — a session is
  listed and revoked by its `jti` exactly like a CLI token, and open websockets using it are closed;
- `paodan:oauth_state:<state>` — a state handed to WeCom's authorize page, valid 10 minutes and
  consumed on first use (GETDEL), with the hash of the browser's binding cookie so a state cannot be
  replayed from another browser.
A session's role and teams follow the directory (dashboard_ws.signin.SignIn.follow): `update` rewrites
them in place, keeping the jti and the expiry; `revoke` ends a session known only by its claims.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from dashboard_ws.auth import Claims
from dashboard_ws.tokens import REVOCATIONS, REVOKED, TOKENS

SESSION_PREFIX = "paodan:session:"
STATE_PREFIX = "paodan:oauth_state:"
STATE_TTL_S = 600
COOKIE = "paodan_session"
STATE_COOKIE = "paodan_oauth"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Sessions:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    # --- OAuth state ----------------------------------------------------------------------------

    async def new_state(self) -> tuple[str, str]:
        """(state for WeCom, binding value for the browser's cookie)."""
        state, binding = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        await self.redis.set(STATE_PREFIX + state, _digest(binding), ex=STATE_TTL_S)
        return state, binding

    async def take_state(self, state: str, binding: str | None) -> bool:
        """True once for a state this browser was given; False if unknown, used, expired or not theirs."""
        if not state or len(state) > 128:
            return False
        stored = await self.redis.getdel(STATE_PREFIX + state)
        return stored is not None and binding is not None and secrets.compare_digest(stored.decode(),
                                                                                     _digest(binding))

    # --- sessions -------------------------------------------------------------------------------

    async def open(self, sub: str, role: str, teams: tuple[str, ...], ttl_s: int,
                   now: float | None = None) -> tuple[str, Claims]:
        """A new session: (cookie value, its claims)."""
        issued = int(now if now is not None else time.time())
        cookie, jti = secrets.token_urlsafe(32), "s" + secrets.token_hex(8)
        info = {"sub": sub, "role": role, "teams": list(teams), "iat": issued, "exp": issued + ttl_s, "jti": jti}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(SESSION_PREFIX + _digest(cookie), orjson.dumps(info), ex=ttl_s)
            # Listed beside CLI tokens (`paodan token list`, the admin's token card): one place to revoke.
            pipe.hset(TOKENS, jti, orjson.dumps({"role": role, "team": ",".join(teams), "sub": sub,
                                                 "iat": issued, "exp": issued + ttl_s, "kind": "wecom"}))
            await pipe.execute()
        return cookie, self._claims(info)

    @staticmethod
    def _claims(info: dict[str, Any]) -> Claims:
        teams = tuple(info.get("teams") or ())
        return Claims(role=info["role"], team=teams[0] if teams else "", exp=int(info["exp"]), jti=info["jti"],
                      sub=info["sub"], teams=teams)

    async def claims(self, cookie: str | None, now: float | None = None) -> Claims | None:
        """The claims of a live, unrevoked session cookie; None otherwise."""
        if not cookie or len(cookie) > 128:
            return None
        raw = await self.redis.get(SESSION_PREFIX + _digest(cookie))
        if raw is None:
            return None
        claims = self._claims(orjson.loads(raw))
        if claims.exp < (now if now is not None else time.time()) or await self.redis.hexists(REVOKED, claims.jti):
            return None
        return claims

    async def update(self, cookie: str, role: str, teams: tuple[str, ...]) -> Claims | None:
        """The session's role and teams as the directory now says (same jti and expiry); None if it ended."""
        key = SESSION_PREFIX + _digest(cookie)
        raw = await self.redis.get(key)
        if raw is None:
            return None
        info = {**orjson.loads(raw), "role": role, "teams": list(teams)}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, orjson.dumps(info), keepttl=True, xx=True)
            pipe.hset(TOKENS, info["jti"], orjson.dumps({"role": role, "team": ",".join(teams), "sub": info["sub"],
                                                         "iat": info["iat"], "exp": info["exp"], "kind": "wecom"}))
            await pipe.execute()
        return self._claims(info)

    async def revoke(self, claims: Claims) -> None:
        """End a session known by its claims (no cookie at hand): everywhere, open websockets included."""
        await self.redis.hset(REVOKED, claims.jti, claims.exp)
        await self.redis.publish(REVOCATIONS, claims.jti)

    async def close(self, cookie: str) -> None:
        """Sign out: the session ends on every board process, open websockets included."""
        claims = await self.claims(cookie)
        await self.redis.delete(SESSION_PREFIX + _digest(cookie))
        if claims is not None:
            await self.redis.hset(REVOKED, claims.jti, claims.exp)
            await self.redis.publish(REVOCATIONS, claims.jti)
