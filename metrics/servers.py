"""`/metrics` on the board (dashboard_ws/server.py) and on the ingest server (ingest/callback.py), and
on a port of its own for the processes that serve nothing else (`serve`: the worker's detection and
archive processes, the chat-archive loader): each one's own figures beside the pipeline's
(metrics.pipeline). Unauthenticated, as Prometheus scrapes: counts only, no chat content and no
employee ids."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from config.settings import Settings, SettingsError, _int, load
from metrics.exposition import CONTENT_TYPE, Registry
from metrics.pipeline import PipelineMetrics

log = logging.getLogger(__name__)


class ServerMetrics:
    def __init__(self, settings: Settings, server: str):
        self.registry = Registry()
        self.pipeline = PipelineMetrics(settings, self.registry)
        self.server = server
        self.started = time.time()
        self.uptime = self.registry.gauge("paodan_server_start_time_seconds", "When this server started (epoch s)")
        self.uptime.set(self.started, server=server)

    async def render(self) -> bytes:
        await self.pipeline.refresh()
        return self.registry.render()


# --- the board ---------------------------------------------------------------------------------

async def board_response(board: Any):
    """The websockets Response for GET /metrics on `board` (a dashboard_ws.server.Board)."""
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    metrics: ServerMetrics | None = getattr(board, "_metrics", None)
    if metrics is None:
        metrics = board._metrics = ServerMetrics(board.settings, "board")
        metrics.clients = metrics.registry.gauge("paodan_board_websocket_clients", "Boards connected to this server")
    metrics.clients.set(len(board.fanout.viewers))
    body = await metrics.render()
    return Response(200, "OK", Headers([("Content-Type", CONTENT_TYPE)]), body)


# --- the ingest server (aiohttp) ---------------------------------------------------------------

def install(app, settings: Settings | None = None) -> ServerMetrics:
    """Count the ingest server's requests by route and status, time them, and serve GET /metrics."""
    from aiohttp import web

    metrics = ServerMetrics(settings or load(), "ingest")
    requests = metrics.registry.counter("paodan_ingest_requests_total", "Requests by route and HTTP status")
    seconds = metrics.registry.histogram("paodan_ingest_request_seconds", "Time to answer a request, by route")

    @web.middleware
    async def count(request: web.Request, handler):
        began = time.perf_counter()
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "other"
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            if route != "/metrics":
                requests.inc(route=route, status=str(status))
                seconds.observe(time.perf_counter() - began, route=route)

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(body=await metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app.middlewares.append(count)
    app.router.add_get("/metrics", serve)
    return metrics


# --- a port of its own -------------------------------------------------------------------------

def port_from(variable: str, default: int, offset: int = 0, env: dict[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    try:
        return _int(env, variable, default, 1, 65535 - 64) + offset
    except SettingsError as exc:
        raise SystemExit(f"metrics: {exc}") from None


async def serve(settings: Settings, registry: Registry, port: int, what: str) -> None:
    """Serve GET /metrics (`registry` and the pipeline's figures) on PAODAN_METRICS_HOST (default
    127.0.0.1):`port` until cancelled; a port already taken (a second process on the host) is logged."""
    from aiohttp import web

    pipeline = PipelineMetrics(settings, registry)

    async def handle(_request: web.Request) -> web.Response:
        await pipeline.refresh()
        return web.Response(body=registry.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host = os.environ.get("PAODAN_METRICS_HOST", "127.0.0.1")
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        log.warning("%s metrics not served on port %d: %s", what, port, exc)
        await runner.cleanup()
        return
    log.info("%s metrics on http://%s:%d/metrics", what, host, port)
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()
