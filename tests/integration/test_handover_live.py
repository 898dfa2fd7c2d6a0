"""A resignation hand-over end to end, on the real Kafka, Redis and ClickHouse with a real worker and board:
the notice reaches the board's hand-over card (from `hr_events` in ClickHouse) with a suggested taker; the
manager, signed in through WeCom, hands two customers over in one click (the stand-in gets the documented
`resigned/transfer_customer`); when WeCom completes the takeover the board's follower puts the new owner on
`hr.events` (dashboard_ws.transfers: an API-made transfer raises no callback); then, in event time, the leaver still writes
to a customer already handed over (hr.after_last_day, critical) and the third customer is still unassigned
three days after the last day (hr.handover_unassigned, naming the taker) — both reach the manager's board."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from dashboard_ws.transfers import assignment
from formats.topics import HR
from ingest.simulator import Employee, chat, contact, directory_record, hr
from sinks.clickhouse.connection import ClickHouseArchive
from tests.integration.test_chat_risk_live import DAY, H, _Ids
from tests.integration.wecomkit import Browser, act, audit_rows, first, wecom_board
from tests.live import produce, unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture(scope="module")
def board(stack, wecom, tmp_path_factory):
    b = wecom_board(tmp_path_factory.mktemp("handover-live"), wecom, PAODAN_TRANSFER_FOLLOW_S="1")
    yield b
    b.stop()


def replayed(records, employee: str) -> dict[str, str]:
    """rule → alert id of `employee`'s alerts, as `paodan replay` raises them from the same records."""
    from config.rules import load_rules
    from config.settings import CONFIG_DIR
    from streams.behaviour_memory import MemoryBehaviour

    engine = MemoryBehaviour(load_rules(CONFIG_DIR / "rules.yaml"))
    out = {}
    for topic, key, value in records:
        for a in engine.handle(topic, key, orjson.dumps(value)):
            if a.employee_id == employee:
                out[a.rule] = a.alert_id
    return out


async def _alerts(ws, wanted: set[str], employee: str, timeout: float) -> dict[str, dict]:
    """The latest revision of each `wanted` rule's alert about `employee`, as the board pushes them."""
    got: dict[str, dict] = {}

    async def read():
        while not (wanted <= set(got) and got.get("hr.after_last_day", {}).get("severity") == "critical"):
            msg = orjson.loads(await ws.recv())
            alerts = [msg["alert"]] if msg["type"] == "alert" else msg.get("alerts", []) if msg["type"] == "snapshot" \
                else []
            for a in alerts:
                if a.get("employee_id") == employee and a.get("rule") in wanted:
                    got[a["rule"]] = a
    try:
        await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        pass
    return got


def story(p: str, now: int):
    """(people, customers, the records up to the last day, the records after it)."""
    team, branch = f"{p}交接组", f"{p}SH"
    mgr = Employee(f"{p}mgr", "王经理", team, branch, "", role="manager")
    leaver, bob, carl = (Employee(f"{p}{n}", n, team, branch, mgr.userid) for n in ("leaver", "bob", "carl"))
    c1, c2, c3, c4 = (f"wm{p}c{i}" for i in (1, 2, 3, 4))
    ids = _Ids(p)
    last_day, notice = now - H, now - 10 * DAY

    def work(days, *people):
        return [chat(ids, e, f"wm{p}{e.name}-own", now + d * DAY + 2 * H, True, "您好，今天方便确认安装时间吗？")
                for d in days for e in people]

    def by_time(records):
        return sorted(records, key=lambda r: r[2].get("msgtime") or r[2].get("ts") or r[2]["CreateTime"] * 1000)

    history = ([directory_record(e, now - 40 * DAY) for e in (mgr, leaver, bob, carl)]
               + [hr(leaver, "assignment", now - 39 * DAY, customer_id=c) for c in (c1, c2, c3, c4)]
               + [hr(bob, "assignment", now - 39 * DAY, customer_id=f"wm{p}bob-own")]
               + [hr(carl, "assignment", now - 39 * DAY, customer_id=f"wm{p}carl{i}") for i in range(5)]
               + by_time(work(range(-14, 0), bob, carl) + work(range(-14, -1), leaver)
                         + [hr(leaver, "resignation", notice, last_day=last_day),
                            contact(leaver, c4, notice + 2 * DAY, "del_follow_user")])  # c4 left: nothing to hand over
               + [directory_record(leaver, last_day, status="resigned")])
    # Days go by (in event time) with the leaver still at it; the takeover itself comes from the board.
    later = by_time(work(range(0, 11), bob, carl) + [chat(ids, leaver, c1, now + DAY + 5 * H, True,
                                                          "以后找我下单，比公司便宜")])
    return (mgr, leaver, bob, carl), (c1, c2, c3, c4), history, later, last_day


async def test_a_resignation_runs_from_notice_to_hand_over_to_alerts(stack, worker, board, wecom):
    p = unique("ho") + "-"
    now_ms = int(time.time() * 1000)
    (mgr, leaver, bob, carl), (c1, c2, c3, c4), history, later, last_day = story(p, now_ms)
    takeover = [(HR, bob.userid, assignment(c, leaver.userid, bob.userid, now_ms, True)) for c in (c1, c2)]
    expected = replayed(history + takeover + later, leaver.userid)
    assert set(expected) == {"hr.after_last_day", "hr.handover_unassigned", "risk.score"}
    team = leaver.team
    wecom.member(leaver.userid, c1, c2, c3, resigned=True)
    wecom.member(bob.userid, f"wm{p}bob-own")
    wecom.member(carl.userid)
    await produce(stack.kafka, history)

    browser = Browser()
    try:
        for _ in range(120):  # the worker archives the directory to ClickHouse, where sign-in reads it
            if await browser.sign_in(board, wecom, mgr.userid) == 200:
                break
            await asyncio.sleep(0.5)
        assert browser.cookie("paodan_session"), "the manager could not sign in"
        async with browser.ws(board) as ws:
            await first(ws, "hello")
            entry = None
            for _ in range(120):  # until the worker has archived the notice and the assignments
                listed = await act(ws, "list_handovers")
                entry = next((h for h in listed["handovers"] if h["employee"] == leaver.userid), None)
                if entry and len(entry["customers"]) == 3 and entry["gone"]:
                    break
                await asyncio.sleep(0.5)
            assert entry and entry["customers"] == sorted([c1, c2, c3]) and entry["last_day"] == last_day
            assert entry["gone"] == [c4]  # the customer deleted the leaver: not waiting for anyone
            assert entry["suggested"] == bob.userid  # same team, same job, one customer against carl's five
            moved = await act(ws, "wecom_transfer", **{"from": leaver.userid, "to": entry["suggested"]},
                              customers=[c1, c2], reason="离职交接", confirm=True, key=unique("handover-"))
            assert moved["ok"] and moved["result"]["resigned"] and moved["result"]["started"] == 2
            wecom.complete_transfers()  # WeCom's 24-hour takeover
            status = await act(ws, "wecom_transfer_status", **{"from": leaver.userid, "to": bob.userid})
            assert [c["status"] for c in status["result"]["customers"]] == [1, 1]
            # The board's follower settles them: bob owns both on hr.events, as archived.
            archive, owners = ClickHouseArchive.from_settings(stack), {}
            for _ in range(120):
                owners = dict(archive.execute(
                    f"SELECT customer_id, argMax(employee_id, ts) FROM {archive.database}.hr_events "
                    "WHERE type = 'assignment' AND customer_id IN %(c)s GROUP BY customer_id", {"c": (c1, c2)}))
                if owners == {c1: bob.userid, c2: bob.userid}:
                    break
                await asyncio.sleep(0.5)
            assert owners == {c1: bob.userid, c2: bob.userid}
            settled = audit_rows(stack, "wecom_transfer_result", "paodan:transfer-follower")
            assert sorted(r["detail"]["customer"] for r in settled if r["employee_id"] == leaver.userid) == [c1, c2]

            await produce(stack.kafka, later)
            got = await _alerts(ws, {"hr.after_last_day", "hr.handover_unassigned"}, leaver.userid, timeout=120)
            assert set(got) == {"hr.after_last_day", "hr.handover_unassigned"}, worker.log()[-3000:]
            after = got["hr.after_last_day"]
            assert after["severity"] == "critical" and after["team"] == team
            assert f"已交接给 {bob.userid}" in after["explanation"] and "handed over to" in after["explanation"]
            assert {r: a["alert_id"] for r, a in got.items()} == {r: expected[r] for r in got}  # as in replay
            unassigned = got["hr.handover_unassigned"]
            assert "仍有 1 位客户未分配" in unassigned["explanation"]
            assert f"建议由同组 {bob.userid}" in unassigned["explanation"]
            [entry] = [h for h in (await act(ws, "list_handovers"))["handovers"] if h["employee"] == leaver.userid]
            assert entry["customers"] == [c3] and entry["started"] == []  # bob has the other two now
    finally:
        await browser.close()
    _, _, _, body = wecom.calls("/cgi-bin/externalcontact/resigned/transfer_customer")[-1]
    assert body == {"handover_userid": leaver.userid, "takeover_userid": bob.userid, "external_userid": [c1, c2]}
    assert wecom.violations == []
