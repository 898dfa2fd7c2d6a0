"""A record the detecting agent dead-letters (an order with a negative amount, an HR leave ending before
it starts) is not archived as a valid row; the valid records beside it are (issue 19)."""

from __future__ import annotations

import asyncio
import time

import pytest

from sinks.clickhouse import ClickHouseArchive
from tests.integration.test_archive_outage import archiving
from tests.integration.test_archive_streams import eventually
from tests.live import produce, unique

pytestmark = pytest.mark.integration


async def test_dead_lettered_records_are_not_archived_as_valid(worker, settings):
    archiving(worker)
    employee = unique("it_rej_")
    now = int(time.time() * 1000)

    def order(amount: str) -> dict:
        return {"order_id": unique("SO-"), "event": "created", "ts": now, "employee_id": employee,
                "customer_id": "wmCUST01", "amount": amount, "currency": "CNY", "store_id": "SH-01",
                "customer": {"name": "王女士"}, "items": []}

    good, negative = order("10.00"), order("-500.00")
    bad_leave = {"type": "leave", "ts": now, "employee_id": employee, "start": now, "end": now - 3600_000}
    checkin = {"type": "checkin", "ts": now, "employee_id": employee, "checkin_type": "上班打卡"}
    await produce(settings.kafka, [("crm.orders", employee, negative), ("crm.orders", employee, good),
                                   ("hr.events", employee, bad_leave), ("hr.events", employee, checkin)])
    archive = ClickHouseArchive(settings.clickhouse)
    db = archive.database
    p = {"e": employee}
    await eventually(archive, f"SELECT order_id FROM {db}.orders FINAL WHERE employee_id = %(e)s", p,
                     [(good["order_id"],)])
    await eventually(archive, f"SELECT type FROM {db}.hr_events FINAL WHERE employee_id = %(e)s", p,
                     [("checkin",)])
    await asyncio.sleep(1.0)  # the rejected ones were in the same batches; make sure nothing trails
    assert archive.query(f"SELECT count() FROM {db}.orders FINAL WHERE employee_id = %(e)s", p) == [(1,)]
    assert archive.query(f"SELECT count() FROM {db}.hr_events FINAL WHERE employee_id = %(e)s", p) == [(1,)]
