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


def day(claims: dict[str, list[tuple]], d: int) -> list[dict]:
    """Each claim: (store, skus, rate[, paid orders this month before it])."""
    return [{"e": e, "d": d, "cr": [[c[0], list(c[1]) if isinstance(c[1], tuple) else [c[1]], c[2], f"{e}-{d}-{i}",
                                     c[3] if len(c) > 3 else 0, 1000.0 * (c[3] if len(c) > 3 else 0)]
                                    for i, c in enumerate(cl)]}
            for e, cl in claims.items()]


def run(days: list[dict], rules=RULES) -> list:
    st: dict = {}
    found = []
    for d, claims in enumerate(days):
        found += commission.evaluate(day(claims, d), WINDOW, rules, st)
    return found


def usual(rate_of: dict[str, float], n: int = 10) -> list[dict]:
    return [{e: [("S1", "A-1", r)] for e, r in rate_of.items()} for _ in range(n)]


COLLEAGUES = {"a": 0.05, "b": 0.05, "c": 0.051, "d": 0.049}


def flagged(found: list) -> list:
    """Medium and above: what flags an employee (a single claim above the norm is low, context)."""
    return [(e, s) for e, s in found if s.severity in ("medium", "high")]


def test_claims_above_what_colleagues_were_paid_are_flagged_naming_the_norm_and_orders():
    found = flagged(run(usual(COLLEAGUES) + [{"a": [("S1", "A-1", 0.08)], "b": [("S1", "A-1", 0.05)]},
                                             {"a": [("S1", "A-1", 0.07)], "b": [("S1", "A-1", 0.05)]}]))
    assert [(e, s.rule, s.severity) for e, s in found] == [("a", "commission.over_claim", "medium")]
    sig = found[0][1]
    assert "a-10-0" in sig.explanation and "a-11-0" in sig.explanation and "5.10%" in sig.explanation
    assert "colleagues" in sig.explanation  # English after the Chinese
    assert sig.evidence == [("crm.orders", "a-10-0:paid"), ("crm.orders", "a-11-0:paid")]


def test_one_claim_above_the_norm_is_context_not_a_flag():
    found = run(usual(COLLEAGUES) + [{"a": [("S1", "A-1", 0.08)], "b": [("S1", "A-1", 0.05)]}])
    assert [(e, s.severity) for e, s in found] == [("a", "low")]


def test_a_company_paying_any_rate_sets_its_own_norm():
    # Everyone at 12 %: a policy of 3 % would flag them all; the colleagues' norm flags nobody.
    assert run(usual({"a": 0.12, "b": 0.12, "c": 0.12, "d": 0.121}, 14)) == []


def test_a_monthly_tier_is_judged_only_against_colleagues_as_far_into_their_month():
    # a crosses the month's tier first (6 % from the 20th paid order): no colleague has been paid that
    # far into a month yet, so there is nothing to judge a's claims against.
    base = [{e: [("S1", "A-1", r, 5)] for e, r in COLLEAGUES.items()} for _ in range(10)]
    tier = [{"a": [("S1", "A-1", 0.06, 20 + d)], "b": [("S1", "A-1", 0.05, 6)]} for d in range(3)]
    assert run(base + tier) == []
    # Once colleagues that far into their month were paid 6 %, 6 % is the norm there, 9 % is not.
    far = [{e: [("S1", "A-1", 0.06, 30)] for e in ("b", "c", "d")} for _ in range(2)]
    assert run(base + far + [{"a": [("S1", "A-1", 0.06, 25)]} for _ in range(3)]) == []
    found = flagged(run(base + far + [{"a": [("S1", "A-1", 0.09, 25)]} for _ in range(2)]))
    assert [e for e, _ in found] == ["a"]


def test_a_basket_is_no_higher_than_its_highest_sku():
    base = [{e: [("S1", "A-1", 0.05), ("S1", "B-1", 0.02)] for e in COLLEAGUES} for _ in range(10)]
    mixed = [{"a": [("S1", ("A-1", "B-1"), 0.045)]} for _ in range(3)]
    assert run(base + mixed) == []
    above = [{"a": [("S1", ("A-1", "B-1"), 0.07)]} for _ in range(2)]
    assert [e for e, _ in flagged(run(base + above))] == ["a"]


def test_an_employee_always_paid_more_is_their_own_norm():
    # a's own deal: always 1.5 × the colleagues — not a change, not flagged.
    assert run(usual({"a": 0.075, "b": 0.05, "c": 0.05, "d": 0.05}, 20)) == []


def test_no_judgement_before_the_employees_own_history_is_known():
    # Two commissioned orders of a's own seen: what a was paid is not known well enough to judge.
    days = [{e: [("S1", "A-1", r)] for e, r in COLLEAGUES.items() if e != "a"} for _ in range(5)]
    days += [{"a": [("S1", "B-1", 0.02)]} for _ in range(2)]
    assert run(days + [{"a": [("S1", "A-1", 0.09)], "b": [("S1", "A-1", 0.05)]} for _ in range(3)]) == []
    found = run(days[:-1] + [{"a": [("S1", "B-1", 0.02)]} for _ in range(2)]
                + [{"a": [("S1", "A-1", 0.09)]} for _ in range(2)])
    assert [s.severity for _, s in found] == ["low", "medium"]


def test_the_peer_norm_can_be_turned_off():
    days = usual(COLLEAGUES) + [{"a": [("S1", "A-1", 0.08)]} for _ in range(3)]
    assert flagged(run(days, SHIPPED)) != []
    off = dataclasses.replace(SHIPPED, commission=dataclasses.replace(SHIPPED.commission, peer_norm=False))
    assert run(days, off) == []


def test_too_few_colleagues_claiming_that_sku_in_the_store_makes_no_norm():
    others = [{"a": [("S1", "A-1", 0.05)], "b": [("S1", "A-1", 0.05)], "c": [("S2", "A-1", 0.05)]} for _ in range(10)]
    assert run(others + [{"a": [("S1", "A-1", 0.2)]} for _ in range(3)]) == []


def test_an_over_claim_does_not_become_the_norm_for_colleagues():
    st: dict = {}
    for d, claims in enumerate(usual(COLLEAGUES) + [{"a": [("S1", "A-1", 0.09)]} for _ in range(3)]):
        commission.evaluate(day(claims, d), WINDOW, RULES, st)
    assert max(max(r for r, _, _ in rates) for rates in st["cn"]["S1|A-1"].values()) < 0.06


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


def test_a_claim_is_kept_for_its_day_when_the_next_day_is_paid_before_it_closes():
    # The day closes some minutes after midnight: a payment just after midnight arrives first. The
    # previous day's claim must still reach the branch at that day's close.
    from types import SimpleNamespace

    from detectors.events import OrderEvent

    ctx = SimpleNamespace(rules=RULES, day=lambda ts: ts // 86_400_000, signal=lambda sig: None, employee="a")
    state: dict = {}
    for oid, ts in (("SO-1", 5 * 86_400_000 + 20 * 3_600_000), ("SO-2", 6 * 86_400_000 + 60_000)):
        commission.on_paid(state, OrderEvent(oid, "paid", ts, "a", "", 1000.0, "S1", False, "", 50.0, ("A-1",)), ctx)
    assert [c[3] for c in commission.figures(state, 5, ctx)["cr"]] == ["SO-1"]
    assert [c[3] for c in commission.figures(state, 6, ctx)["cr"]] == ["SO-2"]
    assert "cr" not in state
