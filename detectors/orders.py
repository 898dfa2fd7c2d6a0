"""orders.* — orders credited to the employee (`crm.orders`).

On the employee's partition, per event:
- orders.self_approval (group orders.approval): the salesperson approved their own order.
- orders.others_customer: `others_customer_min` or more orders in a day booked on customers owned by
  other employees (noted here, judged at the branch: detectors/others.py).
On the branch's partition (detectors/peers.py, at the day's close), against the employee's own
baseline and their peers that day:
- orders.volume_spike: the day's orders are `spike_ratio` × the employee's own baseline (mean over
  active days in the last `baseline_days`) or more, at least `spike_min_orders`, AND `peer_ratio` × the
  peers' median ratio that day or more — a promotion day that lifts everyone flags no one. Alone it is
  `spike_severity` (low: a busy day is context the risk score weighs, not evidence of diversion — the
  seed's order signals pair volume with something else: missing details, leave, a follow-up drop);
  high when the day's orders also lack customer details.
- orders.incomplete_details: `incomplete_min` or more of the day's orders (and at least
  `incomplete_share` of them) lack the customer's id, name, phone or address, and that share is
  `own_ratio` × the employee's usual share and the peers' share.
- orders.big_incomplete: one order with incomplete details, `big_order_ratio` × the employee's typical
  (median) order, the peers' typical order and what the branch's orders of those products usually
  amount to (else, products unknown, 1.5 × the employee's previous largest).
- orders.paid_without_approval / orders.approver_not_manager (group orders.approval): paid without
  approval above the line the branch's paid orders show (approval_line) or `approval_amount` where
  the company set one; approved by someone other than the manager who approves for no colleague.
"""

from __future__ import annotations

import statistics

from detectors import commission, conversion, others
from detectors.context import Ctx, short
from detectors.events import OrderEvent
from detectors.followup import APPROVED, CLOSED, PAID
from detectors.hr import check_leave_sales, on_leave_at
from detectors.hygiene import Signal
from detectors.stats import binomial_tail
from detectors.windows import active_days, bump, get
from formats.topics import ORDERS as TOPIC

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


def _day_list(state: dict, name: str, day: int, item: list, cap: int = 60) -> None:
    """Append to one of the per-day lists the day's summary carries (`name` → {day: [...]})."""
    lists = state.get(name)
    if not isinstance(lists, dict):
        lists = state[name] = {}
    row = lists.setdefault(str(day), [])
    if len(row) < cap:
        row.append(item)


MAX_AMOUNTS = 40   # the employee's recent order amounts: their typical order is the median
MAX_LINES = 60     # line amounts kept per SKU for the branch's product norm
MAX_PRODUCTS = 300


def _big_candidate(state: dict, day: int, ev: OrderEvent, cfg) -> None:
    """An incomplete order `big_order_ratio` × the employee's typical (median) order: judged at the
    day's close against the peers and what this company's orders of those products amount to."""
    amounts = state.get("am") or []
    if len(amounts) < cfg.big_min_orders:
        return
    typical = statistics.median(amounts)
    if typical > 0 and ev.amount >= cfg.big_order_ratio * typical:
        k = len(active_days(state, day - cfg.baseline_days, day - 1))
        _day_list(state, "bg", day, [ev.order_id, round(ev.amount, 2), round(typical, 2), k, round(max(amounts), 2),
                                     list(ev.skus[:8]), len(amounts)], 5)


def _note_amount(state: dict, day: int, ev: OrderEvent) -> None:
    amounts = state.setdefault("am", [])
    amounts.append(round(ev.amount, 2))
    del amounts[:-MAX_AMOUNTS]
    if ev.skus and len(set(ev.skus)) == 1 and ev.amount > 0:
        # An order of one product says what a line of it usually amounts to (the branch learns it).
        _day_list(state, "pl", day, [ev.skus[0], round(ev.amount / len(ev.skus), 2)], 20)


def _created(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    cfg = ctx.rules.orders
    day = ctx.day(ev.ts)
    _remember(state, ev)
    bump(state, day, "orders")
    bump(state, day, "amount", round(ev.amount, 2))
    if ev.amount > get(state, day, "max_amount"):
        bump(state, day, "max_amount", round(ev.amount - get(state, day, "max_amount"), 2))
    if on_leave_at(state, ev.ts):
        bump(state, day, "on_leave_orders")
        if ctx.rules.hr.enabled:
            check_leave_sales(state, ev.ts, (TOPIC, ev.evidence_id), ctx)
    commission.on_created(state, ev, ctx)
    if not cfg.enabled:
        return
    if not ev.details_complete:
        bump(state, day, "incomplete")
        _day_list(state, "ic", day, ev.order_id, 30)
        _big_candidate(state, day, ev, cfg)
    _note_amount(state, day, ev)
    owner = ctx.owner(ev.customer_id) if ev.customer_id else None
    if others.theirs(owner, ctx.employee):  # judged at the branch, where colleagues' leave is known
        bump(state, day, "others_orders")
        others.note(state, ctx, ev.customer_id, owner["o"], ev.ts, others.ORDER, ev.order_id)


def _approved(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    entry = state.get("o", {}).get(ev.order_id)
    if entry is not None:
        entry[1] |= APPROVED
    cfg = ctx.rules.orders
    if not cfg.enabled or not ev.approver_id:
        return
    if ev.approver_id == ctx.employee:
        ctx.signal(Signal("orders.self_approval", "high", ev.ts, ctx.day_window(ev.ts), "订单自审自批",
                          f"订单 {ev.order_id}（{ev.amount:.2f} 元）由销售本人 {ctx.employee} 审批",
                          [(TOPIC, ev.evidence_id)], group="orders.approval"))
    elif ev.approver_id != (ctx.directory.get("manager_id") or "") and ev.approver_id not in cfg.approvers:
        # Finance, a deputy, a branch head: judged at the day's close against whom the branch's
        # approvers approve for (evaluate), not here.
        _day_list(state, "na", ctx.day(ev.ts), [ev.order_id, ev.approver_id, round(ev.amount, 2)], 20)


def _paid(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    entry = state.get("o", {}).get(ev.order_id)
    if entry is not None:
        if entry[1] & PAID:
            return  # redelivered
        entry[1] |= PAID
    cfg = ctx.rules.orders
    day = ctx.day(ev.ts)
    bump(state, day, "paid")
    if cfg.enabled and entry is not None:
        # Every paid order teaches the branch the company's approval practice; the unapproved ones
        # are judged against it at the day's close.
        _day_list(state, "pa", day, [round(max(ev.amount, entry[2]), 2), 1 if entry[1] & APPROVED else 0,
                                     ev.order_id])
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
    """The day's orders, big incomplete ones, payments and approvals, with the own baselines."""
    cfg = ctx.rules.orders
    base_days = active_days(state, day - cfg.baseline_days, day - 1)
    k = len(base_days)
    n_base = sum(get(state, d, "orders") for d in base_days)
    out = {"n": get(state, day, "orders"), "a": get(state, day, "amount"), "inc": get(state, day, "incomplete"),
           "k": k, "bn": round(n_base / k, 3) if k else 0,
           "ba": round(sum(get(state, d, "amount") for d in base_days) / k, 2) if k else 0,
           "bi": round(sum(get(state, d, "incomplete") for d in base_days) / n_base, 3) if n_base else 0}
    amounts = state.get("am") or []
    if len(amounts) >= cfg.big_min_orders:
        out["md"] = statistics.median(amounts)
    for name, key in (("ic", "ix"), ("bg", "bg"), ("pl", "pl"), ("pa", "pa"), ("na", "na")):
        lists = state.get(name)
        if isinstance(lists, dict):
            row = lists.pop(str(day), None)
            for old in [x for x in lists if int(x) < day - 3]:
                del lists[old]
            if row:
                out[key] = row
    return out


# --- the company's approval practice, learned on the branch's partition -----------------------------

MAX_SAMPLES = 600
MAX_APPROVERS = 300


def learn_approvals(st: dict, rows: list[dict]) -> None:
    """Paid orders (amount, approved) and who approves for whom: the branch's practice."""
    samples = st.setdefault("as", [])
    for r in rows:
        samples.extend([a, ok] for a, ok, _ in r.get("pa", ()))
    del samples[:-MAX_SAMPLES]
    approvers = st.setdefault("av", {})
    for r in rows:
        for _, who, _ in r.get("na", ()):
            seen = approvers.setdefault(who, [])
            if r["e"] not in seen:
                seen.append(r["e"])
                del seen[:-8]
    if len(approvers) > MAX_APPROVERS:
        for who in list(approvers)[:len(approvers) - MAX_APPROVERS]:
            del approvers[who]


def approval_line(samples: list, min_orders: int, norm: float) -> tuple[float, float, int] | None:
    """The amount from which approval is the company's norm: the line that best separates approved
    from unapproved paid orders, if at least `norm` of the orders above it were approved; else None."""
    if len(samples) < min_orders:
        return None
    ordered = sorted(samples)
    approved_total = sum(ok for _, ok in ordered)
    if not approved_total:
        return None
    best, best_i, below_ok, below_n = None, 0, 0, 0
    for i, (amount, ok) in enumerate(ordered):
        # errors if the line were at this order: approved ones below + unapproved ones at or above
        errors = below_ok + (len(ordered) - i) - (approved_total - below_ok)
        if best is None or errors < best:
            best, best_i = errors, i
        below_ok += ok
        below_n += 1
    above = ordered[best_i:]
    share = sum(ok for _, ok in above) / len(above)
    if share < norm or len(above) < max(3, min_orders // 4):
        return None
    return ordered[best_i][0], share, len(above)


def _approval_signals(rows: list[dict], window, cfg, st: dict, learned, samples: list) -> list[tuple[str, Signal]]:
    """Paid without approval where the practice (learned before today) says approval is the norm. A
    learned line holds only for amounts the branch has already had approved: cautious colleagues who have
    orders just below the company's real line approved put the learned line there too, so an order
    between them and the real line is judged only once enough approved orders of at most its size were
    seen (`support`)."""
    out = []
    need = max(3, cfg.approval_min_orders // 4)
    for r in rows:
        for amount, ok, oid in r.get("pa", ()):
            if ok:
                continue
            if cfg.approval_amount and amount >= cfg.approval_amount:
                why = f"公司设定的审批线 {cfg.approval_amount:.0f} 元"
            elif learned and amount >= learned[0] and (support := sum(
                    1 for a, approved in samples if approved and learned[0] <= a <= amount)) >= need:
                why = (f"本分公司 {learned[2]} 笔 {learned[0]:.0f} 元以上的已付款订单中 {learned[1]:.0%} 经过审批"
                       f"（审批为常规的阈值 {cfg.approval_norm_share:.0%}），其中 {support} 笔金额不高于本单"
                       f"（至少 {need} 笔）")
            else:
                continue
            out.append((r["e"], Signal("orders.paid_without_approval", "high", window[1] - 1, window,
                                       "订单未按公司惯例审批即付款",
                                       f"员工 {r['e']} 的订单 {oid} 金额 {amount:.2f} 元未经审批即付款；{why}",
                                       [(TOPIC, f"{oid}:created"), (TOPIC, f"{oid}:paid")], group="orders.approval")))
    approvers = st.get("av", {})
    salespeople = st.get("r", {})  # who report working days here: the branch's own staff
    for r in rows:
        for oid, who, amount in r.get("na", ()):
            others = [e for e in approvers.get(who, ()) if e != r["e"]]
            if others:
                continue  # an approver for several colleagues is part of the chain (finance, a deputy)
            colleague = who in salespeople
            # A colleague who sells beside the employee approving their order is a signal; anyone else
            # (finance, a branch head not yet seen approving for others) is noted, not flagged.
            out.append((r["e"], Signal("orders.approver_not_manager", "medium" if colleague else "info",
                                       window[1] - 1, window, "订单由非审批链人员审批",
                                       f"订单 {oid}（{amount:.2f} 元）由 {who} 审批，而非员工 {r['e']} 的直属主管；"
                                       + ("该审批人是本分公司的销售同事，且未为其他同事审批过订单" if colleague else
                                          "该审批人尚未为本分公司其他同事审批过订单")
                                       + f"（审批链：{' + '.join(cfg.approval_chain)}；为多名同事审批的财务、代理审批人属于审批链）",
                                       [(TOPIC, f"{oid}:approved")], group="orders.approval")))
    return out


def evaluate(rows: list[dict], day: int, window: tuple[int, int], rules, group, st: dict
             ) -> list[tuple[str, Signal]]:
    """Branch-side: order spikes and incomplete details against the employee's own baseline and the
    peers that day, big incomplete orders, and approvals against the company's learned practice."""
    cfg = rules.orders
    if not cfg.enabled:
        return []
    need = max(cfg.min_baseline_days, rules.windows.min_history_days)
    for r in rows:
        if r["k"] >= cfg.min_baseline_days:
            r["_ratio"] = r["n"] / max(r["bn"], 1.0)
        if r["n"]:
            r["_inc"] = r["inc"] / r["n"]
    hits: dict[str, list[tuple[str, Signal]]] = {}
    products = st.get("bp", {})
    for r in rows:
        for sig in (_spike(r, group, cfg, need, window), _incomplete(r, group, cfg, need, window),
                    _big(r, group, cfg, max(need, 2 * cfg.min_baseline_days), window, products)):
            if sig is not None:
                hits.setdefault(sig.rule, []).append((r["e"], sig))
    learn_products(st, rows)
    out = []
    for rule, found in hits.items():
        who = {e for e, _ in found}
        by_e = {r["e"]: r for r in rows}
        out += [(e, sig) for e, sig in found if not group.crowded(by_e[e], who)]
    before = list(st.get("as", []))  # the practice as known before today
    line = approval_line(before, cfg.approval_min_orders, cfg.approval_norm_share)
    learn_approvals(st, rows)  # who approves today for several colleagues is part of the chain today
    out += _approval_signals(rows, window, cfg, st, line, before)
    return out


def _spike(r: dict, group, cfg, need: int, window) -> Signal | None:
    ratio = r.get("_ratio")
    if ratio is None or r["k"] < need or r["n"] < cfg.spike_min_orders or ratio < cfg.spike_ratio:
        return None
    team, n, label = group.median(r, "_ratio")
    team = max(team or 1.0, 1.0)  # too few peers to compare with: the own baseline alone
    if ratio < team * cfg.peer_ratio:
        return None
    # Missing details make a spike serious only where so many would rarely happen at the employee's
    # usual share (walk-in sales without an address are some companies' everyday).
    incomplete = r["inc"] and r["inc"] >= cfg.incomplete_share * r["n"] and \
        binomial_tail(int(r["inc"]), int(r["n"]), min(0.95, max(r["bi"], 0.02))) <= cfg.incomplete_surprise
    amount_ratio = r["a"] / r["ba"] if r["ba"] else 0
    return Signal(
        "orders.volume_spike", "high" if incomplete else cfg.spike_severity, window[1] - 1, window,
        "订单量远超个人基线与团队" + ("且客户信息缺失" if incomplete else ""),
        f"员工 {r['e']} 当天订单 {r['n']:g} 笔，个人基线日均 {r['bn']:g} 笔（前 {r['k']} 个活跃日），"
        f"为基线的 {ratio:.1f} 倍（阈值 {cfg.spike_ratio:g} 倍）；"
        + (f"{label} {n} 人当天中位数为各自基线的 {team:.1f} 倍，本人高出团队 {ratio / team:.1f} 倍（阈值 {cfg.peer_ratio:g} 倍）；"
           if n else "同组可比人数不足，仅与个人基线比较；")
        + f"金额为基线的 {amount_ratio:.1f} 倍" + (f"；其中 {r['inc']:g} 笔客户信息不完整" if incomplete else ""),
        [(TOPIC, f"{o}:created") for o in r.get("ix", [])])


def _incomplete(r: dict, group, cfg, need: int, window) -> Signal | None:
    share = r.get("_inc")
    if share is None or r["inc"] < cfg.incomplete_min or share < cfg.incomplete_share or r["k"] < need:
        return None
    if share < cfg.own_ratio * max(r["bi"], 0.05):
        return None
    peer, n, label = group.median(r, "_inc")
    if peer is not None and share < cfg.own_ratio * max(peer, 0.05):
        return None
    # A few orders a day make shares noisy: the count must also be improbable at the usual share
    # (the employee's own or the peers', whichever is higher).
    usual = min(0.95, max(r["bi"], peer or 0.0, 0.02))
    if binomial_tail(int(r["inc"]), int(r["n"]), usual) > cfg.incomplete_surprise:
        return None
    return Signal("orders.incomplete_details", "medium", window[1] - 1, window, "订单客户信息不完整",
                  f"员工 {r['e']} 当天 {r['n']:g} 笔订单中 {r['inc']:g} 笔（{share:.0%}）缺少客户编号、姓名、电话或地址；"
                  f"本人前 {r['k']} 个活跃日通常为 {r['bi']:.0%}，"
                  + (f"{label} {n} 人当天中位数 {peer:.0%}" if n else "同组可比人数不足")
                  + f"（阈值：{cfg.incomplete_min} 笔、占比 ≥{cfg.incomplete_share:.0%}、且为两者的 {cfg.own_ratio:g} 倍；"
                  f"按通常占比出现的概率低于 {cfg.incomplete_surprise:g}）",
                  [(TOPIC, f"{o}:created") for o in r.get("ix", [])])


def learn_products(st: dict, rows: list[dict]) -> None:
    """What a line of each product usually amounts to in this branch, from orders of that product alone."""
    products = st.setdefault("bp", {})
    for r in rows:
        for sku, amount in r.get("pl", ()):
            lines = products.setdefault(sku, [])
            lines.append(amount)
            del lines[:-MAX_LINES]
    for sku in list(products)[:max(0, len(products) - MAX_PRODUCTS)]:
        del products[sku]


def product_norm(products: dict, skus: list, min_orders: int) -> float | None:
    """The usual amount of an order of these lines (each line at its product's median), or None while a
    product has fewer than `min_orders` orders of its own seen."""
    total = 0.0
    for sku in skus:
        lines = products.get(sku)
        if not lines or len(lines) < min_orders:
            return None
        total += statistics.median(lines)
    return total if skus else None


def _big(r: dict, group, cfg, need: int, window, products: dict) -> Signal | None:
    """Far above the employee's own typical order, the peers' typical order and, where the CRM names the
    products, what this company's orders of those products usually amount to: a key-account seller's
    large orders, a trade's large baskets and an expensive product are their own norms. `need`: a
    typical order amount takes longer to know than a daily count (twice min_baseline_days)."""
    peer, n, label = group.median(r, "md")
    found = []
    for b in r.get("bg", ()):
        if len(b) < 7 or b[3] < need:
            continue  # a candidate kept before products were, or too short a history
        oid, amount, typical, k, top, skus, m = b
        if peer is not None and amount < cfg.big_order_ratio * peer:
            continue
        usual = product_norm(products, skus, cfg.big_product_orders)
        if usual is None:
            if amount < 1.5 * top:  # products unknown: at least well above the employee's largest order
                continue
        elif amount < cfg.big_order_ratio * usual:
            continue
        found.append((b, usual))
    if not found:
        return None
    (oid, amount, typical, k, top, skus, m), usual = max(found, key=lambda f: f[0][1] / f[0][2])
    severity = "high" if amount >= 2 * cfg.big_order_ratio * max(typical, peer or 0) else "medium"
    peer_text = (f"；{label} {n} 人的典型单笔金额（中位数）的中位数 {peer:.0f} 元（阈值同为 {cfg.big_order_ratio:g} 倍）"
                 if peer is not None else "；同组可比人数不足")
    product_text = (f"；本分公司这些商品（{'、'.join(skus)}）的订单通常约 {usual:.0f} 元，本单为其 {amount / usual:.1f} 倍"
                    if usual is not None else f"；这些商品的通常金额尚无足够订单可循（或订单未列明商品），本单超过本人此前最大一笔 {top:.0f} 元的 1.5 倍")
    return Signal("orders.big_incomplete", severity, window[1] - 1, window, "单笔订单远超个人常规金额且客户信息不完整",
                  f"员工 {r['e']} 的订单 {oid} 金额 {amount:.2f} 元，为本人近 {m} 笔订单典型金额（中位数）{typical:.0f} 元的 "
                  f"{amount / typical:.1f} 倍（阈值 {cfg.big_order_ratio:g} 倍；前 {k} 个活跃日），且缺少客户编号、姓名、电话或地址"
                  f"{peer_text}{product_text}。 / Order {oid} of {r['e']} is {amount:.2f} yuan, {amount / typical:.1f}× "
                  f"their typical (median) order of {typical:.0f} yuan"
                  + (f" and {amount / usual:.1f}× what this branch's orders of these products usually amount to"
                     if usual is not None else "")
                  + ", with the customer's id, name, phone or address missing.",
                  [(TOPIC, f"{f[0][0]}:created") for f in found])
