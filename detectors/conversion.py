"""conversion.* — new customers' conversion against existing customers' repeat purchases.

The seed case: new customers convert at 90% while old customers' repeat rate drops to 10% — the
salesperson keeps the easy first sale on the books and takes the loyal customers' repeat business
elsewhere. Per employee (on their partition) paid orders are counted as a *new* customer's first
purchase (owned for at most `new_customer_days`) or an *existing* customer's repeat purchase. At each
day close the employee's figures over the last `window_days` (and the preceding window as baseline)
travel in the team summary (detectors/peers.py), and the team compares them:

conversion.repeat_drop fires when, over the window, at least `min_new_customers` new customers
converted at `new_conversion_min` or more, the repeat rate fell to `repeat_drop_ratio` of the
employee's own baseline or less, AND that drop is well beyond the team's (own drop ≤ team median drop
× `peer_ratio`) — a season that slows everyone's repeat business flags no one.
"""

from __future__ import annotations

import statistics

from detectors.context import Ctx
from detectors.events import OrderEvent
from detectors.hygiene import Signal
from detectors.windows import DAY_MS, bump, total, totals


def on_paid(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    owner = ctx.owner(ev.customer_id) if ev.customer_id else None
    if not owner or owner.get("o") != ctx.employee:
        return
    day = ctx.day(ev.ts)
    is_new = ev.ts - owner.get("t", 0) <= ctx.rules.conversion.new_customer_days * DAY_MS
    if is_new and not owner.get("b"):
        ctx.set_owner(ev.customer_id, dict(owner, b=ev.ts))
        bump(state, day, "new_bought")
    elif not is_new:
        bump(state, day, "repeat")


def figures(state: dict, day: int, ctx: Ctx) -> dict:
    """The window's conversion figures for the team summary."""
    w = ctx.rules.conversion.window_days
    first = day - w + 1
    new_added, new_bought, repeat = totals(state, first, day, ("new_added", "new_bought", "repeat"))
    repeat_before = total(state, first - w, first - 1, "repeat")
    owned = max(1, state.get("own", 0))
    recent = repeat / owned
    base = repeat_before / owned
    return {"nn": new_added, "nb": new_bought, "rr": round(recent, 4), "rb": round(base, 4)}


def evaluate(rows: list[dict], day: int, window: tuple[int, int], ctx_rules) -> list[tuple[str, Signal]]:
    """Team-side check over the members' summaries of one day; returns (employee, signal)."""
    cfg = ctx_rules.conversion
    if not cfg.enabled:
        return []
    drops = {r["e"]: r["rr"] / r["rb"] for r in rows if r.get("rb", 0) >= cfg.min_baseline_repeat}
    peer = statistics.median(drops.values()) if len(drops) >= 3 else 1.0
    out = []
    for r in rows:
        if r["e"] not in drops or r["nn"] < cfg.min_new_customers:
            continue
        conv = r["nb"] / r["nn"]
        drop = drops[r["e"]]
        if conv >= cfg.new_conversion_min and drop <= cfg.repeat_drop_ratio and drop <= peer * cfg.peer_ratio:
            severity = "high" if drop <= cfg.repeat_drop_ratio / 1.6 else "medium"
            out.append((r["e"], Signal(
                "conversion.repeat_drop", severity, window[1] - 1,
                (window[1] - cfg.window_days * DAY_MS, window[1]), "新客转化畸高而老客复购骤降",
                f"员工 {r['e']} 近 {cfg.window_days} 天新客 {r['nn']:g} 人成交 {r['nb']:g} 人，转化率 {conv:.0%}"
                f"（阈值 ≥{cfg.new_conversion_min:.0%}）；老客复购率 {r['rr']:.0%}，仅为个人基线 {r['rb']:.0%} 的 "
                f"{drop:.0%}（阈值 ≤{cfg.repeat_drop_ratio:.0%}）；同组中位数为基线的 {peer:.0%}")))
    return out
