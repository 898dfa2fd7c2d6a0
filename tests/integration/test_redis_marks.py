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


async def test_a_redis_lost_before_the_feed_wrote_anything_is_still_resynced(stack, settings, tmp_path):
    """A worker restarted (its feed has written nothing yet) and then Redis emptied: the feed starts out
    vouching for what Redis held, so it notices and re-reads (bench_faults: 120 alerts held, 0 after)."""
    import asyncio
    import signal
    import time

    from tests.integration.test_redis_resync import _held
    from tests.live import Worker, chat_alerts

    redis = PrivateRedis(tmp_path / "redis").start()
    live = LiveAlerts(redis.url)
    worker = None
    try:
        worker = Worker(tmp_path, env={"PAODAN_REDIS": redis.url}).start()
        _, ids = await chat_alerts(settings.kafka, "rm_")
        assert await _held(live, ids, 20) == ids
        worker.stop()
        worker.start()
        deadline = time.monotonic() + 30  # the restarted feed is reading, and has nothing to write
        while worker.log().count("live alerts consumer ready") < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        redis.proc.send_signal(signal.SIGKILL)
        redis.proc.wait(10)
        for f in redis.data_dir.glob("*.rdb"):
            f.unlink()
        redis.start()
        await live.close()
        live = LiveAlerts(redis.url)
        # Within the feed's check interval and a re-read; not waiting for some later batch to notice.
        assert await _held(live, ids, 10) == ids
    finally:
        await live.close()
        if worker is not None:
            worker.stop()
        redis.stop()
