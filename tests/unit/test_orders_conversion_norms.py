"""orders.big_incomplete and conversion.repeat_drop against the employee's own baseline, the peers and
the company's own norms (the products' usual amounts, the peers' conversion and repeat purchases)."""

from __future__ import annotations

from pathlib import Path

from config.rules import load_rules
from detectors import conversion, orders
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


def conv_row(e: str, nn: int, nb: int, rr: float, rb: float) -> dict:
    return {"e": e, "t": "T1", "nn": nn, "nb": nb, "rr": rr, "rb": rb}


def repeat_drop(rows: list[dict]) -> list:
    return conversion.evaluate(rows, 0, WINDOW, RULES, Peers(rows, RULES))


PEERS = [conv_row(e, 10, 2, 10, 10) for e in "bcde"]  # converting 20 %, repeats as usual


def test_new_customers_converting_while_existing_ones_stop_buying_is_flagged():
    found = repeat_drop([conv_row("a", 8, 5, 1, 12)] + PEERS)
    assert [(e, s.severity) for e, s in found] == [("a", "high")]
    assert "同组中位数的 2 倍" in found[0][1].explanation and "New customers convert" in found[0][1].explanation


def test_conversion_is_judged_against_this_companys_peers_not_a_fixed_rate():
    # 30 % is far above peers converting at 10 %, though below the no-peer floor of 70 %.
    peers = [conv_row(e, 10, 1, 10, 10) for e in "bcde"]
    assert [e for e, _ in repeat_drop([conv_row("a", 10, 3, 1, 12)] + peers)] == ["a"]
    assert repeat_drop([conv_row("a", 10, 3, 1, 12)] + PEERS) == []  # 30 % is not 2 × 20 %


def test_a_drop_on_a_small_base_is_noise():
    # 3 → 1 repeats: a fall to a third, but one that happens by chance.
    assert repeat_drop([conv_row("a", 8, 5, 1, 3)] + PEERS) == []


def test_a_season_that_slows_everyones_repeats_flags_no_one():
    peers = [conv_row(e, 10, 2, 3, 10) for e in "bcde"]
    assert repeat_drop([conv_row("a", 8, 5, 1, 12)] + peers) == []


def test_poisson_below():
    assert abs(conversion.poisson_below(0, 2.0) - 0.1353) < 1e-3
    assert abs(conversion.poisson_below(2, 2.0) - 0.6767) < 1e-3
    assert conversion.poisson_below(5, 0.0) == 1.0
