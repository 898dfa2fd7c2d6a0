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
from detectors.stats import binomial_tail, both, dispersion, low_share
from detectors.windows import DAY_MS, active_days, bump, total, totals


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


def _exposure(state: dict, first: int, last: int) -> float:
    """How much chance the employee's existing customers had to buy through them over first..last:
    own customers summed over the days the employee worked (leave, rest days and a book handed over
    shrink it). The days worked alone where no book size is known."""
    owned = total(state, first, last, "owned")
    return owned or float(len(active_days(state, first, last)))


def _at(count: float, now_exp: float, base_exp: float) -> float:
    """A baseline count carried over to the window's exposure."""
    return count * now_exp / base_exp if base_exp and now_exp else float(count)


def figures(state: dict, day: int, ctx: Ctx) -> dict:
    """The window's conversion and repeat purchases (counts) for the branch summary, with what the
    baseline window's repeat rhythm expects of this window's exposure (own customers × days worked):
    fewer days at work or a smaller book expect fewer repeat purchases. The baseline is frozen while a
    drop lasts so that the drop cannot become its own norm, and a drop that persists is also counted
    since the window it began in (`rs`): more of the same is more evidence."""
    cfg = ctx.rules.conversion
    w = cfg.window_days
    first = day - w + 1
    new_added, new_bought, repeat = totals(state, first, day, ("new_added", "new_bought", "repeat"))
    before = total(state, first - w, first - 1, "repeat")
    now_exp, base_exp = _exposure(state, first, day), _exposure(state, first - w, first - 1)
    expected = _at(before, now_exp, base_exp)
    stretch: list = []
    frozen = state.get("cz")
    if frozen is not None:
        f_before, f_exp = frozen if isinstance(frozen, list) else (frozen, 0)
        f_expected = _at(f_before, now_exp, f_exp)
        if repeat > f_expected * cfg.repeat_drop_ratio or day - state.get("czd", day) > 4 * w:
            state.pop("cz", None)
            state.pop("czd", None)
        elif f_expected > expected:
            before, expected = f_before, f_expected
            since = state.get("czd", day) - w + 1
            if f_exp and since < first:
                # A drop that persists is one finding whose evidence grows: also counted since it began.
                stretch = totals(state, since, day, ("new_added", "new_bought", "repeat"))
                stretch.extend((round(_at(f_before, _exposure(state, since, day), f_exp), 2), day - since + 1))
    if (before >= cfg.min_baseline_repeat and repeat <= expected * cfg.repeat_drop_ratio
            and "cz" not in state):
        state["cz"], state["czd"] = [before, base_exp], day
    prior_added, prior_bought = totals(state, first - 3 * w, first - 1, ("new_added", "new_bought"))
    out = {"nn": new_added, "nb": new_bought, "rr": repeat, "rb": before, "re": round(expected, 2)}
    if stretch:
        out["rs"] = stretch  # [new added, new bought, repeat, expected, days] since the drop began
    if prior_added >= cfg.min_new_customers:
        out["nc"] = round(min(1.0, prior_bought / prior_added), 3)  # the employee's own usual conversion
    return out


def _kept(r: dict, peer: float) -> tuple[float, float, float]:
    """Repeat purchases of the window against the baseline window's, as k of the pair's total: with the
    same rhythm moved as the peers' moved (`peer`) and this window's exposure, each falls in the window
    with chance p."""
    ahead = peer * r["re"]
    return r["rr"], r["rr"] + r["rb"], ahead / (ahead + r["rb"]) if ahead + r["rb"] else 0.0


def _chance(r: dict, rows: list[dict], peer: float, peer_conv: float | None) -> float:
    """How likely, by chance, so many new customers converting and so few repeat purchases together are:
    conversion against the higher of the employee's own usual and the peers' (binomial); repeat purchases
    against the baseline window's, moved as the peers' moved, in the spread the branch's repeat purchases
    show from one week to the next (how much they swing is the trade's, not one team's)."""
    usual = max(x for x in (peer_conv, r.get("nc"), 0.02) if x is not None)
    converted = binomial_tail(int(min(r["nb"], r["nn"])), int(r["nn"]), min(0.95, usual))
    branch = [x for x in rows if x["e"] != r["e"] and "_rep" in x]
    moved = statistics.median(x["_rep"] for x in branch) if branch else peer
    spread = dispersion([_kept(x, moved) for x in branch])
    return both(converted, low_share(*_kept(r, peer), spread))


def _judge(s: dict, rows: list[dict], cfg, peer: float, peer_conv: float | None, days: int
           ) -> tuple[dict, float, int] | None:
    """(the figures, their chance, the days they cover) when they show the seed's pattern beyond chance."""
    conv, drop = s["_conv"], s["_rep"]
    if not (s["nn"] >= cfg.min_new_customers and conv >= cfg.new_conversion_min
            and (peer_conv is None or conv > peer_conv)
            and drop <= cfg.repeat_drop_ratio and drop <= peer * cfg.peer_ratio):
        return None
    chance = _chance(s, rows, peer, peer_conv)
    if chance > cfg.surprise:
        return None  # within what chance and the peers' own ups and downs make of such counts
    return s, chance, days


def evaluate(rows: list[dict], day: int, window: tuple[int, int], ctx_rules, group) -> list[tuple[str, Signal]]:
    """Branch-side check over the members' summaries of one day; returns (employee, signal)."""
    cfg = ctx_rules.conversion
    if not cfg.enabled:
        return []
    for r in rows:
        expected = r.get("re", r.get("rb", 0))
        if r.get("rb", 0) >= cfg.min_baseline_repeat and expected > 0:
            r["_rep"] = r["rr"] / expected
        if r.get("nn", 0) >= 2:
            r["_conv"] = r["nb"] / r["nn"]
    hits = []
    for r in rows:
        if "_rep" not in r or r["nn"] < cfg.min_new_customers:
            continue
        peer, n, label = group.median(r, "_rep")
        peer_conv = group.median(r, "_conv")[0]
        if peer is None:
            peer, n, label = 1.0, 0, "同组"
        found = _judge(r, rows, cfg, peer, peer_conv, cfg.window_days)
        if found is None and r.get("rs"):
            nn, nb, rr, re, days = r["rs"]
            found = _judge(dict(r, nn=nn, nb=nb, rr=rr, re=re, _rep=rr / re if re else 1.0,
                                _conv=nb / nn if nn else 0.0), rows, cfg, peer, peer_conv, int(days))
        if found is None:
            continue
        s, chance, days = found
        conv, drop = s["_conv"], s["_rep"]
        severity = "high" if drop <= cfg.repeat_drop_ratio / 1.6 else "medium"
        peer_text = f"；{label} {n} 人复购为各自基线的中位数 {peer:.0%}" if n else "；同组可比人数不足，仅与个人基线比较"
        if peer_conv is not None:
            peer_text += f"，新客转化率中位数 {peer_conv:.0%}"
        own_conv = f"，本人此前转化率 {r['nc']:.0%}" if "nc" in r else ""
        expected = s.get("re", s["rb"])
        hits.append((r, Signal(
            "conversion.repeat_drop", severity, window[1] - 1,
            (window[1] - days * DAY_MS, window[1]), "新客转化畸高而老客复购骤降",
            f"员工 {r['e']} 近 {days} 天新客 {s['nn']:g} 人成交 {s['nb']:g} 人，转化率 {conv:.0%}"
            f"（阈值 ≥{cfg.new_conversion_min:.0%}{own_conv}）；老客复购 {s['rr']:g} 单，复购率仅为个人基线（前 {cfg.window_days} 天 "
            f"{s['rb']:g} 单，按本期在岗天数与客户数折算应为 {expected:.1f} 单，下降开始时冻结）的 {drop:.0%}"
            f"（阈值 ≤{cfg.repeat_drop_ratio:.0%}）{peer_text}；二者同时出现的偶然概率 {chance:.1e}"
            f"（阈值 {cfg.surprise:g}） / New customers converted at {conv:.0%} while repeat purchases fell to "
            f"{drop:.0%} of what the employee's own baseline expects over {days} days; chance of both {chance:.1e}")))
    who = {r["e"] for r, _ in hits}
    return [(r["e"], sig) for r, sig in hits if not group.crowded(r, who)]
