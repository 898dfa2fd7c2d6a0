"""A result Kafka accepts from the producer but the broker then refuses (over the topic's
`max.message.bytes`) does not fail the whole batch (issue 19): the batch's sends are tried again one
by one, the record whose alert is refused twice is dead-lettered and shown as a
`system.poison_record` alert, and every other result of the batch — the same employee's next alert
included — is published; the worker goes on.

The limit is real: `paodan.alerts` is given a per-topic limit below the alert a chat message listing a
hundred WeChat ids makes, and above every ordinary alert; it is restored afterwards."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.chatmsg import record
from tests.live import Consumer, Worker, alert_revision, unique

pytestmark = pytest.mark.integration

LIMIT = 8_000  # bytes: an ordinary alert is 1–2 kB, the listing one about 20 kB


async def _alerts_limit(bootstrap: str, limit: int | None) -> None:
    """Set (or with None, drop) paodan.alerts' own max.message.bytes, keeping its other overrides."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, "paodan.alerts")
        [described] = await admin.describe_configs([resource])
        # (name, value, read_only, is_default, is_sensitive, …): keep what was set on the topic itself
        own = {e[0]: e[1] for e in described.resources[0][4] if not e[3] and e[0] != "max.message.bytes"}
        if limit is not None:
            own["max.message.bytes"] = str(limit)
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "paodan.alerts", configs=own)])
    finally:
        await admin.close()


async def _send(bootstrap: str, records) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:  # one partition and one batch: the refused result sits among others
            await producer.send("wecom.msgaudit", key=key, value=orjson.dumps(value), partition=0)
        await producer.flush()
    finally:
        await producer.stop()


async def test_a_result_the_broker_refuses_is_dead_lettered_and_the_batch_goes_on(stack, settings, tmp_path):
    employee = unique("itr_refused_")
    now = int(time.time() * 1000)
    listing = record(text=" ".join(f"加我微信 wx_chen{i:04d}" for i in range(150)), sender=employee,
                     msgid=unique("big-"), t=now)
    after = record(text="去拼多多下单，便宜两百", sender=employee, msgid=unique("g-"), t=now + 1)
    worker = Worker(tmp_path).start()
    dead = await Consumer(settings.kafka, "paodan.deadletter").start()
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    await _alerts_limit(settings.kafka, LIMIT)
    try:
        await asyncio.sleep(2.0)  # the broker applies a topic's new config within moments
        await _send(settings.kafka, [(employee.encode(), listing), (employee.encode(), after)])
        wanted = {"chat.diversion_phrase", "system.poison_record"}
        mine: list = []
        while not wanted <= {a["rule"] for _, a in mine} or not any(
                after["msgid"] in str(a["evidence"]) for _, a in mine if a["employee_id"] == employee):
            mine += await alerts.until(lambda kv: kv[1]["employee_id"] == employee or (
                kv[1]["rule"] == "system.poison_record" and kv[1]["evidence"][0]["topic"] == "wecom.msgaudit"),
                timeout=60)
        mine = list({alert_revision(kv): kv for kv in mine}.values())  # the session's worker sends them too
        got = [a for _, a in mine if a["employee_id"] == employee]
        assert "chat.private_contact" not in {a["rule"] for a in got}  # the one the broker refused
        (_, letter), *_ = await dead.until(
            lambda kv: isinstance(kv[1], dict) and listing["msgid"] in kv[1].get("raw", ""), timeout=20)
        assert letter["error"].startswith("result refused twice by Kafka") and letter["partition"] == 0
        systems = [a for _, a in mine if a["rule"] == "system.poison_record"]
        assert f"0:{letter['offset']}" in {a["evidence"][0]["id"] for a in systems}
        assert all(len(orjson.dumps(a)) < LIMIT for a in got)
        # The session's worker (another group) may have been first to publish; wait for this one's.
        deadline = time.monotonic() + 30
        while "Kafka refused a send for wecom.msgaudit[0]" not in worker.log() and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert "Kafka refused a send for wecom.msgaudit[0]" in worker.log()
        assert any(a["explanation"].startswith("检测结果两次被 Kafka 拒收") for a in systems)
        assert worker.proc.poll() is None  # and it goes on: a later record still raises its alert
        later = record(text="去拼多多下单", sender=employee, msgid=unique("g-"), t=now + 10)
        await _send(settings.kafka, [(employee.encode(), later)])
        await alerts.until(lambda kv: kv[1]["employee_id"] == employee and later["msgid"] in str(kv[1]["evidence"]),
                           timeout=60)
    finally:
        await _alerts_limit(settings.kafka, None)
        await alerts.stop()
        await dead.stop()
        worker.stop()
