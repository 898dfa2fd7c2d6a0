"""Every stream lands in ClickHouse once: each record produced twice (a redelivery) is one row under
FINAL, and an alert's revisions and the board's triage actions end as one row with the latest state."""

from __future__ import annotations

import asyncio
import time

import pytest

from sinks.clickhouse import ClickHouseArchive
from tests.integration.test_archive_outage import archiving
from tests.live import produce, unique

pytestmark = pytest.mark.integration


async def eventually(archive: ClickHouseArchive, sql: str, params: dict, expected, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    rows = None
    while time.monotonic() < deadline:
        rows = archive.query(sql, params)
        if rows == expected:
            return rows
        await asyncio.sleep(0.3)
    raise AssertionError(f"{sql}: {rows!r} != {expected!r} after {timeout}s")


async def test_each_stream_is_archived_once_though_delivered_twice(worker, settings):
    archiving(worker)
    employee = unique("it_arch_")
    now = int(time.time() * 1000)
    chat = {"msgid": unique("it-msg-"), "action": "send", "from": employee, "tolist": ["wmCUST01"],
            "roomid": "", "msgtime": now, "msgtype": "text", "text": {"content": "您好，今天到货"},
            "corpid": "wwtest", "seq": 3}
    contact = {"ToUserName": "wwtest", "FromUserName": "sys", "CreateTime": now // 1000, "MsgType": "event",
               "Event": "change_external_contact", "ChangeType": "add_external_contact", "UserID": employee,
               "ExternalUserID": "wmCUST01", "State": "", "WelcomeCode": "WC1"}
    order = {"order_id": unique("SO-"), "event": "created", "ts": now, "employee_id": employee,
             "customer_id": "wmCUST01", "amount": "1299.00", "currency": "CNY", "store_id": "SH-01",
             "customer": {"name": "王女士"}, "items": [{"sku": "A-100", "qty": 1, "price": "1299.00"}]}
    hr = {"type": "checkin", "ts": now, "employee_id": employee, "checkin_type": "上班打卡", "exception_type": ""}
    records = [("wecom.msgaudit", employee, chat), ("wecom.contacts", employee, contact),
               ("crm.orders", employee, order), ("hr.events", employee, hr)]
    await produce(settings.kafka, records + records)

    archive = ClickHouseArchive(settings.clickhouse)
    db = archive.database
    p = {"e": employee}
    await eventually(archive, f"SELECT msgid, content_norm FROM {db}.messages FINAL WHERE sender = %(e)s", p,
                     [(chat["msgid"], "您好今天到货")])
    await eventually(archive, f"SELECT change_type, external_user_id, welcome_code FROM {db}.contact_events "
                     "FINAL WHERE employee_id = %(e)s", p, [("add_external_contact", "wmCUST01", "WC1")])
    await eventually(archive, f"SELECT order_id, event, toString(amount) FROM {db}.orders FINAL "
                     "WHERE employee_id = %(e)s", p, [(order["order_id"], "created", "1299.00")])
    await eventually(archive, f"SELECT type, detail FROM {db}.hr_events FINAL WHERE employee_id = %(e)s", p,
                     [("checkin", '{"checkin_type":"上班打卡","exception_type":""}')])


async def test_alert_revisions_and_board_actions_end_as_one_row(worker, settings):
    archiving(worker)
    employee = unique("it_arch_")
    now = int(time.time() * 1000)
    alert = {"alert_id": unique("it-alert-"), "rule": "chat.diversion_phrase", "severity": "high",
             "score": 80.0, "employee_id": employee, "team": "华东一组", "branch": "SH-01", "ts": now,
             "window": {"start": now - 3600_000, "end": now}, "title": "引导客户到外部平台下单",
             "explanation": "…", "evidence": [{"topic": "wecom.msgaudit", "id": "m1"}],
             "rules_version": "it", "detected_at": now, "schema": 1, "revision": 1}

    def action(kind: str, ts: int, **extra) -> dict:
        return {"action_id": unique(""), "alert_id": alert["alert_id"], "employee_id": employee,
                "team": "华东一组", "action": kind, "actor": "lisi", "actor_role": "supervisor", "ts": ts,
                "detail": {}, **extra}

    claim = action("claim", now + 1, status="assigned")
    await produce(settings.kafka, [("paodan.alerts", employee, alert), ("paodan.alert_actions", employee, claim),
                                   ("paodan.alerts", employee, {**alert, "revision": 2, "score": 91.5})])
    archive = ClickHouseArchive(settings.clickhouse)
    db = archive.database
    p = {"id": alert["alert_id"]}
    await eventually(archive, f"SELECT revision, score, status, assignee FROM {db}.alerts FINAL "
                     "WHERE alert_id = %(id)s", p, [(2, 91.5, "assigned", "lisi")])
    resolve = action("resolve", now + 2, status="resolved", resolution="true_positive")
    await produce(settings.kafka, [("paodan.alert_actions", employee, resolve)] * 2)
    await eventually(archive, f"SELECT status, resolution, updated_at FROM {db}.alerts FINAL "
                     "WHERE alert_id = %(id)s", p, [("resolved", "true_positive", now + 2)])
    await eventually(archive, f"SELECT action, actor, resolution FROM {db}.alert_actions FINAL "
                     "WHERE alert_id = %(id)s ORDER BY ts", p,
                     [("claim", "lisi", ""), ("resolve", "lisi", "true_positive")])
