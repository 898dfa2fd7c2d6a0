"""The board when its dependencies fail, on private instances (never the shared Redis):
- Redis restarted mid-stream: the worker keeps detecting (alerts reach the topic and ClickHouse while Redis
  is down), and board viewers — connected throughout, or reconnecting with `since` — end up with every alert;
- Kafka unreachable: triage actions are still recorded and broadcast at once, wait in the Redis outbox and
  reach `paodan.alert_actions` when a board can produce again."""

from __future__ import annotations

import asyncio
import time

import pytest

from dashboard_ws.auth import issue
from sinks.clickhouse.connection import ClickHouseArchive
from sinks.redis_live import OUTBOX, LiveAlerts
from tests.browser.boardkit import BoardProcess, PrivateRedis, WsClient, make_alert
from tests.integration.test_walking_skeleton import chat_record
from tests.live import Consumer, Worker, alert_revision, free_port, produce, unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
DIVERSION = "亲，这款你去拼多多下单，比这里便宜"


def alert_of(employee: str):
    return lambda m: m["type"] == "alert" and m["alert"]["employee_id"] == employee


async def test_redis_restart_mid_stream_loses_nothing(stack, settings, tmp_path):
    redis = PrivateRedis(tmp_path / "redis").start()
    env = {"PAODAN_REDIS": redis.url}
    worker = board = None
    try:
        worker = Worker(tmp_path, env=env, name="private-worker").start()
        board = BoardProcess(tmp_path, env=env).start()
        token = issue(settings.secret, "compliance", ttl_s=600)
        before, during = [unique("rr_b_") for _ in range(3)], [unique("rr_d_") for _ in range(3)]
        topic = await Consumer(settings.kafka, "paodan.alerts").start()
        try:
            async with WsClient(f"{board.ws}?token={token}") as steady:
                async with WsClient(f"{board.ws}?token={token}") as leaving:
                    await produce(settings.kafka, [("wecom.msgaudit", e, chat_record(e, DIVERSION)) for e in before])
                    for e in before:
                        await steady.until(alert_of(e), timeout=25)
                    since, epoch = leaving.seq, leaving.epoch

                redis.stop()
                began = time.monotonic()
                await produce(settings.kafka, [("wecom.msgaudit", e, chat_record(e, DIVERSION)) for e in during])
                found = await topic.until(lambda kv: kv[1]["employee_id"] in during, timeout=25, count=3,
                                          distinct=alert_revision)
                on_topic = time.monotonic() - began
                ids = {a["alert_id"] for _, a in found}
                archive = ClickHouseArchive(settings.clickhouse)
                rows: list = []
                while len(rows) < 3 and time.monotonic() - began < 60:  # the archive batches (and may restart)
                    rows = archive.query(f"SELECT alert_id FROM {archive.database}.alerts FINAL WHERE alert_id "
                                         "IN %(ids)s", {"ids": tuple(ids)})
                    await asyncio.sleep(0.3)
                assert len(rows) == 3, "alerts did not reach ClickHouse while Redis was down"
                redis.start()

                # The viewer that stayed connected is caught up by the board, without reconnecting…
                for e in during:
                    await steady.until(alert_of(e), timeout=30)
                # …and one that comes back with `since` gets exactly what it missed.
                async with WsClient(f"{board.ws}?token={token}&since={since}&epoch={epoch}") as back:
                    assert back.of("resume")
                    for e in during:
                        await back.until(alert_of(e), timeout=10)
                async with WsClient(f"{board.ws}?token={token}") as fresh:
                    snapshot = {a["employee_id"] for m in fresh.messages if m["type"].startswith("snapshot")
                                for a in m["alerts"]}
                    assert set(before + during) <= snapshot
        finally:
            await topic.stop()
        assert on_topic < 25
    finally:
        for proc in (board, worker):
            if proc is not None:
                proc.stop()
        redis.stop()


async def test_actions_wait_for_kafka_and_are_not_lost(stack, settings, tmp_path):
    redis = PrivateRedis(tmp_path / "redis").start()
    live = LiveAlerts(redis.url)
    alert = make_alert(unique("组"))
    cut_off = BoardProcess(tmp_path, env={"PAODAN_REDIS": redis.url, "PAODAN_KAFKA": f"127.0.0.1:{free_port()}"},
                           name="board-no-kafka").start()
    relaying = None
    try:
        await live.upsert(alert)
        async with WsClient(f"{cut_off.ws}?token={issue(settings.secret, 'compliance', sub='合规李')}") as officer:
            began = time.monotonic()
            result = await officer.act("acknowledge", alert["alert_id"])
            assert result["ok"] and time.monotonic() - began < 2, "an action waited for Kafka"
            await officer.until(lambda m: m["type"] == "action" and m["seq"] == result["seq"])
            assert (await officer.act("resolve", alert["alert_id"], resolution="benign"))["ok"]
        await asyncio.sleep(1)
        assert await live.redis.xlen(OUTBOX) == 2  # waiting, not lost
        cut_off.stop()

        actions = await Consumer(settings.kafka, "paodan.alert_actions").start()
        try:
            relaying = BoardProcess(tmp_path, env={"PAODAN_REDIS": redis.url}, name="board-kafka").start()
            found = await actions.until(lambda kv: kv[1]["alert_id"] == alert["alert_id"], timeout=30, count=2)
        finally:
            await actions.stop()
        assert [a["action"] for _, a in found] == ["acknowledge", "resolve"]
        assert {k for k, _ in found} == {alert["employee_id"]}
        deadline = time.monotonic() + 5
        while await live.redis.xlen(OUTBOX) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert await live.redis.xlen(OUTBOX) == 0
    finally:
        await live.close()
        for proc in (cut_off, relaying):
            if proc is not None:
                proc.stop()
        redis.stop()
