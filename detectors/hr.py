"""hr.* — what HR events say about the employee, and customer ownership from assignments (`hr.events`).

- hr.leave_sales: orders the employee created *during* their own recorded leave, `leave_orders_min`
  or more within `leave_window_days` (someone is selling in the employee's name, or the employee
  sells privately on "leave"). High when leave is frequent (`leave_days_min` days in the window) or
  the window's orders exceed 1.5× the employee's previous window (sales soaring).
- hr.resignation_lookback: a resignation notice raises sensitivity (thresholds × `sensitivity` until
  the last day) and triggers a look-back over the preceding `lookback_days`: days with deletions,
  customers of others written to, customers deleting the employee or failed transfers at the
  sensitised thresholds are listed, and so is the window's total of deletions when it exceeds the
  employee's own usual deletions over as long by the sensitised day's threshold. Deletions found make it critical (customers taken before leaving).
- after the last day: detectors/handover.py (customers still unassigned, the leaver still at work).
- `assignment` events set customer ownership: the event's employee is the new owner; the previous
  owner (if another employee) is told through the notice topic so their own-customer count follows.
"""

from __future__ import annotations

from detectors import handover, others
from detectors.context import NOTICE_TOPIC, Ctx
from detectors.events import HrEvent
from detectors.hygiene import Signal
from detectors.stats import poisson_tail
from detectors.windows import DAY_MS, active_days, bump, day_start, day_window, get, total
from formats.topics import CONTACTS, MSGAUDIT
from formats.topics import HR as TOPIC

MAX_LEAVES = 20
CUSTOMERS_DO = ("deleted_by", "transfer_fail")  # look-back counters of what customers do, not the employee


def on_leave(state: dict, day: int, ctx: Ctx) -> bool:
    leaves = state.get("hr", {}).get("lv")
    if not leaves:
        return False
    d0, d1 = day_window(day, ctx.tz)
    return any(s < d1 and e > d0 for s, e in leaves)


def on_leave_at(state: dict, ts: int) -> bool:
    """Whether `ts` falls inside a recorded leave (not merely on a day with some leave)."""
    return any(s <= ts < e for s, e in state.get("hr", {}).get("lv", ()))


def leave_days(state: dict, first: int, last: int, ctx: Ctx) -> int:
    return sum(1 for d in range(first, last + 1) if on_leave(state, d, ctx))


def _assignment(state: dict, ev: HrEvent, ctx: Ctx) -> None:
    customer = ev.fields.get("customer_id", "")
    reason = ev.fields.get("reason") or "allocation"
    before = ctx.owner(customer) or {}
    previous = ev.fields.get("previous_owner_id") or before.get("o") or ""
    if before.get("o") == ctx.employee:
        return  # already ours: nothing changes
    handed_over = reason in ("handover", "resignation", "transfer") or bool(previous)
    # A handed-over customer is not a new customer: keep the original relationship's start.
    since = before.get("t", ev.ts) if handed_over else ev.ts
    owner = {"o": ctx.employee, "t": since, "b": before.get("b", 0)}
    if handed_over and previous:
        owner["p"] = previous  # the previous owner may still say goodbye: not "others' customers" to them
    ctx.set_owner(customer, owner)
    state["own"] = state.get("own", 0) + 1
    if not handed_over:
        bump(state, ctx.day(ev.ts), "new_added")
    if previous and previous != ctx.employee:
        notice = {"kind": "lost_customer", "employee_id": previous, "customer_id": customer, "ts": ev.ts}
        if before.get("g") and before.get("o") == previous:
            notice["g"] = 1  # the customer had deleted the previous owner (detectors/handover.py)
        ctx.messages.append((NOTICE_TOPIC, previous, notice))


def lost_customer(state: dict, body: dict | None = None) -> None:
    state["own"] = max(0, state.get("own", 0) - 1)
    if body:
        handover.lost(state, body)


def _lookback(state: dict, ev: HrEvent, ctx: Ctx) -> None:
    cfg, sens = ctx.rules.hr, ctx.rules.hr.sensitivity
    c, f = ctx.rules.contacts, ctx.rules.followup
    today = ctx.day(ev.ts)
    checks = (("deleted", c.deletes_per_day, "删除客户"), ("others", f.others_customers_max + 1, "联系他人客户"),
              ("deleted_by", c.deleted_by_customers_per_day, "被客户删除"),
              ("transfer_fail", c.transfer_fails_per_day, "转接失败"))
    findings, deletions = [], 0
    worked = max(1, len(active_days(state, today - ctx.rules.windows.history_days, today)))
    for d in range(today - cfg.lookback_days, today + 1):
        for field, limit, what in checks:
            n = get(state, d, field)
            if not n or n < max(1, round(limit * sens)):
                continue
            if field in CUSTOMERS_DO:
                # What customers do comes at a rate that grows with the book: a day is a finding only
                # when so many would rarely happen at the employee's own usual rate (the other days).
                usual = (total(state, today - ctx.rules.windows.history_days, today, field) - n) / worked
                if poisson_tail(int(n), max(usual, 1.0 / worked)) > cfg.lookback_surprise:
                    continue
            findings.append(f"第 {d - today:+d} 天{what} {n} 次")
            deletions += n if field == "deleted" else 0
    # Deletions spread over several days, each below the day's line, are a pattern too: the window's
    # total against what the employee usually deletes (own rate before the window) and the day's line.
    first = today - cfg.lookback_days
    window_total = total(state, first, today, "deleted")
    before = active_days(state, first - ctx.rules.windows.history_days, first - 1)
    usual = total(state, before[0], first - 1, "deleted") / len(before) * (cfg.lookback_days + 1) if before else 0.0
    day_line = max(1, round(c.deletes_per_day * sens))
    if window_total - deletions >= 1 and window_total - usual >= day_line:
        findings.append(f"回溯期内共删除客户 {window_total:g} 次（阈值 {day_line}，本人此前同期通常 {usual:.1f} 次）")
        deletions = window_total
    if not findings:
        return
    severity = "critical" if deletions else "high"
    start = day_start(today - cfg.lookback_days, ctx.tz)
    evidence = [(TOPIC, ev.evidence_id)] + [(CONTACTS, e) for t, e in state.get("dl", []) if t >= start]
    ctx.signal(Signal("hr.resignation_lookback", severity, ev.ts, (start, day_start(today + 1, ctx.tz)),
                      "离职前行为回溯发现异常",
                      f"员工 {ctx.employee} 提交离职，回溯前 {cfg.lookback_days} 天（阈值按 {sens:g} 倍收紧）："
                      + "，".join(findings[:8]) + (f" 等 {len(findings)} 项" if len(findings) > 8 else ""),
                      evidence[:30]))


def on_leave_chat(state: dict, touch, ctx: Ctx) -> None:
    """An outbound chat message written during the employee's own leave: working while "away". With an
    order created during the leave that day it is selling on leave, however few orders."""
    if not on_leave_at(state, touch.ts):
        return
    day = ctx.day(touch.ts)
    bump(state, day, "on_leave_outbound")
    if get(state, day, "on_leave_outbound") == 1 and ctx.rules.hr.enabled:
        check_leave_sales(state, touch.ts, (MSGAUDIT, touch.msgid), ctx)


def check_leave_sales(state: dict, ts: int, evidence: tuple[str, str], ctx: Ctx) -> None:
    """After an order created during the employee's own recorded leave, or a chat message written then:
    someone sells in their name, or they sell privately while "on leave". `leave_orders_min` such orders,
    or one while the employee also wrote to customers during the leave (an online order credited to an
    absent owner is neither). Payments arriving during leave and colleagues covering are not orders the
    employee created, so they never count."""
    cfg = ctx.rules.hr
    today = ctx.day(ts)
    first = today - cfg.leave_window_days + 1
    n_leave = leave_days(state, first, today, ctx)
    on_leave_orders = total(state, first, today, "on_leave_orders")
    # Messages written on a leave day on which an order was also created: that day they were selling.
    talking = sum(get(state, d, "on_leave_outbound") for d in range(first, today + 1)
                  if get(state, d, "on_leave_orders"))
    if not on_leave_orders or (on_leave_orders < cfg.leave_orders_min and not talking):
        return
    now_orders = total(state, first, today, "orders")
    before = total(state, first - cfg.leave_window_days, first - 1, "orders")
    soaring = before > 0 and now_orders >= 1.5 * before
    frequent = n_leave >= cfg.leave_days_min
    ctx.signal(Signal("hr.leave_sales", "high" if soaring or frequent else "medium", ts,
                      (day_start(first, ctx.tz), day_start(today + 1, ctx.tz)), "请假期间仍有成交",
                      f"员工 {ctx.employee} 近 {cfg.leave_window_days} 天请假 {n_leave} 天"
                      f"（频繁请假阈值 {cfg.leave_days_min} 天），请假时段内本人创建订单，成交 {on_leave_orders:g} 单"
                      f"（阈值 {cfg.leave_orders_min}"
                      + (f"；有成交的请假日本人仍向客户发送 {talking:g} 条消息，1 单即计" if talking else "") + "）"
                      + (f"，同期订单 {now_orders:g} 单，较前一周期 {before:g} 单增长 {now_orders / before - 1:.0%}"
                         if soaring else ""),
                      [evidence]))


def on_hr(state: dict, ev: HrEvent, ctx: Ctx) -> None:
    if ev.kind == "assignment":
        _assignment(state, ev, ctx)
    elif ev.kind == "leave":
        hr = state.setdefault("hr", {})
        leaves = hr.setdefault("lv", [])
        leaves.append([int(ev.fields["start"]), int(ev.fields["end"])])
        others.leave_message(ctx, int(ev.fields["start"]), int(ev.fields["end"]), ev.ts)
        horizon = state.get("wm", ev.ts) - 60 * DAY_MS
        leaves[:] = [x for x in leaves if x[1] >= horizon][-MAX_LEAVES:]
    elif ev.kind == "resignation":
        hr = state.setdefault("hr", {})
        first_notice = not hr.get("n")
        hr["n"], hr["ld"], hr["ev"] = ev.ts, int(ev.fields["last_day"]), ev.evidence_id
        if first_notice and ctx.rules.hr.enabled:
            _lookback(state, ev, ctx)
