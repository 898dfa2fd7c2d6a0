"""Records become archive rows keyed by their natural ids, and an alert's revisions and triage actions
fold into one latest state — checked on current ClickHouse (chdb) with the real writer."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from sinks.clickhouse import EmbeddedArchive
from sinks.clickhouse.alert_state import fold
from sinks.clickhouse.rows import contact_row, hr_row, message_row, order_row
from sinks.clickhouse.schema import CONTACT_EVENTS, HR_EVENTS, MESSAGES, ORDERS, migrate
from sinks.clickhouse.writer import write_alert_changes

ALERT = {"alert_id": "a1", "rule": "chat.diversion_phrase", "severity": "high", "score": 80.0,
         "employee_id": "zs", "team": "华东一组", "branch": "SH-01", "ts": 1764210000000,
         "window": {"start": 1764206400000, "end": 1764210000000}, "title": "引导客户到外部平台下单",
         "explanation": "…", "evidence": [{"topic": "wecom.msgaudit", "id": "m1"}],
         "rules_version": "r1", "detected_at": 1764210000150, "schema": 1, "revision": 1}


def action(kind: str, ts: int, **extra) -> dict:
    return {"action_id": f"{kind}-{ts}", "alert_id": "a1", "employee_id": "zs", "team": "华东一组",
            "action": kind, "actor": "lisi", "actor_role": "supervisor", "ts": ts, **extra}


@pytest.fixture()
def archive():
    with EmbeddedArchive.scratch() as a:
        migrate(a)
        yield a


def test_message_row_keeps_the_record_and_the_matcher_view_of_its_text():
    rec = {"msgid": "m1", "action": "send", "from": "zs", "tolist": ["wmC"], "roomid": "", "msgtime":
           1764210000000, "msgtype": "text", "text": {"content": "加-我-ＷＥＩＸＩＮ！"}, "seq": 7}
    row = dict(zip(MESSAGES.column_names, message_row(rec, rec["text"]["content"])))
    assert row["msgid"] == "m1" and row["sender"] == "zs" and row["tolist"] == ["wmC"] and row["seq"] == 7
    assert row["content_norm"] == "加我weixin"
    assert str(row["msg_date"]) == "2025-11-27"


def test_records_without_their_natural_id_are_not_rows():
    assert message_row({"action": "send"}, "") is None
    assert contact_row({"ChangeType": "add_external_contact", "UserID": "zs"}) is None  # no CreateTime
    assert order_row({"order_id": "SO-1", "event": "created", "ts": 1, "employee_id": "zs",
                      "amount": "abc"}) is None
    assert hr_row({"type": "employee", "employee_id": "zs"}) is None


def test_order_and_hr_rows():
    order = dict(zip(ORDERS.column_names, order_row({"order_id": "SO-1", "event": "paid", "ts": 1764210000000,
                                                     "employee_id": "zs", "amount": "1299.00",
                                                     "customer": {"name": "王女士"}})))
    assert order["amount"] == Decimal("1299.00") and order["customer"] == '{"name":"王女士"}'
    assert order["customer_id"] == "" and order["approver_id"] == ""
    hr = dict(zip(HR_EVENTS.column_names, hr_row({"type": "leave", "ts": 5, "employee_id": "zs",
                                                  "start": 1, "end": 2, "leave_type": "年假"})))
    assert hr["detail"] == '{"start":1,"end":2,"leave_type":"年假"}'
    assert hr["record_key"] == dict(zip(HR_EVENTS.column_names, hr_row({"employee_id": "zs", "ts": 5, "type":
                                    "leave", "leave_type": "年假", "end": 2, "start": 1})))["record_key"]


def test_redelivered_records_are_stored_once(archive):
    contact = {"ToUserName": "ww1", "CreateTime": int(time.time()), "ChangeType": "add_external_contact",
               "UserID": "zs", "ExternalUserID": "wmC", "MsgType": "event", "Event": "change_external_contact"}
    for _ in range(2):
        archive.insert(CONTACT_EVENTS, [contact_row(contact)])
    assert archive.execute(f"SELECT count() FROM {archive.database}.contact_events FINAL") == [(1,)]


ODD_VALUES = [None, True, -1, 2**63, 2**64 - 1, 1e29, 1.5, "", "abc", "12", "1e400", [], {}, ["x"], {"a": 1}, "加我"]


def test_odd_values_never_make_a_batch_fail(archive):
    """One odd record must not stall the archive (a failing batch is retried forever): every builder
    either makes an insertable row or returns None, whatever JSON it gets."""
    import itertools

    fields = {CONTACT_EVENTS: ["CreateTime", "ChangeType", "UserID", "ExternalUserID", "State"],
              ORDERS: ["order_id", "event", "ts", "employee_id", "amount", "customer", "items", "approver_id"],
              HR_EVENTS: ["type", "ts", "employee_id", "team", "customer_id"]}
    builders = {CONTACT_EVENTS: contact_row, ORDERS: order_row, HR_EVENTS: hr_row}
    good = {CONTACT_EVENTS: {"CreateTime": 1764210000, "ChangeType": "add_external_contact", "UserID": "zs"},
            ORDERS: {"order_id": "SO-1", "event": "paid", "ts": 1, "employee_id": "zs", "amount": "1.00"},
            HR_EVENTS: {"type": "employee", "ts": 1, "employee_id": "zs"}}
    for table, names in fields.items():
        rows = [builders[table]({**good[table], name: odd}) for name, odd in itertools.product(names, ODD_VALUES)]
        archive.insert(table, [r for r in rows if r is not None])
    msgs = [message_row({"msgid": f"m{i}", "action": "send", "from": "zs", "msgtime": odd, "seq": odd,
                         "tolist": ["a", odd] if odd is not None else None, "roomid": odd}, "x")
            for i, odd in enumerate(ODD_VALUES)]
    archive.insert(MESSAGES, msgs)
    alerts = [("alert", {**ALERT, "alert_id": f"odd{i}", field: odd})
              for i, (field, odd) in enumerate(itertools.product(["score", "ts", "revision", "window", "title"],
                                                                  ODD_VALUES))]
    actions = [("action", {**action("resolve", 5), field: odd})
               for field, odd in itertools.product(["ts", "status", "detail", "resolution", "action"], ODD_VALUES)]
    written = write_alert_changes(archive, [("alert", ALERT)] + alerts + actions)
    assert written[1] >= 1  # the good alert, and whichever odd ones are still alerts
    assert archive.execute(f"SELECT count() FROM {archive.database}.alerts FINAL WHERE alert_id = 'a1'") == [(1,)]


def test_revisions_and_actions_fold_into_the_latest_state():
    state = fold(None, [("action", action("acknowledge", 1))])
    assert state is None  # no revision known yet
    state = fold(None, [("alert", ALERT), ("action", action("acknowledge", 10)),
                        ("action", action("claim", 20)), ("alert", {**ALERT, "revision": 2, "score": 90.0}),
                        ("action", action("resolve", 30, resolution="true_positive")),
                        ("alert", ALERT)])  # a stale revision redelivered changes nothing
    assert (state["status"], state["assignee"], state["resolution"]) == ("resolved", "lisi", "true_positive")
    assert state["revision"] == 2 and state["score"] == 90.0 and state["updated_at"] == 30
    state = fold(state, [("action", action("reopen", 40)), ("action", action("comment", 50))])
    assert (state["status"], state["resolution"], state["updated_at"]) == ("acknowledged", "", 40)
    assert fold(state, [("action", action("escalate", 60, status="escalated_to_compliance"))])["status"] \
        == "escalated_to_compliance"  # the board's own status wins


def test_writer_keeps_one_row_per_alert_with_a_growing_version(archive):
    db = archive.database
    assert write_alert_changes(archive, [("action", action("acknowledge", 5)), ("alert", ALERT)]) == (1, 1)
    # The acknowledge that came before the first revision is folded in from alert_actions.
    assert archive.execute(f"SELECT status, version FROM {db}.alerts FINAL") == [("acknowledged", 1)]
    batch = [("action", action("assign", 6, detail={"assignee": "wangwu"})), ("alert", ALERT)]
    assert write_alert_changes(archive, batch) == (1, 1)
    assert write_alert_changes(archive, batch) == (1, 0)  # the same batch again: nothing changes
    assert archive.execute(f"SELECT status, assignee, version FROM {db}.alerts FINAL") == \
        [("assigned", "wangwu", 2)]
    assert archive.execute(f"SELECT count() FROM {db}.alert_actions FINAL") == [(2,)]
