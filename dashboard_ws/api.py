"""The board's HTTP API (GET, token as `Authorization: Bearer …` or `?token=`): evidence and timelines."""

from __future__ import annotations

from http import HTTPStatus

from config.settings import Settings
from sinks.redis_live import LiveAlerts


class Api:
    def __init__(self, settings: Settings, live: LiveAlerts):
        self.settings = settings
        self.live = live

    async def handle(self, claims, path: str, query: dict):
        from dashboard_ws.server import text_response

        return text_response(HTTPStatus.NOT_FOUND, "not found\n")
