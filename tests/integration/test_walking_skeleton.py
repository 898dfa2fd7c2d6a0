"""The whole path on the real stack: a WeCom chat record in Kafka becomes an alert on `paodan.alerts`,
in ClickHouse `paodan.alerts` and on a board websocket; garbage goes to the dead-letter topic and the
stream keeps going; a websocket without a valid token is refused."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dashboard_ws.auth import issue
from sinks.clickhouse import ClickHouseArchive
from tests.live import REPO, Consumer, alert_revision, free_port, produce, unique, wait_listening

pytestmark = pytest.mark.integration


def chat_record(employee: str, text: str, msgtime: int | None = None) -> dict:
    return {"msgid": unique("it-msg-"), "action": "send", "from": employee, "tolist": ["wmCUSTOMER0001"],
            "roomid": "", "msgtime": msgtime or int(time.time() * 1000), "msgtype": "text",
            "text": {"content": text}, "corpid": "wwtest", "seq": 1}


@pytest.fixture(scope="module")
def board(stack, tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("board") / "board.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "paodan", "board", "--port", str(port)], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_listening(proc, port, 20, "board")
    yield f"ws://127.0.0.1:{port}/ws"
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)


async def _ws_alert(url: str, employee: str, ready: asyncio.Event, timeout: float) -> dict:
    async with connect(url) as ws:
        hello = orjson.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["role"] == "compliance"
        snapshot = orjson.loads(await ws.recv())
        assert snapshot["type"] == "snapshot"
        ready.set()
        async with asyncio.timeout(timeout):
            while True:
                msg = orjson.loads(await ws.recv())
                if msg["type"] == "alert" and msg["alert"]["employee_id"] == employee:
                    return msg


async def test_diversion_message_reaches_topic_clickhouse_and_board(worker, board, settings):
    employee = unique("it_emp_")
    token = issue(settings.secret, "compliance", ttl_s=600)
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    ws_ready = asyncio.Event()
    ws_task = asyncio.create_task(_ws_alert(f"{board}?token={token}", employee, ws_ready, 15))
    await asyncio.wait_for(ws_ready.wait(), 10)
    began = time.monotonic()
    record = chat_record(employee, "亲，这款你去拼多多下单，比这里便宜")
    await produce(settings.kafka, [("wecom.msgaudit", employee, record)])
    try:
        [(key, alert)] = await alerts.until(lambda kv: kv[1]["employee_id"] == employee, timeout=10,
                                            distinct=alert_revision)
    finally:
        await alerts.stop()
    on_topic = time.monotonic() - began
    assert key == employee
    assert alert["rule"] == "chat.diversion_phrase"
    assert alert["severity"] == "high"
    assert alert["evidence"] == [{"topic": "wecom.msgaudit", "id": record["msgid"]}]
    assert alert["rules_version"] and alert["schema"] == 1 and alert["detected_at"] > 0
    assert "拼多多" in alert["explanation"]
    assert on_topic < 10

    msg = await ws_task
    assert msg["alert"]["alert_id"] == alert["alert_id"]
    assert time.monotonic() - began < 10

    archive = ClickHouseArchive(settings.clickhouse)
    deadline = time.monotonic() + 10
    rows = []
    while time.monotonic() < deadline and not rows:
        rows = archive.query(f"SELECT alert_id, rule, employee_id FROM {archive.database}.alerts FINAL "
                             "WHERE alert_id = %(id)s", {"id": alert["alert_id"]})
        await asyncio.sleep(0.3)
    assert rows == [(alert["alert_id"], "chat.diversion_phrase", employee)]
    msgs = archive.query(f"SELECT msgid, content FROM {archive.database}.messages FINAL WHERE msgid = %(id)s",
                         {"id": record["msgid"]})
    assert msgs == [(record["msgid"], record["text"]["content"])]


async def test_garbage_goes_to_deadletter_and_the_stream_goes_on(worker, settings):
    employee = unique("it_emp_")
    garbage = b"\xff\xfe not json {"
    dead = await Consumer(settings.kafka, "paodan.deadletter").start()
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    good = chat_record(employee, "加我私人微信，私下交易更便宜")
    await produce(settings.kafka, [("wecom.msgaudit", employee, garbage),
                                   ("wecom.msgaudit", employee, {"msgid": "x", "action": "send"}),
                                   ("wecom.msgaudit", employee, good)])
    try:
        letters = await dead.until(lambda kv: kv[0] == employee, timeout=10, count=2,
                                  distinct=lambda kv: kv[1]["raw"])
        [(_, alert)] = await alerts.until(lambda kv: kv[1]["employee_id"] == employee, timeout=10,
                                          distinct=alert_revision)
    finally:
        await dead.stop()
        await alerts.stop()
    by_raw = {d["raw"]: d for _, d in letters}
    import base64
    first = by_raw[base64.b64encode(garbage).decode()]
    assert first["topic"] == "wecom.msgaudit" and first["raw_encoding"] == "base64"
    assert "JSON" in first["error"] and isinstance(first["offset"], int)
    second = [d for _, d in letters if d is not first][0]
    assert "missing field 'from'" in second["error"]
    assert orjson.loads(second["raw"]) == {"msgid": "x", "action": "send"}
    assert alert["evidence"][0]["id"] == good["msgid"]


async def test_websocket_without_valid_token_is_refused(board, settings):
    for url in (board, f"{board}?token=v1.e30.forged", f"{board}?token={issue(b'another-secret-xxxxxxxx', 'compliance')}",
                f"{board}?token={issue(settings.secret, 'compliance', ttl_s=1, now=time.time() - 60)}"):
        with pytest.raises(InvalidStatus) as exc:
            async with connect(url):
                pass
        assert exc.value.response.status_code == 401
