"""Chat alerts join risk and the steered-then-cancelled chain, through Kafka and a real worker: the
same alert ids as `paodan replay`, and the chat alert's points in the risk update Redis holds."""

from __future__ import annotations

import orjson
import pytest
import redis

from ingest.simulator import Employee, chat, directory_record, hr, order
from tests.integration.test_behaviour_live import AlertLog, produce, replayed
from tests.live import unique

pytestmark = pytest.mark.integration

MON = 1_764_518_400_000
H = 3_600_000
DAY = 24 * H


class _Ids:
    def __init__(self, prefix: str):
        self.prefix, self.seed, self.n = prefix, 1, 0

    def next_seq(self) -> int:
        self.n += 1
        return self.n


def story(prefix: str) -> list[tuple[str, str, dict]]:
    """A customer with a buying rhythm, an open order, a price question, a private phone, a cancel."""
    amy = Employee(f"{prefix}amy", f"{prefix}amy", f"{prefix}组", "SH-01", f"{prefix}boss")
    boss = Employee(f"{prefix}boss", f"{prefix}boss", f"{prefix}组", "SH-01", "", role="manager")
    ids, customer = _Ids(prefix), f"wm{prefix}c1"
    recs = [directory_record(boss, MON - 40 * DAY), directory_record(amy, MON - 40 * DAY),
            hr(amy, "assignment", MON - 39 * DAY, customer_id=customer)]
    for d in (-30, -20, -10):
        recs += [order(amy, f"{prefix}SO{d}", "created", MON + d * DAY + 10 * H, customer, 900.0),
                 order(amy, f"{prefix}SO{d}", "paid", MON + d * DAY + 11 * H, customer, 900.0)]
    recs += [order(amy, f"{prefix}SO-open", "created", MON + 9 * H, customer, 1200.0),
             chat(ids, amy, customer, MON + 10 * H, False, "这个多少钱？"),
             chat(ids, amy, customer, MON + 10 * H + 5 * 60_000, True, "加我手机 13912345678，私下给你便宜点"),
             order(amy, f"{prefix}SO-open", "cancelled", MON + DAY + 10 * H, customer, 1200.0)]
    return recs


async def test_chat_alerts_reach_risk_and_the_chain_live_as_in_replay(stack, worker):
    prefix = unique("cr") + "-"
    records = story(prefix)
    expected = replayed(stack, records)
    rules = {a["rule"] for a in expected.values()}
    assert "chat.diverted_customer" in rules  # (one moment of chat alone raises no risk level)
    log = await AlertLog(stack, prefix).start()
    try:
        await produce(stack.kafka, records, rate=20.0)
        await log.until(set(expected), timeout=60)
    finally:
        await log.stop()
    log.assert_ids(expected)
    r = redis.Redis.from_url(stack.redis)
    stored = orjson.loads(r.hget("paodan:risk", f"{prefix}amy"))
    chat_ids = {i for i, a in expected.items() if a["rule"] in ("chat.private_contact", "chat.diversion_phrase")
                and a["severity"] != "info"}
    assert chat_ids & {c["alert_id"] for c in stored["contributions"]}
