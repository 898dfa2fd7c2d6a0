"""Working colleagues' customers: followup.others_customers and orders.others_customer.

A customer is *another's* when the ownership table names another employee as owner, and this employee
neither handed the customer over (a goodbye after a handover, an order a customer still places with
their former salesperson) nor received them since (re-checked when the day closes, so a handover
recorded a little after the first message counts as one).

Employee side (per event, `note`): every message written to, and every order booked on, another's
customer is remembered (`xw`: one entry per customer and day for chat, one per order), bounded to
`others_days` days. The day's summary to the branch (`figures`) carries those entries and the
employee's own norm: customers of others per active day over the history before the window.

Branch side (detectors/peers.py, when the day is evaluated): every leave recorded for a member of the
branch reaches the branch's aggregate (`leave_message` → `on_leave_row`), so a customer whose owner was
on leave around the contact — a colleague covering — is not counted. Then (`evaluate`):
- followup.others_customers, a burst: more than `others_customers_max` distinct customers of others
  written to within `others_window_hours` (medium; high above twice that);
- followup.others_customers, a habit: over the last `others_days` days, at least `others_min` distinct
  customers of others written to or ordered for, `others_ratio` × the employee's own norm for as many
  active days and × the peer group's mean, after `windows.min_history_days` active days of history;
  what a large share of the group does is its norm (Peers.crowded). High with `orders.others_customer_min`
  orders among them;
- orders.others_customer: `orders.others_customer_min` or more orders in a day booked on customers of
  others (high).
"""

from __future__ import annotations

from detectors.context import TEAM_TOPIC, Ctx, short
from detectors.hygiene import Signal
from detectors.windows import DAY_MS, HOUR_MS, active_days, day_start, get
from formats.topics import MSGAUDIT, ORDERS

LEAVE_KIND = "leave"     # a leave on the team-days topic, for the branch's aggregate
CHAT, ORDER = "c", "o"
MAX_ENTRIES = 80         # others' customers remembered per employee (bounded state)
MAX_LEAVES = 20          # leaves remembered per member at the branch
LEAVE_KEEP_MS = 60 * DAY_MS
# Cover starts the day before a leave ("from tomorrow, ask me") and ends the day after it (answering
# what came in meanwhile): a day's grace on either side.
COVER_GRACE_MS = DAY_MS
LABEL_EN = {"同组": "team", "同分公司": "branch"}


# --- employee side --------------------------------------------------------------------------------

def theirs(owner: dict | None, employee: str) -> bool:
    """Whether a customer with this ownership record belongs to another employee, for `employee`."""
    return bool(owner and owner.get("o") and owner["o"] != employee and owner.get("p") != employee)


def note(state: dict, ctx: Ctx, customer: str, owner: str, ts: int, kind: str, evidence: str) -> bool:
    """Remember a message (CHAT) or an order (ORDER) on another's customer; False for a customer
    already written to that day."""
    day = ctx.day(ts)
    entries = state.get("xw")
    if entries is None:
        entries = state["xw"] = []
    if kind == CHAT:
        for x in entries:
            if x[0] == day and x[3] == CHAT and x[1] == customer:
                return False
    entries.append([day, customer, owner, kind, ts, evidence])
    if len(entries) > MAX_ENTRIES:
        entries.sort(key=lambda x: x[4])
        del entries[:-MAX_ENTRIES]
    return True


def figures(state: dict, day: int, ctx: Ctx) -> dict:
    """At the day's close: the window's entries (customers as short ids) and the own norm."""
    entries = state.get("xw")
    if not entries:
        return {}
    cfg = ctx.rules.followup
    first = day - cfg.others_days + 1
    kept = []
    for x in entries:
        if x[0] < first:
            continue
        if len(x) < 7 and x[0] <= day:
            # First reported today (chat may be read after its day closed: judged now, not lost). A
            # customer handed over to (or back from) this employee since is not another's.
            if not theirs(ctx.owner(x[1]), ctx.employee):
                continue
            x.append(day)
        kept.append(x)
    later = [x for x in kept if x[0] > day]  # a later day's events already read: theirs to report
    kept = [x for x in kept if x[0] <= day]
    state["xw"] = kept + later
    if not kept:
        return {}
    base = active_days(state, first - (ctx.rules.windows.history_days - cfg.others_days), first - 1)
    seen = sum(get(state, d, "others") + get(state, d, "others_orders") for d in base)
    window_days = len(active_days(state, first, day))
    norm = seen / len(base) * window_days if base else 0.0
    return {"xw": [[x[0], short(x[1]), x[2], x[3], x[4], x[5], x[6]] for x in kept], "xk": len(base),
            "xn": round(norm, 2), "xa": window_days}


def leave_message(ctx: Ctx, start: int, end: int, ts: int) -> None:
    """A recorded leave, told to the employee's branch: colleagues covering it are not working others'
    customers."""
    key = ctx.directory.get("branch") or ctx.directory.get("team") or ""
    if key:
        # `d` as every row on that topic carries one (streams/processing.py checks it).
        ctx.messages.append((TEAM_TOPIC, key, {"kind": LEAVE_KIND, "e": ctx.employee, "d": ctx.day(ts), "s": start,
                                               "en": end, "ts": ts}))


# --- branch side ----------------------------------------------------------------------------------

def on_leave_row(st: dict | None, body: dict) -> dict:
    st = st if st is not None else {}
    leaves = st.setdefault("lv", {})
    mine = leaves.setdefault(body["e"], [])
    span = [int(body["s"]), int(body["en"])]
    if span not in mine:
        mine.append(span)
    horizon = int(body.get("ts", span[1])) - LEAVE_KEEP_MS
    mine[:] = [x for x in mine if x[1] >= horizon][-MAX_LEAVES:]
    return st


def _covered(leaves: dict, owner: str, ts: int) -> bool:
    return any(s - COVER_GRACE_MS <= ts < e + COVER_GRACE_MS for s, e in leaves.get(owner, ()))


def _burst(chats: list, hours: int, after: int) -> list:
    """The largest set of distinct customers written to within `hours`, ending at a message first
    reported after day `after` (not judged yet)."""
    best: list = []
    span = hours * HOUR_MS
    for i, x in enumerate(chats):
        if x[6] <= after:
            continue
        inside = {}
        for y in chats[:i + 1]:
            if x[4] - span < y[4] <= x[4]:
                inside.setdefault(y[1], y)
        if len(inside) > len(best):
            best = list(inside.values())
    return best


def _owners(entries: list) -> int:
    return len({x[2] for x in entries})


def evaluate(rows: list[dict], day: int, window: tuple[int, int], rules, group, st: dict
             ) -> list[tuple[str, Signal]]:
    f, o = rules.followup, rules.orders
    leaves = st.get("lv", {}) if st else {}
    for r in rows:
        entries = r.get("xw")
        if entries:
            kept = [x for x in entries if not _covered(leaves, x[2], x[4])]
            r["_xo"] = kept
            r["_xw"] = len({x[1] for x in kept})
            r["_xl"] = len({x[1] for x in entries}) - r["_xw"]
    out: list[tuple[str, Signal]] = []
    habit: list[tuple[str, Signal]] = []
    # The last day judged per member: a summary the branch never judged (it came after the day was
    # evaluated without it) leaves its entries to the next one.
    judged = st.setdefault("xj", {}) if st is not None else {}
    for r in rows:
        kept = r.get("_xo")
        if not kept:
            continue
        after = judged.get(r["e"], -1)
        judged[r["e"]] = day
        fresh = {x[0] for x in kept if x[3] == ORDER and x[6] > after}
        if o.enabled and fresh:
            on = max(fresh, key=lambda d: sum(1 for x in kept if x[3] == ORDER and x[0] == d))
            orders = [x for x in kept if x[3] == ORDER and x[0] == on]
            if len(orders) >= o.others_customer_min:
                out.append((r["e"], _orders_signal(r, orders, o, (day_start(on, r.get("tz", "")),
                                                                   day_start(on + 1, r.get("tz", ""))))))
        if not f.enabled:
            continue
        chats = sorted((x for x in kept if x[3] == CHAT), key=lambda x: x[4])
        burst = _burst(chats, f.others_window_hours, after)
        if len(burst) > f.others_customers_max:
            last = max(burst, key=lambda x: x[4])
            tz = r.get("tz", "")
            out.append((r["e"], _burst_signal(r, burst, f, last[4], (day_start(last[0], tz),
                                                                      day_start(last[0] + 1, tz)))))
        sig = _habit(r, group, rules, window, day)
        if sig is not None:
            habit.append((r["e"], sig))
    members = st.get("r") if st else None
    if members is not None and len(judged) > len(members):
        for e in [e for e in judged if e not in members]:
            del judged[e]
    who = {e for e, _ in habit}
    by_e = {r["e"]: r for r in rows}
    return out + [(e, sig) for e, sig in habit if not group.crowded(by_e[e], who)]


def _excluded(r: dict) -> tuple[str, str]:
    n = r.get("_xl", 0)
    return (f"；同事休假期间代为联系的 {n} 位客户不计" if n else "",
            f"; {n} customers of colleagues on leave (covering) not counted" if n else "")


def _orders_signal(r: dict, orders: list, o, window) -> Signal:
    zh_x, en_x = _excluded(r)
    return Signal("orders.others_customer", "high", max(x[4] for x in orders), window,
                  "他人客户订单记在自己名下 / orders booked on colleagues' customers",
                  f"员工 {r['e']} 当天有 {len(orders)} 笔订单的客户归属其他员工（{_owners(orders)} 名同事名下，"
                  f"如 {orders[0][2]}），未经交接（阈值 {o.others_customer_min} 笔）{zh_x}。"
                  f" Employee {r['e']} booked {len(orders)} orders that day on customers owned by "
                  f"{_owners(orders)} other employees (e.g. {orders[0][2]}), not handed over "
                  f"(threshold {o.others_customer_min}){en_x}.",
                  [(ORDERS, f"{x[5]}:created") for x in orders][:30])


def _burst_signal(r: dict, burst: list, f, ts: int, window) -> Signal:
    n = len(burst)
    zh_x, en_x = _excluded(r)
    return Signal("followup.others_customers", "high" if n > 2 * f.others_customers_max else "medium",
                  ts, window, "跟进他人名下客户 / working colleagues' customers",
                  f"员工 {r['e']} 在 {f.others_window_hours} 小时内联系了 {n} 位归属其他员工的客户"
                  f"（{_owners(burst)} 名同事名下；阈值：超过 {f.others_customers_max} 位；已交接的客户不计{zh_x}）。"
                  f" Employee {r['e']} wrote to {n} customers owned by {_owners(burst)} other employees within "
                  f"{f.others_window_hours} hours (threshold: more than {f.others_customers_max}; handed-over "
                  f"customers not counted{en_x}).",
                  [(MSGAUDIT, x[5]) for x in burst][:30])


def _habit(r: dict, group, rules, window, day: int) -> Signal | None:
    f, o = rules.followup, rules.orders
    n = r.get("_xw", 0)
    if n < f.others_min or r.get("xk", 0) < rules.windows.min_history_days:
        return None
    own = r.get("xn", 0.0)
    if n < f.others_ratio * max(own, 1.0):
        return None
    peer, k, label = group.mean(r, "_xw")
    if peer is not None and n < f.others_ratio * max(peer, 1.0):
        return None
    kept = r["_xo"]
    ordered = len({x[1] for x in kept if x[3] == ORDER})
    owners = _owners(kept)
    zh_x, en_x = _excluded(r)
    peer_zh = (f"{label} {k} 人平均 {peer:.1f} 位" if peer is not None else "同组可比人数不足")
    peer_en = (f"the {LABEL_EN.get(label, label)}'s {k} colleagues {peer:.1f} on average" if peer is not None
               else "too few colleagues to compare with")
    days = f.others_days
    start = day_start(day - days + 1, r.get("tz", ""))
    evidence = [(ORDERS, f"{x[5]}:created") if x[3] == ORDER else (MSGAUDIT, x[5])
                for x in sorted(kept, key=lambda x: x[4])]
    return Signal("followup.others_customers", "high" if ordered >= o.others_customer_min else "medium",
                  window[1] - 1, (start, window[1]), "跟进他人名下客户 / working colleagues' customers",
                  f"员工 {r['e']} 近 {days} 天（{r.get('xa', 0)} 个活跃日）联系或下单了 {n} 位归属其他员工的客户"
                  f"（{owners} 名同事名下，其中 {ordered} 位有订单）；本人此前 {r['xk']} 个活跃日的常态折合约 {own:.1f} 位，"
                  f"{peer_zh}（阈值：至少 {f.others_min} 位，且为两者的 {f.others_ratio:g} 倍）；已交接的客户不计{zh_x}。"
                  f" Employee {r['e']} wrote to or ordered for {n} customers owned by {owners} other employees in "
                  f"the last {days} days ({r.get('xa', 0)} active days; {ordered} of them with orders); own norm "
                  f"{own:.1f} for as many days (history of {r['xk']} active days), {peer_en} (threshold: at least "
                  f"{f.others_min}, and {f.others_ratio:g}× both); handed-over customers not counted{en_x}.",
                  evidence[:30])
