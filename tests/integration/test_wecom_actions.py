"""Actions through WeCom on the real stack, against the stand-in over HTTP: messaging an alert's customers
and handing customers over, from the board (signed in through WeCom) and from `paodan act` — the
documented request reaches WeCom, the permission check, confirmation, idempotency key and audit rows
in ClickHouse hold, 45009 is retried, and WeCom's errors come back in words."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson
import pytest

from dashboard_ws import tokens
from dashboard_ws.auth import issue, verify
from sinks.clickhouse.connection import ClickHouseArchive
from sinks.clickhouse.rows import message_row
from sinks.clickhouse.schema import MESSAGES
from sinks.redis_live import LiveAlerts
from tests.browser.boardkit import REPO, make_alert
from tests.integration.wecomkit import (Browser, act, audit_rows, first, put_directory, put_hr, wecom_board,
                                        wecom_env)
from tests.live import unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
MSG_PATH = "/cgi-bin/externalcontact/add_msg_template"


@pytest.fixture(scope="module")
def company(stack, wecom):
    """A manager, two sales (one diverting), one who left, another team; their customers in WeCom."""
    ids = {k: unique(k + "_") for k in ("mgr", "suspect", "peer", "leaver", "stranger", "smgr")}
    team, other = unique("组"), unique("组")
    put_directory(stack, {
        ids["mgr"]: {"team": team, "branch": "SH-A", "role": "manager"},
        ids["suspect"]: {"team": team, "branch": "SH-A", "role": "sales", "manager_id": ids["mgr"]},
        ids["peer"]: {"team": team, "branch": "SH-A", "role": "sales", "manager_id": ids["mgr"]},
        ids["leaver"]: {"team": team, "branch": "SH-A", "role": "sales", "manager_id": ids["mgr"],
                        "status": "resigned"},
        ids["smgr"]: {"team": other, "branch": "SH-A", "role": "manager"},
        ids["stranger"]: {"team": other, "branch": "SH-A", "role": "sales", "manager_id": ids["smgr"]},
    })
    customers = [unique("wmCust") for _ in range(3)]
    wecom.member(ids["mgr"], *customers)
    wecom.member(ids["suspect"], *customers)
    wecom.member(ids["peer"])
    wecom.member(ids["leaver"], unique("wmLeft"), unique("wmLeft"), resigned=True)
    wecom.member(ids["stranger"])
    return ids, team, customers


@pytest.fixture(scope="module")
def board(stack, wecom, tmp_path_factory):
    # Its own follower waits a day between rounds: here `paodan act transfer-status --follow` settles.
    b = wecom_board(tmp_path_factory.mktemp("wecom-act"), wecom, PAODAN_TRANSFER_FOLLOW_S="86400")
    yield b
    b.stop()


async def alert_with_evidence(stack, company) -> dict:
    """An alert on the suspect whose evidence messages (archived) went to two of the customers."""
    ids, team, customers = company
    now = int(time.time() * 1000)
    records = [{"msgid": unique("ev"), "action": "send", "from": ids["suspect"], "tolist": [c], "roomid": "",
                "msgtime": now, "msgtype": "text", "text": {"content": "加我私人微信"}} for c in customers[:2]]
    ClickHouseArchive.from_settings(stack).insert(MESSAGES, [message_row(r, "加我私人微信") for r in records])
    alert = make_alert(team, employee=ids["suspect"],
                       evidence=[{"topic": "wecom.msgaudit", "id": r["msgid"]} for r in records])
    live = LiveAlerts(stack.redis)
    await live.upsert(alert)
    await live.close()
    return alert


async def test_a_manager_messages_the_alerts_customers_from_the_board(board, wecom, company, stack):
    ids, team, customers = company
    alert = await alert_with_evidence(stack, company)
    browser = Browser()
    try:
        assert await browser.sign_in(board, wecom, ids["mgr"]) == 200
        async with browser.ws(board) as ws:
            await first(ws, "hello")
            text = "您好，本周官方活动：下单立减50元，请认准官方商城。"
            unconfirmed = await act(ws, "wecom_message", alert["alert_id"], text=text, reason="挽回客户")
            assert not unconfirmed["ok"] and unconfirmed["error"] == "confirm_required"
            as_suspect = await act(ws, "wecom_message", alert["alert_id"], text=text, reason="挽回客户",
                                   confirm=True, sender=ids["suspect"])
            assert not as_suspect["ok"] and as_suspect["error"] == "forbidden"
            assert wecom.calls(MSG_PATH) == []  # nothing refused reached WeCom

            wecom.fail_next(MSG_PATH, 45009)  # WeCom's frequency limit once: retried with backoff
            key = unique("key-")
            sent = await act(ws, "wecom_message", alert["alert_id"], text=text, reason="挽回客户", confirm=True,
                             key=key)
            assert sent["ok"], sent
            assert sorted(sent["result"]["sent_to"]) == sorted(customers[:2]) and sent["result"]["failed"] == []
            again = await act(ws, "wecom_message", alert["alert_id"], text=text, reason="挽回客户", confirm=True,
                              key=key)
            assert again["ok"] and again["result"]["repeated"] and again["result"]["msgid"] == sent["result"]["msgid"]
    finally:
        await browser.close()
    calls = wecom.calls(MSG_PATH)
    assert len(calls) == 2 and wecom.violations == []  # one 45009, one success; the repeat never left
    method, _, query, body = calls[-1]
    assert method == "POST" and set(query) == {"access_token"}
    assert {**body, "external_userid": sorted(body["external_userid"])} == {
        "chat_type": "single", "external_userid": sorted(customers[:2]), "sender": ids["mgr"],
        "text": {"content": text}}
    rows = audit_rows(stack, "wecom_message", ids["mgr"])
    assert [r["status"] for r in rows] == ["requested", "done"]
    assert all(r["alert_id"] == alert["alert_id"] and r["employee_id"] == ids["suspect"] for r in rows)
    assert rows[0]["detail"]["reason"] == "挽回客户" and rows[0]["detail"]["key"] == key


def run_act(stack, wecom, token: str, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, **wecom_env(wecom), PAODAN_TOKEN=token, **env_extra)
    return subprocess.run([sys.executable, "-m", "paodan", "act", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def cli_token(stack, role: str, team: str = "", sub: str = "") -> str:
    token = issue(stack.secret, role, team, ttl_s=600, sub=sub)
    tokens.record(stack.redis, verify(stack.secret, token), int(time.time()))
    return token


async def test_paodan_act_message_needs_confirmation_and_reports_wecom_errors_in_words(wecom, company, stack):
    ids, team, customers = company
    alert = await alert_with_evidence(stack, company)
    token = cli_token(stack, "supervisor", team, sub=ids["mgr"])
    base = ["message", "--alert", alert["alert_id"], "--sender", ids["peer"], "--text", "官方通知",
            "--customer", customers[2], "--reason", "值班处理"]
    unconfirmed = run_act(stack, wecom, token, *base)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr

    wecom.no_privilege.add(ids["peer"])
    try:
        refused = run_act(stack, wecom, token, *base, "--yes")
    finally:
        wecom.no_privilege.discard(ids["peer"])
    assert refused.returncode == 1 and "可见范围" in refused.stderr and "visible range" in refused.stderr
    assert [r["status"] for r in audit_rows(stack, "wecom_message", ids["mgr"]) if r["alert_id"] == alert["alert_id"]] \
        == ["requested", "failed"]

    wecom.member(ids["peer"], customers[2])
    done = run_act(stack, wecom, token, *base, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)
    assert result["sender"] == ids["peer"] and result["sent_to"] == [customers[2]]
    _, _, _, body = wecom.calls(MSG_PATH)[-1]
    assert body["sender"] == ids["peer"] and body["external_userid"] == [customers[2]]

    anonymous = run_act(stack, wecom, cli_token(stack, "admin"), *base, "--yes")
    assert anonymous.returncode == 1 and "names no user" in anonymous.stderr
    other_team = run_act(stack, wecom, cli_token(stack, "supervisor", unique("组"), sub=ids["smgr"]), *base, "--yes")
    assert other_team.returncode == 1 and "no such alert" in other_team.stderr


async def _assignments(bootstrap: str, customers: set[str], timeout: float = 60) -> dict[str, dict]:
    """customer → the `assignment` record about them on hr.events, as the detectors read it."""
    from aiokafka import AIOKafkaConsumer

    from formats.topics import HR

    found: dict[str, dict] = {}
    consumer = AIOKafkaConsumer(HR, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while found.keys() < customers and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    v = orjson.loads(r.value)
                    if v.get("type") == "assignment" and v.get("customer_id") in customers:
                        found[v["customer_id"]] = {**v, "key": r.key.decode()}
    finally:
        await consumer.stop()
    return found


async def test_hand_over_a_leavers_customers_end_to_end(wecom, company, stack, board):
    ids, team, _ = company
    token = cli_token(stack, "supervisor", team, sub=ids["mgr"])
    leftover = sorted(wecom.members[ids["leaver"]].customers)
    done = run_act(stack, wecom, token, "transfer", "--from", ids["leaver"], "--to", ids["peer"],
                   "--reason", "离职交接", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)
    assert result["resigned"] is True and result["started"] == 2
    assert sorted(c["customer"] for c in result["customers"]) == leftover
    method, _, _, body = wecom.calls("/cgi-bin/externalcontact/resigned/transfer_customer")[-1]
    assert method == "POST" and body == {"handover_userid": ids["leaver"], "takeover_userid": ids["peer"],
                                         "external_userid": leftover}
    assert wecom.calls("/cgi-bin/externalcontact/get_unassigned_list")  # the leaver's customers, asked of WeCom

    status = run_act(stack, wecom, token, "transfer-status", "--from", ids["leaver"], "--to", ids["peer"], "--json")
    assert [c["status"] for c in orjson.loads(status.stdout)["customers"]] == [2, 2]
    follow = run_act(stack, wecom, token, "transfer-status", "--follow", "--json")
    assert follow.returncode == 0, follow.stderr
    assert [c for c in orjson.loads(follow.stdout)["settled"] if c["from"] == ids["leaver"]] == []  # still waiting
    taken, refused = leftover
    wecom.complete_transfers(1, [taken])
    wecom.complete_transfers(3, [refused])
    status = run_act(stack, wecom, token, "transfer-status", "--from", ids["leaver"], "--to", ids["peer"], "--json")
    rows = {c["customer"]: c for c in orjson.loads(status.stdout)["customers"]}
    assert rows[taken]["status"] == 1 and "taken over" in rows[taken]["result"] and rows[refused]["status"] == 3
    assert taken in wecom.members[ids["peer"]].customers
    assert [r["status"] for r in audit_rows(stack, "wecom_transfer", ids["mgr"])] == ["requested", "done"]

    # Following settles both once: the takeover becomes the new owner on hr.events (relayed by the board),
    # the refusal leaves the customer waiting for someone else; a second round has nothing left.
    follow = run_act(stack, wecom, token, "transfer-status", "--follow", "--json")
    assert follow.returncode == 0, follow.stderr
    settled = {c["customer"]: c["status"] for c in orjson.loads(follow.stdout)["settled"] if c["from"] == ids["leaver"]}
    assert settled == {taken: 1, refused: 3}
    again = orjson.loads(run_act(stack, wecom, token, "transfer-status", "--follow", "--json").stdout)["settled"]
    assert [c for c in again if c["from"] == ids["leaver"]] == []
    [record] = (await _assignments(stack.kafka, {taken})).values()
    assert record["key"] == record["employee_id"] == ids["peer"] and record["previous_owner_id"] == ids["leaver"]
    assert record["reason"] == "resignation" and record["ts"] > 0
    results = audit_rows(stack, "wecom_transfer_result", "paodan:transfer-follower")
    assert sorted((r["detail"]["customer"], r["status"]) for r in results if r["employee_id"] == ids["leaver"]) \
        == sorted([(taken, "done"), (refused, "failed")])
    assert wecom.violations == []


async def test_on_job_transfer_from_the_board_and_its_refusals(board, wecom, company, stack):
    ids, team, customers = company
    browser = Browser()
    try:
        assert await browser.sign_in(board, wecom, ids["mgr"]) == 200
        async with browser.ws(board) as ws:
            await first(ws, "hello")
            outside = await act(ws, "wecom_transfer", **{"from": ids["suspect"], "to": ids["stranger"]},
                                reason="转给别组", confirm=True)
            assert not outside["ok"] and outside["error"] == "forbidden" and "not in a team you supervise" in outside["message"]
            moved = await act(ws, "wecom_transfer", **{"from": ids["suspect"], "to": ids["peer"]},
                              customers=[customers[0], unique("wmNotHers")], message="您好，之后由同事为您服务",
                              reason="跑单嫌疑，先转出客户", confirm=True)
            assert moved["ok"], moved
            by_customer = {c["customer"]: c for c in moved["result"]["customers"]}
            assert by_customer[customers[0]]["errcode"] == 0
            [(other, bad)] = [(k, v) for k, v in by_customer.items() if k != customers[0]]
            assert bad["errcode"] == 40096 and "not this member's customer" in bad["result"]
    finally:
        await browser.close()
    _, _, _, body = wecom.calls("/cgi-bin/externalcontact/transfer_customer")[-1]
    assert body["handover_userid"] == ids["suspect"] and body["transfer_success_msg"] == "您好，之后由同事为您服务"
    assert wecom.violations == []


async def test_notify_the_responsible_manager_with_a_card_linking_to_the_alert(wecom, company, stack):
    ids, team, _ = company
    alert = await alert_with_evidence(stack, company)
    token = cli_token(stack, "compliance", sub=unique("officer_"))
    env_url = "https://paodan.example.com"
    env = dict(os.environ, **wecom_env(wecom), PAODAN_TOKEN=token, PAODAN_BOARD_URL=env_url)
    done = subprocess.run([sys.executable, "-m", "paodan", "act", "notify", "--alert", alert["alert_id"],
                           "--reason", "请今天跟进", "--yes", "--json"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["to"] == ids["mgr"]  # the suspect's manager, from the directory
    method, _, query, body = wecom.calls("/cgi-bin/message/send")[-1]
    assert method == "POST" and set(query) == {"access_token"}
    assert body["touser"] == ids["mgr"] and body["msgtype"] == "textcard" and body["agentid"] == int(wecom.agentid)
    assert body["textcard"]["url"] == f"{env_url}/#alert={alert['alert_id']}"
    assert "请今天跟进" in body["textcard"]["description"] and "加我私人微信" not in str(body)
    refused = subprocess.run([sys.executable, "-m", "paodan", "act", "notify", "--alert", alert["alert_id"],
                              "--to", ids["suspect"], "--reason", "x", "--yes"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert refused.returncode == 1 and "cannot be notified" in refused.stderr
    assert wecom.violations == []


async def test_intercept_a_high_risk_employee_for_a_while_then_end_it(wecom, company, stack):
    import redis

    from dashboard_ws.intercepts import INTERCEPTS

    ids, team, _ = company
    token = cli_token(stack, "supervisor", team, sub=ids["mgr"])
    no_reason = run_act(stack, wecom, token, "intercept", "--employee", ids["suspect"], "--days", "7", "--yes")
    assert no_reason.returncode == 1 and "reason" in no_reason.stderr
    done = run_act(stack, wecom, token, "intercept", "--employee", ids["suspect"], "--days", "7",
                   "--reason", "风险分持续偏高", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    entry = orjson.loads(done.stdout)
    _, _, _, body = wecom.calls("/cgi-bin/externalcontact/add_intercept_rule")[-1]
    assert body["applicable_range"] == {"user_list": [ids["suspect"]]} and body["intercept_type"] == 1
    assert body["semantics_list"] == [1, 2, 3] and "加我微信" in body["word_list"] and len(body["rule_name"]) <= 20
    assert wecom.rules[entry["rule_id"]]["users"] == {ids["suspect"]}
    assert abs(entry["until"] - (time.time() * 1000 + 7 * 86_400_000)) < 120_000

    # Asked again with the company's own words: the rule in place changes its words, no second rule.
    words = run_act(stack, wecom, token, "intercept", "--employee", ids["suspect"], "--days", "7",
                    "--word", "私下交易", "--word", "外面下单", "--reason", "换用本公司话术", "--yes", "--json")
    assert words.returncode == 0, words.stderr
    assert orjson.loads(words.stdout)["rule_id"] == entry["rule_id"] and orjson.loads(words.stdout)["extended"]
    _, _, _, body = wecom.calls("/cgi-bin/externalcontact/update_intercept_rule")[-1]
    assert body == {"rule_id": entry["rule_id"], "word_list": ["私下交易", "外面下单"]}
    assert wecom.rules[entry["rule_id"]]["word_list"] == ["私下交易", "外面下单"]
    assert len(wecom.calls("/cgi-bin/externalcontact/add_intercept_rule")) == 1
    # Removed in the admin console meanwhile: asking with other words puts a new rule in place.
    wecom.rules.pop(entry["rule_id"])
    again = run_act(stack, wecom, token, "intercept", "--employee", ids["suspect"], "--days", "7",
                    "--word", "私下交易", "--reason", "规则被误删", "--yes", "--json")
    assert again.returncode == 0, again.stderr
    entry = orjson.loads(again.stdout)
    assert not entry["extended"] and wecom.rules[entry["rule_id"]]["word_list"] == ["私下交易"]
    assert [r["status"] for r in audit_rows(stack, "wecom_intercept_update", ids["mgr"])
            if r["employee_id"] == ids["suspect"]] == ["requested", "done", "requested", "done"]

    # Its time is up: the sweep deletes the rule in WeCom and forgets it.
    r = redis.Redis.from_url(stack.redis)
    try:
        r.hset(INTERCEPTS, ids["suspect"], orjson.dumps({**{k: entry[k] for k in ("rule_id", "since", "by", "reason")},
                                                          "until": int(time.time() * 1000) - 1}))
        swept = run_act(stack, wecom, token, "intercept", "--sweep", "--json")
        assert swept.returncode == 0, swept.stderr
        assert [e["employee"] for e in orjson.loads(swept.stdout)["ended"]] == [ids["suspect"]]
        assert not r.hexists(INTERCEPTS, ids["suspect"])
    finally:
        r.close()
    _, _, _, body = wecom.calls("/cgi-bin/externalcontact/del_intercept_rule")[-1]
    assert body == {"rule_id": entry["rule_id"]} and entry["rule_id"] not in wecom.rules
    statuses = [r["status"] for r in audit_rows(stack, "wecom_intercept_end", "paodan:intercept-sweeper")
                if r["employee_id"] == ids["suspect"]]
    assert statuses == ["requested", "done"]
    refused = run_act(stack, wecom, token, "intercept", "--employee", ids["stranger"], "--days", "3",
                      "--reason", "x", "--yes")
    assert refused.returncode == 1 and "not in a team you supervise" in refused.stderr
    assert wecom.violations == []


async def test_a_resignation_lists_the_leavers_customers_and_hands_them_over_in_one_click(board, wecom, stack):
    mgr, leaver, busy, free = (unique(k + "_") for k in ("hmgr", "hleaver", "hbusy", "hfree"))
    team = unique("交接组")
    put_directory(stack, {mgr: {"team": team, "role": "manager"},
                          leaver: {"team": team, "role": "sales", "manager_id": mgr, "status": "resigned"},
                          busy: {"team": team, "role": "sales", "manager_id": mgr},
                          free: {"team": team, "role": "sales", "manager_id": mgr}})
    now = int(time.time() * 1000)
    theirs = [unique("wmL") for _ in range(3)]
    put_hr(stack, [{"type": "resignation", "ts": now - 5 * 86_400_000, "employee_id": leaver,
                    "last_day": now - 2 * 86_400_000 - 60_000}]
           + [{"type": "assignment", "ts": now - 9_000_000, "employee_id": leaver, "customer_id": c} for c in theirs]
           + [{"type": "assignment", "ts": now - 9_000_000, "employee_id": busy, "customer_id": unique("wmB")}
              for _ in range(2)])
    wecom.member(leaver, *theirs, resigned=True)
    wecom.member(busy)
    wecom.member(free)
    browser = Browser()
    try:
        assert await browser.sign_in(board, wecom, mgr) == 200
        async with browser.ws(board) as ws:
            await first(ws, "hello")
            listed = await act(ws, "list_handovers")
            [entry] = [h for h in listed["handovers"] if h["employee"] == leaver]
            assert entry["customers"] == sorted(theirs) and entry["suggested"] == free and entry["overdue_days"] == 2
            moved = await act(ws, "wecom_transfer", **{"from": leaver, "to": entry["suggested"]},
                              customers=entry["customers"], reason="离职交接", confirm=True, key=unique("handover-"))
            assert moved["ok"] and moved["result"]["resigned"] and moved["result"]["started"] == 3
            [entry] = [h for h in (await act(ws, "list_handovers"))["handovers"] if h["employee"] == leaver]
            assert entry["customers"] == [] and entry["started"] == sorted(theirs) and entry["overdue_days"] == 0
            wecom.complete_transfers()
            status = await act(ws, "wecom_transfer_status", **{"from": leaver, "to": free})
            assert [c["status"] for c in status["result"]["customers"]] == [1, 1, 1]
    finally:
        await browser.close()
    _, _, _, body = wecom.calls("/cgi-bin/externalcontact/resigned/transfer_customer")[-1]
    assert body == {"handover_userid": leaver, "takeover_userid": free, "external_userid": sorted(theirs)}
    assert set(theirs) <= wecom.members[free].customers and wecom.violations == []


async def test_adaptive_protection_puts_a_high_risk_employee_under_a_rule(wecom, company, stack):
    import redis

    from dashboard_ws.intercepts import INTERCEPTS
    from sinks import redis_risk

    ids, team, _ = company
    token = cli_token(stack, "admin", sub=unique("admin_"))
    r = redis.Redis.from_url(stack.redis)
    try:
        r.hdel(INTERCEPTS, ids["peer"])
        r.hset(redis_risk.HASH, ids["peer"], orjson.dumps({"employee_id": ids["peer"], "team": team, "score": 91.0,
                                                           "level": "critical", "ts": int(time.time() * 1000)}))
        r.hset(redis_risk.HASH, ids["stranger"], orjson.dumps({"employee_id": ids["stranger"], "team": "x",
                                                               "score": 40.0, "level": "medium", "ts": 1}))
        off = run_act(stack, wecom, token, "intercept", "--sweep", "--json")
        assert off.returncode == 0 and orjson.loads(off.stdout)["protected"] == []  # not configured: never
        on = run_act(stack, wecom, token, "intercept", "--sweep", "--json", PAODAN_INTERCEPT_AUTO_LEVEL="high",
                     PAODAN_INTERCEPT_AUTO_DAYS="3")
        assert on.returncode == 0, on.stderr
        protected = {e["employee"]: e for e in orjson.loads(on.stdout)["protected"]}
        assert ids["peer"] in protected and ids["stranger"] not in protected
        assert wecom.rules[protected[ids["peer"]]["rule_id"]]["users"] == {ids["peer"]}
        assert abs(protected[ids["peer"]]["until"] - (time.time() * 1000 + 3 * 86_400_000)) < 120_000
        again = run_act(stack, wecom, token, "intercept", "--sweep", "--json", PAODAN_INTERCEPT_AUTO_LEVEL="high")
        assert ids["peer"] not in {e["employee"] for e in orjson.loads(again.stdout)["protected"]}
    finally:
        r.hdel(redis_risk.HASH, ids["peer"], ids["stranger"])
        r.close()
    [requested, done] = [row for row in audit_rows(stack, "wecom_intercept", "paodan:adaptive-protection")
                         if row["employee_id"] == ids["peer"]]
    assert (requested["status"], done["status"]) == ("requested", "done") and "critical" in requested["detail"]["reason"]
