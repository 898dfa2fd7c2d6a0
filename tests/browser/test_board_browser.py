"""The board in a real browser (headless Chromium): alerts arrive live, triage is shared between viewers,
a supervisor sees their own team only, chat text cannot inject markup, no token means no board, and the
page works on a phone."""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import expect

from dashboard_ws.actions import Actions
from dashboard_ws.auth import issue, verify
from tests.browser.boardkit import make_alert
from tests.integration.test_walking_skeleton import chat_record
from tests.live import Consumer, produce, unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
SCREENSHOT = "/tmp/paodan-board.png"
PHONE_SCREENSHOT = "/tmp/paodan-board-phone.png"


async def open_board(chromium, board, token, viewport=None, frames=None):
    context = await chromium.new_context(viewport=viewport or {"width": 1400, "height": 900}, locale="zh-CN",
                                         timezone_id="Europe/Berlin")
    page = await context.new_page()
    if frames is not None:
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    await page.goto(f"{board.url}/?token={token}")
    await expect(page.locator("#conn")).to_have_class("dot on", timeout=10_000)
    return page


async def open_evidence(page, employee, msgid, timeout):
    """Open the employee's alert and wait for the evidence message `msgid` in the detail panel."""
    hit = page.locator("#alerts tr", has_text=employee)
    await expect(hit).to_have_count(1, timeout=timeout)
    await hit.click()
    evidence = page.locator(f'#d-evidence .msg[data-msgid="{msgid}"]')
    await expect(evidence).to_be_visible(timeout=15_000)
    return evidence


def row(page, alert_id):
    return page.locator(f'#alerts tr[data-id="{alert_id}"]')


async def test_a_new_alert_from_the_worker_appears_live(worker, board, chromium, settings):
    page = await open_board(chromium, board, issue(settings.secret, "compliance", ttl_s=600))
    employee = unique("br_emp_")
    await produce(settings.kafka, [("wecom.msgaudit", employee,
                                    chat_record(employee, "亲，这款你去拼多多下单，比这里便宜"))])
    began = time.monotonic()
    hit = page.locator("#alerts tr", has_text=employee)
    # Generous for a shared 2-core CI machine; on an idle one it is well under a second after the worker.
    await expect(hit).to_have_count(1, timeout=25_000)
    assert time.monotonic() - began < 25
    await expect(hit.locator(".st")).to_have_text("新告警")
    await page.context.close()


async def test_acknowledging_on_one_browser_shows_on_another(board, chromium, live, settings):
    team = unique("组")
    alert = make_alert(team)
    first = await open_board(chromium, board, issue(settings.secret, "supervisor", team, sub="张主管"))
    second = await open_board(chromium, board, issue(settings.secret, "compliance", sub="合规李"))
    await live.upsert(alert)
    await expect(row(first, alert["alert_id"])).to_be_visible(timeout=5_000)
    await expect(row(second, alert["alert_id"])).to_have_attribute("data-status", "new", timeout=5_000)

    await row(first, alert["alert_id"]).click()
    await first.locator('#d-actions button[data-action="acknowledge"]').click()
    await expect(row(second, alert["alert_id"])).to_have_attribute("data-status", "acknowledged", timeout=5_000)
    await expect(row(second, alert["alert_id"]).locator(".st")).to_have_text("已确认")

    # The second viewer resolves it as a true positive: the first sees it, and the precision figures move.
    await row(second, alert["alert_id"]).click()
    await second.locator("#d-comment").fill("已与员工核实，确属跑单")
    await second.locator("#d-comment-form button").click()
    await second.locator('#d-actions button[data-action="resolveTP"]').click()
    await expect(row(first, alert["alert_id"])).to_have_attribute("data-status", "resolved", timeout=5_000)
    await expect(first.locator("#d-comments")).to_contain_text("已与员工核实，确属跑单")
    await expect(first.locator("#d-history")).to_contain_text("合规李")
    await expect(first.locator('#precision tr[data-rule="chat.diversion_phrase"] .precision-value')).to_have_text(
        __import__("re").compile(r"\d+%"))
    await first.context.close()
    await second.context.close()


async def test_a_supervisor_never_sees_another_teams_alert(board, chromium, live, settings):
    mine, other = unique("组A"), unique("组B")
    frames: list = []
    page = await open_board(chromium, board, issue(settings.secret, "supervisor", mine), frames=frames)
    compliance = await open_board(chromium, board, issue(settings.secret, "compliance"))
    own, foreign = make_alert(mine), make_alert(other)
    await live.upsert(foreign)
    await live.upsert(own)
    await expect(row(page, own["alert_id"])).to_be_visible(timeout=5_000)
    # Compliance acts on the other team's alert: the action is broadcast, but not to this supervisor.
    await expect(row(compliance, foreign["alert_id"])).to_be_visible(timeout=5_000)
    await row(compliance, foreign["alert_id"]).click()
    await compliance.locator('#d-actions button[data-action="escalate"]').click()
    await expect(row(compliance, foreign["alert_id"])).to_have_attribute("data-status", "escalated", timeout=5_000)
    await asyncio.sleep(0.5)
    await expect(row(page, foreign["alert_id"])).to_have_count(0)
    assert frames, "the supervisor's page received no websocket frames"
    wire = "".join(f if isinstance(f, str) else f.decode() for f in frames)
    assert own["alert_id"] in wire
    assert foreign["alert_id"] not in wire and other not in wire
    await page.context.close()
    await compliance.context.close()


async def test_html_and_script_in_alert_text_and_comments_stay_inert(board, chromium, live, settings):
    team = unique("组")
    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    alert = make_alert(team, title=f"标题{payload}", explanation=f"说明{payload}")
    page = await open_board(chromium, board, issue(settings.secret, "compliance"))
    await live.upsert(alert)
    await expect(row(page, alert["alert_id"])).to_be_visible(timeout=5_000)
    await expect(row(page, alert["alert_id"]).locator(".alert-title")).to_have_text(f"标题{payload}")
    await row(page, alert["alert_id"]).click()
    await page.locator("#d-comment").fill(payload)
    await page.locator("#d-comment-form button").click()
    await expect(page.locator("#d-comments .comment-text")).to_have_text(payload, timeout=5_000)
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("#alerts img, #detail img, #alerts script, #detail script").count() == 0
    await page.context.close()


async def test_without_a_valid_token_the_board_is_refused(board, chromium, settings):
    context = await chromium.new_context()
    page = await context.new_page()
    await page.goto(board.url + "/")
    await expect(page.locator("#signin")).to_be_visible()
    await expect(page.locator("#board")).to_be_hidden()
    await page.locator("#token-input").fill(issue(b"not-the-deployment-secret!", "compliance"))
    await page.locator("#signin-form button").click()
    await expect(page.locator("#signin-error")).to_have_text("令牌无效、已过期或已吊销，请重新登录。", timeout=5_000)
    await expect(page.locator("#board")).to_be_hidden()
    await context.close()


async def test_the_board_is_usable_on_a_phone(board, chromium, live, settings):
    team = unique("组")
    alerts = [make_alert(team, severity=sev, score=score, employee=f"{team}-emp{i % 3}",
                         ts=int(time.time() * 1000) - i * 7_200_000)
              for i, (sev, score) in enumerate([("critical", 96), ("high", 82), ("medium", 61), ("high", 77)])]
    page = await open_board(chromium, board, issue(settings.secret, "supervisor", team, sub="王主管"),
                            viewport={"width": 390, "height": 844})
    for alert in alerts:
        await live.upsert(alert)
    await expect(row(page, alerts[0]["alert_id"])).to_be_visible(timeout=5_000)
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= 390
    await page.screenshot(path=PHONE_SCREENSHOT, full_page=False)
    await row(page, alerts[0]["alert_id"]).click()
    button = page.locator('#d-actions button[data-action="claim"]')
    await expect(button).to_be_in_viewport()
    await button.click()
    await expect(row(page, alerts[0]["alert_id"])).to_have_attribute("data-status", "assigned", timeout=5_000)
    await page.locator("#d-close").click()
    await page.locator("#lang").click()
    await expect(page.locator("header h1")).to_have_text("Paodan Sentinel · Live alerts")
    await expect(row(page, alerts[0]["alert_id"]).locator(".st")).to_have_text("assigned")
    await page.context.close()


async def test_screenshot_of_a_busy_board(board, chromium, live, settings):
    """Not an assertion about looks: a picture for people to judge (docs/board.md describes it)."""
    team = unique("华东")
    now = int(time.time() * 1000)
    rules = ["chat.diversion_phrase", "orders.self_approval", "contacts.mass_delete"]
    made = []
    for i in range(18):
        made.append(make_alert(team, employee=f"emp{i % 5:02d}", rule=rules[i % 3],
                               severity=["critical", "high", "medium"][i % 3], score=95 - i * 3,
                               ts=now - i * 9 * 3_600_000, title=["引导客户到外部平台下单", "自批订单", "批量删除客户"][i % 3]))
        await live.upsert(made[-1])
    claims = verify(settings.secret, issue(settings.secret, "supervisor", team, sub="王主管"))
    triage = Actions(live)
    for i, (action, detail) in enumerate([("acknowledge", {}), ("claim", {}), ("escalate", {}),
                                          ("resolve", {"resolution": "true_positive"}),
                                          ("resolve", {"resolution": "false_positive"})]):
        result = await triage.perform(claims, {"action": action, "alert_id": made[i + 1]["alert_id"], "detail": detail})
        assert result["ok"], result
    page = await open_board(chromium, board, issue(settings.secret, "supervisor", team, sub="王主管"))
    await expect(page.locator("#alerts tr")).to_have_count(18, timeout=5_000)
    await page.screenshot(path=SCREENSHOT, full_page=True)
    await page.context.close()


async def test_evidence_highlights_for_compliance_metadata_only_for_a_supervisor(worker, board, chromium, settings):
    from sinks.clickhouse.connection import ClickHouseArchive

    team, employee = unique("证据组"), unique("ev_emp_")
    now = int(time.time() * 1000)
    directory = await Consumer(settings.kafka, f"{worker.app_id}-directory-changelog").start()
    try:
        await produce(settings.kafka, [("hr.events", employee, {"type": "employee", "ts": now - 60_000,
                                                                "employee_id": employee, "name": "测试",
                                                                "team": team, "branch": "SH-01",
                                                                "status": "active"})])
        # The directory entry first (the worker's table changelog says so), so the alert carries the team.
        await directory.until(lambda kv: kv[0] is not None and employee in kv[0], timeout=20)
    finally:
        await directory.stop()
    before = chat_record(employee, "您好，这款现在有货", msgtime=now - 1000)
    hostile = chat_record(employee, '<img src=x onerror="window.__pwned=3">亲，加我私人微信，私下交易更便宜',
                          msgtime=now)
    await produce(settings.kafka, [("wecom.msgaudit", employee, before), ("wecom.msgaudit", employee, hostile)])

    officer_frames, supervisor_frames = [], []
    officer = await open_board(chromium, board, issue(settings.secret, "compliance", sub=unique("合规")),
                               frames=officer_frames)
    evidence = await open_evidence(officer, employee, hostile["msgid"], timeout=25_000)
    await expect(evidence.locator(".body")).to_contain_text('<img src=x onerror="window.__pwned=3">')
    await expect(evidence.locator("mark").first).to_be_visible()
    await expect(officer.locator(f'#d-evidence .msg[data-msgid="{before["msgid"]}"]')).to_contain_text("这款现在有货")
    assert await officer.evaluate("window.__pwned") is None
    assert await officer.locator("#d-evidence img").count() == 0
    actor = await officer.evaluate("state.hello.actor")

    await expect(officer.locator("#d-explain")).to_contain_text("私人微信")
    supervisor = await open_board(chromium, board, issue(settings.secret, "supervisor", team, sub="主管"),
                                  frames=supervisor_frames)
    await open_evidence(supervisor, employee, hostile["msgid"], timeout=10_000)
    await expect(supervisor.locator("#d-evidence")).to_contain_text("仅显示元数据")
    assert "私人微信" not in await supervisor.locator("#d-evidence").inner_text()
    # The alert's title, explanation and highlights quote the words too: the board never sends them to a
    # role without content permission — not in the snapshot, not in live frames (sinks/privacy.py).
    await expect(supervisor.locator("#d-explain")).to_contain_text("＊＊＊")
    assert "私人微信" not in await supervisor.locator("body").inner_text()
    assert any("私人微信" in str(f) for f in officer_frames)
    assert supervisor_frames and not any("私人微信" in str(f) for f in supervisor_frames)

    archive = ClickHouseArchive(settings.clickhouse)
    views = archive.query(f"SELECT count() FROM {archive.database}.alert_actions WHERE actor = %(a)s "
                          "AND action = 'view_content'", {"a": actor})
    assert views[0][0] >= 1, "the compliance officer's content view was not audited"
    await officer.context.close()
    await supervisor.context.close()


async def test_evidence_not_yet_archived_appears_once_the_archive_has_it(board, chromium, live, settings):
    from sinks.clickhouse.connection import ClickHouseArchive
    from sinks.clickhouse.rows import message_row
    from sinks.clickhouse.schema import MESSAGES

    team = unique("迟到组")
    record = chat_record(unique("late_"), "加我私人微信", msgtime=int(time.time() * 1000))
    alert = make_alert(team, employee=record["from"], evidence=[{"topic": "wecom.msgaudit", "id": record["msgid"]}])
    officer = await open_board(chromium, board, issue(settings.secret, "compliance", sub=unique("合规")))
    await live.upsert(alert)
    await row(officer, alert["alert_id"]).click()
    # The alert is live before the archive sink's next flush: the page says so and asks again.
    await expect(officer.locator("#d-evidence .pending")).to_be_visible(timeout=5_000)
    archive = ClickHouseArchive(settings.clickhouse)
    await asyncio.to_thread(archive.insert, MESSAGES, [message_row(record, record["text"]["content"])])
    await expect(officer.locator(f'#d-evidence .msg[data-msgid="{record["msgid"]}"]')).to_contain_text(
        "私人微信", timeout=10_000)
    await expect(officer.locator("#d-evidence .pending")).to_have_count(0)
    await officer.context.close()


async def test_risk_updates_from_the_behaviour_engine_feed_the_leaderboard(board, chromium, settings):
    from sinks.redis_risk import LiveRisk

    team, other = unique("风险组"), unique("别组")
    risk = LiveRisk(settings.redis)
    now = int(time.time() * 1000)
    mine, theirs = unique("risky_"), unique("other_")
    try:
        await risk.upsert_many([{"employee_id": mine, "team": team, "branch": "SH-01", "score": 61.0,
                                 "level": "high", "ts": now, "contributions": []}])
        frames: list = []
        page = await open_board(chromium, board, issue(settings.secret, "supervisor", team), frames=frames)
        entry = page.locator(f'#leaders li[data-employee="{mine}"]')
        await expect(entry.locator(".risk")).to_have_text("61", timeout=5_000)  # from the snapshot
        await risk.upsert_many([{"employee_id": mine, "team": team, "branch": "SH-01", "score": 88.0,
                                 "level": "critical", "ts": now + 1000, "contributions": []},
                                {"employee_id": theirs, "team": other, "branch": "SH-01", "score": 99.0,
                                 "level": "critical", "ts": now + 1000, "contributions": []}])
        await expect(entry.locator(".risk")).to_have_text("88", timeout=5_000)  # live
        await expect(entry.locator("svg polyline")).to_have_count(1)
        assert theirs not in "".join(f if isinstance(f, str) else f.decode() for f in frames)
        await page.context.close()
    finally:
        await risk.close()


async def test_an_admin_revokes_a_token_on_the_board_and_that_board_closes(board, chromium, settings):
    from dashboard_ws import tokens

    leaver = issue(settings.secret, "supervisor", unique("组"), sub=unique("离职主管"))
    claims = verify(settings.secret, leaver)
    tokens.record(settings.redis, claims, int(time.time()))
    victim = await open_board(chromium, board, leaver)
    admin = await open_board(chromium, board, issue(settings.secret, "admin", sub="管理员"))
    entry = admin.locator(f'#tokens li[data-jti="{claims.jti}"]')
    await expect(entry).to_contain_text(claims.sub, timeout=5_000)
    await entry.locator("button").click()
    await expect(entry).to_contain_text("已吊销", timeout=5_000)
    await expect(victim.locator("#signin-error")).to_have_text("令牌无效、已过期或已吊销，请重新登录。", timeout=5_000)
    await expect(victim.locator("#board")).to_be_hidden()
    await victim.context.close()
    await admin.context.close()
