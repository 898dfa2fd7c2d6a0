"""Chat content is personal data: a viewer without content permission gets alerts without the chat's
words — in the title, the explanation and the highlights — while the rest of the alert stays readable.
The alerts here are the content detectors' own (the same entry point as the worker)."""

from __future__ import annotations

import orjson

from config.rules import load_rules
from config.settings import CONFIG_DIR
from dashboard_ws.auth import Claims
from dashboard_ws.fanout import Change
from sinks.privacy import MASK, mask_title, redact
from streams.processing import process_msgaudit
from tests.chatmsg import T0, recall, record

RULES = load_rules(CONFIG_DIR / "rules.yaml")
SUPERVISOR = Claims(role="supervisor", team="A", exp=0, jti="s")
COMPLIANCE = Claims(role="compliance", team="", exp=0, jti="c")


def alerts_of(*records) -> list[dict]:
    """The last revision of each alert the detectors raise on these records, as published."""
    state, out = None, {}
    for rec in records:
        _, new_state, alerts = process_msgaudit("zhangsan", orjson.dumps(rec), state, RULES, {"team": "A"})
        state = new_state if new_state is not None else state
        out.update({a.alert_id: a.to_dict() for a in alerts})
    return list(out.values())


def words_of(alert: dict) -> set[str]:
    """Every piece of chat content an alert carries."""
    return {h[k] for h in alert["highlights"] for k in ("text", "term") if h.get(k)}


def test_the_matched_words_leave_title_explanation_and_highlights_the_rest_stays():
    [alert] = alerts_of(record(text="亲，加我私人微信，私下交易更便宜"))
    assert "私人微信" in alert["explanation"]  # what compliance reads
    hidden = redact(alert)
    wire = orjson.dumps(hidden).decode()
    assert words_of(alert) and not any(w in wire for w in words_of(alert))
    assert "私人微信" not in wire and hidden["content_redacted"] is True
    # Precisely the quotes are masked: the detector's sentence around them, the labels and the rule stay.
    assert hidden["explanation"] == alert["explanation"].replace(
        alert["explanation"][alert["explanation"].index("：") + 1:alert["explanation"].index("。")],
        "；".join(f"「{MASK}」（{h['label']}）" for h in alert["highlights"]))
    assert f"命中规则 {alert['rule']}（规则版本 {alert['rules_version']}" in hidden["explanation"]
    assert hidden["title"] == alert["title"]  # 规则标题：group label — no chat words in it
    assert [{k: h[k] for k in ("id", "part", "start", "end", "kind", "severity", "label")} for h in alert["highlights"]] \
        == [{k: h[k] for k in ("id", "part", "start", "end", "kind", "severity", "label")} for h in hidden["highlights"]]
    assert all("text" not in h and "term" not in h and " " not in h.get("source", "") for h in hidden["highlights"])
    assert {k: v for k, v in hidden.items() if k not in ("title", "explanation", "highlights", "content_redacted")} \
        == {k: v for k, v in alert.items() if k not in ("title", "explanation", "highlights")}


def test_numbers_ids_cards_mini_programs_and_recalls_are_masked_too():
    recs = [record(text="我的手机 138 1234 5678，微信号 wxid_abc12345", msgid="p"),
            record("card", {"corpname": "别家公司", "userid": "wmPRIVATE"}, msgid="c", t=T0 + 1000),
            record("weapp", {"title": "京东购物", "username": "gh_jd@app", "displayname": "京东购物"}, msgid="w",
                   t=T0 + 2000),
            record("redpacket", {"type": 1, "wish": "恭喜", "totalcnt": 1, "totalamount": 8888}, msgid="r",
                   t=T0 + 3000),
            recall("p", t=T0 + 60_000)]
    alerts = alerts_of(*recs)
    assert {a["rule"] for a in alerts} >= {"chat.private_contact", "chat.external_shop", "chat.recall_after_hit"}
    for alert in alerts:
        wire = orjson.dumps(redact(alert)).decode()
        for secret in ("12345678", "1234 5678", "wxid_abc12345", "别家公司", "wmPRIVATE", "京东购物", "88.88"):
            assert secret not in wire, (alert["rule"], secret, wire)
    shop = next(a for a in alerts if a["rule"] == "chat.external_shop")
    assert "竞品小程序（京东购物）" in shop["title"] and redact(shop)["title"].endswith("竞品小程序")


def test_explanations_that_do_not_re_render_have_every_quote_masked():
    hand_made = {"alert_id": "x", "rule": "chat.diversion_phrase", "title": "引导客户到外部平台下单",
                 "explanation": "命中引导话术「去拼多多下单」→“去拼多多下单”", "highlights": []}
    assert redact(hand_made)["explanation"] == f"命中引导话术「{MASK}」→“{MASK}”"
    behaviour = {"alert_id": "y", "rule": "contacts.deletion", "title": "批量删除客户",
                 "explanation": "1 小时内删除客户 5 人（阈值 5）", "highlights": []}
    assert redact(behaviour) is behaviour  # nothing to hide: sent as it is
    assert mask_title("向客户发送私人联系方式：其他企业名片（别家公司）") == "向客户发送私人联系方式：其他企业名片"
    assert mask_title("引导客户离开公司渠道：引导到私人渠道（引导行为）") == "引导客户离开公司渠道：引导到私人渠道（引导行为）"


def test_a_supervisors_frame_carries_no_words_a_compliance_officers_does():
    [alert] = alerts_of(record(text="加我 V 信聊"))
    change, _ = Change.parse(orjson.dumps({"seq": 3, "type": "alert", "alert": alert}))
    assert "加我 V 信".encode() in change.frame_for(COMPLIANCE)
    assert not any(w.encode() in change.frame_for(SUPERVISOR) for w in words_of(alert) | {"加我 V 信"})
