"""Test kit for the WeCom sign-in and actions: a board wired to the stand-in, a directory in ClickHouse,
and a browser-like client that follows the OAuth redirects and keeps cookies."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect

from sinks.clickhouse.connection import ClickHouseArchive
from sinks.clickhouse.rows import hr_row
from sinks.clickhouse.schema import HR_EVENTS, migrate
from tests.browser.boardkit import BoardProcess
from tests.wecom_standin import WecomStandIn


@pytest.fixture(scope="module")
def wecom():
    """The WeCom stand-in for a test module (tests/integration/conftest.py and tests/browser/conftest.py
    offer it to theirs)."""
    standin = WecomStandIn().start()
    yield standin
    standin.stop()


def wecom_env(standin: WecomStandIn, **extra: str) -> dict[str, str]:
    return {"PAODAN_WECOM_API": standin.url, "PAODAN_WECOM_OAUTH": standin.url + "/connect/oauth2/authorize",
            "PAODAN_WECOM_CORPID": standin.corpid, "PAODAN_WECOM_AGENTID": standin.agentid,
            "PAODAN_WECOM_SECRET": standin.secret, **extra}


def wecom_board(log_dir: Path, standin: WecomStandIn, name: str = "board-wecom", **extra: str) -> BoardProcess:
    board = BoardProcess(log_dir, name=name)
    board.env.update(wecom_env(standin, PAODAN_BOARD_URL=board.url, **extra))
    return board.start()


def put_hr(settings, records: list[dict]) -> None:
    """HR records in the archive, as the archive consumer writes them from `hr.events`."""
    archive = ClickHouseArchive.from_settings(settings)
    migrate(archive)  # the worker's job in production; this test may run before any worker
    archive.insert(HR_EVENTS, [hr_row(r) for r in records])


def put_directory(settings, people: dict[str, dict]) -> None:
    """`employee` HR records (the directory)."""
    now = int(time.time() * 1000)
    put_hr(settings, [{"type": "employee", "ts": now, "employee_id": eid, "status": "active", **fields}
                      for eid, fields in people.items()])


def audit_rows(settings, action: str, actor: str) -> list[dict]:
    archive = ClickHouseArchive.from_settings(settings)
    rows = archive.execute(f"SELECT actor, actor_role, employee_id, status, detail, alert_id FROM "
                           f"{archive.database}.alert_actions FINAL WHERE action = %(a)s AND actor = %(u)s "
                           "ORDER BY ts", {"a": action, "u": actor})
    return [{"actor": r[0], "actor_role": r[1], "employee_id": r[2], "status": r[3], "detail": orjson.loads(r[4]),
             "alert_id": r[5]} for r in rows]


class Browser:
    """An HTTP client with a cookie jar that follows redirects, like WeCom's in-app browser."""

    def __init__(self):
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self) -> None:
        await self.http.close()

    async def get(self, url: str, follow: bool = True) -> tuple[int, str, str, aiohttp.ClientResponse]:
        async with self.http.get(url, allow_redirects=follow) as resp:
            return resp.status, str(resp.url), await resp.text(), resp

    def cookie(self, name: str) -> str | None:
        for c in self.http.cookie_jar:
            if c.key == name:
                return c.value
        return None

    async def sign_in(self, board: BoardProcess, standin: WecomStandIn, userid: str) -> int:
        standin.signed_in_as = userid
        status, _, _, _ = await self.get(board.url + "/")
        return status

    def ws(self, board: BoardProcess, origin: str | None = None):
        session = self.cookie("paodan_session") or ""
        return connect(board.ws + "?session=1", additional_headers={"Cookie": f"paodan_session={session}"},
                       origin=origin or board.url)


async def first(ws, kind: str, timeout: float = 10) -> dict:
    async def read():
        while True:
            msg = orjson.loads(await ws.recv())
            if msg["type"] == kind:
                return msg
    return await asyncio.wait_for(read(), timeout)


async def act(ws, action: str, alert_id: str | None = None, timeout: float = 15, **detail) -> dict:
    request_id = f"r{time.monotonic_ns()}"
    await ws.send(orjson.dumps({"type": "action", "action": action, "alert_id": alert_id, "detail": detail,
                                "request_id": request_id}).decode())

    async def read():
        while True:
            msg = orjson.loads(await ws.recv())
            if msg["type"] == "action_result" and msg["request_id"] == request_id:
                return msg
    return await asyncio.wait_for(read(), timeout)
