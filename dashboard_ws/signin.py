"""WeCom sign-in for the board (a self-built app opened from the WeCom workbench, phone or desktop).

- `/` (and `/wecom/signin`) without a session → 302 to WeCom's OAuth2 authorize page with the corp id as
  `appid`, `redirect_uri` = PAODAN_BOARD_URL + `/wecom/oauth`, `response_type=code`, `scope=snsapi_base`
  (silent: no consent screen), a one-time `state`, the app's `agentid`, and `#wechat_redirect`. The
  state is bound to this browser by a short-lived cookie, so a sign-in link cannot be replayed elsewhere.
- `/wecom/oauth?code=…&state=…` → checks and consumes the state, exchanges the code
  (`/cgi-bin/auth/getuserinfo` with the cached access token), decides the role from the directory and
  the privileged list (dashboard_ws.roles), writes a `sign_in` audit row, opens a session
  (dashboard_ws.sessions) and redirects to `/` with the session cookie: HttpOnly, SameSite=Lax, Secure
  when the board is served over https, expiring with the session.
- `/wecom/signout` → the session ends on every board process and its open websockets close.
- The role follows the directory without a new sign-in: it is decided again at every connect, API call
  and action, and for open websockets every ROLE_CHECK_S; a change is audited (`session_role`), a
  session whose user has no role any more (resigned, no reports) ends.
Refusals are 4xx pages with the reason in zh-CN and English (5xx when WeCom or the archive is away).
`/?token=…` still opens the page for service accounts and tests holding a `paodan token issue` token.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from config.wecom_app import WecomApp
from dashboard_ws import directory, roles
from dashboard_ws.audit import Audit, AuditUnavailable
from dashboard_ws.auth import Claims
from dashboard_ws.privileges import Privileges
from dashboard_ws.sessions import COOKIE, STATE_COOKIE, STATE_TTL_S, Sessions
from ingest.wecom_api import WecomApi, WecomError

log = logging.getLogger("paodan.board.signin")
ROLE_CHECK_S = 60.0        # open sessions' roles are re-decided this often (and at every connect and action)
ROLE_CHANGED_CLOSE = 4409  # websocket close code: the role changed, reconnect (not 4401: no new sign-in)


def is_session(claims: Claims) -> bool:
    """A WeCom sign-in session (its jti starts with `s`), not a CLI token (hex)."""
    return claims.jti.startswith("s")


def authorize_url(app: WecomApp, state: str) -> str:
    """WeCom's OAuth2 authorize URL for a silent (snsapi_base) sign-in to the board."""
    query = urlencode({"appid": app.corpid, "redirect_uri": app.redirect_uri, "response_type": "code",
                       "scope": "snsapi_base", "state": state, "agentid": app.agentid})
    return f"{app.oauth}?{query}#wechat_redirect"


def cookie_header(app: WecomApp, name: str, value: str, max_age: int, path: str = "/") -> str:
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if app.secure_cookies:
        parts.append("Secure")
    return "; ".join(parts)


def cookies(request: Request) -> dict[str, str]:
    jar = SimpleCookie()
    for header in request.headers.get_all("Cookie"):
        try:
            jar.load(header)
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
            continue
    return {k: m.value for k, m in jar.items()}


def page(status: HTTPStatus, zh: str, en: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """A small refusal or notice page, in both languages, linking back to a fresh sign-in."""
    body = (f"<!doctype html><meta charset=utf-8><title>跑单哨兵</title><p>{zh}</p><p lang=en>{en}</p>"
            '<p><a href="/wecom/signin">重新登录 / sign in again</a></p>').encode()
    return Response(status.value, status.phrase, Headers([("Content-Type", "text/html; charset=utf-8"),
                                                          ("Cache-Control", "no-store"), *(headers or [])]), body)


def redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(302, "Found", Headers([("Location", location), ("Cache-Control", "no-store"),
                                           *(headers or [])]), b"")


class SignIn:
    def __init__(self, app: WecomApp, sessions: Sessions, privileges: Privileges, audit: Audit, api: WecomApi):
        self.app = app
        self.sessions = sessions
        self.privileges = privileges
        self.audit = audit
        self.api = api

    async def session(self, request: Request) -> Claims | None:
        """The request's session, with the role the directory gives its user now (None: none, or no role)."""
        cookie = cookies(request).get(COOKIE)
        claims = await self.sessions.claims(cookie)
        if claims is None:
            return None
        fresh = await self.follow(claims)
        if fresh is None:
            return None
        if fresh != claims:
            return await self.sessions.update(cookie, fresh.role, fresh.teams)
        return claims

    async def follow(self, claims: Claims) -> Claims | None:
        """`claims` as the directory and the privileged list decide them now: the same claims when nothing
        changed, new ones (same jti) when the role or teams did, None after ending the session when the
        user has no role any more (resigned, moved out of management). With the directory unreadable the
        session keeps the role it had: it still expires with its session."""
        try:
            people = await self.audit.query(directory.load)
            access = roles.resolve(claims.sub, people, await self.privileges.current())
        except roles.NoAccess as exc:
            log.info("session of %s ended: %s", claims.sub, str(exc).partition(" / ")[2])
            await self.sessions.revoke(claims)
            await self._audit_role(claims, "", (), "no role any more")
            return None
        except Exception as exc:  # noqa: BLE001 - directory unreadable: keep what the session had
            log.warning("session role not re-checked: directory unavailable (%s)", type(exc).__name__)
            return claims
        if access.role == claims.role and tuple(access.teams) == tuple(claims.teams):
            return claims
        log.info("session of %s now %s %s (%s)", claims.sub, access.role, ",".join(access.teams), access.why)
        await self._audit_role(claims, access.role, access.teams, access.why)
        return Claims(role=access.role, team=access.teams[0] if access.teams else "", exp=claims.exp,
                      jti=claims.jti, sub=claims.sub, teams=tuple(access.teams))

    async def _audit_role(self, claims: Claims, role: str, teams: tuple[str, ...], why: str) -> None:
        try:
            await self.audit.write(action="session_role", actor="paodan:directory", actor_role="system",
                                   employee_id=claims.sub, team=claims.team,
                                   detail={"session": claims.jti, "was": [claims.role, list(claims.teams)],
                                           "now": [role, list(teams)], "why": why})
        except AuditUnavailable:
            log.warning("session role change of %s not audited (audit unavailable)", claims.sub)

    async def follow_open(self, viewers, every_s: float = ROLE_CHECK_S) -> None:
        """Forever: re-decide the role of every open session websocket; one that lost its role is closed
        by the revocation, one whose role or teams changed is closed with ROLE_CHANGED_CLOSE, and the page
        reconnects with the new scope (no new sign-in)."""
        while True:
            await asyncio.sleep(every_s)
            for viewer in [v for v in list(viewers) if is_session(v.claims)]:
                try:
                    fresh = await self.follow(viewer.claims)
                except Exception as exc:  # noqa: BLE001 - Redis away: try again next round
                    log.warning("session roles not re-checked (%s)", type(exc).__name__)
                    break
                if fresh is not None and fresh != viewer.claims:
                    await viewer.ws.close(ROLE_CHANGED_CLOSE, "role changed; reconnecting")

    async def start(self) -> Response:
        state, binding = await self.sessions.new_state()
        return redirect(authorize_url(self.app, state),
                        [("Set-Cookie", cookie_header(self.app, STATE_COOKIE, binding, STATE_TTL_S, "/wecom/"))])

    async def callback(self, request: Request, query: str) -> Response:
        params = parse_qs(query)
        code, state = params.get("code", [""])[0], params.get("state", [""])[0]
        if not await self.sessions.take_state(state, cookies(request).get(STATE_COOKIE)):
            return page(HTTPStatus.BAD_REQUEST, "登录请求无效、已过期或已使用，请从企业微信重新打开看板。",
                        "The sign-in request is invalid, expired or was already used; open the board from WeCom again.")
        if not code or len(code) > 512:
            return page(HTTPStatus.BAD_REQUEST, "企业微信没有给出登录码（可能已取消授权）。",
                        "WeCom gave no sign-in code (the sign-in may have been cancelled).")
        try:
            who = await self.api.user_from_code(code)
        except WecomError as exc:
            log.warning("sign-in: %s", exc)
            if exc.errcode == 40029:
                return page(HTTPStatus.BAD_REQUEST, "登录码无效或已使用，请从企业微信重新打开看板。",
                            "The sign-in code is invalid or was already used; open the board from WeCom again.")
            return page(HTTPStatus.BAD_GATEWAY, *exc.plain.split(" / ", 1))
        userid = who.get("userid") or who.get("UserId")
        if not userid:
            return page(HTTPStatus.FORBIDDEN, "只有本企业成员可以登录看板。", "Only members of the company can sign in.")
        try:
            people = await self.audit.query(directory.load)
            access = roles.resolve(userid, people, await self.privileges.current())
        except roles.NoAccess as exc:
            zh, _, en = str(exc).partition(" / ")
            log.info("sign-in refused for %s: %s", userid, en)
            return page(HTTPStatus.FORBIDDEN, zh, en)
        except Exception as exc:  # noqa: BLE001 - directory unreadable: cannot decide a role
            log.warning("sign-in: directory unavailable (%s: %s)", type(exc).__name__, exc)
            return page(HTTPStatus.SERVICE_UNAVAILABLE, "暂时无法读取通讯录，请稍后再试。",
                        "The directory cannot be read right now; try again shortly.")
        cookie, claims = await self.sessions.open(userid, access.role, access.teams, self.app.session_ttl_s)
        try:
            await self.audit.write(action="sign_in", actor=userid, actor_role=access.role, employee_id=userid,
                                   team=claims.team, detail={"teams": list(access.teams), "why": access.why,
                                                             "session": claims.jti, "via": "wecom_oauth"})
        except AuditUnavailable:
            await self.sessions.close(cookie)
            return page(HTTPStatus.SERVICE_UNAVAILABLE, "暂时无法记录登录（审计不可用），请稍后再试。",
                        "The sign-in cannot be recorded right now (audit unavailable); try again shortly.")
        log.info("signed in: %s as %s (%s)", userid, access.role, access.why)
        return redirect("/", [("Set-Cookie", cookie_header(self.app, COOKIE, cookie, self.app.session_ttl_s)),
                              ("Set-Cookie", cookie_header(self.app, STATE_COOKIE, "", 0, "/wecom/"))])

    async def signout(self, request: Request) -> Response:
        cookie = cookies(request).get(COOKIE)
        if cookie:
            await self.sessions.close(cookie)
        return page(HTTPStatus.OK, "你已退出看板。", "You have signed out of the board.",
                    [("Set-Cookie", cookie_header(self.app, COOKIE, "", 0))])
