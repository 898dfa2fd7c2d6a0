"""`paodan board`: the board page at `/` and the live websocket at `/ws`.

The server keeps no alert state of its own: it reads the newest alerts from Redis for each new client
(a snapshot) and forwards the Redis pub/sub channel to every connected client whose role may see the
alert. Several board processes can therefore run side by side behind a load balancer.

Protocol (server → client, JSON objects with a `type`):
- `{"type": "hello", "role", "team"}` once, after the token was accepted;
- `{"type": "snapshot", "seq", "alerts": […]}` on connect and after the server lost Redis and resynced;
- `{"type": "alert", "seq", "alert": {…CONTRACT §6…}}` for each new or changed alert.
A connection without a valid `?token=` is refused with HTTP 401 before the websocket opens. A client
that cannot keep up (its send queue fills) is disconnected with code 1013 rather than slowing the rest.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import orjson
import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from config.settings import Settings
from dashboard_ws.auth import AuthError, Claims, verify
from sinks.redis_live import CHANNEL, LiveAlerts

log = logging.getLogger("paodan.board")
STATIC = Path(__file__).resolve().parent / "static"
SNAPSHOT_SIZE = 500
CLIENT_QUEUE = 1000


class Client:
    def __init__(self, ws: ServerConnection, claims: Claims):
        self.ws = ws
        self.claims = claims
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(CLIENT_QUEUE)

    def offer(self, message: bytes) -> bool:
        try:
            self.queue.put_nowait(message)
            return True
        except asyncio.QueueFull:
            return False


class Board:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.live = LiveAlerts(settings.redis)
        self.clients: set[Client] = set()

    # --- HTTP side: page, static files, token check before the websocket upgrade ----------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlparse(request.path)
        if url.path == "/ws":
            token = parse_qs(url.query).get("token", [None])[0]
            try:
                connection.claims = verify(self.settings.secret, token)  # type: ignore[attr-defined]
            except AuthError as exc:
                return _text(HTTPStatus.UNAUTHORIZED, f"refused: {exc}\n")
            return None
        if url.path in ("/", "/index.html"):
            return _file(STATIC / "index.html")
        if url.path == "/healthz":
            return _text(HTTPStatus.OK, "ok\n")
        if url.path.startswith("/static/"):
            target = (STATIC / url.path[len("/static/"):]).resolve()
            if target.is_file() and STATIC in target.parents:
                return _file(target)
        return _text(HTTPStatus.NOT_FOUND, "not found\n")

    # --- websocket side -------------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        claims: Claims = ws.claims  # type: ignore[attr-defined]
        client = Client(ws, claims)
        await ws.send(orjson.dumps({"type": "hello", "role": claims.role, "team": claims.team}).decode())
        await self._send_snapshot(client)
        self.clients.add(client)
        sender = asyncio.create_task(self._pump(client))
        try:
            async for _ in ws:  # client → server messages arrive with the triage features
                pass
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            sender.cancel()

    async def _send_snapshot(self, client: Client) -> None:
        seq, alerts = await self.live.latest(SNAPSHOT_SIZE)
        visible = [a for a in alerts if client.claims.can_see(a)]
        await client.ws.send(orjson.dumps({"type": "snapshot", "seq": seq, "alerts": visible}).decode())

    async def _pump(self, client: Client) -> None:
        try:
            while True:
                await client.ws.send((await client.queue.get()).decode())
        except ConnectionClosed:
            pass

    def _fan_out(self, seq: int, alert: dict) -> None:
        message = orjson.dumps({"type": "alert", "seq": seq, "alert": alert})
        for client in list(self.clients):
            if client.claims.can_see(alert) and not client.offer(message):
                log.warning("dropping a slow client (%d messages queued)", CLIENT_QUEUE)
                self.clients.discard(client)
                asyncio.create_task(client.ws.close(1013, "too slow; reconnect to resync"))

    async def follow_redis(self) -> None:
        """Forward the pub/sub channel; after losing Redis, resubscribe and resend snapshots."""
        delay = 0.2
        while True:
            pubsub = aioredis.Redis.from_url(self.settings.redis).pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                delay = 0.2
                for client in list(self.clients):  # anything published while we were away
                    await self._send_snapshot(client)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    body = orjson.loads(message["data"])
                    self._fan_out(int(body["seq"]), body["alert"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis gone: retry with backoff
                log.warning("Redis subscription lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001
                    pass

    async def run(self, host: str, port: int, ready: asyncio.Event | None = None) -> None:
        follower = asyncio.create_task(self.follow_redis())
        async with serve(self.handler, host, port, process_request=self.process_request,
                         ping_interval=20, max_size=2**16) as server:
            sock = next(iter(server.sockets))
            self.port = sock.getsockname()[1]
            if ready is not None:
                ready.set()
            try:
                await asyncio.Future()
            finally:
                follower.cancel()
                await self.live.close()


def _text(status: HTTPStatus, body: str) -> Response:
    headers = Headers([("Content-Type", "text/plain; charset=utf-8")])
    return Response(status.value, status.phrase, headers, body.encode())


def _file(path: Path) -> Response:
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript",):
        ctype += "; charset=utf-8"
    headers = Headers([("Content-Type", ctype), ("Cache-Control", "no-cache"),
                       ("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; "
                                                   "style-src 'self' 'unsafe-inline'"),
                       ("X-Content-Type-Options", "nosniff")])
    return Response(200, "OK", headers, path.read_bytes())


def run(settings: Settings, host: str, port: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"board: http://{host}:{port}/  (websocket ws://{host}:{port}/ws?token=…)", flush=True)
    asyncio.run(Board(settings).run(host, port))
