"""A keyless input record (the contract keys every input by employee) is sent again keyed by its
payload's employee, so it lands on that employee's partition and their state is not split (issue 19)."""

from __future__ import annotations

import time

import pytest

from tests.chatmsg import record
from tests.integration.test_content_live import consuming
from tests.live import Consumer, produce, unique

pytestmark = pytest.mark.integration


async def test_keyless_records_are_rekeyed_by_their_payloads_employee(worker, settings):
    employee = unique("itk_")
    now = int(time.time() * 1000)
    chat = record(text="去拼多多下单", sender=employee, msgid=unique("k-"), t=now)
    order = {"order_id": unique("SO-"), "event": "created", "ts": now, "employee_id": employee,
             "customer_id": "wmCUST01", "amount": "10.00", "currency": "CNY", "items": []}
    await consuming(settings)
    chats = await Consumer(settings.kafka, "wecom.msgaudit").start()
    orders = await Consumer(settings.kafka, "crm.orders").start()
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    await produce(settings.kafka, [("wecom.msgaudit", None, chat), ("crm.orders", None, order)])
    try:
        [(chat_key, _)] = await chats.until(lambda kv: kv[0] is not None and kv[1]["msgid"] == chat["msgid"],
                                            timeout=20)
        [(order_key, _)] = await orders.until(
            lambda kv: kv[0] is not None and kv[1]["order_id"] == order["order_id"], timeout=20)
        [(_, alert)] = await alerts.until(lambda kv: kv[1]["employee_id"] == employee, timeout=20)
    finally:
        for c in (chats, orders, alerts):
            await c.stop()
    assert chat_key == employee and order_key == employee
    assert [e["id"] for e in alert["evidence"]] == [chat["msgid"]]
