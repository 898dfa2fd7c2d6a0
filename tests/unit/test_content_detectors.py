"""Content detectors beyond words (numbers, ids, links, codes, message types), intent, recall,
explanations, and bad input — through the same entry points the worker and replay use."""

from __future__ import annotations

import time

import orjson
import pytest

from config.rules import load_rules
from config.settings import CONFIG_DIR
from detectors.content.contacts import luhn
from detectors.content.pipeline import analyse, detect
from streams.processing import process_msgaudit
from formats.records import RecordError
from tests.chatmsg import CUSTOMER, EMPLOYEE, T0, recall, record, view
from tests.settled import settled

RULES = settled(load_rules(CONFIG_DIR / "rules.yaml"))


def found(rec, directory=None) -> list[tuple[str, str, str]]:
    """(rule, kind, severity) of every signal of one record."""
    return [(s.rule, s.kind, s.severity) for s in analyse(view(rec), rec, RULES, directory)]


def run(recs, directory=None):
    state, alerts = None, []
    for rec in recs:
        state, new = detect(state, view(rec), rec, RULES, directory)
        alerts.extend(new)
    return state, alerts


# --- numbers, ids, links, codes ------------------------------------------------------------------

def test_personal_numbers_are_found_however_written_but_company_numbers_are_not():
    assert found(record(text="电话 139-0000-1111")) == [("chat.private_contact", "phone", "high")]
    assert found(record(text="热线 400-820-8820 或 95188")) == []
    assert found(record(text="官方售后 13800000000")) == []  # allow-listed
    assert found(record(text="单号 20261127000123456789")) == []  # a long number is not a phone


def test_bank_cards_must_pass_luhn():
    assert luhn("6222020200112233446") and not luhn("6222020200112233445")
    assert found(record(text="卡号 6222020200112233446")) == [("chat.offline_payment", "bank_card", "critical")]
    assert found(record(text="卡号 6222020200112233445")) == []


def test_wechat_ids_links_and_tao_passwords():
    assert ("chat.private_contact", "wechat_id", "high") in found(record(text="wxid_abc12345xyz 加一下"))
    assert ("chat.external_shop", "shop_link", "high") in found(record(text="https://item.taobao.com/item.htm?id=1"))
    assert found(record(text="https://shop.paodan.example/p/1")) == []  # our own shop
    assert found(record(text="https://news.example.org/a")) == [("chat.external_shop", "link", "info")]
    assert ("chat.external_shop", "tao_password", "high") in found(record(text="€AbC123dEf9€ 打开"))
    assert found(record(text="价格 ￥12345678￥")) == []  # digits only: a price, not a code


# --- message types -------------------------------------------------------------------------------

def test_cards_of_colleagues_are_fine_personal_and_other_company_cards_are_not():
    assert found(record("card", {"corpname": "跑单科技", "userid": "lisi"})) == []
    assert found(record("card", {"corpname": "", "userid": "wmX"})) == [("chat.private_contact", "card", "high")]
    [s] = analyse(view(r := record("card", {"corpname": "别家公司", "userid": "x"})), r, RULES)
    assert s.label == "其他企业名片（别家公司）" and s.contact


def test_mini_programs_red_packets_and_links_as_message_types():
    own = {"title": "跑单优选官方商城", "username": "gh_0a1b2c3d4e5f@app", "displayname": "跑单优选官方商城"}
    assert found(record("weapp", own)) == []
    kinds = found(record("weapp", {"title": "京东购物", "username": "gh_jd@app", "displayname": "京东购物"}))
    assert ("chat.external_shop", "competitor_weapp", "high") in kinds
    other = found(record("weapp", {"title": "某某官方商城", "username": "gh_x@app", "displayname": "某某官方商城"}))
    assert [k for k in other if k[0] == "chat.external_shop"] == [("chat.external_shop", "weapp", "medium")]
    [s] = analyse(view(r := record("redpacket", {"type": 1, "totalcnt": 1, "totalamount": 8800, "wish": "谢谢"})),
                  r, RULES)
    assert (s.rule, s.severity, s.label) == ("chat.offline_payment", "medium", "红包（¥88.00）")
    link = record("link", {"title": "好物", "link_url": "https://mobile.yangkeduo.com/x", "description": ""})
    assert found(link) == [("chat.external_shop", "shop_link", "high")]


def test_chat_records_and_mixed_messages_are_looked_inside():
    inner = record("chatrecord", {"title": "转发", "item": [
        {"type": "ChatRecordText", "content": orjson.dumps({"content": "去拼多多下单"}).decode()},
        {"type": "ChatRecordMixed", "content": orjson.dumps({"item": [
            {"type": "text", "content": orjson.dumps({"content": "打 13912345678"}).decode()}]}).decode()}]})
    signals = analyse(view(inner), inner, RULES)
    assert {(s.kind, s.part) for s in signals} == {("entity", "chatrecord[0].content"),
                                                   ("phone", "chatrecord[1][0].content")}


def test_unknown_and_malformed_payloads_are_skipped_cleanly():
    assert found(record("hologram", {"beam": "13812345678"})) == []
    assert found(record("card", "not an object")) == []
    assert found(record("mixed", {"item": [{"type": "text", "content": "{broken json"}, 7, None]})) == []
    assert found(record("chatrecord", {"item": "nope"})) == []


# --- intent --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, sender, severity", [
    ("你去拼多多看看我们店", EMPLOYEE, "high"),        # pointing the customer there
    ("拼多多也有卖的", EMPLOYEE, "low"),              # a mention
    ("谨防拼多多上的假冒店铺", EMPLOYEE, "info"),      # a warning
    ("别在这拍了，去拼多多拍", EMPLOYEE, "high"),      # the warning is in another clause
    ("拼多多上更便宜，我去那边买", CUSTOMER, None),    # the customer's words
])
def test_intent_grades_entities(text, sender, severity):
    rec = record(text=text, sender=sender)
    got = [s.severity for s in analyse(view(rec), rec, RULES) if s.rule == "chat.diversion_phrase"]
    assert got == ([severity] if severity else [])


def test_customer_direction_terms_count_only_from_customers():
    assert found(record(text="返现还没到呢", sender=CUSTOMER)) == [("chat.diversion_phrase", "phrase", "medium")]
    assert found(record(text="返现还没到呢")) == []


def test_scope_limits_a_term_to_its_teams(tmp_path):
    (tmp_path / "lex.yaml").write_text(
        "groups:\n  - name: local\n    kind: phrase\n    severity: high\n    scope: {teams: [华北一组]}\n"
        "    terms: [走后门]\n", encoding="utf-8")
    (tmp_path / "rules.yaml").write_text('version: "s1"\nlexicons: [lex.yaml]\n', encoding="utf-8")
    rules = load_rules(tmp_path / "rules.yaml")
    rec = record(text="这单走后门")
    assert [s.kind for s in analyse(view(rec), rec, rules, {"team": "华北一组"})] == ["phrase"]
    assert analyse(view(rec), rec, rules, {"team": "华东一组"}) == []


# --- recall --------------------------------------------------------------------------------------

def test_recalling_a_hit_raises_and_recalling_contact_details_is_at_least_high():
    _, alerts = run([record(text="淘宝也有", msgid="a"), recall("a", t=T0 + 20_000)])
    assert [(a.rule, a.severity) for a in alerts] == [("chat.diversion_phrase", "low"),
                                                      ("chat.recall_after_hit", "medium")]
    _, alerts = run([record("card", {"corpname": "", "userid": "x"}, msgid="c"), recall("c")])
    assert alerts[-1].rule == "chat.recall_after_hit" and alerts[-1].severity == "critical"


def test_late_recalls_innocent_recalls_and_customer_recalls_raise_nothing():
    _, alerts = run([record(text="去淘宝拍", msgid="a"), recall("a", t=T0 + 11 * 60_000)])
    assert [a.rule for a in alerts] == ["chat.diversion_phrase"]
    assert run([record(text="明天到", msgid="b"), recall("b")])[1] == []
    assert run([record(text="去淘宝拍", msgid="c"), recall("c", sender=CUSTOMER)])[1][-1].rule != \
        "chat.recall_after_hit"


def test_recent_hits_are_bounded():
    recs = [record(text="淘宝也有", msgid=f"m{i}", t=T0 + i * 1000) for i in range(200)]
    state, _ = run(recs)
    assert len(state["recent"]) == RULES.rule("chat.recall_after_hit").remember


# --- explanations --------------------------------------------------------------------------------

def test_alerts_explain_in_chinese_with_span_normal_form_rule_and_offsets():
    text = "加我 V 信 吧，号码 ①③⑨ 1234 5678"
    _, alerts = run([record(text=text, msgid="e1")])
    by_rule = {a.rule: a for a in alerts}
    phrase, contact = by_rule["chat.diversion_phrase"], by_rule["chat.private_contact"]
    assert "「加我 V 信」→“加我微信”" in phrase.explanation
    assert "「①③⑨ 1234 5678」→“13912345678”（个人手机号）" in contact.explanation
    assert "chat.private_contact" in contact.explanation and RULES.version in contact.explanation
    [h] = contact.highlights
    assert text[h["start"]:h["end"]] == "①③⑨ 1234 5678" and h["id"] == "e1" and h["part"] == "text"
    assert [e.id for e in contact.evidence] == ["e1"]


# --- bad input through the shared processing function ------------------------------------------

def test_bad_records_are_dead_lettered_not_crashed():
    with pytest.raises(RecordError):
        process_msgaudit(b"zhangsan", b"\xff\xfe{not json", None, RULES)
    with pytest.raises(RecordError, match="missing field"):
        process_msgaudit(b"zhangsan", orjson.dumps({"msgid": "x", "action": "send"}), None, RULES)
    bad_utf8 = b'{"msgid":"u","action":"send","from":"zhangsan","msgtime":1,"msgtype":"text","text":{"content":"\xff"}}'
    with pytest.raises(RecordError):
        process_msgaudit(b"zhangsan", bad_utf8, None, RULES)


def test_unknown_types_and_megabyte_texts_are_processed_without_harm():
    rec, state, alerts = process_msgaudit(b"zhangsan", orjson.dumps(record("hologram", {"x": 1})), None, RULES)
    # Nothing kept but the day the employee sent on (for the company's own channels, detectors/channels.py).
    assert state == {"ch": [state["ch"][0], [], ""]} and alerts == [] and rec["msgtype"] == "hologram"
    huge = "你好" * 500_000 + "去拼多多下单"  # 1 MB of chat; the hit lies past the scanned limit
    began = time.monotonic()
    _rec, _state, alerts = process_msgaudit(b"zhangsan", orjson.dumps(record(text=huge)), None, RULES)
    assert time.monotonic() - began < 2.0 and alerts == []
    _rec, _state, alerts = process_msgaudit(b"zhangsan", orjson.dumps(record(text="去拼多多下单" + huge)), None, RULES)
    assert [a.rule for a in alerts] == ["chat.diversion_phrase"]


def test_a_number_the_customer_gave_may_be_repeated_back_but_not_the_employees_own():
    state, alerts = run([record(text="收货电话 139-1111-2222", sender=CUSTOMER, msgid="c1"),
                         record(text="您的电话 13911112222 对吗", msgid="e1", t=T0 + 1000)])
    assert alerts == [] and state["customer_numbers"] == [["13911112222", T0]]
    _, alerts = run([record(text="收货电话 139-1111-2222", sender=CUSTOMER, msgid="c1"),
                     record(text="打我的 13722223333", msgid="e2", t=T0 + 1000)])
    assert [a.rule for a in alerts] == ["chat.private_contact"]
    state, _ = run([record(text=f"电话 1391111{i:04d}", sender=CUSTOMER, msgid=f"c{i}", t=T0 + i) for i in range(100)])
    assert len(state["customer_numbers"]) == 32


def test_partly_inspected_records_are_named_for_the_counters():
    from detectors.content.parts import skipped

    assert skipped(record("hologram", {}), 100) == "unknown_type"
    assert skipped(record(text="x" * 101), 100) == "truncated"
    assert skipped(record(text="x" * 100), 100) is None
    assert skipped(record("image", {"md5sum": "a"}), 100) is None


def test_deeply_nested_chat_records_are_bounded():
    from detectors.content.parts import MAX_PARTS, of_record

    leaf = {"item": [{"type": "text", "content": orjson.dumps({"content": "好的"}).decode()}] * 200}
    mid = {"item": [{"type": "ChatRecordMixed", "content": orjson.dumps(leaf).decode()}] * 200}
    top = record("chatrecord", {"item": [{"type": "ChatRecordChatRecord", "content": orjson.dumps(mid).decode()}] * 200})
    began = time.monotonic()
    parts, _ = of_record(top, "chatrecord")
    assert len(parts) <= MAX_PARTS + 1 and time.monotonic() - began < 2.0
