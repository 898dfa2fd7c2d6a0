"""commission.* — commission claimed against the policy in the rules file (`crm.orders`).

- commission.over_claim (only where the company configured its policy, `use_policy: true`): the commission
  on a paid order exceeds amount × policy rate × (1 + tolerance).
  The rate is the longest matching SKU prefix (`by_sku_prefix`), else the store's (`by_store`), else
  `default_rate`. High when the claim is at least twice the policy.
- commission.kept_on_refund: a refunded or cancelled order still carries a commission (> 0).
- commission.split_orders: `split_min_orders` or more paid orders for one customer on one local day —
  one sale split into several. High when the split pushes the month's paid orders across a tier
  (`monthly_tiers`), where the commission rate steps up.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from config.behaviour_rules import CommissionRule
from detectors.context import Ctx, short
from detectors.events import OrderEvent
from detectors.hygiene import Signal

TOPIC = "crm.orders"


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
    if not mo or mo[0] != month:
        mo = state["mo"] = [month, 0]
    mo[1] += 1
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
    key = str(short(ev.customer_id))
    split = state.get("sp")
    if not split or split.get("d") != day:
        split = state["sp"] = {"d": day}
    row = split.setdefault(key, [0, 0.0, mo[1] - 1, []])
    row[0] += 1
    row[1] = round(row[1] + ev.amount, 2)
    row[3] = (row[3] + [ev.order_id])[-10:]
    if row[0] >= cfg.split_min_orders:
        crossed = [t for t in cfg.monthly_tiers if row[2] < t <= mo[1]]
        ctx.signal(Signal("commission.split_orders", "high" if crossed else "medium", ev.ts, ctx.day_window(ev.ts),
                          "拆单冲击提成档位" if crossed else "同一客户当天拆分多笔订单",
                          f"员工 {ctx.employee} 当天为同一客户录入 {row[0]} 笔已付款订单，合计 {row[1]:.2f} 元"
                          f"（阈值 {cfg.split_min_orders} 笔）"
                          + (f"；本月付款单数由 {row[2]} 升至 {mo[1]}，跨过提成档位 {crossed[0]} 单" if crossed else ""),
                          [(TOPIC, f"{o}:paid") for o in row[3]]))


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
