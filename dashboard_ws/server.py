"""`paodan board`: the board page at `/`, the evidence API under `/api/`, and the live websocket at `/ws`.

The server keeps no alert state of its own: alerts, triage state, silences and the change log live in
Redis (sinks.redis_live), so several board processes can run side by side behind a load balancer and
agree on everything. This module only wires the parts together:
- dashboard_ws.auth / tokens — who is asking (signed, expiring, revocable tokens)
- dashboard_ws.signin / sessions / roles / privileges — WeCom sign-in (when configured): a session cookie
  that `/ws` and `/api/` accept like a token, with the role decided from the directory
- dashboard_ws.fanout — snapshot, resume and live delivery, scoped by role and team
- dashboard_ws.actions — triage actions from viewers
- dashboard_ws.relay — actions to Kafka `paodan.alert_actions`
- dashboard_ws.api — evidence and timelines (HTTP GET, metadata-only for supervisors, views audited)

Protocol (server → client, JSON objects with a `type`; see docs/board.md):
- `hello` once after the token was accepted: `role`, `team`, `actor`, `content` (may read messages);
- `snapshot` (`seq`, `epoch`, `alerts` with their `state`, `silences`, `precision`) or `resume` (`seq`)
  followed by the changes missed since then;
- changes, each with `seq`: `alert`, `action` (with the new `state` and the rule's `precision`), `silence`;
- `action_result` answering the client's own `{"type": "action", …}`.
A connection without a valid, unrevoked `?token=` is refused with HTTP 401 before the websocket opens; a
token revoked or expired while connected is closed with code 4401.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import orjson
from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from config.settings import Settings, SettingsError
from config.wecom_app import WecomApp, load_wecom_app
from dashboard_ws.actions import Actions
from dashboard_ws.api import Api
from dashboard_ws.audit import Audit
from dashboard_ws.auth import AuthError, Claims, verify
from dashboard_ws.evidence import BoardEvidence
from dashboard_ws.evidence import handlers as evidence_handlers
from dashboard_ws.fanout import Fanout, Viewer
from dashboard_ws.relay import ActionRelay
from dashboard_ws.signin import ROLE_CHANGED_CLOSE, is_session
from sinks.redis_live import LiveAlerts

log = logging.getLogger("paodan.board")
STATIC = Path(__file__).resolve().parent / "static"
CSP = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "frame-ancestors 'self'")


class Board:
    def __init__(self, settings: Settings, *, relay: bool = True, wecom: WecomApp | None = None):
        self.settings = settings
        self.live = LiveAlerts(settings.redis)
        self.wecom_app = wecom if wecom is not None else load_wecom_app()
        self.fanout = Fanout(self.live, settings.redis)
        self.actions = Actions(self.live)
        self.audit = Audit(settings)
        self.signin = self._signin() if self.wecom_app.api_enabled else None
        case_files = BoardEvidence(self.audit, settings.kafka)
        self.actions.extra.update(evidence_handlers(case_files))
        self.api = Api(settings, self.live, case_files)
        self.relay = ActionRelay(settings, self.live) if relay else None
        self.port = 0

    def _signin(self):
        """WeCom sign-in, sessions and the privileged list (dashboard_ws.signin), when the app is configured."""
        from dashboard_ws.privileges import Privileges
        from dashboard_ws.sessions import Sessions
        from dashboard_ws.signin import SignIn
        from ingest.wecom_api import WecomApi

        self.wecom_app.require_board_url()
        audit = self.audit
        self.privileges = Privileges(self.live.redis, audit)
        self.wecom_api = WecomApi(self.wecom_app)
        from dashboard_ws.privileges import handlers

        from dashboard_ws import handover, intercepts, transfers, wecom_actions

        self.actions.extra.update(handlers(self.privileges))
        acting = wecom_actions.WecomActions(self.live, self.wecom_api, audit, board_url=self.wecom_app.board_url)
        self.intercepts = intercepts.Intercepts(acting, intercepts.default_words(self.settings))
        self.transfers = transfers.TransferFollower(acting)
        self.actions.extra.update(wecom_actions.handlers(acting))
        self.actions.extra.update(intercepts.handlers(self.intercepts))
        self.actions.extra.update(handover.handlers(handover.Handovers(self.live.redis, audit)))
        return SignIn(self.wecom_app, Sessions(self.live.redis), self.privileges, audit, self.wecom_api)

    def _same_origin(self, request: Request) -> bool:
        """A cookie-authenticated websocket must come from the board's own page (no cross-site hijack)."""
        origin = request.headers.get("Origin", "")
        allowed = {self.wecom_app.board_url.rstrip("/"), f"http://{request.headers.get('Host', '')}",
                   f"https://{request.headers.get('Host', '')}"}
        return origin in allowed

    # --- HTTP side: page, static files, API, token check before the websocket upgrade ----------

    async def authenticate(self, token: str | None) -> Claims:
        """The token's claims; AuthError if it is bad, expired or revoked (RedisError: cannot tell)."""
        claims = verify(self.settings.secret, token)
        revoked = await self.fanout.is_revoked(claims.jti)
        if revoked:
            raise AuthError("token revoked")
        return claims

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlparse(request.path)
        if url.path == "/ws" or url.path.startswith("/api/"):
            token = parse_qs(url.query).get("token", [None])[0]
            bearer = request.headers.get("Authorization", "")
            if bearer.startswith("Bearer "):
                token = bearer[len("Bearer "):].strip()
            try:
                if token is None and self.signin is not None:
                    claims = await self.signin.session(request)
                    if claims is None:
                        raise AuthError("not signed in (no valid session); open the board from WeCom")
                    if url.path == "/ws" and not self._same_origin(request):
                        return text_response(HTTPStatus.FORBIDDEN, "refused: cross-origin websocket\n")
                else:
                    claims = await self.authenticate(token)
            except AuthError as exc:
                return text_response(HTTPStatus.UNAUTHORIZED, f"refused: {exc}\n")
            except RedisError as exc:
                log.warning("cannot check a token's revocation (%s: %s)", type(exc).__name__, exc)
                return text_response(HTTPStatus.SERVICE_UNAVAILABLE, "cannot check the token now; retry shortly\n")
            if url.path == "/ws":
                connection.claims = claims  # type: ignore[attr-defined]
                return None
            return await self.api.handle(claims, url.path, parse_qs(url.query))
        if url.path in ("/", "/index.html"):
            if self.signin is not None and "token" not in parse_qs(url.query) \
                    and await self.signin.session(request) is None:
                return await self.signin.start()
            return _file(STATIC / "index.html")
        if self.signin is not None and url.path.startswith("/wecom/"):
            if url.path == "/wecom/signin":
                return await self.signin.start()
            if url.path == "/wecom/oauth":
                return await self.signin.callback(request, url.query)
            if url.path == "/wecom/signout":
                return await self.signin.signout(request)
        if url.path == "/healthz":
            return text_response(HTTPStatus.OK, "ok\n")
        if url.path == "/metrics":  # Prometheus (docs/metrics.md): counts only, no content
            from metrics.servers import board_response

            return await board_response(self)
        if url.path.startswith("/static/"):
            target = (STATIC / url.path[len("/static/"):]).resolve()
            if target.is_file() and STATIC in target.parents:
                return _file(target)
        return text_response(HTTPStatus.NOT_FOUND, "not found\n")

    # --- websocket side -------------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        claims: Claims = ws.claims  # type: ignore[attr-defined]
        query = parse_qs(urlparse(ws.request.path).query) if ws.request else {}
        since = query.get("since", [""])[0]
        await ws.send(orjson.dumps({"type": "hello", "role": claims.role, "team": claims.team,
                                    "actor": claims.actor, "content": claims.can_read_content,
                                    "teams": list(claims.all_teams), "wecom": self.signin is not None,
                                    "exp": claims.exp}).decode())
        viewer = Viewer(ws, claims)
        try:
            await self.fanout.attach(viewer, int(since) if since.isdigit() else None,
                                     query.get("epoch", [None])[0])
            async for raw in ws:
                await self._on_message(ws, claims, raw)
        except ConnectionClosed:
            pass
        except (RedisError, asyncio.TimeoutError) as exc:
            log.warning("closing a viewer: Redis unavailable (%s)", exc)
            await ws.close(1011, "live state unavailable; reconnecting")
        finally:
            self.fanout.detach(viewer)

    async def _on_message(self, ws: ServerConnection, claims: Claims, raw: str | bytes) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await ws.send(orjson.dumps({"type": "error", "message": "not JSON"}).decode())
            return
        if not isinstance(message, dict) or message.get("type") != "action":
            await ws.send(orjson.dumps({"type": "error", "message": "expected {\"type\": \"action\", …}"}).decode())
            return
        if await self.fanout.is_revoked(claims.jti):
            await ws.close(4401, "token revoked")
            return
        if self.signin is not None and is_session(claims):  # act only with the role the directory gives now
            fresh = await self.signin.follow(claims)
            if fresh != claims:
                await ws.close(4401 if fresh is None else ROLE_CHANGED_CLOSE, "role changed")
                return
        await ws.send(orjson.dumps(await self.actions.perform(claims, message)).decode())

    async def run(self, host: str, port: int, ready: asyncio.Event | None = None) -> None:
        if self.signin is not None:
            await self.privileges.seed(self.wecom_app.admins, self.wecom_app.compliance)
        tasks = [asyncio.create_task(self.intercepts.sweep_forever(
            level=self.wecom_app.auto_intercept_level, days=self.wecom_app.auto_intercept_days))] \
            if self.signin is not None else []
        if self.signin is not None:
            tasks.append(asyncio.create_task(self.signin.follow_open(self.fanout.viewers)))
            tasks.append(asyncio.create_task(self.transfers.follow_forever(self.wecom_app.transfer_follow_s)))
        tasks += [asyncio.create_task(self.fanout.follow()), asyncio.create_task(self.fanout.enforce_expiry()),
                 asyncio.create_task(self.fanout.watch_resync())]
        if self.relay is not None:
            tasks.append(asyncio.create_task(self.relay.run()))
        # No per-message compression: deflating every change once per viewer costs more CPU than the
        # bandwidth it saves on a LAN (bench/bench_fanout.py). A deep accept backlog: after a network
        # blip every viewer reconnects at once, and asyncio's default of 100 drops the rest's SYNs.
        async with serve(self.handler, host, port, process_request=self.process_request, compression=None,
                         ping_interval=20, max_size=2**16, backlog=2048) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            if ready is not None:
                ready.set()
            try:
                await asyncio.Future()
            finally:
                for task in tasks:
                    task.cancel()
                await self.live.close()


def text_response(status: HTTPStatus, body: str) -> Response:
    headers = Headers([("Content-Type", "text/plain; charset=utf-8")])
    return Response(status.value, status.phrase, headers, body.encode())


def _file(path: Path) -> Response:
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript",):
        ctype += "; charset=utf-8"
    headers = Headers([("Content-Type", ctype), ("Cache-Control", "no-cache"),
                       ("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                       ("Referrer-Policy", "no-referrer")])
    return Response(200, "OK", headers, path.read_bytes())


def run(settings: Settings, host: str, port: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        board = Board(settings)
    except SettingsError as exc:  # e.g. a WeCom app without PAODAN_BOARD_URL
        raise SystemExit(f"paodan board: bad setting: {exc}") from None
    print(f"board: http://{host}:{port}/  (websocket ws://{host}:{port}/ws?token=…)", flush=True)
    if board.signin is not None:
        print(f"WeCom sign-in: {board.wecom_app.board_url}/ → {board.wecom_app.oauth}", flush=True)
    asyncio.run(board.run(host, port))
