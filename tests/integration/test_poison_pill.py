"""A record can never stop the stream (issue 19): a 900 kB value that is not UTF-8 makes a dead letter
of bounded size that still identifies it (sha256, size, where it is in Kafka), and the valid records
behind it raise their alerts."""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.chatmsg import record
from tests.integration.test_content_live import consuming
from tests.live import Consumer, produce, unique

pytestmark = pytest.mark.integration


async def test_a_huge_undecodable_record_is_dead_lettered_bounded_and_the_stream_goes_on(worker, settings):
    employee = unique("itp_pill_")
    pill = bytes(range(128, 256)) * 7_032  # 900 kB, no valid UTF-8 anywhere
    now = int(time.time() * 1000)
    good = [record(text=text, sender=employee, msgid=unique("g-"), t=now + i)
            for i, text in enumerate(("去拼多多下单", "加我 V 信 chen_888"))]
    await consuming(settings)
    dead = await Consumer(settings.kafka, "paodan.deadletter").start()
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    await produce(settings.kafka, [("wecom.msgaudit", employee, pill)]
                  + [("wecom.msgaudit", employee, r) for r in good])
    try:
        got = await alerts.until(lambda kv: kv[1]["employee_id"] == employee, timeout=30, count=2)
        (_, letter), *_ = await dead.until(lambda kv: kv[0] == employee and isinstance(kv[1], dict), timeout=10)
    finally:
        await alerts.stop()
        await dead.stop()
    assert {a["rule"] for _, a in got} >= {"chat.diversion_phrase", "chat.private_contact"}
    assert letter["topic"] == "wecom.msgaudit" and isinstance(letter["offset"], int)
    assert letter["raw_size"] == len(pill) and letter["raw_truncated"] is True
    assert letter["raw_sha256"] == hashlib.sha256(pill).hexdigest()
    assert len(letter["raw"]) + len(letter["error"]) < 200_000
