"""Over a replay whose chat arrives late and twice, an alert id's revisions only grow and one (id,
revision) names one body (issue 19 item 4) — and no evidence is lost for it."""

from __future__ import annotations

import io
import random

import orjson

from config.rules import load_rules
from config.settings import CONFIG_DIR
from ingest import simulator
from streams.replay import Replay

RULES = load_rules(CONFIG_DIR / "rules.yaml")


def _replay(lines: list[bytes]) -> list[dict]:
    out = io.BytesIO()
    replay = Replay(RULES, out, io.StringIO())
    for n, raw in enumerate(lines):
        replay.line(str(n), raw)
    bodies = []
    for raw in out.getvalue().splitlines():
        body = orjson.loads(raw)
        body.pop("detected_at")
        bodies.append(body)
    return bodies


def _late_and_again(lines: list[bytes], seed: int) -> list[bytes]:
    """A fetch that lost some chat and got it back at the end, and a crash that re-sent some."""
    rng = random.Random(seed)
    kept, late, again = [], [], []
    for raw in lines:
        chat = b'"wecom.msgaudit"' in raw[:40]
        if chat and rng.random() < 0.15:
            late.append(raw)
            continue
        kept.append(raw)
        if chat and rng.random() < 0.10:
            again.append(raw)
    return kept + late + again


def _violations(bodies: list[dict]) -> tuple[list, list]:
    first: dict[tuple[str, int], dict] = {}
    top: dict[str, int] = {}
    different, shrinking = [], []
    for b in bodies:
        key = (b["alert_id"], b["revision"])
        if first.setdefault(key, b) != b:
            different.append(key)
        if b["revision"] <= top.get(b["alert_id"], 0) and first[key] is not b:
            shrinking.append(key)
        top[b["alert_id"]] = max(top.get(b["alert_id"], 0), b["revision"])
    return different, shrinking


def _final_chat_evidence(bodies: list[dict]) -> set[str]:
    final: dict[str, dict] = {}
    for b in bodies:
        if b["rule"].startswith("chat.") and b["revision"] >= final.get(b["alert_id"], {"revision": 0})["revision"]:
            final[b["alert_id"]] = b
    return {e["id"] for b in final.values() for e in b["evidence"]}


def test_late_and_redelivered_chat_never_reuses_an_alert_revision():
    lines = list(simulator.replay_lines(7, 30_000, 1_764_172_800_000, 40, days=60))
    in_order = _replay(lines)
    shuffled = _replay(_late_and_again(lines, 19))
    assert any(b["rule"].startswith("chat.") for b in in_order)  # the data does raise content alerts
    different, regressed = _violations(shuffled)
    assert different == [], f"{len(different)} (alert id, revision) pairs with different bodies"
    assert regressed == [], f"{len(regressed)} revisions that did not grow"
    # What the sinks keep (each id's highest revision) still holds every message that was evidence.
    assert _final_chat_evidence(in_order) <= _final_chat_evidence(shuffled)


def test_a_message_after_its_windows_alert_was_forgotten_opens_its_own_alert():
    from detectors.alert import alert_id
    from detectors.content.alerting import LATE_NOTE
    from tests.chatmsg import T0
    from tests.unit.test_diversion_phrase import say

    hour = 3_600_000
    state, [first] = say(None, "你去拼多多下单吧", t=T0, msgid="m1")
    state, [later] = say(state, "加我私人微信吧", t=T0 + 5 * hour, msgid="m2")  # the first window is forgotten
    assert first.alert_id not in state["open"]
    state, none = say(state, "你去拼多多下单吧", t=T0, msgid="m1")
    assert none == []  # redelivered: already evidence of the forgotten alert
    state, [late] = say(state, "你去淘宝下单吧", t=T0 + 60_000, msgid="m3")
    assert late.alert_id != first.alert_id and late.revision == 1
    assert (late.window_start, late.window_end) == (first.window_start, first.window_end)
    assert late.explanation.endswith(LATE_NOTE)
    assert late.alert_id != alert_id(first.rule, "zhangsan", first.window_start, first.window_end)
    state, [again] = say(state, "拼多多更便宜", t=T0 + 120_000, msgid="m4")  # joins the late alert
    assert (again.alert_id, again.revision) == (late.alert_id, 2)
    assert [e.id for e in again.evidence] == ["m3", "m4"]
