"""Notifications from a real board process to HTTP receivers the test runs: high and critical alerts go to
the routed targets once per severity, never while silenced, within each target's rate, retried on a 5xx."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from dashboard_ws.auth import issue
from sinks.redis_live import LiveAlerts
from tests.browser.boardkit import BoardProcess, WsClient, make_alert
from tests.live import free_port, unique

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


async def settle(seconds: float = 1.5):
    await asyncio.sleep(seconds)


async def arrived(sent: list, count: int, timeout: float = 15.0) -> None:
    """Wait until `count` notifications arrived (a loaded machine starts the board's notifier late),
    then a moment more, so that one too many would be seen too."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(sent) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    await settle()


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
    board = BoardProcess(tmp_path, env={"PAODAN_NOTIFY": str(routes),
                                        "TEST_ROBOT_URL": f"http://127.0.0.1:{receiver.port}/robot",
                                        "TEST_SOC_URL": f"http://127.0.0.1:{receiver.port}/soc",
                                        "PAODAN_BOARD_URL": "http://board.test/"}).start()
    live = LiveAlerts(settings.redis)
    try:
        high = make_alert(team, severity="high", highlights=[{"id": "m", "start": 0, "end": 2, "text": "私密原文"}])
        await live.upsert(high)
        await live.upsert(make_alert(team, severity="medium"))
        await live.upsert(make_alert(unique("别组"), severity="critical"))
        await arrived(receiver.robot, 1)
        assert len(receiver.robot) == 1 and receiver.soc == []
        content = receiver.robot[0]["markdown"]["content"]
        assert high["title"] in content and high["employee_id"] in content and "私密原文" not in content
        assert "去拼多多下单" not in content and "「＊＊＊」" in content  # the explanation's quote is masked

        await live.upsert({**high, "revision": 2})  # revised, same severity: nothing new to say
        await live.upsert({**high, "revision": 3, "severity": "critical", "score": 97.0})
        await arrived(receiver.soc, 1)  # the SOC answers 503 first: retried
        assert len(receiver.robot) == 2 and receiver.soc_calls == 2
        assert [m["alert"]["alert_id"] for m in receiver.soc] == [high["alert_id"]]
        assert receiver.soc[0]["alert"]["severity"] == "critical" and "highlights" not in receiver.soc[0]["alert"]
        assert "去拼多多下单" not in str(receiver.soc[0])

        quiet = make_alert(team, severity="high")
        async with WsClient(f"{board.ws}?token={issue(settings.secret, 'admin', sub='管理员')}") as admin:
            result = await admin.act("silence", None, target="employee", value=quiet["employee_id"], minutes=10)
            assert result["ok"]
        await live.upsert(quiet)
        await settle()
        assert len(receiver.robot) == 2

        for _ in range(3):  # the robot allows 3 a minute; 2 are spent
            await live.upsert(make_alert(team, severity="high"))
        await arrived(receiver.robot, 3)
        assert len(receiver.robot) == 3
    finally:
        board.stop()
        await live.close()
        await receiver.runner.cleanup()


async def test_alerts_held_back_by_the_rate_are_summed_up_in_one_message(stack, settings, tmp_path):
    import aiohttp

    from sinks.notify import Notifier, load_routing

    receiver = await Receiver().start()
    routes = tmp_path / "notify.yaml"
    routes.write_text("targets:\n  robot: {kind: wecom_robot, url_env: R, per_minute: 1}\n"
                      "routes:\n  - {rule: '*', team: '*', min_severity: high, targets: [robot]}\n", encoding="utf-8")
    notifier = Notifier(load_routing(routes, {"R": f"http://127.0.0.1:{receiver.port}/robot"}), settings.redis)
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
