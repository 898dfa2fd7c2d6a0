"""The privileged list (who is `admin` or `compliance` on the board), changed only with two admins.

Kept in Redis so every board process agrees:
- `paodan:privileges` — hash userid → `admin` | `compliance`, seeded once from PAODAN_BOARD_ADMINS /
  PAODAN_BOARD_COMPLIANCE (config.wecom_app) the first time a board starts (`paodan:privileges:seeded`);
- `paodan:privilege_requests` — hash request id → the pending change.

An admin requests a change (grant a role, or `none` to take it away) with a reason; a *different* admin
approves it, and only then is it applied. Both steps are audited in `alert_actions`
(`privilege_request`, `privilege_approve`) before they take effect. A request expires after a week.
Sessions already open keep their role until they end or are revoked: approving a removal does not
close them by itself (revoke the session from the token list).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from dashboard_ws.audit import Audit
from dashboard_ws.auth import Claims
from dashboard_ws.lifecycle import ActionError
from dashboard_ws.roles import PRIVILEGED_ROLES

PRIVILEGES = "paodan:privileges"
SEEDED = "paodan:privileges:seeded"
REQUESTS = "paodan:privilege_requests"
REQUEST_TTL_MS = 7 * 86_400_000


class Privileges:
    def __init__(self, redis: aioredis.Redis, audit: Audit, clock=time.time):
        self.redis = redis
        self.audit = audit
        self.clock = clock

    async def seed(self, admins: tuple[str, ...], compliance: tuple[str, ...]) -> bool:
        """Write the configured list once (True if this call did); later starts leave Redis as it is."""
        if not (admins or compliance) or not await self.redis.set(SEEDED, int(self.clock()), nx=True):
            return False
        mapping = {u: "compliance" for u in compliance} | {u: "admin" for u in admins}
        await self.redis.hset(PRIVILEGES, mapping=mapping)
        return True

    async def current(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in (await self.redis.hgetall(PRIVILEGES)).items()}

    async def pending(self) -> list[dict[str, Any]]:
        now = int(self.clock() * 1000)
        rows = [orjson.loads(v) for v in (await self.redis.hgetall(REQUESTS)).values()]
        return sorted((r for r in rows if r["ts"] + REQUEST_TTL_MS > now), key=lambda r: r["ts"])

    @staticmethod
    def _admin(claims: Claims) -> None:
        if claims.role != "admin" or not claims.sub:
            raise ActionError("forbidden", "只有已登录的管理员可以更改权限 / only a signed-in admin changes privileges")

    async def request(self, claims: Claims, userid: str, role: str, reason: str) -> dict[str, Any]:
        self._admin(claims)
        if role not in PRIVILEGED_ROLES + ("none",):
            raise ActionError("bad_request", "role 须为 admin、compliance 或 none / role must be admin, compliance or none")
        if not isinstance(userid, str) or not userid.strip() or len(userid) > 64:
            raise ActionError("bad_request", "请填写成员 userid / name the member's userid")
        if not isinstance(reason, str) or not reason.strip():
            raise ActionError("bad_request", "请说明原因 / a reason is required")
        current = (await self.current()).get(userid, "none")
        if current == role:
            raise ActionError("conflict", f"{userid} 已是 {role} / {userid} already has role {role}")
        req = {"request_id": "pr" + secrets.token_hex(6), "userid": userid.strip(), "role": role, "from": current,
               "reason": reason.strip()[:500], "requested_by": claims.sub, "ts": int(self.clock() * 1000)}
        await self.audit.write(action="privilege_request", actor=claims.sub, actor_role=claims.role,
                               employee_id=req["userid"], status="pending", detail=req)
        await self.redis.hset(REQUESTS, req["request_id"], orjson.dumps(req))
        return req

    async def approve(self, claims: Claims, request_id: str) -> dict[str, Any]:
        self._admin(claims)
        raw = await self.redis.hget(REQUESTS, str(request_id))
        req = orjson.loads(raw) if raw else None
        if req is None or req["ts"] + REQUEST_TTL_MS <= self.clock() * 1000:
            raise ActionError("not_found", "没有这个待批准的申请 / no such pending request")
        if req["requested_by"] == claims.sub:
            raise ActionError("forbidden", "须由另一位管理员批准 / a second admin must approve your own request")
        # Claim the request first, so two admins approving at once apply it once.
        if not await self.redis.hdel(REQUESTS, req["request_id"]):
            raise ActionError("conflict", "该申请刚被处理 / the request was just handled")
        try:
            await self.audit.write(action="privilege_approve", actor=claims.sub, actor_role=claims.role,
                                   employee_id=req["userid"], status="approved",
                                   detail={**req, "approved_by": claims.sub})
        except Exception:
            await self.redis.hset(REQUESTS, req["request_id"], raw)  # not audited: not applied
            raise
        if req["role"] == "none":
            await self.redis.hdel(PRIVILEGES, req["userid"])
        else:
            await self.redis.hset(PRIVILEGES, req["userid"], req["role"])
        return {**req, "approved_by": claims.sub}


def handlers(privileges: Privileges) -> dict[str, Any]:
    """Board websocket actions: `list_privileges`, `request_privilege` (detail: userid, role, reason),
    `approve_privilege` (detail: request_id). Admins only; replies carry `privileges` and `requests`."""

    async def listing(claims: Claims) -> dict[str, Any]:
        return {"privileges": await privileges.current(), "requests": await privileges.pending()}

    async def list_(claims: Claims, message: dict[str, Any]) -> dict[str, Any]:
        Privileges._admin(claims)
        return await listing(claims)

    async def request(claims: Claims, message: dict[str, Any]) -> dict[str, Any]:
        d = message.get("detail") or {}
        req = await privileges.request(claims, d.get("userid"), d.get("role"), d.get("reason"))
        return {"request": req, **await listing(claims)}

    async def approve(claims: Claims, message: dict[str, Any]) -> dict[str, Any]:
        done = await privileges.approve(claims, (message.get("detail") or {}).get("request_id"))
        return {"approved": done, **await listing(claims)}

    return {"list_privileges": list_, "request_privilege": request, "approve_privilege": approve}
