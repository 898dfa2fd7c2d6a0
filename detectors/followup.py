"""followup.* — how the employee looks after customers, from chat (`wecom.msgaudit`).

- followup.others_customers: working colleagues' customers — a burst in `others_window_hours` or an
  unusual number over `others_days`, judged at the branch where colleagues' leave is known
  (detectors/others.py; the messages are noted here).
- followup.rate_drop: the share of own customers written to per working day, over the last
  `rate_recent_days`, fell to `rate_drop_ratio` of the employee's own baseline (`rate_baseline_days`).
  Leave days and weekends do not count on either side. Checked when a local day closes. High when the
  employee's orders rose meanwhile (the seed's 4S case), low when they fell too (a quieter stretch).
- followup.reply_timeout (peer check, at the day's close): how long customers' questions waited for
  an answer, in *working* time (weekday work hours in the employee's timezone), judged in the
  company's own terms. A reply is slow when it took `peer_ratio` × the peer group's typical delay that
  day (and at least `reply_timeout_minutes`); the day is flagged when the employee's median delay is
  slow, `reply_timeouts_per_day` replies were, and the median is `own_ratio` × the employee's own
  usual delay (after `windows.min_history_days` of history), and the last five working days' delays sit
  `reply_own_z` standard errors above the employee's own earlier ones (`shift`): a day's median of a
  handful of questions varies a lot, so "slower than usual" is measured in the employee's own spread,
  not as a fixed ratio. A question unanswered for
  `reply_cap_minutes` counts as that delay. Short courtesy messages (`exempt_phrases`: 好的, 谢谢 …)
  expect no answer, and neither does a colleague's customer (in a group with their salesperson, the
  manager receives their messages too; the owner answers).
- followup.stalled (peer check): orders created `stalled_days` of the employee's working days ago
  (days they wrote to customers or took orders), neither paid nor closed, whose
  customer was not written to since — `stalled_orders` or more at a day's close, and `peer_ratio` ×
  the peers' and `own_ratio` × the employee's own usual number. Where payment takes days (loans,
  payment terms) stalled orders are everyone's normal and flag no one.
"""

from __future__ import annotations

import math
import statistics

from detectors import others
from detectors.context import Ctx, short
from detectors.events import ChatTouch
from detectors.hr import on_leave, on_leave_chat
from detectors.hygiene import Signal
from detectors.stats import binomial_tail
from detectors.windows import (active_days, bump, day_start, day_window, get,
                               is_working_day, total, working_ms_between)
from formats.topics import MSGAUDIT as TOPIC
from formats.topics import ORDERS

MAX_PENDING = 30
MAX_REPLIES = 40   # reply delays kept per day (the longest)

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


def _delay(state: dict, day: int, minutes: int, msgid: str) -> None:
    """One answered (or given-up) question: its delay joins the day's list, the longest kept."""
    replies = state.get("ry")
    if replies is None:
        replies = state["ry"] = {}
    row = replies.get(str(day))
    if row is None:
        row = replies[str(day)] = []
    bump(state, day, "questions")
    lm = round(100 * math.log1p(max(minutes, 0)))
    bump(state, day, "reply_log", lm)
    bump(state, day, "reply_log2", round(lm * lm / 100))
    row.append([minutes, msgid])
    if len(row) > MAX_REPLIES:
        row.remove(min(row))


def _replied(state: dict, t0: int, msgid: str, now: int, ctx: Ctx) -> None:
    """The delay counts from when the employee was at work after the question (`seen`)."""
    cfg, win = ctx.rules.followup, ctx.rules.windows
    wall = now - t0
    # Working time never exceeds wall time: a reply quicker than the floor needs no working-time count.
    if wall <= cfg.reply_timeout_minutes * 60_000:
        ms = wall
    else:
        ms = working_ms_between(t0, now, ctx.tz, win.work_start_hour, win.work_end_hour, win.weekend_days)
        # Whole days between on which the employee wrote to no customer (a rest day on a rota, leave)
        # are absence, not slowness.
        for day in range(ctx.day(t0) + 1, min(ctx.day(now), ctx.day(t0) + 61)):
            if not get(state, day, "outbound"):
                d0, d1 = day_window(day, ctx.tz)
                ms -= working_ms_between(d0, d1, ctx.tz, win.work_start_hour, win.work_end_hour, win.weekend_days)
    _delay(state, ctx.day(now), min(max(ms, 0) // 60_000, cfg.reply_cap_minutes), msgid)


def unanswered(state: dict, day: int, ctx: Ctx) -> None:
    """At the day's close: questions the employee left unanswered although at work after them (they
    wrote to some customer since) count with the working time from then to the day's end. While the
    employee writes to no one (a rest day on a rota, leave entered late) a question waits without
    counting: absence is not slowness."""
    pending = state.get("p")
    if not pending:
        return
    cfg, win = ctx.rules.followup, ctx.rules.windows
    d0, d1 = day_window(day, ctx.tz)
    for key, entry in list(pending.items()):
        seen = entry[2] if len(entry) > 2 else 0
        if seen and seen < d1:
            del pending[key]
            ms = working_ms_between(max(seen, d0), d1, ctx.tz, win.work_start_hour, win.work_end_hour,
                                    win.weekend_days)
            _delay(state, day, min(ms // 60_000, cfg.reply_cap_minutes), entry[1])


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
        on_leave_chat(state, touch, ctx)
        pending = state.get("p")
        if pending:
            waited = pending.pop(key, None)
            if waited is not None and cfg.enabled:
                seen = waited[2] if len(waited) > 2 and waited[2] else touch.ts
                _replied(state, max(waited[0], seen), waited[1], touch.ts, ctx)
            for entry in pending.values():  # the employee is at work: the other questions now wait on them
                if len(entry) < 3:
                    entry.append(touch.ts)
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
        elif others.theirs(owner, ctx.employee) and cfg.enabled:
            if others.note(state, ctx, customer, owner["o"], touch.ts, others.CHAT, touch.msgid):
                bump(state, day, "others")
    elif not exempt(touch.text, cfg.exempt_phrases):
        pending = state.get("p")
        if pending is None:
            pending = state["p"] = {}
        # A question from a colleague's customer waits on its owner: a manager or colleague in the
        # customer's group with the salesperson receives the message too, and the owner answers it.
        if key not in pending and len(pending) < MAX_PENDING and not others.theirs(ctx.owner(customer), ctx.employee):
            pending[key] = [touch.ts, touch.msgid]  # + when the employee was next at work


def close_day(state: dict, day: int, ctx: Ctx) -> None:
    """Close a day the employee was active on: snapshot own customers, compute the follow-up rate
    against the employee's own baseline (judged against peers in `evaluate`)."""
    bump(state, day, "owned", state.get("own", 0) - get(state, day, "owned"))
    cfg = ctx.rules.followup
    state.pop("fr", None)
    if not cfg.enabled:
        return
    unanswered(state, day, ctx)
    # The day's rate joins the employee's series of working-day rates (leave days and weekends don't).
    owned = get(state, day, "owned")
    history = state.setdefault("rt", [])
    # A working day is one the employee worked on: they wrote to customers (rest days on a rota, and
    # days with an order and no chat, would pull the baseline down for nothing).
    if (owned and get(state, day, "outbound") >= 3 and is_working_day(day, ctx.rules.windows.weekend_days)
            and not on_leave(state, day, ctx)):
        history.append([day, round(get(state, day, "followed") / owned, 4)])
        del history[:-(cfg.rate_recent_days + cfg.rate_baseline_days)]
    if not history or history[-1][0] != day:
        return
    rates = [(d, r) for d, r in reversed(history) if d > day - 3 * (cfg.rate_recent_days + cfg.rate_baseline_days)]
    recent, base = rates[:cfg.rate_recent_days], rates[cfg.rate_recent_days:]
    need = max(3, min(cfg.rate_baseline_days, ctx.rules.windows.min_history_days))
    if len(recent) < cfg.rate_recent_days or len(base) < need:
        return
    r_now = sum(r for _, r in recent) / len(recent)
    r_base = sum(r for _, r in base) / len(base)
    # A persisting drop must not become its own baseline: the baseline is frozen when the drop starts
    # and thawed when the rate is back above the line.
    frozen = state.get("rf")
    if frozen is not None:
        if r_now > frozen[0] * cfg.rate_drop_ratio:
            del state["rf"]
        else:
            r_base, base = frozen[0], [None] * frozen[1]
    if r_base < cfg.rate_min_baseline:
        return
    dropping = r_now <= r_base * cfg.rate_drop_ratio
    if dropping and "rf" not in state:
        state["rf"] = [r_base, len(base)]
    orders_now = sum(get(state, d, "orders") for d, _ in recent) / len(recent)
    first = recent[-1][0]
    orders_base = sum(get(state, d, "orders") for d in active_days(state, first - cfg.rate_baseline_days * 2,
                                                                    first - 1)) / max(1, len(base))
    state["fr"] = [day, round(r_now, 4), round(r_base, 4), len(base), first, round(orders_now, 2),
                   round(orders_base, 2), int(dropping)]


def stalled(state: dict, day: int, ctx: Ctx) -> None:
    """At the close of `day`: orders left without payment or follow-up for `stalled_days` are counted
    on that day (judged against peers and the employee's own usual number in `evaluate`)."""
    cfg = ctx.rules.followup
    if not cfg.enabled or str(day) not in state.get("d", {}):
        return  # a day without work is not a day to count: the orders stay for the next one
    orders = state.get("o", {})
    # `stalled_days` of the employee's own working days after the order's: a weekend or a rest day on
    # a rota is no chance to follow up (absence is not neglect).
    worked = active_days(state, day - 4 * cfg.stalled_days - 14, day)
    if len(worked) < cfg.stalled_days:
        return
    cutoff = day_start(worked[-cfg.stalled_days], ctx.tz)
    found = sorted((e[0], oid) for oid, e in orders.items()
                   if e[0] < cutoff and not e[1] & (PAID | CLOSED | TOUCHED | STALLED))
    if not found:
        return
    for _, oid in found:
        orders[oid][1] |= STALLED
    bump(state, day, "stalled", len(found))
    state["sx"] = [day, [oid for _, oid in found][:30]]  # in creation order, however the state was rebuilt


def figures(state: dict, day: int, ctx: Ctx) -> dict:
    """The day's replies, stalled orders and follow-up rate, with the employee's own baselines."""
    cfg = ctx.rules.followup
    replies = state.get("ry") or {}
    row = sorted(replies.pop(str(day), []), reverse=True)
    for key in [k for k in replies if int(k) < day - 3]:
        del replies[key]
    base = active_days(state, day - cfg.rate_baseline_days * 2, day - 1)
    meds = [get(state, d, "reply_med") for d in base if get(state, d, "questions")]
    out = {"qn": get(state, day, "questions"), "sn": get(state, day, "stalled"), "fk": len(base)}
    if row:
        med = statistics.median(m for m, _ in row)
        bump(state, day, "reply_med", int(med) - get(state, day, "reply_med"))
        own = statistics.median(meds) if meds else 0
        slow = max(cfg.reply_timeout_minutes, cfg.own_ratio * own)
        recent = [d for d in active_days(state, day - 6, day) if get(state, d, "questions")][-5:]
        out.update(qm=med, qy=[m for m, _ in row[:30]], qx=[i for _, i in row[:8]], qb=own, qk=len(meds),
                   qs=sum(1 for d in recent if get(state, d, "reply_med") >= slow),
                   qz=shift(state, [d for d in base if d < recent[0] and get(state, d, "questions")], recent))
    if out["sn"]:
        sx = state.get("sx")
        out.update(sb=round(sum(get(state, d, "stalled") for d in base) / max(1, len(base)), 3),
                   sx=sx[1] if sx and sx[0] == day else [])
    _stall_chances(state, day, cfg, out)
    fr = state.get("fr")
    if fr and fr[0] == day:
        out["fr"] = fr[1:]
    return out


def _stall_chances(state: dict, day: int, cfg, out: dict) -> None:
    """The orders whose `stalled_days` ran out at this close (`so`: created between the previous close's
    cutoff and this one's, as in `stalled`) and the employee's usual share of orders that stalled
    (`sp`): a busy day's orders stall in proportion, and a top seller's three are not a slow seller's."""
    worked = active_days(state, day - 4 * cfg.stalled_days - 14, day)
    if len(worked) < cfg.stalled_days:
        return
    hi = worked[-cfg.stalled_days]
    lo = worked[-cfg.stalled_days - 1] if len(worked) > cfg.stalled_days else day - 4 * cfg.stalled_days - 14
    out["so"] = total(state, lo, hi - 1, "orders")
    first = day - 2 * cfg.rate_baseline_days
    made = total(state, first, hi - 1, "orders")
    if made:
        out["sp"] = round(min(1.0, total(state, first, day - 1, "stalled") / made), 3)


def shift(state: dict, base: list[int], recent: list[int]) -> float:
    """How far the recent days' reply delays sit above the employee's own earlier ones, in standard errors
    of the difference of mean log delays: the same slowdown is ordinary for someone whose replies vary
    a lot, or who answers few questions, and unusual for someone steady (0 without enough of either)."""
    def pooled(days):
        n = sum(get(state, d, "questions") for d in days)
        s1 = sum(get(state, d, "reply_log") for d in days) / 100
        s2 = sum(get(state, d, "reply_log2") for d in days) / 100
        return n, s1, s2
    nb, b1, b2 = pooled(base)
    nr, r1, _ = pooled(recent)
    if nb < 10 or nr < 3:
        return 0.0
    mean_b = b1 / nb
    sd = math.sqrt(max(b2 / nb - mean_b * mean_b, 0.0) * nb / (nb - 1))
    if sd <= 0:
        return 0.0
    return round((r1 / nr - mean_b) / (sd * math.sqrt(1 / nr + 1 / nb)), 2)


def _reply(r: dict, group, cfg, need: int, window) -> Signal | None:
    if r.get("qn", 0) < cfg.reply_timeouts_per_day or "qm" not in r:
        return None
    typical, n, label = group.median(r, "qm", lambda x: x.get("qn", 0) >= 3)
    if typical is None:
        return None
    line = max(cfg.reply_timeout_minutes, cfg.peer_ratio * typical)
    slow = [m for m in r["qy"] if m >= line]
    if r["qm"] < line or len(slow) < cfg.reply_timeouts_per_day:
        return None
    # A bad day or two is not a pattern: slow on `reply_days` of the last five, or on two when the day
    # is twice as far beyond the peers' line.
    persisting = r.get("qs", 0) >= cfg.reply_days or (r.get("qs", 0) >= 2 and r["qm"] >= 2 * line)
    if r.get("qk", 0) < need or r["qm"] < cfg.own_ratio * max(r["qb"], 1) or not persisting:
        return None
    if r.get("qz", 0) < cfg.reply_own_z:
        return None  # within the employee's own spread of delays
    return Signal("followup.reply_timeout", "medium", window[1] - 1, window, "客户消息回复明显慢于同事",
                  f"员工 {r['e']} 当天 {r['qn']:g} 条客户消息的回复时间中位数为 {r['qm']:g} 分钟（按工作时间计），"
                  f"其中 {len(slow)} 条超过 {line:.0f} 分钟（{label} {n} 人当天典型回复时间 {typical:g} 分钟的 "
                  f"{cfg.peer_ratio:g} 倍，阈值 {cfg.reply_timeouts_per_day} 条）；本人前 {r['qk']} 个工作日的典型回复时间 "
                  f"{r['qb']:g} 分钟（阈值 {cfg.own_ratio:g} 倍），近 5 个工作日中 {r['qs']} 天如此（阈值 {cfg.reply_days} 天），"
                  f"回复时间比本人此前高 {r['qz']:g} 个标准误（阈值 {cfg.reply_own_z:g}）",
                  [(TOPIC, m) for m in r.get("qx", [])])


def _stalled(r: dict, group, cfg, need: int, window) -> Signal | None:
    n = r.get("sn", 0)
    if n < cfg.stalled_orders or r.get("fk", 0) < need:
        return None
    typical, k, label = group.mean(r, "sn")
    if typical is None or n < cfg.peer_ratio * max(typical, 0.5) or n < cfg.own_ratio * max(r.get("sb", 0), 0.5):
        return None
    # So many of the orders that came due stalling must also be improbable at the usual share (the
    # employee's own or the peers', whichever is higher): a busy day's orders stall in proportion.
    due = max(r.get("so", n), n)
    peer_share = group.median(r, "sp")[0]
    usual = min(0.95, max(r.get("sp", 0.0), peer_share or 0.0, 0.02))
    chance = binomial_tail(int(n), int(due), usual)
    if chance > cfg.stalled_surprise:
        return None
    return Signal("followup.stalled", "medium", window[1] - 1, window, "订单创建后停止跟进",
                  f"员工 {r['e']} 有 {n:g} 笔订单创建超过 {cfg.stalled_days} 天未付款、未关闭，且之后未再联系客户"
                  f"（阈值 {cfg.stalled_orders} 笔）；{label} {k} 人当天平均 {typical:.1f} 笔，本人前 {r['fk']} 个活跃日"
                  f"平均 {r.get('sb', 0):g} 笔（阈值分别为 {cfg.peer_ratio:g} 倍与 {cfg.own_ratio:g} 倍）；"
                  f"当天到期 {due:g} 笔中停滞 {n:g} 笔，按通常停滞占比 {usual:.0%} 出现的概率 {chance:.1e}"
                  f"（阈值 {cfg.stalled_surprise:g}） / {n:g} of the {due:g} orders due stalled, "
                  f"chance {chance:.1e} at the usual share {usual:.0%}",
                  [(ORDERS, f"{oid}:created") for oid in r.get("sx", [])])


def _rate(r: dict, group, cfg, window) -> Signal | None:
    fr = r.get("fr")
    if not fr:
        return None
    r_now, r_base, n_base, first, orders_now, orders_base, dropping = fr
    if not dropping:
        return None
    peer, n, label = group.median(r, "_drop")
    if peer is not None and r["_drop"] > peer * cfg.rate_drop_ratio:
        return None  # the peers' follow-up fell as far: the season, not the employee
    trend = (f"；同期日均订单 {orders_base:.1f} → {orders_now:.1f}（{(orders_now / orders_base - 1) * 100:+.0f}%）"
             if orders_base else "")
    # The seed's pattern is follow-ups falling while orders hold or rise (the customers are served
    # elsewhere, or the orders are booked without them). Both falling together is a quieter stretch
    # (workload, season): context for the risk score.
    if orders_base and orders_now > orders_base * 1.15:
        severity = "high"
    elif orders_base and orders_now < orders_base * 0.8:
        severity = "low"
    else:
        severity = "medium"
    peers_text = f"；{label} {n} 人跟进率中位数为各自基线的 {peer:.0%}" if peer is not None else ""
    return Signal("followup.rate_drop", severity, window[1] - 1, (day_start(first, r.get("tz", "")), window[1]),
                  "自有客户跟进率骤降",
                  f"员工 {r['e']} 近 {cfg.rate_recent_days} 个工作日自有客户日跟进率 {r_now:.0%}，"
                  f"仅为个人基线 {r_base:.0%}（前 {n_base} 个工作日，下降开始时冻结）的 {r_now / r_base:.0%}"
                  f"（阈值 {cfg.rate_drop_ratio:.0%}）{peers_text}{trend}")


def evaluate(rows: list[dict], day: int, window: tuple[int, int], rules, group) -> list[tuple[str, Signal]]:
    """Branch-side: reply delays, stalled orders and follow-up rate against peers and own baselines."""
    cfg = rules.followup
    if not cfg.enabled:
        return []
    need = rules.windows.min_history_days
    for r in rows:
        fr = r.get("fr")
        if fr and fr[1]:
            r["_drop"] = fr[0] / fr[1]
    out: dict[str, list[tuple[str, Signal]]] = {}
    for r in rows:
        for check in (_reply(r, group, cfg, need, window), _stalled(r, group, cfg, need, window),
                      _rate(r, group, cfg, window)):
            if check is not None:
                out.setdefault(check.rule, []).append((r["e"], check))
    found = []
    for rule, hits in out.items():
        who = {e for e, _ in hits}
        found += [(e, sig) for e, sig in hits if not group.crowded(next(x for x in rows if x["e"] == e), who)]
    return found
