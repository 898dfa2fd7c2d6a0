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
    """The window's conversion and repeat purchases (counts) for the branch summary; the baseline is
    the window before, frozen while a drop lasts so that the drop cannot become its own norm."""
    cfg = ctx.rules.conversion
    w = cfg.window_days
    first = day - w + 1
    new_added, new_bought, repeat = totals(state, first, day, ("new_added", "new_bought", "repeat"))
    before = total(state, first - w, first - 1, "repeat")
    frozen = state.get("cz")
    if frozen is not None:
        if repeat > frozen * cfg.repeat_drop_ratio or day - state.get("czd", day) > 4 * w:
            state.pop("cz", None)
            state.pop("czd", None)
        else:
            before = max(before, frozen)
    if before >= cfg.min_baseline_repeat and repeat <= before * cfg.repeat_drop_ratio and "cz" not in state:
        state["cz"], state["czd"] = before, day
    return {"nn": new_added, "nb": new_bought, "rr": repeat, "rb": before}


def evaluate(rows: list[dict], day: int, window: tuple[int, int], ctx_rules, group) -> list[tuple[str, Signal]]:
    """Branch-side check over the members' summaries of one day; returns (employee, signal)."""
    cfg = ctx_rules.conversion
    if not cfg.enabled:
        return []
    for r in rows:
        if r.get("rb", 0) >= cfg.min_baseline_repeat:
            r["_rep"] = r["rr"] / r["rb"]
        if r.get("nn", 0) >= 2:
            r["_conv"] = r["nb"] / r["nn"]
    hits = []
    for r in rows:
        if "_rep" not in r or r["nn"] < cfg.min_new_customers:
            continue
        conv, drop = r["_conv"], r["_rep"]
        peer, n, label = group.median(r, "_rep")
        peer_conv = group.median(r, "_conv")[0]
        if peer is None:
            peer, n, label = 1.0, 0, "同组"
        if (conv >= cfg.new_conversion_min and (peer_conv is None or conv > peer_conv)
                and drop <= cfg.repeat_drop_ratio and drop <= peer * cfg.peer_ratio):
            severity = "high" if drop <= cfg.repeat_drop_ratio / 1.6 else "medium"
            peer_text = f"；{label} {n} 人复购为各自基线的中位数 {peer:.0%}" if n else "；同组可比人数不足，仅与个人基线比较"
            if peer_conv is not None:
                peer_text += f"，新客转化率中位数 {peer_conv:.0%}"
            hits.append((r, Signal(
                "conversion.repeat_drop", severity, window[1] - 1,
                (window[1] - cfg.window_days * DAY_MS, window[1]), "新客转化畸高而老客复购骤降",
                f"员工 {r['e']} 近 {cfg.window_days} 天新客 {r['nn']:g} 人成交 {r['nb']:g} 人，转化率 {conv:.0%}"
                f"（阈值 ≥{cfg.new_conversion_min:.0%}）；老客复购 {r['rr']:g} 单，复购率仅为个人基线（前 {cfg.window_days} 天 "
                f"{r['rb']:g} 单，下降开始时冻结）的 {drop:.0%}（阈值 ≤{cfg.repeat_drop_ratio:.0%}）{peer_text}")))
    who = {r["e"] for r, _ in hits}
    return [(r["e"], sig) for r, sig in hits if not group.crowded(r, who)]
