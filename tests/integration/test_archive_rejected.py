"""A record the detecting agent dead-letters (an order with a negative amount, an HR leave ending before
it starts, a chat record detection refuses) is not archived as a valid row but kept apart in
`rejected_records`, with the reason and where it was read; the valid records beside it are archived
(issue 19)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from config.chain import ChainSettings

from sinks.clickhouse import ClickHouseArchive
from sinks.chain_checkpoints import load_private_key, read_file
from streams.archive import ArchiveConsumer
from streams.archive_verify import verify
from tests.integration.test_archive_outage import archiving
from tests.integration.test_archive_streams import eventually
from tests.integration.test_archive_chain import _mutate
from tests.live import produce, unique

pytestmark = pytest.mark.integration
NOT_JSON = b"\xff\xfe not json"


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
    await eventually(archive, f"SELECT table_name FROM {db}.rejected_records FINAL WHERE record_key = %(e)s "
                     "ORDER BY table_name", p, [("hr_events",), ("orders",)])


async def _until(archive: ClickHouseArchive, sql: str, want: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the tables appear once the consumer migrated
            [(got,)] = archive.execute(sql)
            if got >= want:
                return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{sql}: {got} < {want}")


async def test_refused_records_are_kept_apart_from_the_valid_rows(stack, tmp_path):
    settings = stack
    tag = unique("itrej")
    db = f"paodan_{tag}"
    arch_settings = dataclasses.replace(settings, clickhouse=settings.clickhouse.rsplit("/", 1)[0] + "/" + db,
                                        sink_flush_s=0.2)
    chain_settings = ChainSettings(key_file=tmp_path / "key.pem", checkpoint_file=tmp_path / "cp.jsonl",
                                   checkpoint_topic=f"{tag}.chain")
    private = {f"{tag}.{name}": name for name in ("wecom.msgaudit", "crm.orders")}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    await admin.start()
    await admin.create_topics([NewTopic(t, 1, 1) for t in private])
    archive = ClickHouseArchive(arch_settings.clickhouse)
    task = asyncio.create_task(ArchiveConsumer(arch_settings, group=f"{tag}-archive", topics=private,
                                               chain_settings=chain_settings).run())
    try:
        now = int(time.time() * 1000)
        order = {"order_id": f"{tag}-SO1", "event": "paid", "ts": now, "employee_id": "zs",
                 "customer_id": "wmC1", "amount": "1299.00", "currency": "CNY", "store_id": "SH-01"}
        chat = {"msgid": f"{tag}-m1", "action": "send", "from": "zs", "tolist": ["wmC1"], "roomid": "",
                "msgtime": now, "msgtype": "text", "text": {"content": "您好"}, "corpid": "wwrej", "seq": 1}
        await produce(settings.kafka, [
            (f"{tag}.crm.orders", "zs", order),
            (f"{tag}.crm.orders", "zs", {**order, "order_id": f"{tag}-SO2", "amount": "-50.00"}),
            (f"{tag}.crm.orders", "zs", NOT_JSON),
            (f"{tag}.wecom.msgaudit", "zs", chat),
            (f"{tag}.wecom.msgaudit", "zs", {**chat, "msgid": f"{tag}-m2", "action": "forward"}),
        ])
        await _until(archive, f"SELECT count() FROM {db}.rejected_records", 3)
        await _until(archive, f"SELECT count() FROM {db}.orders", 1)
        await _until(archive, f"SELECT count() FROM {db}.messages", 1)
        await asyncio.sleep(1.0)  # anything wrongly archived as valid would be in by now
        assert archive.execute(f"SELECT order_id, toString(amount) FROM {db}.orders FINAL") == [(f"{tag}-SO1", "1299.00")]
        assert archive.execute(f"SELECT msgid FROM {db}.messages FINAL") == [(f"{tag}-m1",)]
        rejected = archive.execute(f"SELECT topic, offset, table_name, reason, corpid, size, length(raw) "
                                   f"FROM {db}.rejected_records FINAL ORDER BY topic, offset")
        assert rejected == [
            ("crm.orders", 1, "orders", "field 'amount' must be a non-negative amount, got '-50.00'", "", rejected[0][5],
             rejected[0][5]),
            ("crm.orders", 2, "orders", rejected[1][3], "", len(NOT_JSON), len(NOT_JSON)),
            ("wecom.msgaudit", 1, "messages", "field 'action' must be send, recall or switch, got 'forward'",
             "wwrej", rejected[2][5], rejected[2][5])]
        assert rejected[1][3].startswith("not valid JSON")
        # Kept apart, and chained all the same: a changed rejected record is found.
        await asyncio.sleep(1.0)  # the blocks (the consumer is idle) and their checkpoints
        public = load_private_key(chain_settings, create=False).public_key()
        report = verify(archive, read_file(chain_settings.checkpoint_file), public)
        assert report.ok and report.records == 5, [f.line() for f in report.findings]
        await _mutate(archive, f"ALTER TABLE {db}.rejected_records UPDATE reason = '', raw = '{{}}' "
                      "WHERE topic = 'crm.orders' AND offset = 1", "rejected_records")
        [finding] = verify(archive, read_file(chain_settings.checkpoint_file), public).findings
        assert finding.record == 'rejected_records ["crm.orders",0,1]'
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await admin.delete_topics(list(private) + [chain_settings.checkpoint_topic])
        await admin.close()
        archive.execute(f"DROP DATABASE IF EXISTS {db}")
