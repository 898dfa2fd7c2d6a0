"""The worker mirrors `paodan.alerts` and `paodan.risk` into Redis for the board (streams/live.py),
through a consumer of its own: a risk update on the topic shows up in `paodan:risk`, and a record the
board could not show is skipped without holding up the ones behind it."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
import redis.asyncio as aioredis

from sinks.redis_risk import HASH, RANK
from tests.live import produce, unique

pytestmark = pytest.mark.integration


async def test_risk_updates_on_the_topic_reach_redis(worker, settings):
    employee, broken = unique("risk_emp_"), unique("risk_bad_")
    update = {"employee_id": employee, "team": unique("风险组"), "branch": "SH-01", "score": 72.5,
              "level": "high", "ts": int(time.time() * 1000), "contributions": [{"rule": "orders.spike", "points": 40}]}
    await produce(settings.kafka, [("paodan.risk", broken, b"not json"),
                                   ("paodan.risk", broken, {"employee_id": broken}),  # no score, no ts
                                   ("paodan.risk", employee, update)])
    r = aioredis.Redis.from_url(settings.redis)
    try:
        deadline = time.monotonic() + 15
        stored = None
        while time.monotonic() < deadline and stored is None:
            stored = await r.hget(HASH, employee)
            await asyncio.sleep(0.2)
        assert stored is not None, "the risk update did not reach Redis"
        assert orjson.loads(stored) == update
        assert await r.zscore(RANK, employee) == 72.5
        assert await r.hget(HASH, broken) is None
    finally:
        await r.aclose()
