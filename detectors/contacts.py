"""contacts.* — what happens to the employee's customer relationships on WeCom (`wecom.contacts`).

- contacts.deleted_customers: the employee deletes customers — `deletes_per_hour` within a clock hour or
  `deletes_per_day` within a local day. Near a resignation (notice given, or given within
  `resignation_window_days` after — see hr.py's look-back) it is critical: customers are being taken.
- contacts.deleted_by_customers: customers delete the employee (`deleted_by_customers_per_day`).
- contacts.transfer_fail: customer transfers fail (`transfer_fails_per_day`), e.g. customers refusing a
  handover their salesperson has talked them out of.
An `add_external_contact` of a customer nobody owns makes the employee the owner (a new customer).
A deletion WeCom marks as an on-job transfer (在职继承, `Source` = DELETE_BY_TRANSFER) is the company handing
the customer to a colleague, not the employee's deletion: it releases the customer and counts for nothing.
"""

from __future__ import annotations

from detectors.context import Ctx
from detectors.events import ContactEvent
from detectors.hygiene import Signal
from detectors.windows import DAY_MS, HOUR_MS, bump
from formats.topics import CONTACTS as TOPIC

TRANSFER_SOURCE = "DELETE_BY_TRANSFER"
RECENT_DELETIONS = 30


def near_resignation(state: dict, ts: int, window_days: int) -> bool:
    hr = state.get("hr", {})
    notice = hr.get("n")
    return bool(notice) and ts >= notice - window_days * DAY_MS


def _release(state: dict, ev: ContactEvent, ctx: Ctx) -> None:
    owner = ctx.owner(ev.customer_id)
    if owner and owner.get("o") == ctx.employee:
        ctx.set_owner(ev.customer_id, {"o": "", "t": ev.ts, "b": owner.get("b", 0), "p": ctx.employee})
        state["own"] = max(0, state.get("own", 0) - 1)


def _deleted(state: dict, ev: ContactEvent, ctx: Ctx) -> None:
    cfg = ctx.rules.contacts
    day = ctx.day(ev.ts)
    per_day = bump(state, day, "deleted")
    hour = ev.ts // HOUR_MS
    h = state.get("h")
    h = state["h"] = [hour, h[1] + 1] if h and h[0] == hour else [hour, 1]
    recent = state.setdefault("dl", [])
    recent.append([ev.ts, ev.evidence_id])
    del recent[:-RECENT_DELETIONS]
    _release(state, ev, ctx)
    resigning = near_resignation(state, ev.ts, cfg.resignation_window_days)
    factor = ctx.rules.hr.sensitivity if resigning else 1.0
    hour_limit = max(1, round(cfg.deletes_per_hour * factor))
    day_limit = max(1, round(cfg.deletes_per_day * factor))
    if h[1] < hour_limit and per_day < day_limit:
        return
    if h[1] >= hour_limit:
        window, what = (hour * HOUR_MS, (hour + 1) * HOUR_MS), f"1 小时内删除客户 {h[1]} 人（阈值 {hour_limit}）"
    else:
        window, what = ctx.day_window(ev.ts), f"当天删除客户 {per_day} 人（阈值 {day_limit}）"
    evidence = [(TOPIC, e) for t, e in recent if t >= window[0]]
    if resigning:
        ctx.signal(Signal("contacts.deleted_before_resignation", "critical", ev.ts, window,
                          "离职前批量删除客户",
                          f"员工 {ctx.employee} 已提交离职，{what}；离职期阈值按 {factor:g} 倍收紧",
                          evidence, group="contacts.deletion"))
    else:
        ctx.signal(Signal("contacts.deleted_customers", "high", ev.ts, window, "批量删除客户",
                          f"员工 {ctx.employee} {what}", evidence, group="contacts.deletion"))


def _counted(state: dict, ev: ContactEvent, ctx: Ctx, field: str, limit: int, rule: str, title: str,
             what: str) -> None:
    n = bump(state, ctx.day(ev.ts), field)
    key = "e_" + field
    ev_list = state.setdefault(key, [])
    day0 = ctx.day_window(ev.ts)[0]
    ev_list[:] = [e for e in ev_list if e[0] >= day0][-RECENT_DELETIONS:] + [[ev.ts, ev.evidence_id]]
    if n >= limit:
        ctx.signal(Signal(rule, "medium", ev.ts, ctx.day_window(ev.ts), title,
                          f"员工 {ctx.employee} 当天{what} {n} 次（阈值 {limit}）",
                          [(TOPIC, e) for _, e in ev_list]))


def on_contact(state: dict, ev: ContactEvent, ctx: Ctx) -> None:
    cfg = ctx.rules.contacts
    change = ev.change_type
    if change == "add_external_contact":
        if ev.customer_id and ctx.owner(ev.customer_id) is None:
            ctx.set_owner(ev.customer_id, {"o": ctx.employee, "t": ev.ts, "b": 0})
            state["own"] = state.get("own", 0) + 1
            bump(state, ctx.day(ev.ts), "new_added")
        return
    if not cfg.enabled:
        return
    if change == "del_external_contact":
        if ev.source == TRANSFER_SOURCE:
            _release(state, ev, ctx)  # handed to a colleague by the company
        else:
            _deleted(state, ev, ctx)
    elif change == "del_follow_user":
        _counted(state, ev, ctx, "deleted_by", cfg.deleted_by_customers_per_day, "contacts.deleted_by_customers",
                 "客户集中删除员工", "被客户删除")
    elif change == "transfer_fail":
        _counted(state, ev, ctx, "transfer_fail", cfg.transfer_fails_per_day, "contacts.transfer_fail",
                 "客户转接频繁失败", "客户转接失败")
