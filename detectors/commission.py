"""commission.* — commission claimed against the policy in the rules file (`crm.orders`).

- commission.over_claim against the policy (only where the company configured its policy, `use_policy:
  true`): the commission on a paid order exceeds amount × policy rate × (1 + tolerance).
  The rate is the longest matching SKU prefix (`by_sku_prefix`), else the store's (`by_store`), else
  `default_rate`. High when the claim is at least twice the policy.
- commission.over_claim against what the company pays (`peer_norm: true`; on the branch's partition
  at the day's close): the claimed rate (commission / amount) exceeds (1 + tolerance) × the most
  colleagues of the same store were paid for its SKU (a basket: its highest SKU) on orders paid at
  least as far into their month, and what the employee was paid for it before. Low for one order,
  medium when `peer_min_claims` recur within `peer_window_days`, high at twice the norm.
- commission.kept_on_refund: a refunded or cancelled order still carries a commission (> 0).
- commission.split_orders: `split_min_orders` or more orders for one customer created on one local day
  — one sale split into several (the parts may be paid on different days); already when they are
  entered (where payment takes weeks). A split is keyed in at one sitting: medium when that many were
  entered each within `split_sitting_minutes` of the one before; a customer's purchases spread over the
  day (a promotion day's repeat buys) are low, context for the risk score. High at payment when the
  split pushes the month's paid orders across a tier (`monthly_tiers`), where the commission rate steps up.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from config.behaviour_rules import CommissionRule
from detectors.context import Ctx, short
from detectors.events import OrderEvent
from detectors.hygiene import Signal
from formats.topics import ORDERS as TOPIC

SPLIT_DAYS = 60  # payment terms of weeks: a split is still joined when its last part is paid
MAX_SKUS = 6     # distinct SKUs of an order kept for its claim
MAX_KEPT = 80    # orders awaiting payment whose SKUs are kept


def sitting(times: list[int], gap_ms: int) -> int:
    """The most orders entered one after another, each within `gap_ms` of the one before."""
    best = run = 0
    last = None
    for t in sorted(times):
        run = run + 1 if last is not None and t - last <= gap_ms else 1
        best, last = max(best, run), t
    return best


def policy_rate(ev: OrderEvent, cfg: CommissionRule) -> tuple[float, str]:
    best = ""
    for sku in ev.skus:
        for prefix in cfg.by_sku_prefix:
            if sku.startswith(prefix) and len(prefix) > len(best):
                best = prefix
    if best:
        return float(cfg.by_sku_prefix[best]), f"商品前缀 {best}"
    if ev.store_id in cfg.by_store:
        return float(cfg.by_store[ev.store_id]), f"门店 {ev.store_id}"
    return cfg.default_rate, "默认"


@lru_cache(maxsize=1024)  # a pure function of the day, asked for every paid order
def _month(day: int) -> int:
    d = date(1970, 1, 1) + timedelta(days=day)
    return d.year * 12 + d.month - 1


def on_paid(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    cfg = ctx.rules.commission
    if not cfg.enabled:
        return
    day = ctx.day(ev.ts)
    month = _month(day)
    mo = state.get("mo")
    if not mo or mo[0] != month or len(mo) < 3:
        mo = state["mo"] = [month, mo[1] if mo and mo[0] == month else 0, 0.0]
    before_n, before_a = mo[1], mo[2]  # how far into the month's tiers the employee was before this order
    mo[1] += 1
    mo[2] = round(mo[2] + ev.amount, 2)
    skus = _skus(state, ev)
    if ev.commission is not None and ev.amount > 0 and ev.commission > 0 and skus and cfg.peer_norm:
        # The claimed rate, judged against the colleagues' at the day's close (evaluate), with the
        # month-to-date volume it was paid at: monthly tiers pay more further into the month.
        # Kept per day: a payment of the next day may arrive before this day closes.
        claims = state.get("cr")
        if not isinstance(claims, dict):
            claims = state["cr"] = {}
        row = claims.setdefault(str(day), [])
        if len(row) < 30:
            row.append([ev.store_id or "", skus, round(ev.commission / ev.amount, 5), ev.order_id,
                        before_n, before_a])
    if cfg.use_policy and ev.commission is not None and ev.amount > 0:
        rate, source = policy_rate(ev, cfg)
        expected = ev.amount * rate
        if ev.commission > expected * (1 + cfg.tolerance) + 0.01:
            severity = "high" if ev.commission >= 2 * expected else "medium"
            ctx.signal(Signal("commission.over_claim", severity, ev.ts, ctx.day_window(ev.ts), "佣金申报超出政策",
                              f"订单 {ev.order_id} 金额 {ev.amount:.2f} 元，申报佣金 {ev.commission:.2f} 元，"
                              f"按政策费率 {rate:.1%}（{source}）应为 {expected:.2f} 元，超出 "
                              f"{ev.commission / expected - 1 if expected else 1:.0%}（容差 {cfg.tolerance:.0%}）",
                              [(TOPIC, ev.evidence_id)]))
    if not ev.customer_id:
        return
    # One sale split into several orders is entered on one day; with payment terms the parts are
    # paid on different days, so the paid orders are grouped by the day they were created.
    entry = state.get("o", {}).get(ev.order_id)
    created = ctx.day(entry[0]) if entry is not None else day
    key = str(short(ev.customer_id))
    split = state.get("sp")
    if not isinstance(split, dict) or "d" in split:
        split = state["sp"] = {}
    for old in [k for k in split if int(k) < day - SPLIT_DAYS]:
        del split[old]
    row = split.setdefault(str(created), {}).setdefault(key, [0, 0.0, mo[1] - 1, [], []])
    if len(row) < 5:
        row.append([])  # a row kept before entry times were
    row[0] += 1
    row[1] = round(row[1] + ev.amount, 2)
    row[3] = (row[3] + [ev.order_id])[-10:]
    row[4] = (row[4] + [entry[0] if entry is not None else ev.ts])[-10:]
    if row[0] >= cfg.split_min_orders:
        crossed = [t for t in cfg.monthly_tiers if row[2] < t <= mo[1]]
        one_sitting = sitting(row[4], cfg.split_sitting_minutes * 60_000) >= cfg.split_min_orders
        when = "当天" if created == day else f"同一天（{(date(1970, 1, 1) + timedelta(days=created)).isoformat()}）"
        severity = "high" if crossed else "medium" if one_sitting else "low"
        ctx.signal(Signal("commission.split_orders", severity, ev.ts, ctx.day_window(ev.ts),
                          "拆单冲击提成档位" if crossed else "同一客户当天拆分多笔订单",
                          f"员工 {ctx.employee} {when}为同一客户录入 {row[0]} 笔已付款订单，合计 {row[1]:.2f} 元"
                          f"（阈值 {cfg.split_min_orders} 笔；订单 {', '.join(row[3])}）"
                          + (f"；本月付款单数由 {row[2]} 升至 {mo[1]}，跨过提成档位 {crossed[0]} 单" if crossed else "")
                          + _sitting_text(one_sitting, cfg),
                          [(TOPIC, f"{o}:paid") for o in row[3]]))


def _skus(state: dict, ev: OrderEvent) -> list[str]:
    """The order's distinct SKUs: from the event, else as entered (a sparse CRM's `paid` names none)."""
    known = state.get("ks", {}).pop(ev.order_id, None)
    return sorted(set(ev.skus))[:MAX_SKUS] if ev.skus else (known or [])


def on_created(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    """Orders for one customer entered on one day, before they are paid: where payment takes weeks,
    waiting for the last part's payment would find the split weeks late."""
    cfg = ctx.rules.commission
    if not cfg.enabled:
        return
    if ev.skus and cfg.peer_norm:
        kept = state.setdefault("ks", {})
        kept[ev.order_id] = sorted(set(ev.skus))[:MAX_SKUS]
        for old in list(kept)[:max(0, len(kept) - MAX_KEPT)]:
            del kept[old]
    if not ev.customer_id:
        return
    day = ctx.day(ev.ts)
    entered = state.get("sc")
    if not entered or entered[0] != day:
        entered = state["sc"] = [day, {}]
    row = entered[1].setdefault(str(short(ev.customer_id)), [0, 0.0, [], []])
    if len(row) < 4:
        row.append([])  # a row kept before entry times were
    row[0] += 1
    row[1] = round(row[1] + ev.amount, 2)
    row[2] = (row[2] + [ev.order_id])[-10:]
    row[3] = (row[3] + [ev.ts])[-10:]
    if row[0] >= cfg.split_min_orders:
        one_sitting = sitting(row[3], cfg.split_sitting_minutes * 60_000) >= cfg.split_min_orders
        ctx.signal(Signal("commission.split_orders", "medium" if one_sitting else "low", ev.ts, ctx.day_window(ev.ts),
                          "同一客户当天拆分多笔订单",
                          f"员工 {ctx.employee} 当天为同一客户录入 {row[0]} 笔订单，合计 {row[1]:.2f} 元"
                          f"（阈值 {cfg.split_min_orders} 笔；订单 {', '.join(row[2])}；尚未全部付款）"
                          + _sitting_text(one_sitting, cfg),
                          [(TOPIC, f"{o}:created") for o in row[2]]))


def _sitting_text(one_sitting: bool, cfg: CommissionRule) -> str:
    if one_sitting:
        return f"；各笔相隔不超过 {cfg.split_sitting_minutes} 分钟，一次录入"
    return f"；各笔分散在当天不同时段（相隔超过 {cfg.split_sitting_minutes} 分钟），更像客户多次购买"


def on_closed(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    """A refund or cancellation that keeps its commission."""
    cfg = ctx.rules.commission
    if not cfg.enabled or not ev.commission or ev.commission <= 0:
        return
    kept = state.setdefault("kr", [])
    if ev.evidence_id in (k[1] for k in kept):
        return
    kept[:] = [k for k in kept if k[0] >= ev.ts - 30 * 86_400_000][-10:] + [[ev.ts, ev.evidence_id]]
    what = "退款" if ev.event == "refunded" else "取消"
    ctx.signal(Signal("commission.kept_on_refund", "high" if len(kept) >= 2 else "medium", ev.ts,
                      ctx.day_window(ev.ts), "退单后仍保留佣金",
                      f"订单 {ev.order_id} 已{what}，仍保留佣金 {ev.commission:.2f} 元；近 30 天共 {len(kept)} 笔",
                      [(TOPIC, k[1]) for k in kept]))


# --- the peer norm, on the branch's partition ------------------------------------------------------
#
# What this company pays is learned from its own paid orders: for each store and SKU, the rates
# (commission / amount) colleagues were paid on orders of that SKU alone, with how far into the month
# they were (paid orders and amount before the order). A monthly tier pays more further into the
# month, so a claim is compared only with colleagues' claims made at least as far into their month:
# the most any of them was paid there is what the company pays at that point. A basket's rate is a
# mix of its SKUs' rates, so it can be no higher than the highest of them. Store bonuses stay inside
# the store's own norm; a fixed amount per unit shows as a range of rates, whose top is the bound.

MAX_RATES = 20     # recent rates kept per employee and store|SKU
MAX_KEYS = 400
MAX_RECENT = 40    # judged claims kept per employee


def figures(state: dict, day: int, ctx: Ctx) -> dict:
    """The day's claimed rates for the branch: [[store, skus, rate, order_id, month_n, month_amount], …]."""
    claims = state.get("cr")
    if not isinstance(claims, dict):
        state.pop("cr", None)  # kept before claims were kept per day
        return {}
    row = claims.pop(str(day), None)
    for old in [d for d in claims if int(d) < day - 3]:
        del claims[old]
    if not claims:
        del state["cr"]
    return {"cr": row} if row else {}


def _bound(st: dict, employee: str, claim: list, min_colleagues: int) -> tuple[float, str, int] | None:
    """(the most colleagues were paid for the claim's SKUs in its store at least as far into their month,
    the SKU that sets it, how many colleagues) — None while any SKU lacks that support."""
    store, skus, _, _, n, amount = claim[:6]
    norms = st.get("cn", {})
    best: tuple[float, str, int] | None = None
    for sku in skus:
        top, who = 0.0, 0
        for e, rates in norms.get(f"{store}|{sku}", {}).items():
            if e == employee:
                continue
            paid = [r for r, rn, ra in rates if rn >= n and ra >= amount]
            if paid:
                top, who = max(top, max(paid)), who + 1
        if who < min_colleagues or top <= 0:
            return None
        if best is None or top > best[0]:
            best = (top, sku, who)
    return best


def _learn(st: dict, rows: list[dict], above: set[str]) -> None:
    """Today's claims of one SKU join the norm, except those above it (`above`: order ids)."""
    norms = st.setdefault("cn", {})
    for r in rows:
        for claim in r.get("cr", ()):
            if len(claim) < 6 or len(claim[1]) != 1 or claim[3] in above:
                continue  # a basket mixes rates: only an order of one SKU says what that SKU pays
            store, skus, rate, _, n, amount = claim[:6]
            rates = norms.setdefault(f"{store}|{skus[0]}", {}).setdefault(r["e"], [])
            rates.append([rate, n, amount])
            del rates[:-MAX_RATES]
    for key in list(norms)[:max(0, len(norms) - MAX_KEYS)]:
        del norms[key]


def _own_top(own: dict, claim: list) -> float:
    """The most the employee was paid earlier for the claim's SKUs in its store (0 if never)."""
    return max((max(own["k"].get(f"{claim[0]}|{sku}", [0.0])) for sku in claim[1]), default=0.0)


def _judge(st: dict, r: dict, cfg, day: int) -> tuple[list, dict]:
    """Today's claims of one employee against what colleagues were paid and what the employee was paid
    earlier (a personal deal is their own norm): (recent claims above both, the employee's history)."""
    own = st.setdefault("cj", {}).setdefault(r["e"], {"w": [], "k": {}, "n": 0})
    recent = own["w"]
    seen = own["n"]
    for claim in r.get("cr", ()):
        if len(claim) < 6:
            continue  # a claim kept before the month's volume was
        bound = _bound(st, r["e"], claim, cfg.peer_min_colleagues)
        mine = _own_top(own, claim)
        over = bound is not None and claim[2] > (1 + cfg.tolerance) * max(bound[0], mine)
        if over and seen >= cfg.peer_own_min:
            recent.append([day, round(claim[2] / bound[0], 4), claim[3], claim[2], bound[0], bound[1], bound[2],
                           mine])
        else:
            # What the employee is paid joins their own history, never what stands above the norm once
            # that history is known (before, it is their own starting point).
            own["n"] += 1
            for sku in claim[1][:1] if len(claim[1]) == 1 else ():
                rates = own["k"].setdefault(f"{claim[0]}|{sku}", [])
                rates.append(claim[2])
                del rates[:-MAX_RATES]
    first = day - cfg.peer_window_days + 1
    recent[:] = [c for c in recent if c[0] >= first][-MAX_RECENT:]
    for key in list(own["k"])[:max(0, len(own["k"]) - MAX_KEYS // 4)]:
        del own["k"][key]
    return recent, own


def evaluate(rows: list[dict], window: tuple[int, int], rules, st: dict) -> list[tuple[str, Signal]]:
    """Claimed rates against what colleagues were paid before today and the employee's own earlier
    claims; then today's claims join the norm."""
    cfg = rules.commission
    out: list[tuple[str, Signal]] = []
    if not cfg.enabled or not cfg.peer_norm:
        return out
    above: set[str] = set()
    for r in rows:
        day = int(r.get("d", window[0] // 86_400_000))
        over, own = _judge(st, r, cfg, day)
        above.update(c[2] for c in over if c[0] == day)
        if not any(c[0] == day for c in over):
            continue
        worst = max(over, key=lambda c: c[1])
        _, ratio, oid, rate, bound, sku, n, _ = worst
        listed = "、".join(f"{c[2]}（{c[3]:.2%}，同事最高 {c[4]:.2%}" + (f"，本人此前最高 {c[7]:.2%}" if c[7] else "") + "）"
                          for c in over[-8:])
        out.append((r["e"], Signal(
            # One claim above the norm may be a one-off (a correction, a special deal): context for the
            # risk score; the employee is flagged when it recurs.
            "commission.over_claim", "low" if len(over) < cfg.peer_min_claims else "high" if ratio >= 2 else "medium",
            window[1] - 1, window,
            "佣金申报高于公司实际支付水平",
            f"员工 {r['e']} 近 {cfg.peer_window_days} 天有 {len(over)} 笔订单申报的佣金率高于本门店同事在同一商品、"
            f"本月累计单数与业绩均不低于本人时获得的最高佣金率，也高于本人此前同一商品的佣金率（容差 {cfg.tolerance:.0%}，"
            f"至少 {cfg.peer_min_claims} 笔）：{listed}；最高为订单 {oid}，{rate:.2%}，为同事最高值的 {ratio:.2f} 倍"
            f"（商品 {sku}，{n} 名同事；本人此前 {own['n']} 笔佣金订单）。"
            f" / {len(over)} of {r['e']}'s orders in {cfg.peer_window_days} days claim a commission rate above the "
            f"most colleagues in the same store were paid for the SKU at the same or a later point in their month, "
            f"and above what {r['e']} was paid for it before (highest: order {oid}, {rate:.2%}, {ratio:.2f}× the "
            f"{bound:.2%} paid to {n} colleagues for {sku}).",
            [(TOPIC, f"{c[2]}:paid") for c in over])))
    _learn(st, rows, above)
    return out
