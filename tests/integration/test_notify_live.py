"""Notifications on their own, from `paodan.alerts` on the real Kafka with Redis, and no board running:
high and critical alerts go to the routed targets once per severity, never while silenced, redacted,
within each target's rate, retried on a 5xx; a critical alert nobody acts on is escalated along the
on-call rota as WeCom app messages (the stand-in checks each request), one somebody acknowledged is not."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time

import orjson
import pytest
from aiohttp import web

from config.wecom_app import load_wecom_app
from formats.topics import ALERTS
from ingest.wecom_api import WecomApi
from sinks.notify import Notifier, load_routing
from sinks.redis_live import connect, state_key
from streams import notify_feed
from tests.browser.boardkit import REPO, make_alert
from tests.integration.wecomkit import wecom_env
from tests.live import Worker, free_port, produce, unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class Receiver:
    """A local HTTP endpoint standing in for a WeCom group robot and a SOC webhook."""

    def __init__(self):
        self.robot: list[dict] = []
        self.soc: list[dict] = []
        self.soc_calls = 0
        self.port = free_port()

    async def _robot(self, request):
        self.robot.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _soc(self, request):
        self.soc_calls += 1
        if self.soc_calls == 1:
            return web.Response(status=503, text="busy")
        self.soc.append(await request.json())
        return web.json_response({"ok": True})

    async def start(self):
        app = web.Application()
        app.router.add_post("/robot", self._robot)
        app.router.add_post("/soc", self._soc)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self


    @property
    def env(self) -> dict[str, str]:
        return {"TEST_ROBOT_URL": f"http://127.0.0.1:{self.port}/robot",
                "TEST_SOC_URL": f"http://127.0.0.1:{self.port}/soc"}


def robot_routes(tmp_path, team: str, severity: str = "high", per_minute: int = 20, extra: str = ""):
    """A routing file sending `team`'s alerts from `severity` up to one group robot (TEST_ROBOT_URL)."""
    routes = tmp_path / "notify.yaml"
    routes.write_text(f"""\
targets:
  robot: {{kind: wecom_robot, url_env: TEST_ROBOT_URL, per_minute: {per_minute}}}
routes:
  - {{rule: "*", team: "{team}", min_severity: {severity}, targets: [robot]}}
{extra}""", encoding="utf-8")
    return routes


async def settle(seconds: float = 1.5):
    await asyncio.sleep(seconds)


async def arrived(sent: list, count: int, timeout: float = 15.0) -> None:
    """Wait until `count` notifications arrived (a loaded machine delivers late),
    then a moment more, so that one too many would be seen too."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(sent) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    await settle()


class Feed:
    """notify_feed.run in this process, as the worker's first archive process runs it, with a group of its own."""

    def __init__(self, settings, notifier: Notifier):
        self.settings = dataclasses.replace(settings, app_id=unique("paodan-notify-test-"))
        self.notifier = notifier

    async def __aenter__(self):
        ready = asyncio.Event()
        self.task = asyncio.create_task(notify_feed.run(self.settings, self.notifier, ready))
        await asyncio.wait_for(ready.wait(), 60)
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def publish(settings, *alerts: dict) -> None:
    """Alerts on `paodan.alerts`, as the worker publishes them (keyed by employee)."""
    await produce(settings.kafka, [(ALERTS, a["employee_id"], a) for a in alerts])


async def test_high_and_critical_alerts_are_notified_by_route_once_within_rate(stack, settings, tmp_path):
    receiver = await Receiver().start()
    team = unique("通知组")
    routes = tmp_path / "notify.yaml"
    routes.write_text(f"""\
targets:
  robot: {{kind: wecom_robot, url_env: TEST_ROBOT_URL, per_minute: 3}}
  soc: {{kind: webhook, url_env: TEST_SOC_URL, per_minute: 60}}
routes:
  - {{rule: "*", team: "{team}", min_severity: high, targets: [robot]}}
  - {{rule: "*", team: "{team}", min_severity: critical, targets: [soc]}}
""", encoding="utf-8")
    routing = load_routing(routes, receiver.env)
    redis = connect(settings.redis)
    try:
        async with Feed(settings, Notifier(routing, settings.redis, "http://board.test/")):
            high = make_alert(team, severity="high", explanation="命中引导话术「去拼多多下单」",
                              highlights=[{"id": "m", "start": 0, "end": 2, "text": "私密原文"}])
            await publish(settings, high, make_alert(team, severity="medium"),
                          make_alert(unique("别组"), severity="critical"))
            await arrived(receiver.robot, 1)
            assert len(receiver.robot) == 1 and receiver.soc == []
            content = receiver.robot[0]["markdown"]["content"]
            assert high["title"] in content and high["employee_id"] in content and "私密原文" not in content
            assert "去拼多多下单" not in content and "「＊＊＊」" in content  # the explanation's quote is masked

            await publish(settings, {**high, "revision": 2})  # revised, same severity: nothing new to say
            await publish(settings, {**high, "revision": 3, "severity": "critical", "score": 97.0})
            await arrived(receiver.soc, 1)  # the SOC answers 503 first: retried
            assert len(receiver.robot) == 2 and receiver.soc_calls == 2
            assert [m["alert"]["alert_id"] for m in receiver.soc] == [high["alert_id"]]
            assert receiver.soc[0]["alert"]["severity"] == "critical" and "highlights" not in receiver.soc[0]["alert"]
            assert "去拼多多下单" not in str(receiver.soc[0])

            quiet = make_alert(team, severity="high")
            await redis.hset("paodan:silences", f"employee:{quiet['employee_id']}",  # as the board silences
                             orjson.dumps({"until": int(time.time() * 1000) + 600_000}))
            await publish(settings, quiet)
            await settle()
            assert len(receiver.robot) == 2

            await publish(settings, *(make_alert(team, severity="high") for _ in range(3)))  # 3 a minute; 2 spent
            await arrived(receiver.robot, 3)
            assert len(receiver.robot) == 3
    finally:
        await redis.aclose()
        await receiver.runner.cleanup()


async def test_the_worker_notifies_with_no_board_and_refuses_a_bad_file(stack, settings, tmp_path):
    receiver = await Receiver().start()
    team = unique("工人组")
    routes = robot_routes(tmp_path, team)
    env = {"PAODAN_NOTIFY": str(routes), **receiver.env}
    worker = Worker(tmp_path, name="notify-worker", env=env).start()
    try:
        deadline = time.monotonic() + 60
        while "notify consumer ready" not in worker.log() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        alert = make_alert(team, severity="high")
        await publish(settings, alert)
        await arrived(receiver.robot, 1)
        assert len(receiver.robot) == 1 and alert["employee_id"] in receiver.robot[0]["markdown"]["content"]
    finally:
        worker.stop()
        await receiver.runner.cleanup()
    routes.write_text(routes.read_text(encoding="utf-8") + "escalation: {after_minutes: 15}\n", encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "paodan", "worker"], cwd=REPO, env={**os.environ, **env},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and f"{routes}:5" in bad.stderr and "rota" in bad.stderr


async def test_a_critical_alert_nobody_acts_on_goes_along_the_rota(stack, settings, tmp_path, wecom):
    first, second = unique("oncall-a"), unique("oncall-b")
    wecom.member(first)
    wecom.member(second)
    receiver = await Receiver().start()
    team = unique("升级组")
    routes = robot_routes(tmp_path, team, "critical", extra=f"escalation: {{after_minutes: 0.05, rota: [{first}, {second}]}}\n")
    routing = load_routing(routes, receiver.env)
    notifier = Notifier(routing, settings.redis, "http://board.test/", wecom=WecomApi(load_wecom_app(wecom_env(wecom))))
    redis = connect(settings.redis)
    try:
        async with Feed(settings, notifier):
            ignored, taken = make_alert(team, severity="critical"), make_alert(team, severity="critical")
            await publish(settings, ignored, taken)
            await arrived(receiver.robot, 2)
            # Somebody acknowledges one on the board (its triage state in Redis); the other stays new.
            await redis.hset(state_key(taken["alert_id"]), mapping={
                "version": 1, "json": orjson.dumps({"status": "acknowledged"})})
            deadline = time.monotonic() + 30
            while len([m for m in wecom.messages if m["touser"] in ([first], [second])]) < 2 \
                    and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(4)  # one escalation step more: the rota has ended, nothing else goes out
        sent = [m for m in wecom.messages if m["touser"] in ([first], [second])]
        assert [m["touser"] for m in sent] == [[first], [second]]
        assert all(ignored["title"] in m["card"]["title"] and m["card"]["url"] == "http://board.test/" for m in sent)
        assert "严重告警已 0.05 分钟无人处理" in sent[0]["card"]["description"]
        assert "严重告警已 0.1 分钟无人处理" in sent[1]["card"]["description"]
        assert wecom.violations == []
    finally:
        await redis.aclose()
        await receiver.runner.cleanup()


async def test_quiet_hours_hold_high_alerts_until_they_end_and_let_critical_ones_through(stack, settings, tmp_path):
    import aiohttp

    receiver = await Receiver().start()
    team = unique("夜间组")
    routes = robot_routes(tmp_path, team, extra='quiet_hours: {from: "22:00", to: "08:00", timezone: Asia/Shanghai}\n')
    night = 1_764_864_000.0  # 2025-12-05 00:00 in Shanghai
    clock = [night]
    notifier = Notifier(load_routing(routes, receiver.env), settings.redis, wall=lambda: clock[0])
    try:
        async with aiohttp.ClientSession() as session:
            for alert in (make_alert(team, severity="high"), make_alert(team, severity="high")):
                await notifier.deliver(session, alert)
            critical = make_alert(team, severity="critical")
            await notifier.deliver(session, critical)
            await notifier.flush_suppressed(session)  # still night: nothing summed up yet
            assert len(receiver.robot) == 1
            assert critical["title"] in receiver.robot[0]["markdown"]["content"]
            clock[0] = night + 8 * 3600 + 60  # 08:01: the quiet hours are over
            await notifier.flush_suppressed(session)
        assert receiver.robot[1] == {"msgtype": "text", "text": {
            "content": "另有 2 条高风险告警静默时段内未单独推送，请在看板查看。"}}
    finally:
        await notifier.redis.aclose()
        await receiver.runner.cleanup()


async def test_alerts_held_back_by_the_rate_are_summed_up_in_one_message(stack, settings, tmp_path):
    import aiohttp

    receiver = await Receiver().start()
    notifier = Notifier(load_routing(robot_routes(tmp_path, "*", per_minute=1), receiver.env), settings.redis)
    try:
        notifier.suppressed["robot"] = 4  # four alerts came while the robot's minute was used up
        async with aiohttp.ClientSession() as session:
            await notifier.flush_suppressed(session)
            await notifier.flush_suppressed(session)  # nothing left to say, and no token left to say it
        assert [m["text"]["content"] for m in receiver.robot] == ["另有 4 条高风险告警因推送频率限制未单独推送，请在看板查看。"]
        assert notifier.suppressed["robot"] == 0
    finally:
        await notifier.redis.aclose()
        await receiver.runner.cleanup()
