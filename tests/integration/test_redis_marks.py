"""The live feed's marks in Redis (`paodan:live:applied:{group}`) move on only over what this writer
set before: a Redis that lost its data (back empty, or from an older snapshot) while alerts kept
coming must not get marks that vouch for the alerts it lost (issue 19; found by bench_faults, where
new alerts on every partition re-marked an emptied Redis before the feed's next check). On a private
Redis."""

from __future__ import annotations

import pytest

from sinks.redis_live import LiveAlerts
from tests.browser.boardkit import PrivateRedis

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
GROUP = "g-marks"


async def test_marks_move_on_only_from_what_the_writer_set(tmp_path):
    redis = PrivateRedis(tmp_path / "redis").start()
    live = LiveAlerts(redis.url)
    try:
        assert await live.mark_applied(GROUP, {"paodan.alerts:0": 10, "paodan.alerts:1": 4})
        written = {"paodan.alerts:0": 10, "paodan.alerts:1": 4}
        assert await live.mark_applied(GROUP, {"paodan.alerts:0": 12}, written)
        written["paodan.alerts:0"] = 12
        assert await live.applied(GROUP) == written

        await live.redis.flushall()  # back empty
        assert not await live.mark_applied(GROUP, {"paodan.alerts:0": 15}, written)
        assert await live.applied(GROUP) == {}

        await live.redis.hset(f"paodan:live:applied:{GROUP}", mapping={"paodan.alerts:0": 8, "paodan.alerts:1": 4})
        assert not await live.mark_applied(GROUP, {"paodan.alerts:0": 15, "paodan.alerts:1": 6}, written)
        assert await live.applied(GROUP) == {"paodan.alerts:0": 8, "paodan.alerts:1": 4}  # an older snapshot
        assert await live.mark_applied(GROUP, {"paodan.alerts:1": 6}, {"paodan.alerts:1": 4})
    finally:
        await live.close()
        redis.stop()
