"""`paodan rules backtest`: the archive replayed through the detectors gives exactly what `paodan replay`
gives for the same records, and past verdicts estimate each rule's precision (chdb, current ClickHouse)."""

from __future__ import annotations

import io
import time

import orjson
import pytest

from config.rules import load_rules
from config.settings import load
from sinks.clickhouse import EmbeddedArchive
from sinks.clickhouse.rows import hr_row, message_row
from sinks.clickhouse.schema import HR_EVENTS, MESSAGES, migrate
from sinks.clickhouse.writer import write_alert_changes
from streams.backtest import backtest, chat_keys, render
from streams.replay import Replay
from tests.live import unique

T0 = (int(time.time()) // 3600 - 30) * 3600 * 1000
MIN = 60_000


def chat(msgid, sender, to, minute, text):
    return {"msgid": msgid, "action": "send", "from": sender, "tolist": [to], "roomid": "",
            "msgtime": T0 + minute * MIN, "msgtype": "text", "text": {"content": text}, "corpid": "ww1", "seq": 1}


EMPLOYEES = [{"type": "employee", "ts": T0 - 86400_000 * 3, "employee_id": e, "name": e, "team": t,
              "branch": "SH-01", "role": "sales", "status": "active"} for e, t in (("zs", "华东一组"), ("ls", "华南二组"))]
CHATS = [chat("m1", "wmCUST1", "zs", 1, "这个多少钱"), chat("m2", "zs", "wmCUST1", 2, "亲，这款你去拼多多下单，比这里便宜"),
         chat("m3", "ls", "wmCUST2", 3, "加我私人微信，私下交易更便宜"), chat("m4", "zs", "wmCUST3", 60 * 20, "今天到货了")]


@pytest.fixture()
def archive():
    with EmbeddedArchive.scratch() as a:
        migrate(a)
        a.insert(HR_EVENTS, [hr_row(e) for e in EMPLOYEES])
        a.insert(MESSAGES, [message_row(c, c["text"]["content"]) for c in CHATS + CHATS[1:3]])  # some twice
        yield a


def replayed(rules) -> list[dict]:
    """What `paodan replay` says about the same records (in event-time order, keyed like the loader)."""
    out = io.BytesIO()
    replay = Replay(rules, out, io.StringIO())
    lines = [{"topic": "hr.events", "key": e["employee_id"], "value": e} for e in EMPLOYEES]
    lines += [{"topic": "wecom.msgaudit", "key": k, "value": c} for c in CHATS for k in chat_keys(c)]
    for n, line in enumerate(lines):
        replay.line(f"line {n}", orjson.dumps(line))
    by_id = {}
    for raw in out.getvalue().splitlines():
        alert = orjson.loads(raw)
        by_id[alert["alert_id"]] = alert
    return list(by_id.values())


def test_chat_records_are_keyed_like_the_archive_loader():
    assert chat_keys({"from": "zs", "tolist": ["wmC", "ls"]}) == ["zs"]
    assert chat_keys({"from": "wmC", "tolist": ["zs", "ls", "wbROBOT"]}) == ["zs", "ls"]


def test_backtest_matches_replay_and_estimates_precision_from_past_verdicts(archive):
    rules = load_rules(load().rules_file)
    expected = replayed(rules)
    assert expected, "the default rules should flag the diversion messages"
    by_evidence = {e["id"]: a for a in expected for e in a["evidence"]}
    tp = by_evidence["m2"]  # judged under its own id
    fp = {**by_evidence["m3"], "alert_id": "an-older-rule-id"}  # judged under another id, same evidence

    def resolve(alert, resolution):
        return ("action", {"action_id": unique(""), "alert_id": alert["alert_id"], "employee_id":
                           alert["employee_id"], "action": "resolve", "actor": "boss", "ts": T0 + 99 * MIN,
                           "resolution": resolution})

    write_alert_changes(archive, [("alert", tp), ("alert", fp), resolve(tp, "true_positive"),
                                  resolve(fp, "false_positive")])
    progress = io.StringIO()
    report = backtest(archive, rules, T0 - 3600_000, T0 + 86400_000, progress=progress)

    assert report.records == len(EMPLOYEES) + len(CHATS)  # each archived record once
    got = {r: (res.alerts, dict(res.employees)) for r, res in report.rules.items() if res.alerts}
    want: dict = {}
    for a in expected:
        count, who = want.get(a["rule"], (0, {}))
        want[a["rule"]] = (count + 1, {**who, a["employee_id"]: who.get(a["employee_id"], 0) + 1})
    assert got == want
    judged = {r: (res.labelled, res.precision) for r, res in report.rules.items() if res.labelled}
    if tp["rule"] == fp["rule"]:
        assert judged == {tp["rule"]: (2, 0.5)}
    else:
        assert judged == {tp["rule"]: (1, 1.0), fp["rule"]: (1, 0.0)}
    assert report.rules[tp["rule"]].live >= 1  # the archived live alert is counted beside the back-test
    assert "(2/2 days)" in progress.getvalue()
    assert tp["rule"] in render(report)


def test_backtest_reports_the_chained_chat_rules_like_replay():
    """chat.diverted_customer needs the archive's orders and contacts beside its chats: the back-test
    reads them all in event-time order, so it raises the chained alert exactly as replay does."""
    from ingest.simulator import Employee, contact, directory_record, order
    from ingest.simulator import chat as sim_chat
    from sinks.clickhouse.rows import contact_row, order_row
    from sinks.clickhouse.schema import CONTACT_EVENTS, ORDERS
    from tests.integration.test_chat_risk_live import _Ids

    day, hour = 86400_000, 3600_000
    zs = Employee("zs9", "zs9", "华东一组", "SH-01", "boss9")
    start = T0 - 40 * day
    records = [directory_record(zs, start)]
    for n, d in enumerate((-35, -25, -15)):  # a customer who buys about every ten days
        records += [order(zs, f"SO9-{n}", "created", T0 + d * day, "wmCUST9", 900.0),
                    order(zs, f"SO9-{n}", "paid", T0 + d * day + hour, "wmCUST9", 900.0)]
    records += [order(zs, "SO9-open", "created", T0 - 2 * day, "wmCUST9", 1500.0),
                sim_chat(_Ids("bt"), zs, "wmCUST9", T0 - 2 * day + 2 * hour, True, "加我私人微信，私下交易更便宜"),
                order(zs, "SO9-open", "cancelled", T0 - day, "wmCUST9", 1500.0),
                contact(zs, "wmCUST9", T0 - day + hour, "del_follow_user")]
    rules = load_rules(load().rules_file)
    out = io.BytesIO()
    replay = Replay(rules, out, io.StringIO())
    for n, (topic, key, value) in enumerate(records):
        replay.line(f"line {n}", orjson.dumps({"topic": topic, "key": key, "value": value}))
    expected = {orjson.loads(raw)["alert_id"]: orjson.loads(raw) for raw in out.getvalue().splitlines()}
    chained = [a for a in expected.values() if a["rule"] == "chat.diverted_customer"]
    assert chained and chained[0]["employee_id"] == "zs9"

    with EmbeddedArchive.scratch() as a:
        migrate(a)
        rows = {"hr.events": (HR_EVENTS, hr_row), "crm.orders": (ORDERS, order_row),
                "wecom.contacts": (CONTACT_EVENTS, contact_row)}
        for topic, _, value in records:
            if topic == "wecom.msgaudit":
                a.insert(MESSAGES, [message_row(value, value["text"]["content"])])
            else:
                table, row = rows[topic]
                a.insert(table, [row(value)])
        report = backtest(a, rules, start, T0 + day, progress=None)
    got = {r: res.alerts for r, res in report.rules.items() if res.alerts}
    want: dict = {}
    for alert in expected.values():
        want[alert["rule"]] = want.get(alert["rule"], 0) + 1
    assert got == want and got["chat.diverted_customer"] == 1
