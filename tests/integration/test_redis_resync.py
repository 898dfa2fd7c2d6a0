"""Redis is a cache the live feed rebuilds (issue 19): a Redis killed and back without its data (or
flushed) while the worker runs, or found so when the worker starts, gets the alerts it lost re-read from
`paodan.alerts`, and `paodan:resync` tells the board meanwhile. On a private Redis, never the shared one."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from sinks.redis_live import LiveAlerts, alert_key
from tests.browser.boardkit import PrivateRedis
from tests.live import Worker, chat_alerts

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _held(live: LiveAlerts, ids: set[str], timeout: float) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        held = {i for i in ids if await live.redis.exists(alert_key(i))}
        if held == ids or time.monotonic() > deadline:
            return held
        await asyncio.sleep(0.3)


async def test_alerts_a_lost_redis_dropped_are_restored(stack, settings, tmp_path):
    redis = PrivateRedis(tmp_path / "redis").start()
    worker = None
    live = LiveAlerts(redis.url)
    try:
        worker = Worker(tmp_path, env={"PAODAN_REDIS": redis.url}).start()
        _, ids = await chat_alerts(settings.kafka, "rs_")
        assert await _held(live, ids, 20) == ids

        # Killed (no save on the way out) and back empty, while the worker runs.
        redis.proc.send_signal(signal.SIGKILL)
        redis.proc.wait(10)
        for f in redis.data_dir.glob("*.rdb"):
            f.unlink()
        redis.start()
        await live.close()
        live = LiveAlerts(redis.url)
        assert await _held(live, ids, 30) == ids
        assert "re-reading them" in worker.log()

        # Flushed while the worker is down: found on start.
        worker.stop()
        await live.redis.flushall()
        worker.start()
        assert await _held(live, ids, 30) == ids
        deadline = time.monotonic() + 20
        while await live.resync() is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert await live.resync() is None
        assert worker.log().count("re-reading them") == 2
    finally:
        await live.close()
        if worker is not None:
            worker.stop()
        redis.stop()


async def test_the_board_says_when_it_is_resyncing(stack, settings, tmp_path):
    from dashboard_ws.auth import issue
    from tests.browser.boardkit import BoardProcess, WsClient

    redis = PrivateRedis(tmp_path / "redis").start()
    live = LiveAlerts(redis.url)
    board = None
    try:
        board = BoardProcess(tmp_path, env={"PAODAN_REDIS": redis.url}).start()
        url = f"{board.ws}?token={issue(settings.secret, 'compliance', ttl_s=600)}"
        async with WsClient(url) as viewer:
            await viewer.until(lambda m: m["type"] == "snapshot", timeout=10)
            assert viewer.of("snapshot")[0]["resync"] is None
            await live.set_resync({"since": 1, "partitions": 2})
            await viewer.until(lambda m: m["type"] == "resync" and m["resync"], timeout=10)
            async with WsClient(url) as late:
                snap = await late.until(lambda m: m["type"] == "snapshot", timeout=10)
                assert snap["resync"] == {"since": 1, "partitions": 2}
            await live.set_resync(None)
            await viewer.until(lambda m: m["type"] == "resync" and m["resync"] is None, timeout=10)
    finally:
        await live.close()
        if board is not None:
            board.stop()
        redis.stop()
