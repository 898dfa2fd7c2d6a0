"""Board access tokens: signed, expiring, scoped by role and team.

A token is `v1.<payload>.<signature>`, both parts base64url without padding; the payload is JSON
`{"role", "team", "sub", "exp", "jti", "iat"}` and the signature is HMAC-SHA256 over `v1.<payload>` with
the deployment's secret (config.settings). Verifying checks the signature in constant time, then the expiry.
Revocation (a Redis set of revoked `jti`s) lives in `dashboard_ws.tokens`, because it needs Redis.

Roles (CONTRACT.md §9): `supervisor` sees one team, metadata only; `compliance` sees everything including
message content; `admin` sees everything and manages tokens and silences. `sub` names the person (shown
as the actor of their actions).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

ROLES = ("supervisor", "compliance", "admin")
# Roles that may read chat content (personal data); everyone else gets the metadata-only view.
CONTENT_ROLES = ("compliance", "admin")
DEFAULT_TTL_S = 12 * 3600


class AuthError(ValueError):
    """The token is missing, malformed, forged or expired; str() is safe to show the caller."""


@dataclass(frozen=True)
class Claims:
    role: str
    team: str
    exp: int
    jti: str
    sub: str = ""
    # Every team a WeCom-signed-in manager or branch head supervises (dashboard_ws.roles); `team` is
    # the first of them, so code that knows one team keeps working.
    teams: tuple[str, ...] = ()

    @property
    def all_teams(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(((self.team,) if self.team else ()) + tuple(self.teams)))

    @property
    def actor(self) -> str:
        """Who this is, as recorded on their actions."""
        return self.sub or f"{self.role}:{self.jti[:6]}"

    def can_see(self, alert: dict) -> bool:
        return self.sees_team(alert.get("team"))

    @property
    def sees_all(self) -> bool:
        return self.role in ("compliance", "admin")

    def sees_team(self, team: str | None) -> bool:
        return self.sees_all or (bool(team) and team in self.all_teams)

    @property
    def can_read_content(self) -> bool:
        return self.role in CONTENT_ROLES


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, signing_input: str) -> str:
    return _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def issue(secret: bytes, role: str, team: str = "", ttl_s: int = DEFAULT_TTL_S, now: float | None = None,
          sub: str = "") -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "supervisor" and not team:
        raise ValueError("a supervisor token needs --team (a supervisor sees one team)")
    if ttl_s <= 0:
        raise ValueError("ttl must be positive")
    issued = int(now if now is not None else time.time())
    payload = {"role": role, "team": team, "sub": sub, "iat": issued, "exp": issued + ttl_s,
               "jti": secrets.token_hex(8)}
    signing_input = "v1." + _b64(orjson.dumps(payload))
    return f"{signing_input}.{_sign(secret, signing_input)}"


def verify(secret: bytes, token: str | None, now: float | None = None) -> Claims:
    if not token:
        raise AuthError("missing token")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "v1":
        raise AuthError("malformed token")
    signing_input = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(secret, signing_input), parts[2]):
        raise AuthError("bad token signature")
    try:
        payload = orjson.loads(_unb64(parts[1]))
        claims = Claims(role=payload["role"], team=payload.get("team", ""), exp=int(payload["exp"]),
                        jti=str(payload.get("jti", "")), sub=str(payload.get("sub", "")))
    except (ValueError, KeyError, TypeError):
        raise AuthError("malformed token") from None
    if claims.role not in ROLES:
        raise AuthError("unknown role")
    if claims.exp < (now if now is not None else time.time()):
        raise AuthError("token expired")
    return claims
