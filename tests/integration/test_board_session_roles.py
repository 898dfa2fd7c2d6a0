"""A signed-in session's role follows the directory (hr.events in ClickHouse) without a new sign-in: a team
moved away leaves the manager's scope at the next connect or action, a resigned manager's session ends,
and each change is audited. Real Redis and ClickHouse, the board as a process, the WeCom stand-in."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integration.wecomkit import Browser, act, audit_rows, first, put_directory, wecom_board
from tests.live import unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def close_code(ws, timeout: float = 10) -> int | None:
    """The code the board closes the websocket with (None: still open after `timeout`)."""
    async def read():
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
    try:
        return await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        return None


@pytest.fixture(scope="module")
def board(wecom, tmp_path_factory):
    b = wecom_board(tmp_path_factory.mktemp("session-roles"), wecom)
    yield b
    b.stop()


async def test_a_sessions_teams_and_role_follow_the_directory(board, wecom, stack):
    ids = {k: unique(k + "_") for k in ("mgr", "s1", "s2", "omgr")}
    a, b = unique("组A"), unique("组B")
    put_directory(stack, {ids["mgr"]: {"team": a, "branch": "SH-R", "role": "manager", "manager_id": ""},
                          ids["omgr"]: {"team": b, "branch": "SH-R", "role": "manager", "manager_id": ""},
                          ids["s1"]: {"team": a, "branch": "SH-R", "role": "sales", "manager_id": ids["mgr"]},
                          ids["s2"]: {"team": b, "branch": "SH-R", "role": "sales", "manager_id": ids["mgr"]}})
    browser = Browser()
    try:
        assert await browser.sign_in(board, wecom, ids["mgr"]) == 200
        signins = len(wecom.calls("/cgi-bin/auth/getuserinfo"))
        async with browser.ws(board) as ws:
            assert sorted((await first(ws, "hello"))["teams"]) == sorted([a, b])
            time.sleep(0.01)
            # HR moves s2 (team B) to another manager: the open websocket's next action sees it.
            put_directory(stack, {ids["s2"]: {"team": b, "branch": "SH-R", "role": "sales", "manager_id": ids["omgr"]}})
            await ws.send('{"type": "action", "action": "list_handovers", "detail": {}, "request_id": "x"}')
            assert await close_code(ws) == 4409  # reconnect, not sign in again
        async with browser.ws(board) as ws:
            hello = await first(ws, "hello")
            assert hello["teams"] == [a] and hello["role"] == "supervisor"
            assert (await act(ws, "list_handovers"))["ok"]
        assert len(wecom.calls("/cgi-bin/auth/getuserinfo")) == signins  # no new sign-in happened
        [row] = audit_rows(stack, "session_role", "paodan:directory")[-1:]
        assert row["employee_id"] == ids["mgr"] and row["detail"]["now"] == ["supervisor", [a]]

        # The manager resigns: the session ends (an open websocket is closed, a new one refused).
        async with browser.ws(board) as ws:
            await first(ws, "hello")
            time.sleep(0.01)
            put_directory(stack, {ids["mgr"]: {"team": a, "branch": "SH-R", "role": "manager", "manager_id": "",
                                               "status": "resigned"}})
            await ws.send('{"type": "action", "action": "list_handovers", "detail": {}, "request_id": "y"}')
            assert await close_code(ws) == 4401
        with pytest.raises(InvalidStatus) as refused:
            async with browser.ws(board):
                pass
        assert refused.value.response.status_code == 401
    finally:
        await browser.close()
