"""orders.* — orders credited to the employee (`crm.orders`).

On the employee's partition, per event:
- orders.incomplete_details: `incomplete_min` or more of the day's orders (and at least
  `incomplete_share` of them) lack the customer's id, name, phone or address.
- orders.approval (group) — orders.paid_without_approval: an order of `approval_amount` or more paid
  with no approval; orders.self_approval: the salesperson approved their own order;
  orders.approver_not_manager: approved by someone other than the manager in the directory.
- orders.others_customer: `others_customer_min` or more orders in a day credited to this employee for
  customers owned by other employees (a handed-over customer is the new owner's).
Against the team (detectors/peers.py, at the day's close):
- orders.volume_spike: the day's orders are `spike_ratio` × the employee's own baseline (mean over
  active days in the last `baseline_days`) or more, at least `spike_min_orders`, AND `peer_ratio` × the
  team's median ratio that day or more — a promotion day that lifts everyone flags no one. High when the
  day's orders also lack customer details (the seed case).
"""

from __future__ import annotations

import statistics

from detectors import commission, conversion
from detectors.context import Ctx, short
from detectors.events import OrderEvent
from detectors.followup import APPROVED, CLOSED, PAID
from detectors.hr import check_leave_sales, on_leave
from detectors.hygiene import Signal
from detectors.windows import active_days, bump, get

TOPIC = "crm.orders"
MAX_OPEN = 40


def _remember(state: dict, ev: OrderEvent) -> list:
    orders = state.setdefault("o", {})
    if len(orders) >= MAX_OPEN:
        # Forget the oldest finished order, else the oldest: bounded state, newest kept.
        done = [k for k, e in orders.items() if e[1] & (PAID | CLOSED)]
        victim = min(done or orders, key=lambda k: orders[k][0])
        del orders[victim]
    entry = orders[ev.order_id] = [ev.ts, 0, round(ev.amount, 2), short(ev.customer_id) if ev.customer_id else 0]
    if entry[3]:
        waiting = state.setdefault("ou", [])  # see followup.on_chat: written to since?
        waiting.append(entry[3])
        del waiting[:-MAX_OPEN]
    return entry


def forget_finished(state: dict, before: int) -> None:
    """Drop paid or closed orders created before `before`: what stays is what may still need a look."""
    orders = state.get("o")
    if orders:
        for oid in [k for k, e in orders.items() if e[1] & (PAID | CLOSED) and e[0] < before]:
            del orders[oid]


def _created(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    cfg = ctx.rules.orders
    day = ctx.day(ev.ts)
    _remember(state, ev)
    n = bump(state, day, "orders")
    bump(state, day, "amount", round(ev.amount, 2))
    if on_leave(state, day, ctx):
        bump(state, day, "on_leave_orders")
        if ctx.rules.hr.enabled:
            check_leave_sales(state, ev.ts, (TOPIC, ev.evidence_id), ctx)
    if not cfg.enabled:
        return
    if not ev.details_complete:
        inc = bump(state, day, "incomplete")
        ids = state.get("ic")
        if not ids or ids[0] != day:
            ids = state["ic"] = [day, []]
        ids[1] = (ids[1] + [ev.order_id])[-30:]
        if inc >= cfg.incomplete_min and inc >= cfg.incomplete_share * n:
            ctx.signal(Signal("orders.incomplete_details", "medium", ev.ts, ctx.day_window(ev.ts), "订单客户信息不完整",
                              f"员工 {ctx.employee} 当天 {n} 笔订单中 {inc} 笔缺少客户编号、姓名、电话或地址"
                              f"（阈值 {cfg.incomplete_min} 笔且占比 ≥{cfg.incomplete_share:.0%}）",
                              [(TOPIC, f"{o}:created") for o in ids[1]]))
    owner = ctx.owner(ev.customer_id) if ev.customer_id else None
    if owner and owner.get("o") and owner["o"] != ctx.employee:
        k = bump(state, day, "others_orders")
        xs = state.get("xc")
        if not xs or xs[0] != day:
            xs = state["xc"] = [day, []]
        xs[1] = (xs[1] + [ev.order_id])[-30:]
        if k >= cfg.others_customer_min:
            ctx.signal(Signal("orders.others_customer", "high", ev.ts, ctx.day_window(ev.ts), "他人客户订单记在自己名下",
                              f"员工 {ctx.employee} 当天有 {k} 笔订单的客户归属其他员工（如 {ev.customer_id} 属于 "
                              f"{owner['o']}），未经交接（阈值 {cfg.others_customer_min} 笔）",
                              [(TOPIC, f"{o}:created") for o in xs[1]]))


def _approved(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    entry = state.get("o", {}).get(ev.order_id)
    if entry is not None:
        entry[1] |= APPROVED
    if not ctx.rules.orders.enabled or not ev.approver_id:
        return
    manager = ctx.directory.get("manager_id") or ""
    if ev.approver_id == ctx.employee:
        ctx.signal(Signal("orders.self_approval", "high", ev.ts, ctx.day_window(ev.ts), "订单自审自批",
                          f"订单 {ev.order_id}（{ev.amount:.2f} 元）由销售本人 {ctx.employee} 审批",
                          [(TOPIC, ev.evidence_id)], group="orders.approval"))
    elif manager and ev.approver_id != manager:
        ctx.signal(Signal("orders.approver_not_manager", "medium", ev.ts, ctx.day_window(ev.ts), "订单审批人非直属主管",
                          f"订单 {ev.order_id}（{ev.amount:.2f} 元）由 {ev.approver_id} 审批，"
                          f"而员工 {ctx.employee} 的直属主管是 {manager}",
                          [(TOPIC, ev.evidence_id)], group="orders.approval"))


def _paid(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    entry = state.get("o", {}).get(ev.order_id)
    if entry is not None:
        if entry[1] & PAID:
            return  # redelivered
        entry[1] |= PAID
    cfg = ctx.rules.orders
    bump(state, ctx.day(ev.ts), "paid")
    if (cfg.enabled and entry is not None and not entry[1] & APPROVED
            and max(ev.amount, entry[2]) >= cfg.approval_amount):
        ctx.signal(Signal("orders.paid_without_approval", "high", ev.ts, ctx.day_window(ev.ts), "大额订单未审批即付款",
                          f"订单 {ev.order_id} 金额 {max(ev.amount, entry[2]):.2f} 元（审批线 {cfg.approval_amount:.0f} 元）"
                          f"未经审批即付款",
                          [(TOPIC, f"{ev.order_id}:created"), (TOPIC, ev.evidence_id)], group="orders.approval"))
    conversion.on_paid(state, ev, ctx)
    commission.on_paid(state, ev, ctx)


def on_order(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    if ev.event == "created":
        if ev.order_id not in state.get("o", {}):  # a redelivered `created` is not a second order
            _created(state, ev, ctx)
    elif ev.event == "approved":
        _approved(state, ev, ctx)
    elif ev.event == "paid":
        _paid(state, ev, ctx)
    elif ev.event in ("refunded", "cancelled"):
        entry = state.get("o", {}).get(ev.order_id)
        if entry is not None:
            entry[1] |= CLOSED
        commission.on_closed(state, ev, ctx)


def figures(state: dict, day: int, ctx: Ctx) -> dict:
    """The day's orders and the employee's own baseline, for the team summary."""
    cfg = ctx.rules.orders
    base_days = active_days(state, day - cfg.baseline_days, day - 1)
    k = len(base_days)
    return {"n": get(state, day, "orders"), "a": get(state, day, "amount"), "inc": get(state, day, "incomplete"),
            "k": k, "bn": round(sum(get(state, d, "orders") for d in base_days) / k, 3) if k else 0,
            "ba": round(sum(get(state, d, "amount") for d in base_days) / k, 2) if k else 0}


def evaluate(rows: list[dict], day: int, window: tuple[int, int], rules) -> list[tuple[str, Signal]]:
    """Team-side: whose orders rose far above their own baseline AND above the team's rise that day."""
    cfg = rules.orders
    if not cfg.enabled:
        return []
    ratios = {r["e"]: r["n"] / max(r["bn"], 1.0) for r in rows if r["k"] >= cfg.min_baseline_days}
    if not ratios:
        return []
    team = statistics.median(ratios.values()) if len(ratios) >= 3 else 1.0
    out = []
    for r in rows:
        ratio = ratios.get(r["e"])
        if ratio is None or r["n"] < cfg.spike_min_orders or ratio < cfg.spike_ratio:
            continue
        if ratio < max(team, 1.0) * cfg.peer_ratio:
            continue
        incomplete = r["inc"] and r["inc"] >= cfg.incomplete_share * r["n"]
        amount_ratio = r["a"] / r["ba"] if r["ba"] else 0
        out.append((r["e"], Signal(
            "orders.volume_spike", "high" if incomplete else "medium", window[1] - 1, window,
            "订单量远超个人基线与团队" + ("且客户信息缺失" if incomplete else ""),
            f"员工 {r['e']} 当天订单 {r['n']:g} 笔，个人基线日均 {r['bn']:g} 笔（前 {r['k']} 个活跃日），"
            f"为基线的 {ratio:.1f} 倍（阈值 {cfg.spike_ratio:g} 倍）；同组 {len(ratios)} 人当天中位数为各自基线的 "
            f"{team:.1f} 倍，本人高出团队 {ratio / max(team, 1.0):.1f} 倍（阈值 {cfg.peer_ratio:g} 倍）；"
            f"金额为基线的 {amount_ratio:.1f} 倍" + (f"；其中 {r['inc']:g} 笔客户信息不完整" if incomplete else ""))))
    return out
