"""Triage on the real stack: actions are permission-checked, recorded in Redis, pushed to every viewer of
every board process that may see them, and produced to Kafka `paodan.alert_actions`; viewers resume after
a reconnect without gaps; revoked tokens are refused and cut off; a slow viewer never stalls the rest."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from dashboard_ws import tokens
from dashboard_ws.auth import issue, verify
from sinks.redis_live import LiveAlerts, state_key
from tests.browser.boardkit import BoardProcess, PrivateRedis, WsClient, make_alert
from tests.live import Consumer, unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture(scope="module")
def boards(stack, tmp_path_factory):
    """Two board processes on the same Redis, as behind a load balancer."""
    log_dir = tmp_path_factory.mktemp("boards")
    pair = [BoardProcess(log_dir, name="board-a").start(), BoardProcess(log_dir, name="board-b").start()]
    yield pair
    for b in pair:
        b.stop()


@pytest.fixture
async def live(stack):
    client = LiveAlerts(stack.redis)
    yield client
    await client.close()


def url(board, secret, role, team="", sub="", **query):
    token = issue(secret, role, team, ttl_s=600, sub=sub)
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"{board.ws}?token={token}{extra}"


async def test_an_action_reaches_viewers_on_both_boards_redis_and_kafka(boards, live, settings):
    a, b = boards
    team = unique("组")
    alert = make_alert(team)
    actions = await Consumer(settings.kafka, "paodan.alert_actions").start()
    try:
        async with WsClient(url(a, settings.secret, "supervisor", team, sub="张主管")) as sup, \
                WsClient(url(b, settings.secret, "compliance", sub="合规李")) as officer:
            await live.upsert(alert)
            await sup.until(lambda m: m["type"] == "alert" and m["alert"]["alert_id"] == alert["alert_id"])
            result = await sup.act("acknowledge", alert["alert_id"])
            assert result["ok"] is True
            seen = await officer.until(lambda m: m["type"] == "action" and m["alert_id"] == alert["alert_id"])
            assert seen["seq"] == result["seq"] and seen["state"]["status"] == "acknowledged"
            assert seen["action"]["actor"] == "张主管" and seen["action"]["actor_role"] == "supervisor"

            result = await officer.act("resolve", alert["alert_id"], resolution="false_positive", note="客户先问的")
            assert result["ok"]
            change = await sup.until(lambda m: m["type"] == "action" and m["seq"] == result["seq"])
            assert change["state"]["status"] == "resolved" and change["state"]["resolution"] == "false_positive"
            assert change["precision"]["rule"] == alert["rule"] and change["precision"]["false_positive"] >= 1

        [(k1, ack), (k2, resolve)] = await actions.until(lambda kv: kv[1]["alert_id"] == alert["alert_id"],
                                                          timeout=15, count=2)
    finally:
        await actions.stop()
    assert k1 == k2 == alert["employee_id"]
    assert set(ack) == {"action_id", "alert_id", "employee_id", "team", "action", "actor", "actor_role", "ts",
                        "status", "resolution", "detail"}
    assert (ack["action"], ack["status"], ack["resolution"], ack["team"]) == ("acknowledge", "acknowledged", None, team)
    assert (resolve["action"], resolve["status"], resolve["resolution"]) == ("resolve", "resolved", "false_positive")
    assert resolve["detail"] == {"resolution": "false_positive", "note": "客户先问的"}
    assert ack["action_id"] != resolve["action_id"] and len(ack["action_id"]) == 32
    assert abs(ack["ts"] - time.time() * 1000) < 60_000
    state, _, version = await live.alert(alert["alert_id"])
    assert (await live.alert(alert["alert_id"]))[1]["status"] == "resolved" and version == "2"
    assert await live.redis.exists(state_key(alert["alert_id"]))


async def test_actions_are_checked_by_role_and_team(boards, live, settings):
    a, _ = boards
    mine, other = unique("组A"), unique("组B")
    theirs = make_alert(other)
    await live.upsert(theirs)
    async with WsClient(url(a, settings.secret, "supervisor", mine)) as sup, \
            WsClient(url(a, settings.secret, "compliance")) as officer:
        refused = await sup.act("acknowledge", theirs["alert_id"])
        assert (refused["ok"], refused["error"]) == (False, "not_found")
        assert (await sup.act("silence", theirs["alert_id"], target="rule", minutes=5))["error"] == "not_found"
        forbidden = await officer.act("silence", None, target="rule", value="chat.diversion_phrase", minutes=5)
        assert (forbidden["ok"], forbidden["error"]) == (False, "forbidden")
        bad = await officer.act("resolve", theirs["alert_id"], resolution="probably")
        assert bad["error"] == "bad_request" and "resolution" in bad["message"]
        assert (await officer.act("reopen", theirs["alert_id"]))["error"] == "conflict"
        assert (await officer.act("list_tokens"))["error"] == "forbidden"  # tokens are the admin's
    assert (await live.alert(theirs["alert_id"]))[1] == {}  # nothing was recorded


async def test_silences_reach_the_right_viewers(boards, live, settings):
    a, b = boards
    team_a, team_b = unique("组A"), unique("组B")
    alert = make_alert(team_a)
    await live.upsert(alert)
    async with WsClient(url(a, settings.secret, "supervisor", team_a)) as sup_a, \
            WsClient(url(b, settings.secret, "supervisor", team_b)) as sup_b, \
            WsClient(url(a, settings.secret, "admin", sub="管理员")) as admin:
        result = await admin.act("silence", alert["alert_id"], target="employee", minutes=30, reason="休假")
        assert result["ok"], result
        got = await sup_a.until(lambda m: m["type"] == "silence" and m["seq"] == result["seq"])
        assert got["silence"]["value"] == alert["employee_id"] and got["silence"]["until"] > time.time() * 1000
        rule = unique("rule.")
        lifted = await admin.act("silence", None, target="rule", value=rule, minutes=0)
        await sup_b.until(lambda m: m["type"] == "silence" and m["silence"]["value"] == rule)
        await sup_a.until(lambda m: m.get("seq") == lifted["seq"])
        assert not [m for m in sup_b.of("silence") if m["silence"]["value"] == alert["employee_id"]]


async def test_a_viewer_resumes_after_a_reconnect_without_gaps(boards, live, settings):
    a, b = boards
    team = unique("组")
    first = make_alert(team)
    viewer_url = url(a, settings.secret, "supervisor", team)
    async with WsClient(viewer_url) as viewer:
        await live.upsert(first)
        await viewer.until(lambda m: m["type"] == "alert" and m["alert"]["alert_id"] == first["alert_id"])
        since, epoch = viewer.seq, viewer.epoch
    missed = [make_alert(team), make_alert(unique("别组")), make_alert(team)]
    for alert in missed:
        await live.upsert(alert)
    async with WsClient(url(a, settings.secret, "compliance")) as officer:
        await officer.act("escalate", missed[0]["alert_id"], reason="金额大")
    # Back, on the other board process: only what was missed, only what this supervisor may see.
    async with WsClient(f"{url(b, settings.secret, 'supervisor', team)}&since={since}&epoch={epoch}") as back:
        assert back.messages[1] == {"type": "resume", "seq": since, "epoch": epoch, "risk": []}
        await back.until(lambda m: m["type"] == "action" and m["alert_id"] == missed[0]["alert_id"])
        got = [m["alert"]["alert_id"] for m in back.of("alert")]
        assert missed[0]["alert_id"] in got and missed[2]["alert_id"] in got
        assert missed[1]["alert_id"] not in got and first["alert_id"] not in got
        seqs = [m["seq"] for m in back.messages if "seq" in m and m["type"] != "resume"]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    # From another epoch (Redis lost its data since): a full snapshot instead.
    async with WsClient(f"{viewer_url}&since={since}&epoch=stale") as fresh:
        snapshot = fresh.of("snapshot")[0]
        assert {x["alert_id"] for x in snapshot["alerts"]} >= {first["alert_id"], missed[0]["alert_id"]}


async def test_revoked_tokens_are_refused_and_open_boards_closed(boards, settings):
    a, b = boards
    token = issue(settings.secret, "compliance", ttl_s=600, sub="离职员工")
    claims = verify(settings.secret, token)
    tokens.record(settings.redis, claims, int(time.time()))
    async with WsClient(f"{a.ws}?token={token}") as on_a, WsClient(f"{b.ws}?token={token}") as on_b:
        assert tokens.revoke(settings.redis, claims.jti)
        assert await asyncio.wait_for(on_a.closed, 5) == 4401
        assert await asyncio.wait_for(on_b.closed, 5) == 4401
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{a.ws}?token={token}"):
            pass
    assert refused.value.response.status_code == 401 and b"revoked" in refused.value.response.body
    assert any(r["jti"] == claims.jti and r["revoked"] for r in tokens.listing(settings.redis))


async def test_a_token_that_expires_while_connected_is_cut_off(boards, settings):
    a, _ = boards
    token = issue(settings.secret, "supervisor", unique("组"), ttl_s=2)
    async with WsClient(f"{a.ws}?token={token}") as viewer:
        assert await asyncio.wait_for(viewer.closed, 6) == 4401


async def test_a_slow_viewer_is_dropped_and_never_stalls_the_others(stack, settings, tmp_path):
    # Its own Redis and board: the oversized alerts that fill the socket buffers stay out of the shared state.
    redis = PrivateRedis(tmp_path / "redis").start()
    board = BoardProcess(tmp_path, env={"PAODAN_REDIS": redis.url}).start()
    live = LiveAlerts(redis.url)
    team = unique("组")
    try:
        slow = await connect(url(board, settings.secret, "supervisor", team), max_size=None, max_queue=1)
        big = "很长的说明" * 60_000  # ~900 kB per alert: a backlog of some MB fills the socket buffers
        alerts = [make_alert(team, explanation=big) for _ in range(24)]
        async with WsClient(url(board, settings.secret, "supervisor", team)) as fast:
            began = time.monotonic()
            for alert in alerts:
                await live.upsert(alert)
            await fast.until(lambda m: m["type"] == "alert" and m["alert"]["alert_id"] == alerts[-1]["alert_id"],
                             timeout=20)
            took = time.monotonic() - began
        # The slow viewer was cut off (its connection aborted) rather than buffered without bound.
        received = []
        try:
            async with asyncio.timeout(20):
                async for raw in slow:
                    received.append(raw)
            outcome = "closed normally"
        except ConnectionClosedError:
            outcome = "dropped"
        except TimeoutError:
            outcome = "still connected"
        assert outcome == "dropped"
        assert sum(1 for raw in received if '"type":"alert"' in raw) < len(alerts)
    finally:
        board.stop()
        await live.close()
        redis.stop()
    assert len({m["alert"]["alert_id"] for m in fast.of("alert")} & {x["alert_id"] for x in alerts}) == len(alerts)
    assert took < 20
