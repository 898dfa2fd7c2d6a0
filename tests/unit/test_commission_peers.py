"""commission.over_claim against the colleagues' norm (no policy configured): rates per store and SKU."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from config.rules import load_rules
from detectors import commission
from detectors.context import BehaviourRules

SHIPPED = BehaviourRules.of(load_rules(Path(__file__).resolve().parents[2] / "config" / "rules.yaml"))
RULES = dataclasses.replace(SHIPPED, commission=dataclasses.replace(SHIPPED.commission, peer_norm=True))
WINDOW = (0, 86_400_000)


def day(claims: dict[str, list[tuple[str, str, float]]], d: int) -> list[dict]:
    return [{"e": e, "d": d, "cr": [[store, sku, rate, f"{e}-{d}-{i}"] for i, (store, sku, rate) in enumerate(c)]}
            for e, c in claims.items()]


def run(days: list[dict]) -> list:
    st: dict = {}
    found = []
    for d, claims in enumerate(days):
        found += commission.evaluate(day(claims, d), WINDOW, RULES, st)
    return found


def usual(rate_of: dict[str, float], n: int = 5) -> list[dict]:
    return [{e: [("S1", "A-1", r)] for e, r in rate_of.items()} for _ in range(n)]


def test_a_rate_above_every_colleague_and_the_own_usual_is_flagged_naming_the_norm_and_orders():
    base = usual({"a": 0.05, "b": 0.05, "c": 0.051, "d": 0.049})
    found = run(base + [{"a": [("S1", "A-1", 0.08)], "b": [("S1", "A-1", 0.05)]}])
    assert [(e, s.rule, s.severity) for e, s in found] == [("a", "commission.over_claim", "medium")]
    sig = found[0][1]
    assert "门店 S1 商品 A-1" in sig.explanation and "a-5-0" in sig.explanation
    assert sig.evidence == [("crm.orders", "a-5-0:paid")]


def test_a_company_paying_any_rate_sets_its_own_norm():
    # Everyone at 12 %: a policy of 3 % would flag them all; the peers' norm flags nobody.
    assert run(usual({"a": 0.12, "b": 0.12, "c": 0.12, "d": 0.121}, 8)) == []


def test_an_employee_always_paid_more_for_the_store_is_their_own_norm():
    # b's store bonus: always 1.5 × the others — not a change, not flagged.
    assert run(usual({"a": 0.05, "b": 0.075, "c": 0.05, "d": 0.05}, 8)) == []


def test_the_peer_norm_is_off_unless_the_rules_turn_it_on():
    base = usual({"a": 0.05, "b": 0.05, "c": 0.051, "d": 0.049})
    st: dict = {}
    for d, claims in enumerate(base + [{"a": [("S1", "A-1", 0.08)]}]):
        assert commission.evaluate(day(claims, d), WINDOW, SHIPPED, st) == []


def test_too_few_colleagues_claiming_that_sku_makes_no_norm():
    base = usual({"a": 0.05, "b": 0.05})
    assert run(base + [{"a": [("S1", "A-1", 0.2)]}]) == []


def test_the_same_sku_in_another_store_of_the_branch_is_the_fallback_norm():
    base = [{"a": [("S9", "A-1", 0.05)], "b": [("S1", "A-1", 0.05)], "c": [("S2", "A-1", 0.05)],
             "d": [("S3", "A-1", 0.05)]} for _ in range(5)]
    found = run(base + [{"a": [("S9", "A-1", 0.11)]}])
    assert [(e, s.severity) for e, s in found] == [("a", "high")]
    assert "本分公司商品 A-1" in found[0][1].explanation


def test_a_split_entered_on_one_day_is_found_when_its_parts_are_paid_on_different_days():
    from tests.unit.test_behaviour_detectors import DAY, H, MON, World, order

    w = World()
    w.own(w.amy, "wmk2")
    for i in range(3):
        w.send(order(w.amy, f"SO-S{i}", "created", MON + 10 * H + i * 600_000, "wmk2", 800.0))
    for i in range(3):  # payment terms: each part paid on its own day
        w.send(order(w.amy, f"SO-S{i}", "paid", MON + (i + 2) * DAY + 11 * H, "wmk2", 800.0))
    split = w.rules("amy")["commission.split_orders"]
    assert "同一客户录入 3 笔" in split["explanation"] and "SO-S0" in split["explanation"]
    assert {e["id"] for e in split["evidence"]} >= {"SO-S0:paid", "SO-S2:paid"}


def test_a_split_is_found_when_entered_before_any_part_is_paid():
    from tests.unit.test_behaviour_detectors import H, MON, World, order

    w = World()
    w.own(w.amy, "wmk3")
    for i in range(2):
        w.send(order(w.amy, f"SO-U{i}", "created", MON + 10 * H + i * 600_000, "wmk3", 800.0))
    assert "commission.split_orders" not in w.rules("amy")
    w.send(order(w.amy, "SO-U2", "created", MON + 11 * H, "wmk3", 800.0))
    split = w.rules("amy")["commission.split_orders"]
    assert "尚未全部付款" in split["explanation"]
    assert {e["id"] for e in split["evidence"]} == {"SO-U0:created", "SO-U1:created", "SO-U2:created"}


def test_one_customers_purchases_spread_over_the_day_are_context_not_a_split():
    from tests.unit.test_behaviour_detectors import H, MON, World, order

    w = World()
    w.own(w.amy, "wmk4")
    for i in range(3):  # morning, midday, afternoon: a customer coming back on a promotion day
        w.send(order(w.amy, f"SO-M{i}", "created", MON + 9 * H + i * 3 * H, "wmk4", 800.0 + 100 * i))
    spread = w.rules("amy")["commission.split_orders"]
    assert spread["severity"] == "low" and "分散在当天不同时段" in spread["explanation"]
    w.own(w.bob, "wmk5")
    for i in range(3):  # keyed in one after another: one sale split into three
        w.send(order(w.bob, f"SO-N{i}", "created", MON + 10 * H + i * 20 * 60_000, "wmk5", 800.0))
    split = w.rules("bob")["commission.split_orders"]
    assert split["severity"] == "medium" and "一次录入" in split["explanation"]


def test_sitting_counts_the_longest_run_of_close_entries():
    from detectors.commission import sitting

    m = 60_000
    assert sitting([0, 10 * m, 20 * m, 200 * m], 30 * m) == 3
    assert sitting([0, 100 * m, 200 * m], 30 * m) == 1
    assert sitting([], 30 * m) == 0
