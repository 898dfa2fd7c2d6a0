"""chat.diversion_phrase: what an employee writes to steer a customer away raises one growing alert
per employee and window; customers' words and unrelated chat raise nothing."""

from __future__ import annotations

from config.rules import load_rules
from config.settings import CONFIG_DIR
from detectors.alert import alert_id
from detectors.content.pipeline import detect
from tests.chatmsg import CUSTOMER, T0, record, view

RULES = load_rules(CONFIG_DIR / "rules.yaml")


def say(state, text: str, sender: str = "zhangsan", t: int = T0, msgid: str = "m1", directory=None):
    rec = record(text=text, sender=sender, t=t, msgid=msgid)
    return detect(state, view(rec), rec, RULES, directory)


def test_a_diversion_phrase_from_the_employee_raises_an_explained_alert():
    state, alerts = say(None, "亲，你去拼多多下单吧，便宜两百", directory={"team": "华东一组", "branch": "SH-01"})
    [a] = alerts
    assert a.rule == "chat.diversion_phrase" and a.severity == "high"
    assert (a.team, a.branch) == ("华东一组", "SH-01")
    assert a.ts == T0 and a.window_start <= T0 < a.window_end
    assert a.alert_id == alert_id("chat.diversion_phrase", "zhangsan", a.window_start, a.window_end)
    assert [e.to_dict() for e in a.evidence] == [{"topic": "wecom.msgaudit", "id": "m1"}]
    assert "「拼多多」" in a.explanation and "竞品平台" in a.explanation and "chat.diversion_phrase" in a.explanation
    assert "diversion.yaml:" in a.explanation  # the lexicon line that matched
    assert a.highlights[0]["text"] == "拼多多" and a.rules_version == RULES.version
    assert state["open"][a.alert_id]["revision"] == 1


def test_spaces_punctuation_and_full_width_between_characters_still_match():
    _, alerts = say(None, "加 我 私-人 微 信 吧")
    [a] = alerts
    h = a.highlights[0]
    assert h["term"] == "加我私人微信"
    assert "加 我 私-人 微 信 吧"[h["start"]:h["end"]] == "加 我 私-人 微 信"
    _, alerts = say(None, "ＰＬＳ　转账给我")
    assert alerts and alerts[0].severity == "critical"


def test_customers_words_and_ordinary_chat_raise_nothing():
    assert say(None, "拼多多上有人让我去拼多多下单", sender=CUSTOMER)[1] == []
    assert say(None, "您好，官方旗舰店下单就行")[1] == []


def test_further_hits_in_the_window_update_the_same_alert_and_escalate():
    state, [first] = say(None, "去淘宝拍吧", msgid="m1")
    state, [second] = say(state, "直接转我就行", msgid="m2", t=T0 + 60_000)
    assert second.alert_id == first.alert_id
    assert second.revision == 2 and second.severity == "critical"
    assert [e.id for e in second.evidence] == ["m1", "m2"]
    assert second.score > first.score
    # The same message delivered again changes nothing.
    again_state, again = say(state, "直接转我就行", msgid="m2", t=T0 + 60_000)
    assert again == [] and again_state["open"] == state["open"]


def test_the_next_window_is_a_new_alert_and_old_windows_leave_the_state():
    state, [a] = say(None, "去京东买", msgid="m1")
    state, [b] = say(state, "去京东买", msgid="m2", t=T0 + 3_600_000)
    assert a.alert_id != b.alert_id
    state, [c] = say(state, "去京东买", msgid="m3", t=T0 + 4 * 3_600_000)
    assert set(state["open"]) == {c.alert_id}


def test_detection_is_deterministic_for_replay():
    runs = []
    for _ in range(2):
        state, out = None, []
        for i, text in enumerate(["你好", "去拼多多下单", "加我私人微信", "好的"]):
            state, alerts = say(state, text, msgid=f"m{i}", t=T0 + i * 1000)
            out.extend(a.to_dict() for a in alerts)
        runs.append(out)
    assert runs[0] == runs[1] and len(runs[0]) == 2
