"""`/metrics` on the board (dashboard_ws/server.py) and on the ingest server (ingest/callback.py): each
server's own figures beside the pipeline's (metrics.pipeline). Unauthenticated, as Prometheus scrapes:
counts only, no chat content and no employee ids."""

from __future__ import annotations

import time
from typing import Any

from config.settings import Settings, load
from metrics.exposition import CONTENT_TYPE, Registry
from metrics.pipeline import PipelineMetrics


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
