"""orders.big_incomplete against the employee's own typical order, the peers' and what the company's
orders of those products usually amount to."""

from __future__ import annotations

from pathlib import Path

from config.rules import load_rules
from detectors import orders
from detectors.context import BehaviourRules
from detectors.peers import Peers

RULES = BehaviourRules.of(load_rules(Path(__file__).resolve().parents[2] / "config" / "rules.yaml"))
WINDOW = (0, 86_400_000)


def order_row(e: str, typical: float, big: list | None = None, lines: list | None = None) -> dict:
    """One employee's day summary: `big` = [order_id, amount, skus]; `lines` = [[sku, line amount]]."""
    r = {"e": e, "t": "T1", "n": 2, "a": 2 * typical, "inc": 1 if big else 0, "k": 12, "bn": 2.0,
         "ba": 2 * typical, "bi": 0.05, "md": typical}
    if big:
        oid, amount, skus = big
        r["bg"] = [[oid, amount, typical, 12, 2 * typical, skus, 20]]
    if lines:
        r["pl"] = lines
    return r


def judge(days: list[list[dict]]) -> list:
    st: dict = {}
    found = []
    for rows in days:
        found += [(e, s) for e, s in orders.evaluate(rows, 0, WINDOW, RULES, Peers(rows, RULES), st)
                  if s.rule == "orders.big_incomplete"]
    return found


def products(n: int = 6) -> list[list[dict]]:
    """Days on which the branch's orders of one product show what a line of it amounts to."""
    return [[order_row(e, 1000.0, lines=[["SOFA", 1000.0], ["LAMP", 100.0]]) for e in "bcde"] for _ in range(n)]


def test_an_incomplete_order_far_above_own_peers_and_products_is_flagged():
    found = judge(products() + [[order_row("a", 1000.0, ["SO-1", 9000.0, ["SOFA"]])]
                                + [order_row(e, 1000.0) for e in "bcde"]])
    assert [(e, s.severity) for e, s in found] == [("a", "medium")]
    assert "SO-1" in found[0][1].explanation and "9.0 倍" in found[0][1].explanation
    assert found[0][1].evidence == [("crm.orders", "SO-1:created")]


def test_an_expensive_product_is_its_own_norm():
    # Nine times the employee's typical order, but a sofa order of that size is what sofas cost here.
    days = [[order_row(e, 1000.0, lines=[["SOFA", 9000.0]]) for e in "bcde"] for _ in range(6)]
    assert judge(days + [[order_row("a", 1000.0, ["SO-2", 9000.0, ["SOFA"]])]
                         + [order_row(e, 1000.0) for e in "bcde"]]) == []


def test_without_known_products_the_order_must_top_the_employees_largest():
    # No product norm yet: 9,000 is under 1.5 × the employee's largest order (here 2 × typical × 4).
    row = order_row("a", 1000.0, ["SO-3", 9000.0, ["NEW"]])
    row["bg"][0][4] = 8000.0
    assert judge([[row] + [order_row(e, 1000.0) for e in "bcde"]]) == []
    row = order_row("a", 1000.0, ["SO-4", 13000.0, ["NEW"]])
    row["bg"][0][4] = 8000.0
    assert [e for e, _ in judge([[row] + [order_row(e, 1000.0) for e in "bcde"]])] == ["a"]


def test_a_company_of_large_orders_flags_no_one_for_its_norm():
    # The peers' typical order is as large as this one: a trade of large baskets.
    assert judge(products() + [[order_row("a", 1000.0, ["SO-5", 9000.0, ["SOFA"]])]
                               + [order_row(e, 5000.0) for e in "bcde"]]) == []


def test_product_norm_needs_enough_orders_of_each_product():
    assert orders.product_norm({"A": [10.0] * 5, "B": [20.0] * 4}, ["A", "B"], 5) is None
    assert orders.product_norm({"A": [10.0] * 5, "B": [20.0] * 5}, ["A", "B", "B"], 5) == 50.0
