"""The pure checks of actions through WeCom: reason, confirmation, who may send or hand over for whom."""

from __future__ import annotations

import pytest

from dashboard_ws.auth import Claims
from dashboard_ws.lifecycle import ActionError
from dashboard_ws.wecom_actions import check_message, check_transfer, customers_in, idempotency_key

PEOPLE = {
    "mgr_a": {"team": "一组", "status": "active"}, "s1": {"team": "一组"}, "s2": {"team": "一组"},
    "left": {"team": "一组", "status": "resigned"}, "x1": {"team": "二组"},
}
MGR = Claims(role="supervisor", team="一组", exp=0, jti="j", sub="mgr_a", teams=("一组",))
OFFICER = Claims(role="compliance", team="", exp=0, jti="k", sub="officer")
ALERT = {"alert_id": "a1", "team": "一组", "employee_id": "s1"}
OK = {"reason": "挽回客户", "confirm": True, "text": "官方优惠", "customers": ["wmC1"]}


def code(fn, *args) -> str:
    with pytest.raises(ActionError) as info:
        fn(*args)
    return info.value.code


def test_a_manager_messages_their_teams_customers_as_themselves_by_default():
    assert check_message(MGR, ALERT, PEOPLE, OK) == {"sender": "mgr_a", "text": "官方优惠", "customers": ["wmC1"],
                                                     "reason": "挽回客户"}
    assert check_message(MGR, ALERT, PEOPLE, {**OK, "sender": "s2"})["sender"] == "s2"


def test_message_refusals():
    assert code(check_message, MGR, ALERT, PEOPLE, {**OK, "sender": "s1"}) == "forbidden"  # the suspect
    assert code(check_message, MGR, ALERT, PEOPLE, {**OK, "sender": "x1"}) == "forbidden"  # another team
    assert code(check_message, MGR, ALERT, PEOPLE, {**OK, "sender": "left"}) == "bad_request"
    assert code(check_message, MGR, ALERT, PEOPLE, {**OK, "confirm": "yes"}) == "confirm_required"
    assert code(check_message, MGR, ALERT, PEOPLE, {**OK, "reason": " "}) == "bad_request"
    assert code(check_message, MGR, ALERT, PEOPLE, {**OK, "customers": []}) == "bad_request"
    assert code(check_message, MGR, ALERT, PEOPLE, {**OK, "text": "字" * 1400}) == "bad_request"
    assert code(check_message, MGR, {**ALERT, "team": "二组"}, PEOPLE, OK) == "not_found"
    assert code(check_message, MGR, {**ALERT, "employee_id": "mgr_a"}, PEOPLE, OK) == "forbidden"
    assert check_message(OFFICER, ALERT, PEOPLE, {**OK, "sender": "x1"})["sender"] == "x1"


def test_transfer_checks_and_resignation_from_the_directory():
    req = {"reason": "离职交接", "confirm": True, "from": "left", "to": "s2"}
    assert check_transfer(MGR, PEOPLE, req)["resigned"] is True
    assert check_transfer(MGR, PEOPLE, {**req, "from": "s1"})["resigned"] is False
    assert code(check_transfer, MGR, PEOPLE, {**req, "to": "x1"}) == "forbidden"
    assert code(check_transfer, MGR, PEOPLE, {**req, "from": "mgr_a"}) == "forbidden"
    assert code(check_transfer, MGR, PEOPLE, {**req, "to": "left"}) == "bad_request"
    assert code(check_transfer, MGR, PEOPLE, {**req, "to": "left", "from": "left"}) == "bad_request"
    assert code(check_transfer, MGR, PEOPLE, {**req, "confirm": False}) == "confirm_required"
    assert code(check_transfer, MGR, PEOPLE, {**req, "message": "长" * 201}) == "bad_request"
    assert check_transfer(OFFICER, PEOPLE, {**req, "to": "x1"})["to"] == "x1"


def test_customers_in_messages_are_the_external_parties():
    assert customers_in([("s1", ["wmA", "s2"]), ("woB", ["s1"]), ("s1", ["wmA", "wbRobot"])]) == ["wmA", "woB"]


def test_idempotency_keys_follow_what_is_done():
    assert idempotency_key("m", "a1", ["wmA"]) == idempotency_key("m", "a1", ["wmA"])
    assert idempotency_key("m", "a1", ["wmA"]) != idempotency_key("m", "a1", ["wmB"])


def test_notify_goes_to_the_employees_manager_by_default():
    from dashboard_ws.wecom_actions import check_notify, text_card

    people = {**PEOPLE, "s1": {"team": "一组", "manager_id": "boss"}, "boss": {"team": "管理"}}
    req = {"reason": "请跟进", "confirm": True}
    assert check_notify(MGR, ALERT, people, req)["to"] == "boss"  # outside the team, but the responsible manager
    assert code(check_notify, MGR, ALERT, people, {**req, "to": "x1"}) == "forbidden"
    assert code(check_notify, MGR, ALERT, people, {**req, "to": "s1"}) == "forbidden"
    card = text_card({**ALERT, "title": "发送其他企业名片：其他企业名片（某某贸易公司）", "severity": "high", "ts": 0},
                     "请跟进", "https://b.example.com/")
    assert card["url"] == "https://b.example.com/#alert=a1" and "某某贸易" not in card["title"]
    assert len(card["description"].encode()) <= 512


def test_intercept_checks_and_lexicon_words():
    from config.rules import load_rules
    from config.settings import CONFIG_DIR
    from dashboard_ws.intercepts import check_intercept, lexicon_words, rule_name

    req = {"reason": "高风险", "confirm": True, "employee": "s1", "days": 7}
    assert check_intercept(MGR, PEOPLE, req) == {"employee": "s1", "days": 7, "words": [], "reason": "高风险"}
    assert code(check_intercept, MGR, PEOPLE, {**req, "days": 0}) == "bad_request"
    assert code(check_intercept, MGR, PEOPLE, {**req, "days": True}) == "bad_request"
    assert code(check_intercept, MGR, PEOPLE, {**req, "employee": "x1"}) == "forbidden"
    assert code(check_intercept, MGR, PEOPLE, {**req, "employee": "mgr_a"}) == "forbidden"
    assert code(check_intercept, MGR, PEOPLE, {**req, "words": ["长" * 33]}) == "bad_request"
    words = lexicon_words(load_rules(CONFIG_DIR / "rules.yaml").lexicon)
    assert "加我微信" in words and "拼多多" not in words and len(words) <= 300  # calls to act, not bare mentions
    assert len(rule_name("x" * 64)) <= 20 and rule_name("a") != rule_name("b")


def test_handover_lists_a_leavers_customers_with_the_lightest_loaded_teammate():
    from dashboard_ws.handover import handovers, suggest_taker

    people = {"leaver": {"team": "一组", "status": "resigned"}, "busy": {"team": "一组"}, "free": {"team": "一组"},
              "going": {"team": "一组"}, "gone": {"team": "一组", "status": "resigned"}, "x1": {"team": "二组"},
              "mgr_a": {"team": "一组"}}
    owners = {"c1": "leaver", "c2": "leaver", "c3": "leaver", "c4": "busy", "c5": "busy", "c6": "mgr_a",
              "c7": "x1"}
    assert suggest_taker("leaver", people, {"busy": 2, "mgr_a": 1}, {"leaver", "going"}) == "free"
    assert suggest_taker("x1", people, {}, set()) is None  # alone in their team
    roles = {**people, "leaver": {"team": "一组", "role": "sales"}, "free": {"team": "一组", "role": "manager"},
             "busy": {"team": "一组", "role": "sales"}}
    assert suggest_taker("leaver", roles, {"busy": 2}, {"leaver"}) == "busy"  # the same job first
    day = 86_400_000
    data = {"people": people, "owners": owners, "last_days": {"leaver": 10 * day, "going": 30 * day, "x1": day}}
    [first, second] = handovers(MGR, data, {"leaver": {"c2"}}, now_ms=13 * day + 5)
    assert first == {"employee": "leaver", "name": "", "team": "一组", "last_day": 10 * day, "customers": ["c1", "c3"],
                     "started": ["c2"], "gone": [], "suggested": "free", "overdue_days": 3}
    assert second["employee"] == "going" and second["customers"] == [] and second["overdue_days"] == 0
    # A customer who deleted the leaver (or was deleted) in WeCom is not waiting for a hand-over.
    [first, _] = handovers(MGR, {**data, "gone": {"leaver": {"c3"}}}, {"leaver": {"c2"}}, now_ms=13 * day + 5)
    assert first["customers"] == ["c1"] and first["gone"] == ["c3"] and first["started"] == ["c2"]
    assert [h["employee"] for h in handovers(OFFICER, data, {}, 0)] == ["x1", "leaver", "going"]
