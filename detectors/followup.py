"""followup.* — how the employee looks after customers, from chat (`wecom.msgaudit`).

- followup.others_customers: writing to more than `others_customers_max` distinct customers owned by
  other employees within `others_window_hours`. Ownership comes from assignments and contact adds; a
  customer handed over to this employee is theirs, so a proper handover is never a violation.
- followup.rate_drop: the share of own customers written to per working day, over the last
  `rate_recent_days`, fell to `rate_drop_ratio` of the employee's own baseline (`rate_baseline_days`).
  Leave days and weekends do not count on either side. Checked when a local day closes.
- followup.reply_timeout: a customer's question left unanswered for more than `reply_timeout_minutes`
  of *working* time (weekday work hours in the employee's timezone), `reply_timeouts_per_day` times on
  one day. Short courtesy messages (`exempt_phrases`: 好的, 谢谢 …) expect no answer.
- followup.stalled: orders created `stalled_days` ago, neither paid nor closed, whose customer was not
  written to since — `stalled_orders` or more at a day's close.
"""

from __future__ import annotations

from detectors.context import Ctx, short
from detectors.events import ChatTouch
from detectors.hr import on_leave
from detectors.hygiene import Signal
from detectors.windows import (DAY_MS, HOUR_MS, bump, day_start, day_window, get, is_working_day,
                               working_ms_between)

TOPIC = "wecom.msgaudit"
MAX_PENDING = 30
TIMEOUT_CHECK_MS = 5 * 60_000

# Open-order flags (shared with orders.py, which creates the entries).
APPROVED, PAID, CLOSED, TOUCHED, STALLED = 1, 2, 4, 8, 16


def exempt(text: str, phrases: tuple) -> bool:
    t = text.strip().lower()
    if len(t) > 8:
        return False
    for p in phrases:  # a loop, not any(genexpr): this runs for every customer message
        if p in t:
            return True
    return False


def _others(state: dict, touch: ChatTouch, ctx: Ctx) -> None:
    cfg = ctx.rules.followup
    hours = cfg.others_window_hours
    if hours == 24:
        window = ctx.day_window(touch.ts)
    else:
        start = touch.ts - touch.ts % (hours * HOUR_MS)
        window = (start, start + hours * HOUR_MS)
    xo = state.get("xo")
    if not xo or xo["w"] != window[0]:
        xo = state["xo"] = {"w": window[0], "c": {}}
    key = str(short(touch.customer_id))
    if key in xo["c"]:
        return
    xo["c"][key] = touch.msgid
    bump(state, ctx.day(touch.ts), "others")
    n = len(xo["c"])
    if n > cfg.others_customers_max:
        severity = "high" if n > 2 * cfg.others_customers_max else "medium"
        ctx.signal(Signal("followup.others_customers", severity, touch.ts, window, "跟进他人名下客户",
                          f"员工 {ctx.employee} 在 {hours} 小时内联系了 {n} 位归属其他员工的客户"
                          f"（阈值：超过 {cfg.others_customers_max} 位；已交接的客户不计）",
                          [(TOPIC, m) for m in list(xo["c"].values())[:30]]))


def check_timeouts(state: dict, now: int, ctx: Ctx) -> None:
    pending = state.get("p")
    if not pending or now - state.get("pc", 0) < TIMEOUT_CHECK_MS:
        return
    state["pc"] = now
    cfg, win = ctx.rules.followup, ctx.rules.windows
    limit = cfg.reply_timeout_minutes * 60_000
    for key, (t0, msgid) in list(pending.items()):
        # Working time is part of the time elapsed: a question waiting no longer than the limit at all
        # (the usual case) needs no working-time count.
        if now - t0 <= limit or working_ms_between(t0, now, ctx.tz, win.work_start_hour, win.work_end_hour,
                                                   win.weekend_days) <= limit:
            continue
        del pending[key]
        day = ctx.day(t0)
        n = bump(state, day, "timeouts")
        late = state.setdefault("to", [])
        late[:] = [e for e in late if e[0] >= ctx.day_window(t0)[0] - DAY_MS][-30:] + [[t0, msgid]]
        if n >= cfg.reply_timeouts_per_day:
            window = ctx.day_window(t0)
            ctx.signal(Signal("followup.reply_timeout", "medium", now, window, "客户消息长时间未回复",
                              f"员工 {ctx.employee} 当天有 {n} 条客户消息超过 {cfg.reply_timeout_minutes} 分钟"
                              f"（按工作时间 {win.work_start_hour}:00–{win.work_end_hour}:00 计）未回复"
                              f"（阈值 {cfg.reply_timeouts_per_day} 条）",
                              [(TOPIC, m) for t, m in late if window[0] <= t < window[1]]))


def on_chat(state: dict, touch: ChatTouch, ctx: Ctx) -> None:
    customer = touch.customer_id
    if not customer:
        return
    day = ctx.day(touch.ts)
    cfg = ctx.rules.followup
    short_id = short(customer)  # the customer in sets and order entries; `key` in the pending dict
    key = str(short_id)
    if touch.outbound:
        bump(state, day, "outbound")
        pending = state.get("p")
        if pending:
            pending.pop(key, None)
        owner = ctx.owner(customer)
        mine = owner is not None and owner.get("o") == ctx.employee
        if mine:
            today = state.get("fu")
            if not today or today[0] != day:
                today = state["fu"] = [day, []]
            if short_id not in today[1]:
                today[1].append(short_id)
                bump(state, day, "followed")
            waiting = state.get("ou")  # customers with an order nobody has written about since
            if waiting and short_id in waiting:
                untouched = False
                for entry in state.get("o", {}).values():
                    if entry[3] == short_id:
                        # Only a message written after the order counts (by event time: the order
                        # may be read from its topic before the chat that preceded it).
                        if touch.ts > entry[0]:
                            entry[1] |= TOUCHED
                        untouched = untouched or not entry[1] & TOUCHED
                if not untouched:
                    waiting[:] = [c for c in waiting if c != short_id]
        elif owner and owner.get("o") and cfg.enabled:
            _others(state, touch, ctx)
    elif not exempt(touch.text, cfg.exempt_phrases):
        pending = state.get("p")
        if pending is None:
            pending = state["p"] = {}
        if key not in pending and len(pending) < MAX_PENDING:
            pending[key] = [touch.ts, touch.msgid]
    if cfg.enabled:
        check_timeouts(state, touch.ts, ctx)


def close_day(state: dict, day: int, ctx: Ctx) -> None:
    """Close a day the employee was active on: snapshot own customers, compare the follow-up rate."""
    bump(state, day, "owned", state.get("own", 0) - get(state, day, "owned"))
    cfg = ctx.rules.followup
    if not cfg.enabled:
        return
    # The day's rate joins the employee's series of working-day rates (leave days and weekends don't).
    owned = get(state, day, "owned")
    history = state.setdefault("rt", [])
    if owned and is_working_day(day, ctx.rules.windows.weekend_days) and not on_leave(state, day, ctx):
        history.append([day, round(get(state, day, "followed") / owned, 4)])
        del history[:-(cfg.rate_recent_days + cfg.rate_baseline_days)]
    if not history or history[-1][0] != day:
        return
    rates = [(d, r) for d, r in reversed(history) if d > day - 3 * (cfg.rate_recent_days + cfg.rate_baseline_days)]
    recent, base = rates[:cfg.rate_recent_days], rates[cfg.rate_recent_days:]
    if len(recent) == cfg.rate_recent_days and len(base) >= max(3, cfg.rate_baseline_days // 2):
        r_now = sum(r for _, r in recent) / len(recent)
        r_base = sum(r for _, r in base) / len(base)
        if r_base >= cfg.rate_min_baseline and r_now <= r_base * cfg.rate_drop_ratio:
            orders_now = sum(get(state, d, "orders") for d, _ in recent) / len(recent)
            orders_base = sum(get(state, d, "orders") for d, _ in base) / len(base)
            trend = (f"；同期日均订单 {orders_base:.1f} → {orders_now:.1f}"
                     f"（{(orders_now / orders_base - 1) * 100:+.0f}%）" if orders_base else "")
            severity = "high" if orders_base and orders_now > orders_base * 1.15 else "medium"
            window = (day_start(recent[-1][0], ctx.tz), day_start(day + 1, ctx.tz))
            ctx.signal(Signal("followup.rate_drop", severity, window[1] - 1, window, "自有客户跟进率骤降",
                              f"员工 {ctx.employee} 近 {len(recent)} 个工作日自有客户日跟进率 {r_now:.0%}，"
                              f"仅为个人基线 {r_base:.0%}（前 {len(base)} 个工作日）的 {r_now / r_base:.0%}"
                              f"（阈值 {cfg.rate_drop_ratio:.0%}）{trend}"))


def stalled(state: dict, day: int, ctx: Ctx) -> None:
    """At the close of `day`: orders left without payment or follow-up for `stalled_days`."""
    cfg = ctx.rules.followup
    if not cfg.enabled:
        return
    orders = state.get("o", {})
    cutoff = day_start(day + 1, ctx.tz) - cfg.stalled_days * DAY_MS
    stalled = sorted((e[0], oid) for oid, e in orders.items()
                     if e[0] <= cutoff and not e[1] & (PAID | CLOSED | TOUCHED | STALLED))
    stalled = [oid for _, oid in stalled]  # in creation order, however the state was rebuilt
    if len(stalled) < cfg.stalled_orders:
        return
    for oid in stalled:
        orders[oid][1] |= STALLED
    ctx.signal(Signal("followup.stalled", "medium", day_start(day + 1, ctx.tz) - 1, day_window(day, ctx.tz),
                      "订单创建后停止跟进",
                      f"员工 {ctx.employee} 有 {len(stalled)} 笔订单创建超过 {cfg.stalled_days} 天未付款、未关闭，"
                      f"且之后未再联系客户（阈值 {cfg.stalled_orders} 笔）",
                      [("crm.orders", f"{oid}:created") for oid in stalled[:30]]))

