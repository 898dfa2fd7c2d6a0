"""Chat content on the wire of a real board process: a supervisor's socket never carries the words an alert
matched — neither in the snapshot nor in live frames — while a compliance officer's carries them."""

from __future__ import annotations

import time

import orjson
import pytest

from config.rules import load_rules
from config.settings import CONFIG_DIR
from dashboard_ws.auth import issue
from sinks.redis_live import LiveAlerts
from streams.processing import process_msgaudit
from tests.browser.boardkit import BoardProcess, WsClient
from tests.chatmsg import record
from tests.live import unique
from tests.settled import settled

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

WORDS = ("私人微信", "138 1234 5678", "13812345678")


def detected(team: str, text: str) -> dict:
    """The alert the content detectors raise for one message (what the worker publishes)."""
    employee = unique("priv_")
    rec = record(text=text, sender=employee, msgid=unique("m-"), t=int(time.time() * 1000))
    _, _, alerts = process_msgaudit(employee, orjson.dumps(rec), None, settled(load_rules(CONFIG_DIR / "rules.yaml")),
                                    {"team": team})
    [alert] = [a.to_dict() for a in alerts if a.rule == "chat.private_contact"] or [a.to_dict() for a in alerts]
    alert["detected_at"] = int(time.time() * 1000)
    return alert


async def test_a_supervisor_never_receives_the_matched_words_a_compliance_officer_does(stack, settings, tmp_path):
    board = BoardProcess(tmp_path).start()
    live = LiveAlerts(stack.redis)
    team = unique("隐私组")
    try:
        earlier = detected(team, "亲，加我私人微信，私下交易更便宜")
        await live.upsert(earlier)  # reaches both through the snapshot
        supervisor = issue(settings.secret, "supervisor", team, ttl_s=600, sub="主管")
        officer = issue(settings.secret, "compliance", ttl_s=600, sub=unique("合规"))
        async with WsClient(f"{board.ws}?token={supervisor}") as sup, \
                WsClient(f"{board.ws}?token={officer}") as off:
            later = detected(team, "我的手机 138 1234 5678 加我")
            await live.upsert(later)  # reaches both as a live frame
            for client in (sup, off):
                await client.until(lambda m: m["type"] == "alert" and m["alert"]["alert_id"] == later["alert_id"])
            seen_by_supervisor = orjson.dumps(sup.messages).decode()
            seen_by_officer = orjson.dumps(off.messages).decode()
    finally:
        await live.close()
        board.stop()
    assert earlier["alert_id"] in seen_by_supervisor and later["alert_id"] in seen_by_supervisor
    for words in WORDS:
        assert words in seen_by_officer
        assert words not in seen_by_supervisor
    # The snapshot lists the earlier alert without its evidence and spans (the evidence API has them).
    [listed] = [a for m in off.messages if m["type"].startswith("snapshot") for a in m["alerts"]
                if a["alert_id"] == earlier["alert_id"]]
    assert "highlights" not in listed and "evidence" not in listed
    assert listed["evidence_count"] == len(earlier["evidence"]) and listed["title"] == earlier["title"]
    [live_frame] = [m["alert"] for m in sup.messages if m["type"] == "alert"]
    assert live_frame["content_redacted"] is True and "「＊＊＊」（个人手机号）" in live_frame["explanation"]
    assert [(h["start"], h["end"]) for h in live_frame["highlights"]] == \
        [(h["start"], h["end"]) for h in later["highlights"]]
