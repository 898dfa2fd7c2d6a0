"""Own channels learned by the real worker: the same proposals and the same alerts as `paodan replay`.

A fresh worker (its own application, so its company aggregate holds only this test's employees) reads
a small company's chat day by day: the mini-program eight colleagues in three teams send stops
flagging once learned, the diverter's private WeChat id and the rejected number keep flagging."""

from __future__ import annotations

import asyncio
import io
import re
import shutil

import orjson
import pytest

from config.rules import load_rules
from config.settings import CONFIG_DIR
from streams.replay import Replay
from tests import channels_world as world
from tests.live import Consumer, Worker, produce, unique

pytestmark = pytest.mark.integration


VERSION = "channels-live-test"  # tells this worker's alerts from the session worker's (same inputs)


def rules_file(tmp_path):
    shutil.copytree(CONFIG_DIR / "lexicons", tmp_path / "lexicons")
    text = (CONFIG_DIR / "rules.yaml").read_text(encoding="utf-8").replace(
        "    own_corpname: 跑单科技\n", f"    own_corpname: 跑单科技\n    rejected_channels: [{world.REJECTED}]\n")
    text = re.sub(r'(?m)^version: .*$', f'version: "{VERSION}"', text, count=1)
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "rules.yaml"


def comparable(alerts):
    last = {}
    for a in alerts:
        if a["revision"] >= last.get(a["alert_id"], {}).get("revision", 0):
            last[a["alert_id"]] = a
    return {i: (a["rule"], a["revision"], a["severity"], tuple(e["id"] for e in a["evidence"]), a["explanation"])
            for i, a in last.items()}


def phases(records):
    """Each day's first messages (the ones that close the day before), then the rest of the day."""
    out, current, day = [], [], None
    for r in records:
        d = world.day_of(r[2]["msgtime"]) if r[0] == "wecom.msgaudit" else -1
        if d != day:
            out.append(current)
            current, day = [], d
        current.append(r)
        if r[0] == "wecom.msgaudit" and r[2]["msgid"].endswith("-hi") and r[1] == world.employees(PREFIX[0])[-1]:
            out.append(current)  # every employee has said hello: the day before is closed
            current = []
    out.append(current)
    return [p for p in out if p]


PREFIX: list[str] = []


async def test_worker_learns_the_same_channels_as_replay_and_stops_flagging_them(stack, tmp_path):
    PREFIX[:] = [unique("ch") + "-"]
    path = rules_file(tmp_path)
    records = world.records(PREFIX[0], days=5)
    replay = Replay(load_rules(path), io.BytesIO(), io.StringIO())
    for i, (topic, key, value) in enumerate(records):
        replay.line(f"w:{i}", orjson.dumps({"topic": topic, "key": key, "value": value}))
    expected = [orjson.loads(x) for x in replay.out.getvalue().splitlines()]
    assert expected and all(a["rules_version"] == VERSION for a in expected)
    assert set(replay.channels.proposals()) == {world.OWN}

    w = Worker(tmp_path, env={"PAODAN_RULES": str(path)}).start()
    notices = await Consumer(stack.kafka, f"{w.app_id}-behaviour-notices").start()
    alerts = await Consumer(stack.kafka, "paodan.alerts").start()

    def mine(kv) -> bool:
        return isinstance(kv[1], dict) and str(kv[1].get("employee_id", "")).startswith(PREFIX[0])

    def ours(kv) -> bool:
        return mine(kv) and kv[1].get("rules_version") == VERSION  # the session's worker reads them too

    try:
        for phase in phases(records):
            await produce(stack.kafka, phase)
            await asyncio.sleep(2.0)  # the worker keeps up, as it does live: notices arrive between phases
        told = await notices.until(lambda kv: mine(kv) and kv[1].get("kind") == "channels",
                                   timeout=30, count=len(world.employees(PREFIX[0])))
        seen = await alerts.until(ours, timeout=30, count=len(expected))
        try:
            seen += await alerts.until(ours, timeout=3, count=1)
        except TimeoutError:
            pass
    finally:
        await notices.stop()
        await alerts.stop()
        w.stop()
    learned = {}
    for _, body in told:
        learned.update(body["learned"])
    assert learned == replay.channels.proposals()
    got = [a for _, a in seen]
    assert comparable(got) == comparable(expected)
    own_days = sorted({world.day_of(a["ts"]) for a in got if a["severity"] != "info"
                       and any("gh_ownmall01" in h["term"] for h in a["highlights"])})
    assert own_days and max(own_days) <= 1
    assert sorted({world.day_of(a["ts"]) for a in got if any(world.DIVERTER_WXID in h["text"] for h in a["highlights"])}) \
        == [0, 1, 2, 3, 4]
