"""WeCom sign-in on the real stack, against the WeCom stand-in over HTTP: the OAuth redirect's shape, the
code exchange, a Redis session cookie, roles from the directory in ClickHouse (a manager sees exactly
their teams), one-time states, refusals in words, sign-out closing the websocket everywhere, and the
privileged list changing only with a second admin's approval (audited)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import redis
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dashboard_ws.privileges import PRIVILEGES, SEEDED
from sinks.redis_live import LiveAlerts
from tests.browser.boardkit import make_alert
from tests.integration.wecomkit import Browser, act, audit_rows, first, put_directory, wecom_board
from tests.live import unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ADMIN1, ADMIN2 = unique("adm1_"), unique("adm2_")


@pytest.fixture(scope="module")
def people(stack):
    """A manager of two teams, their reports, a sales member, and another team."""
    ids = {k: unique(k + "_") for k in ("mgr", "s1", "s2", "s3", "other", "omgr")}
    teams = {k: unique(k) for k in ("组A", "组B", "组C")}
    put_directory(stack, {
        ids["mgr"]: {"team": teams["组A"], "branch": "SH-T", "role": "manager", "manager_id": ""},
        ids["s1"]: {"team": teams["组A"], "branch": "SH-T", "role": "sales", "manager_id": ids["mgr"]},
        ids["s2"]: {"team": teams["组B"], "branch": "SH-T", "role": "sales", "manager_id": ids["mgr"]},
        ids["s3"]: {"team": teams["组A"], "branch": "SH-T", "role": "sales", "manager_id": ids["mgr"]},
        ids["omgr"]: {"team": teams["组C"], "branch": "SH-T", "role": "manager", "manager_id": ""},
        ids["other"]: {"team": teams["组C"], "branch": "SH-T", "role": "sales", "manager_id": ids["omgr"]},
    })
    return ids, teams


@pytest.fixture(scope="module")
def board(stack, wecom, tmp_path_factory):
    r = redis.Redis.from_url(stack.redis)
    r.delete(SEEDED, PRIVILEGES)  # this board seeds the privileged list from its configuration
    r.close()
    b = wecom_board(tmp_path_factory.mktemp("signin"), wecom, PAODAN_BOARD_ADMINS=f"{ADMIN1},{ADMIN2}")
    yield b
    b.stop()


@pytest.fixture
async def browser():
    b = Browser()
    yield b
    await b.close()


async def test_root_redirects_to_wecoms_authorize_page_with_a_one_time_state(board, wecom, browser):
    status, _, _, resp = await browser.get(board.url + "/", follow=False)
    assert status == 302
    location = urlparse(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == wecom.url + "/connect/oauth2/authorize"
    assert location.fragment == "wechat_redirect"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query.pop("state")
    assert query == {"appid": wecom.corpid, "redirect_uri": board.url + "/wecom/oauth", "response_type": "code",
                     "scope": "snsapi_base", "agentid": wecom.agentid}
    binding = resp.headers["Set-Cookie"]
    assert "paodan_oauth=" in binding and "HttpOnly" in binding and "SameSite=Lax" in binding


async def test_a_manager_signs_in_and_sees_exactly_their_teams(board, wecom, browser, people, stack):
    ids, teams = people
    wecom.violations.clear()
    live = LiveAlerts(stack.redis)
    mine_a, mine_b = make_alert(teams["组A"], employee=ids["s1"]), make_alert(teams["组B"], employee=ids["s2"])
    theirs = make_alert(teams["组C"], employee=ids["other"])
    for alert in (mine_a, mine_b, theirs):
        await live.upsert(alert)
    await live.close()

    wecom.signed_in_as = ids["mgr"]
    status, final, html, _ = await browser.get(board.url + "/")
    assert status == 200 and final == board.url + "/" and "跑单哨兵" in html
    assert wecom.violations == []
    exchange = wecom.calls("/cgi-bin/auth/getuserinfo")[-1]
    assert exchange[0] == "GET" and set(exchange[2]) == {"access_token", "code"}
    cookie = next(c for c in browser.http.cookie_jar if c.key == "paodan_session")
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/" and int(cookie["max-age"]) > 0

    async with browser.ws(board) as ws:
        hello = await first(ws, "hello")
        assert (hello["role"], hello["actor"]) == ("supervisor", ids["mgr"])
        assert sorted(hello["teams"]) == sorted([teams["组A"], teams["组B"]])
        snapshot = await first(ws, "snapshot")
        seen = {a["alert_id"] for a in snapshot["alerts"]}
        assert {mine_a["alert_id"], mine_b["alert_id"]} <= seen and theirs["alert_id"] not in seen
        assert all(a["team"] in (teams["组A"], teams["组B"]) for a in snapshot["alerts"])
        result = await act(ws, "acknowledge", theirs["alert_id"])
        assert not result["ok"] and result["error"] == "not_found"
        assert (await act(ws, "acknowledge", mine_b["alert_id"]))["ok"]

    [row] = audit_rows(stack, "sign_in", ids["mgr"])
    assert row["actor_role"] == "supervisor" and sorted(row["detail"]["teams"]) == sorted([teams["组A"], teams["组B"]])


async def test_a_replayed_callback_and_a_forged_state_are_refused(board, wecom, browser, people):
    ids, _ = people
    wecom.signed_in_as = ids["mgr"]
    _, _, _, resp = await browser.get(board.url + "/", follow=False)
    status, _, _, resp = await browser.get(resp.headers["Location"], follow=False)  # the stand-in's redirect
    callback = resp.headers["Location"]
    assert (await browser.get(callback, follow=False))[0] == 302
    status, _, text, _ = await browser.get(callback, follow=False)
    assert status == 400 and "已使用" in text and "already used" in text
    status, _, text, _ = await browser.get(board.url + "/wecom/oauth?code=x&state=forged", follow=False)
    assert status == 400 and "invalid, expired" in text

    # A state handed to one browser does not work from another (login CSRF).
    other = Browser()
    try:
        _, _, _, resp = await browser.get(board.url + "/wecom/signin", follow=False)
        _, _, _, resp = await browser.get(resp.headers["Location"], follow=False)
        status, _, text, _ = await other.get(resp.headers["Location"], follow=False)
        assert status == 400 and other.cookie("paodan_session") is None
    finally:
        await other.close()


async def test_sales_staff_and_strangers_are_refused_in_words(board, wecom, browser, people):
    ids, _ = people
    wecom.signed_in_as = ids["s1"]
    status, _, text, _ = await browser.get(board.url + "/")
    assert status == 403 and "没有角色" in text and "no role on the board" in text
    assert browser.cookie("paodan_session") is None
    wecom.signed_in_as = "openid:oABCDEF"
    status, _, text, _ = await browser.get(board.url + "/")
    assert status == 403 and "Only members" in text


async def test_without_a_session_the_websocket_and_api_refuse_and_cross_origin_is_refused(board, wecom, browser,
                                                                                        people):
    with pytest.raises(InvalidStatus) as info:
        async with browser.ws(board):
            pass
    assert info.value.response.status_code == 401
    ids, _ = people
    assert await browser.sign_in(board, wecom, ids["mgr"]) == 200
    with pytest.raises(InvalidStatus) as info:
        async with browser.ws(board, origin="https://evil.example.com"):
            pass
    assert info.value.response.status_code == 403


async def test_signing_out_closes_the_websocket_and_ends_the_session(board, wecom, browser, people):
    ids, _ = people
    wecom.expire_tokens()  # the board's cached token is stale: it must renew on 42001 and go on
    fetched = len(wecom.calls("/cgi-bin/gettoken"))
    assert await browser.sign_in(board, wecom, ids["omgr"]) == 200
    assert len(wecom.calls("/cgi-bin/gettoken")) == fetched + 1 and fetched >= 1
    session = browser.cookie("paodan_session")
    async with browser.ws(board) as ws:
        await first(ws, "hello")
        status, _, text, _ = await browser.get(board.url + "/wecom/signout")
        assert status == 200 and "signed out" in text
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.recv()
        assert info.value.rcvd.code == 4401
    browser.http.cookie_jar.update_cookies({"paodan_session": session})
    with pytest.raises(InvalidStatus):
        async with browser.ws(board):
            pass


async def test_privileges_change_only_with_a_second_admins_approval(board, wecom, people, stack):
    ids, _ = people
    first_admin, second_admin = Browser(), Browser()
    try:
        assert await first_admin.sign_in(board, wecom, ADMIN1) == 200
        assert await second_admin.sign_in(board, wecom, ADMIN2) == 200
        async with first_admin.ws(board) as ws1, second_admin.ws(board) as ws2:
            assert (await first(ws1, "hello"))["role"] == "admin"
            await first(ws2, "hello")
            asked = await act(ws1, "request_privilege", userid=ids["s3"], role="compliance", reason="新任合规专员")
            assert asked["ok"] and asked["privileges"].get(ids["s3"]) is None
            request_id = asked["request"]["request_id"]
            own = await act(ws1, "approve_privilege", request_id=request_id)
            assert not own["ok"] and own["error"] == "forbidden" and "second admin" in own["message"]
            done = await act(ws2, "approve_privilege", request_id=request_id)
            assert done["ok"] and done["privileges"][ids["s3"]] == "compliance"
            again = await act(ws2, "approve_privilege", request_id=request_id)
            assert not again["ok"] and again["error"] == "not_found"
    finally:
        await first_admin.close()
        await second_admin.close()
    [req] = audit_rows(stack, "privilege_request", ADMIN1)
    [ok] = audit_rows(stack, "privilege_approve", ADMIN2)
    assert req["employee_id"] == ok["employee_id"] == ids["s3"] and ok["detail"]["requested_by"] == ADMIN1

    officer = Browser()
    try:
        assert await officer.sign_in(board, wecom, ids["s3"]) == 200
        async with officer.ws(board) as ws:
            hello = await first(ws, "hello")
            assert hello["role"] == "compliance" and hello["content"] is True
            refused = await act(ws, "request_privilege", userid=ids["s1"], role="admin", reason="x")
            assert not refused["ok"] and refused["error"] == "forbidden"
    finally:
        await officer.close()
