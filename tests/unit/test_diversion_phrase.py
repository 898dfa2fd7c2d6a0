"""chat.diversion_phrase: what an employee writes to steer a customer away raises one growing alert
per employee and window; customers' words and unrelated chat raise nothing."""

from __future__ import annotations

from config.rules import load_rules
from config.settings import CONFIG_DIR
from detectors.alert import alert_id
from detectors.diversion_phrase import detect
from detectors.events import ChatMessage

RULES = load_rules(CONFIG_DIR / "rules.yaml")
T0 = 1_764_210_000_000  # 2025-11-27 02:20 UTC


def msg(text: str, sender: str = "zhangsan", t: int = T0, msgid: str = "m1", action: str = "send") -> ChatMessage:
    return ChatMessage(msgid=msgid, employee_id="zhangsan", sender=sender, msgtime=t, msgtype="text",
                       action=action, text=text)


def test_a_diversion_phrase_from_the_employee_raises_an_explained_alert():
    state, alerts = detect(None, msg("亲，你去拼多多下单吧，便宜两百"), RULES, {"team": "华东一组", "branch": "SH-01"})
    [a] = alerts
    assert a.rule == "chat.diversion_phrase" and a.severity == "high"
    assert (a.team, a.branch) == ("华东一组", "SH-01")
    assert a.ts == T0 and a.window_start <= T0 < a.window_end
    assert a.alert_id == alert_id("chat.diversion_phrase", "zhangsan", a.window_start, a.window_end)
    assert [e.to_dict() for e in a.evidence] == [{"topic": "wecom.msgaudit", "id": "m1"}]
    assert "去拼多多下单" in a.explanation and "引导到竞品平台下单" in a.explanation
    assert a.highlights[0]["text"] == "去拼多多下单"
    assert state["open"][a.alert_id]["revision"] == 1


def test_spaces_punctuation_and_full_width_between_characters_still_match():
    _, alerts = detect(None, msg("加 我 私-人 微 信 吧"), RULES)
    [a] = alerts
    h = a.highlights[0]
    assert h["term"] == "加我私人微信"
    assert "加 我 私-人 微 信 吧"[h["start"]:h["end"]] == "加 我 私-人 微 信"
    _, alerts = detect(None, msg("ＰＬＳ　转账给我"), RULES)
    assert alerts and alerts[0].severity == "critical"


def test_customers_words_and_ordinary_chat_raise_nothing():
    assert detect(None, msg("拼多多上有人让我去拼多多下单", sender="wmCUSTOMER"), RULES)[1] == []
    assert detect(None, msg("您好，官方旗舰店下单就行"), RULES)[1] == []
    assert detect(None, msg("去拼多多下单", action="recall"), RULES)[1] == []


def test_further_hits_in_the_window_update_the_same_alert_and_escalate():
    state, [first] = detect(None, msg("去淘宝拍吧", msgid="m1"), RULES)
    state, [second] = detect(state, msg("直接转我就行", msgid="m2", t=T0 + 60_000), RULES)
    assert second.alert_id == first.alert_id
    assert second.revision == 2 and second.severity == "critical"
    assert [e.id for e in second.evidence] == ["m1", "m2"]
    assert second.score > first.score
    # The same message delivered again changes nothing.
    again_state, again = detect(state, msg("直接转我就行", msgid="m2", t=T0 + 60_000), RULES)
    assert again == [] and again_state == state


def test_the_next_window_is_a_new_alert_and_old_windows_leave_the_state():
    state, [a] = detect(None, msg("去京东买", msgid="m1"), RULES)
    state, [b] = detect(state, msg("去京东买", msgid="m2", t=T0 + 3_600_000), RULES)
    assert a.alert_id != b.alert_id
    state, [c] = detect(state, msg("去京东买", msgid="m3", t=T0 + 4 * 3_600_000), RULES)
    assert set(state["open"]) == {c.alert_id}


def test_detection_is_deterministic_for_replay():
    runs = []
    for _ in range(2):
        state, out = None, []
        for i, text in enumerate(["你好", "去拼多多下单", "私聊我", "好的"]):
            state, alerts = detect(state, msg(text, msgid=f"m{i}", t=T0 + i * 1000), RULES)
            out.extend(a.to_dict() for a in alerts)
        runs.append(out)
    assert runs[0] == runs[1] and len(runs[0]) == 2
