"""A record detection fails on, whatever the failure, never stops detection (issue 19): it is tried
again once, then dead-lettered with the reason and its bytes, skipped and shown as a
`system.poison_record` alert; the records behind it raise their alerts, and a restarted worker does not
meet it again.

The poison here is real, not simulated: a keyless chat record whose sender id is 600 kB. Re-keying it by
its payload's employee (the contract keys inputs by employee) makes a record of key + value over the
producer's 1 MB request limit, and the send raises."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer
import orjson

from tests.chatmsg import record
from tests.live import Consumer, Worker, alert_revision, unique

pytestmark = pytest.mark.integration


async def _send(bootstrap: str, records) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2 << 20)
    await producer.start()
    try:
        for key, value in records:  # one partition, so the valid records sit behind the poison
            await producer.send_and_wait("wecom.msgaudit", key=key, value=orjson.dumps(value), partition=0)
    finally:
        await producer.stop()


async def test_a_record_that_fails_twice_is_dead_lettered_alerted_and_skipped(stack, settings, tmp_path):
    employee = unique("itp_retry_")
    now = int(time.time() * 1000)
    huge = "p" * 600_000
    poison = record(text="去拼多多下单", sender=huge, msgid=unique("poison-"), t=now)
    good = [record(text=text, sender=employee, msgid=unique("g-"), t=now + i + 1)
            for i, text in enumerate(("去拼多多下单", "加我 V 信 chen_888"))]
    worker = Worker(tmp_path).start()
    dead = await Consumer(settings.kafka, "paodan.deadletter").start()
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    try:
        await _send(settings.kafka, [(None, poison)] + [(employee.encode(), r) for r in good])
        wanted = {"chat.diversion_phrase", "chat.private_contact", "system.poison_record"}
        mine: list = []
        while not wanted <= {a["rule"] for _, a in mine}:  # revisions of one rule may come first
            mine += await alerts.until(lambda kv: kv[1]["employee_id"] == employee or (
                kv[1]["rule"] == "system.poison_record" and kv[1]["evidence"][0]["topic"] == "wecom.msgaudit"),
                timeout=60)
        mine = list({alert_revision(kv): kv for kv in mine}.values())  # the session's worker sends them too
        got = [kv for kv in mine if kv[1]["employee_id"] == employee]
        [system] = [a for _, a in mine if a["rule"] == "system.poison_record"]
        (_, letter), *_ = await dead.until(lambda kv: isinstance(kv[1], dict) and poison["msgid"] in kv[1].get("raw", ""),
                                         timeout=20)
        assert {a["rule"] for _, a in got} >= {"chat.diversion_phrase", "chat.private_contact"}
        assert letter["error"].startswith("detection failed twice") and letter["partition"] == 0
        assert system["evidence"][0]["id"] == f"0:{letter['offset']}"
        assert system["title"].startswith("一条记录无法检测")
        # The session's worker (another group) may have been first to publish; wait for this one's.
        deadline = time.monotonic() + 30
        while "(attempt 2)" not in worker.log() and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert f"failed on wecom.msgaudit[0]@{letter['offset']} (attempt 2)" in worker.log()

        worker.stop()
        worker.start()  # committed past the poison: it starts and detects what comes next
        later = record(text="去拼多多下单", sender=employee, msgid=unique("g-"), t=now + 10)
        await _send(settings.kafka, [(employee.encode(), later)])
        [(_, again)] = await alerts.until(
            lambda kv: kv[1]["employee_id"] == employee and later["msgid"] in str(kv[1]["evidence"]), timeout=60)
        assert worker.proc.poll() is None
    finally:
        await alerts.stop()
        await dead.stop()
        worker.stop()
