"""Small HTTP helpers shared by the ingest endpoints: a size-capped body read and short refusals."""

from __future__ import annotations

import logging

from aiohttp import web

log = logging.getLogger("paodan.ingest")


class Refused(Exception):
    """A request answered with a 4xx/5xx and a short reason; nothing was produced."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


async def read_body(request: web.Request, cap: int) -> bytes:
    """The request body, refusing (413) anything over `cap` bytes without reading it all."""
    if request.content_length is not None:
        if request.content_length > cap:
            raise Refused(413, f"body larger than {cap} bytes")
        return await request.read()  # aiohttp reads exactly Content-Length bytes
    buf = bytearray()  # chunked: count as it arrives
    async for chunk in request.content.iter_chunked(64 * 1024):
        buf += chunk
        if len(buf) > cap:
            raise Refused(413, f"body larger than {cap} bytes")
    return bytes(buf)


def refusal(request: web.Request, exc: Refused) -> web.Response:
    """Log the refusal (path and peer only: never the query, which carries signatures) and answer it."""
    log.warning("%s %s from %s refused %d: %s", request.method, request.path, request.remote,
                exc.status, exc.reason)
    return web.Response(status=exc.status, text=exc.reason + "\n")
