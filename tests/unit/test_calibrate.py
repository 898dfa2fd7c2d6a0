"""`paodan rules calibrate`: the company's norms, the suggestions and the calibrated rules file."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from config.rules import load_rules
from paodan.calibrate_cmd import Norms, calibrate, rewrite, suggestions, write_rules
from streams.replay import Replay

RULES = Path(__file__).resolve().parents[2] / "config" / "rules.yaml"
DAY = 86_400_000
T0 = 1_764_000_000_000


def order(event: str, oid: str, employee: str, ts: int, amount: float, customer: str = "wmC1",
          commission: float | None = None, sku: str = "A-1", store: str = "S1") -> bytes:
    value = {"order_id": oid, "event": event, "ts": ts, "employee_id": employee, "customer_id": customer,
             "amount": f"{amount:.2f}", "store_id": store, "commission": None if commission is None else f"{commission:.2f}",
             "items": [{"sku": sku, "qty": 1, "price": f"{amount:.2f}"}]}
    return orjson.dumps({"topic": "crm.orders", "key": employee, "value": value})


def test_norms_are_the_colleagues_rates_per_store_and_sku_and_the_own_ratios():
    n = Norms()
    for e, rate in (("a", 0.03), ("b", 0.03), ("c", 0.05)):
        for d in range(8):
            amount = 100.0 * (10 if (e, d) == ("a", 7) else 1)
            n.see(order("created", f"{e}{d}", e, T0 + d * DAY, amount))
            n.see(order("paid", f"{e}{d}", e, T0 + d * DAY + 1000, amount, f"wm{e}{d}", commission=amount * rate))
    summary = n.summary()
    [row] = summary["commission_rates"]
    assert (row["store"], row["sku"], row["employees"]) == ("S1", "A-1", 3)
    assert row["median_rate"] == 0.03 and row["max_employee_rate"] == 0.05
    assert summary["orders_per_active_day_median"] == 1
    assert summary["big_order_ratio_p99"] == 10.0  # a's tenfold order
    assert summary["paid_orders_per_customer_day_p999"] == 1
    assert round(n.days()) == 7


def test_suggestions_are_never_tighter_than_the_file_and_rise_above_an_ordinary_day():
    rules = load_rules(RULES)
    norms = {"spike_ratio_p99": 1.0, "big_order_ratio_p99": 9.0, "paid_orders_per_customer_day_p999": 4}
    got = suggestions(norms, rules)
    assert got[("orders", "spike_ratio")] == rules.rule("orders").spike_ratio
    assert got[("orders", "big_order_ratio")] == 9.9
    assert got[("commission", "split_min_orders")] == 5


def test_rewrite_changes_the_key_of_its_own_section_only(tmp_path):
    text = RULES.read_text(encoding="utf-8")
    out = rewrite(text, RULES, tmp_path / "r.yaml", {"orders.peer_ratio": 7.5}, "v-cal")
    orders = out.split("\n  orders:\n")[1].split("\n  conversion:\n")[0]
    followup = out.split("\n  followup:\n")[1].split("\n  orders:\n")[0]
    assert "    peer_ratio: 7.5" in orders and "peer_ratio: 7.5" not in followup
    assert 'version: "v-cal"' in out and str(RULES.parent / "lexicons") in out


def test_the_calibrated_file_loads_from_another_directory_with_the_suggestions(tmp_path):
    rules = load_rules(RULES)
    report = {"suggested": {"orders.big_order_ratio": 8.0, "commission.split_min_orders": 6}}
    version = write_rules(rules, report, tmp_path / "calibrated.yaml")
    again = load_rules(tmp_path / "calibrated.yaml")
    assert again.version == version != rules.version
    assert again.rule("orders").big_order_ratio == 8.0 and again.rule("commission").split_min_orders == 6
    assert again.rule("orders").spike_ratio == rules.rule("orders").spike_ratio


def test_calibrate_counts_what_replay_raises_on_the_same_records():
    from ingest.companies.generate import generate

    gen = generate("meizhuang", "dev", staff=14, days=18)
    rules = load_rules(RULES)
    out = io.BytesIO()
    replay = Replay(rules, out, io.StringIO())
    for i, raw in enumerate(gen.lines):
        replay.line(f"gen:{i}", raw)
    latest = {}
    for line in out.getvalue().splitlines():
        a = orjson.loads(line)
        latest[a["alert_id"]] = a
    report = calibrate(((f"gen:{i}", raw) for i, raw in enumerate(gen.lines)), rules, io.StringIO())
    assert report["records"] == len(gen.lines) and report["bad_records"] == 0
    assert sum(r["alerts"] for r in report["rules"].values()) == len(latest) > 0
    for rule, r in report["rules"].items():
        flagged = {a["employee_id"] for a in latest.values()
                   if a["rule"] == rule and a["severity"] in ("medium", "high", "critical")}
        assert r["employees_flagged"] == len(flagged)
    assert report["norms"]["commission_rates"] and report["norms"]["order_amount_median"] > 0


def test_a_mini_program_many_colleagues_across_teams_send_is_reported_as_the_companys(tmp_path):
    from paodan import channels_cmd
    from paodan.calibrate_cmd import render
    from streams.replay import lines
    from tests.unit.test_channels_cmd import company_file

    data = company_file(tmp_path, senders=8)  # 8 of 20 staff in 3 teams send the same mini-program
    rules = load_rules(RULES)
    report = calibrate(lines([str(data)]), rules, io.StringIO())
    assert set(report["channels"]) == {"weapp:gh_own01@app"}
    found = report["channels"]["weapp:gh_own01@app"]
    assert (found["status"], found["employees"], found["teams"]) == ("proposed", 8, 3)
    # What `paodan rules channels` proposes on the same file.
    assert report["channels"] == channels_cmd.channels.evaluate(channels_cmd.aggregate([str(data)], rules),
                                                                channels_cmd.decisions(rules))
    assert "weapp:gh_own01@app" in render(report)


def test_a_mini_program_two_colleagues_send_is_not_the_companys(tmp_path):
    from streams.replay import lines
    from tests.unit.test_channels_cmd import company_file

    data = company_file(tmp_path, senders=2)
    assert calibrate(lines([str(data)]), load_rules(RULES), io.StringIO())["channels"] == {}
