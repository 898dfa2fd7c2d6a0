"""The board opened as WeCom opens it, in a real browser (headless Chromium): the OAuth redirect through the
WeCom stand-in signs a manager in without a token, the page shows exactly their teams, an official
message to the alert's customers goes out from the alert's detail panel after a reason and a
confirmation, and signing out ends the session."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import expect

from tests.browser.boardkit import make_alert
from tests.integration.wecomkit import put_directory, put_hr, wecom_board
from tests.live import unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


ADMINS = (unique("badm1_"), unique("badm2_"))


@pytest.fixture(scope="module")
def wecom_board_process(stack, wecom, tmp_path_factory):
    import redis

    from dashboard_ws.privileges import PRIVILEGES, SEEDED

    r = redis.Redis.from_url(stack.redis)
    r.delete(SEEDED, PRIVILEGES)  # this board seeds the privileged list from its configuration
    r.close()
    b = wecom_board(tmp_path_factory.mktemp("wecom-browser"), wecom, PAODAN_BOARD_ADMINS=",".join(ADMINS))
    yield b
    b.stop()


async def test_a_manager_opens_the_board_from_wecom_and_messages_a_customer(wecom, wecom_board_process, chromium,
                                                                            live, stack):
    board = wecom_board_process
    mgr, sales, outsider = unique("bmgr_"), unique("bsales_"), unique("bout_")
    team, other = unique("浏览组"), unique("别组")
    put_directory(stack, {mgr: {"team": team, "role": "manager"},
                          sales: {"team": team, "role": "sales", "manager_id": mgr},
                          outsider: {"team": other, "role": "sales", "manager_id": unique("m_")}})
    customer = unique("wmBrowser")
    wecom.member(mgr, customer)
    wecom.member(sales, customer)
    mine, theirs = make_alert(team, employee=sales), make_alert(other, employee=outsider)
    await live.upsert(mine)
    await live.upsert(theirs)

    wecom.signed_in_as = mgr
    context = await chromium.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    await page.goto(board.url + "/")  # no token: WeCom's OAuth page (the stand-in) signs the manager in
    await expect(page.locator("#conn")).to_have_class("dot on", timeout=10_000)
    assert page.url == board.url + "/"
    await expect(page.locator("#who")).to_contain_text(mgr)
    await expect(page.locator(f'#alerts tr[data-id="{mine["alert_id"]}"]')).to_have_count(1)
    await expect(page.locator(f'#alerts tr[data-id="{theirs["alert_id"]}"]')).to_have_count(0)
    session = [c for c in await context.cookies() if c["name"] == "paodan_session"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Lax"

    answers = iter(["官方活动：本周下单立减50元", "挽回客户"])
    page.on("dialog", lambda d: d.accept(next(answers, "")) if d.type == "prompt" else d.accept())
    await page.locator(f'#alerts tr[data-id="{mine["alert_id"]}"]').click()
    await page.locator('#d-actions button[data-action="wecomMessage"]').click()
    await expect(page.locator("#d-note")).to_contain_text("企业微信已受理", timeout=15_000)
    _, _, _, body = wecom.calls("/cgi-bin/externalcontact/add_msg_template")[-1]
    assert body["sender"] == mgr and body["external_userid"] == [customer]
    assert body["text"] == {"content": "官方活动：本周下单立减50元"} and wecom.violations == []

    await page.locator("#d-close").click()
    await page.locator("#signout").click()
    await expect(page.locator("body")).to_contain_text("已退出")
    await page.goto(board.url + "/wecom/oauth?code=stale&state=stale")
    await expect(page.locator("body")).to_contain_text("invalid, expired or was already used")
    await context.close()


async def test_a_leavers_customers_are_handed_over_with_one_click(wecom, wecom_board_process, chromium, stack):
    board = wecom_board_process
    mgr, leaver, taker = unique("hbmgr_"), unique("hbleaver_"), unique("hbtaker_")
    team = unique("交接浏览组")
    put_directory(stack, {mgr: {"team": team, "role": "manager"},
                          leaver: {"team": team, "role": "sales", "manager_id": mgr, "status": "resigned"},
                          taker: {"team": team, "role": "sales", "manager_id": mgr}})
    customers = [unique("wmHB"), unique("wmHB")]
    now = int(time.time() * 1000)
    put_hr(stack, [{"type": "resignation", "ts": now, "employee_id": leaver, "last_day": now - 86_400_000}]
           + [{"type": "assignment", "ts": now, "employee_id": leaver, "customer_id": c} for c in customers])
    wecom.member(leaver, *customers, resigned=True)
    wecom.member(taker)

    wecom.signed_in_as = mgr
    context = await chromium.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    page.on("dialog", lambda d: d.accept("离职交接") if d.type == "prompt" else d.accept())
    await page.goto(board.url + "/")
    item = page.locator(f'#handovers li[data-employee="{leaver}"]')
    await expect(item).to_contain_text("2 位客户", timeout=10_000)
    await expect(item).to_contain_text("已逾期 1 天")
    await item.locator('button[data-action="handOver"]').click()
    await expect(item).to_contain_text("已发起 2", timeout=15_000)
    _, _, _, body = wecom.calls("/cgi-bin/externalcontact/resigned/transfer_customer")[-1]
    assert body == {"handover_userid": leaver, "takeover_userid": taker, "external_userid": sorted(customers)}
    await context.close()


async def test_a_privilege_change_is_requested_by_one_admin_and_approved_by_another(wecom, wecom_board_process,
                                                                                  chromium):
    board = wecom_board_process
    newcomer = unique("bcomp_")

    async def admin_page(userid, answers):
        wecom.signed_in_as = userid
        context = await chromium.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        page = await context.new_page()
        replies = iter(answers)
        page.on("dialog", lambda d: d.accept(next(replies, "")))
        await page.goto(board.url + "/")
        await expect(page.locator("#privileges-card")).to_be_visible(timeout=10_000)
        return context, page

    first, page1 = await admin_page(ADMINS[0], [newcomer, "compliance", "新任合规专员"])
    await page1.locator("#privilege-request").click()
    mine = page1.locator("#privilege-requests li", has_text=newcomer)
    await expect(mine).to_be_visible()
    await expect(mine.locator("button")).to_have_count(0)  # nobody approves their own request
    second, page2 = await admin_page(ADMINS[1], [])
    theirs = page2.locator("#privilege-requests li", has_text=newcomer)
    await theirs.locator("button").click()
    await expect(page2.locator("#privileges li", has_text=f"{newcomer} · compliance")).to_be_visible()
    await expect(theirs).to_have_count(0)
    await first.close()
    await second.close()
