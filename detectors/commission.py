"""commission.* — commission claimed against the policy in the rules file (`crm.orders`).

- commission.over_claim against the policy (only where the company configured its policy, `use_policy:
  true`): the commission on a paid order exceeds amount × policy rate × (1 + tolerance).
  The rate is the longest matching SKU prefix (`by_sku_prefix`), else the store's (`by_store`), else
  `default_rate`. High when the claim is at least twice the policy.
- commission.over_claim against the peers (`peer_norm: true`; on the branch's partition at the day's close): the
  claimed rate (commission / amount) exceeds (1 + tolerance) × the median of what colleagues claim for
  the same store and SKU (else the same SKU in any store of the branch), is above every rate a
  colleague claimed there, and is (1 + tolerance) × above the employee's own usual ratio to that norm.
  The norm is learned from earlier days, so a company paying any rate sets its own. Only single-SKU
  orders are judged (a basket mixes rates). Off by default: monthly tiers that raise a high
  performer's rate still look like an over-claim.
- commission.kept_on_refund: a refunded or cancelled order still carries a commission (> 0).
- commission.split_orders: `split_min_orders` or more orders for one customer created on one local day
  — one sale split into several (the parts may be paid on different days); already when they are
  entered (where payment takes weeks). A split is keyed in at one sitting: medium when that many were
  entered each within `split_sitting_minutes` of the one before; a customer's purchases spread over the
  day (a promotion day's repeat buys) are low, context for the risk score. High at payment when the
  split pushes the month's paid orders across a tier (`monthly_tiers`), where the commission rate steps up.
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from functools import lru_cache

from config.behaviour_rules import CommissionRule
from detectors.context import Ctx, short
from detectors.events import OrderEvent
from detectors.hygiene import Signal
from formats.topics import ORDERS as TOPIC

SPLIT_DAYS = 60  # payment terms of weeks: a split is still joined when its last part is paid


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
    if not mo or mo[0] != month:
        mo = state["mo"] = [month, 0]
    mo[1] += 1
    if ev.commission is not None and ev.amount > 0 and ev.commission > 0 and len(set(ev.skus)) <= 1:
        # The claimed rate, judged against the colleagues' at the day's close (evaluate). A basket of
        # several SKUs mixes their rates: only single-SKU orders say what the SKU's rate is.
        sku = ev.skus[0] if ev.skus else ""
        claims = state.get("cr")
        if not claims or claims[0] != day:
            claims = state["cr"] = [day, []]
        if len(claims[1]) < 30:
            claims[1].append([ev.store_id or "", sku, round(ev.commission / ev.amount, 5), ev.order_id])
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


def on_created(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    """Orders for one customer entered on one day, before they are paid: where payment takes weeks,
    waiting for the last part's payment would find the split weeks late."""
    cfg = ctx.rules.commission
    if not cfg.enabled or not ev.customer_id:
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

MAX_RATES = 12     # recent rates kept per employee and key
MAX_KEYS = 400


def figures(state: dict, day: int, ctx: Ctx) -> dict:
    """The day's claimed rates for the branch: [[store, sku, rate, order_id], …]."""
    claims = state.get("cr")
    if claims and claims[0] == day:
        del state["cr"]
        return {"cr": claims[1]}
    return {}


def _norm(st: dict, employee: str, store: str, sku: str, min_peers: int
          ) -> tuple[float, float, int, str] | None:
    """(colleagues' median rate, highest rate a colleague claimed, how many colleagues, what) for the
    store and SKU, else the SKU in any store of the branch."""
    norms = st.get("cn", {})
    for key, label in ((f"{store}|{sku}", f"门店 {store} 商品 {sku}"), (f"*|{sku}", f"本分公司商品 {sku}")):
        others = {e: rates for e, rates in norms.get(key, {}).items() if e != employee and rates}
        if len(others) >= min_peers:
            medians = [statistics.median(r) for r in others.values()]
            return statistics.median(medians), max(max(r) for r in others.values()), len(others), label
    return None


def _learn(st: dict, rows: list[dict]) -> None:
    norms = st.setdefault("cn", {})
    for r in rows:
        for store, sku, rate, _ in r.get("cr", ()):
            for key in (f"{store}|{sku}", f"*|{sku}"):
                rates = norms.setdefault(key, {}).setdefault(r["e"], [])
                rates.append(rate)
                del rates[:-MAX_RATES]
    for key in list(norms)[:max(0, len(norms) - MAX_KEYS)]:
        del norms[key]


def evaluate(rows: list[dict], window: tuple[int, int], rules, st: dict) -> list[tuple[str, Signal]]:
    """Claimed rates against the colleagues' norm learned before today and the employee's own usual
    ratio to it; then today's claims join the norm."""
    cfg = rules.commission
    out: list[tuple[str, Signal]] = []
    if not cfg.enabled or not cfg.peer_norm:
        return out
    own = st.setdefault("co", {})  # employee -> recent ratios of their rate to the norm
    min_peers = rules.windows.min_peers
    need = 3  # claims seen before the employee's own usual ratio is known
    for r in rows:
        worst = None
        for store, sku, rate, oid in r.get("cr", ()):
            norm = _norm(st, r["e"], store, sku, min_peers)
            if norm is None or norm[0] <= 0:
                continue
            ratio = rate / norm[0]
            history = own.setdefault(r["e"], [])
            usual = statistics.median(history) if len(history) >= need else None
            history.append(round(ratio, 4))
            del history[:-3 * need]
            if (usual is not None and ratio > (1 + cfg.tolerance) and rate > norm[1]
                    and ratio > (1 + cfg.tolerance) * max(usual, 1.0)
                    and (worst is None or ratio > worst[0])):
                worst = (ratio, rate, norm, usual, oid)
        if worst is None:
            continue
        ratio, rate, (median, top, n, label), usual, oid = worst
        flagged = [c[3] for c in r.get("cr", ())
                   if (nm := _norm(st, r["e"], c[0], c[1], min_peers)) and c[2] > nm[1]]
        out.append((r["e"], Signal(
            "commission.over_claim", "high" if ratio >= 2 else "medium", window[1] - 1, window,
            "佣金申报高于同事常态",
            f"员工 {r['e']} 的订单 {oid} 申报佣金率 {rate:.2%}，{label} 的 {n} 名同事申报中位数 {median:.2%}"
            f"（同事最高 {top:.2%}），为同事常态的 {ratio:.2f} 倍；本人此前通常为同事常态的 {usual:.2f} 倍"
            f"（容差 {cfg.tolerance:.0%}）；当天高于所有同事的订单：{', '.join(flagged)}",
            [(TOPIC, f"{o}:paid") for o in flagged])))
    _learn(st, rows)
    return out
