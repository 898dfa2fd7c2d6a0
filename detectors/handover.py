"""hr.handover_* — a leaver's customers after their last day (`hr.events` resignation and assignments).

- hr.handover_unassigned: `handover_days` after a leaver's `last_day` some of their customers still
  have no new owner. The leaver's partition knows how many customers they still hold (own customers,
  less those who deleted them), but nothing happens there once they have gone; so it reports that count
  to the branch's partition (`paodan.team-days`, kind `handover`) whenever it changes after the notice,
  and the branch, whose working members close days, checks it as each day is evaluated
  (detectors/peers.py). The suggested taker is a member of the leaver's team doing the same job with the
  fewest customers among that day's rows. It goes back to the leaver's partition as a signal.
- hr.after_last_day: the leaver writes to a customer, or an order is created in their name, after the
  last day. A customer already handed over to someone else makes it critical (the customer is being
  kept); chat alone is high; orders alone medium (a CRM may still credit the owner of record).
`last_day` at a local midnight is read as that whole day (HR systems often send the date only).
"""

from __future__ import annotations

from datetime import date, timedelta

from detectors.context import TEAM_TOPIC, Ctx, short
from detectors.events import ChatTouch, ContactEvent, OrderEvent
from detectors.hygiene import Signal
from detectors.windows import DAY_MS, day_start, day_window, local_day
from formats.topics import HR as TOPIC
from formats.topics import MSGAUDIT, ORDERS

KIND = "handover"
MAX_CUSTOMERS = 200   # distinct customers remembered per leaver for the after-last-day count
MAX_OWNERS = 5        # new owners named in an explanation
FORGET_DAYS = 90      # the branch forgets a leaver this long after their last day


def _date(ts: int, tz: str) -> str:
    return (date(1970, 1, 1) + timedelta(days=local_day(ts, tz))).isoformat()


def last_moment(last_day: int, tz: str) -> int:
    """The end of the leaver's last day: a date-only `last_day` (local midnight) covers that day."""
    day = local_day(last_day, tz)
    return day_start(day + 1, tz) if day_start(day, tz) == last_day else last_day


def holding(state: dict) -> int:
    """Customers the employee still holds: own customers less those who deleted the employee."""
    return max(0, state.get("own", 0) - state.get("gb", 0))


# --- the leaver's partition -------------------------------------------------------------------------

def on_contact(state: dict, ev: ContactEvent, ctx: Ctx) -> None:
    """Keep `gb` (own customers who deleted the employee): they cannot be handed over. Runs before
    detectors.contacts, which may release the customer."""
    if not ev.customer_id:
        return
    owner = ctx.owner(ev.customer_id)
    if not owner or owner.get("o") != ctx.employee:
        return
    change = ev.change_type
    if change == "del_follow_user" and not owner.get("g"):
        ctx.set_owner(ev.customer_id, {**owner, "g": 1})
        state["gb"] = state.get("gb", 0) + 1
    elif owner.get("g") and change in ("add_external_contact", "del_external_contact"):
        # Added back (the relationship is there again), or released by detectors.contacts next.
        if change == "add_external_contact":
            ctx.set_owner(ev.customer_id, {k: v for k, v in owner.items() if k != "g"})
        state["gb"] = max(0, state.get("gb", 0) - 1)


def lost(state: dict, body: dict) -> None:
    """A customer of the employee's was assigned to someone else (hr.lost_customer's notice)."""
    if body.get("g"):
        state["gb"] = max(0, state.get("gb", 0) - 1)


def report(state: dict, ctx: Ctx, ts: int) -> None:
    """After any event of a leaver: tell the branch how many customers they still hold, when it changed."""
    hr = state.get("hr")
    if not hr or "ld" not in hr:
        return
    n, end = holding(state), last_moment(hr["ld"], ctx.tz)
    if hr.get("rp") == [n, end]:
        return
    team = ctx.directory.get("team") or ""
    key = ctx.directory.get("branch") or team
    if not key:
        return
    hr["rp"] = [n, end]
    ctx.messages.append((TEAM_TOPIC, key, {"kind": KIND, "e": ctx.employee, "d": ctx.day(ts), "t": team,
                                           "r": ctx.directory.get("role") or "", "ld": end, "n": n, "ts": ts,
                                           "tz": ctx.tz, "ev": hr.get("ev", "")}))


def figures(state: dict, ctx: Ctx) -> dict:
    """What a day summary tells the branch for choosing a taker: customers held, and the job."""
    return {"ow": holding(state), "r": ctx.directory.get("role") or ""}


def _after(state: dict, ctx: Ctx, ts: int, customer: str, evidence: tuple[str, str], order: bool) -> None:
    hr = state.get("hr")
    if not hr or "ld" not in hr or not ctx.rules.hr.enabled:
        return
    end = last_moment(hr["ld"], ctx.tz)
    if ts <= end:
        return
    x = hr.setdefault("x", {"m": 0, "o": 0, "c": [], "h": [], "w": []})
    x["o" if order else "m"] += 1
    owner = (ctx.owner(customer) if customer else None) or {}
    new_owner = owner.get("o") or ""
    # Handed over: someone else owns the customer now, or WeCom's on-job transfer released them from
    # the leaver (DELETE_BY_TRANSFER) before the new owner's assignment arrived.
    handed = (new_owner and new_owner != ctx.employee) or (not new_owner and owner.get("p") == ctx.employee)
    if customer:
        c = short(customer)
        if c not in x["c"] and len(x["c"]) < MAX_CUSTOMERS:
            x["c"].append(c)
        if handed and c not in x["h"] and len(x["h"]) < MAX_CUSTOMERS:
            x["h"].append(c)
        if handed and new_owner and new_owner not in x["w"] and len(x["w"]) < MAX_OWNERS:
            x["w"].append(new_owner)
    severity = "critical" if x["h"] else "high" if x["m"] else "medium"
    days = (ts - end) / DAY_MS
    left = _date(end, ctx.tz)
    did_zh, did_en = [], []
    if x["m"]:
        did_zh.append(f"发送消息 {x['m']} 条")
        did_en.append(f"wrote {x['m']} message(s)")
    if x["o"]:
        did_zh.append(f"以其名义创建订单 {x['o']} 笔")
        did_en.append(f"had {x['o']} order(s) created in their name")
    handed_zh = handed_en = ""
    if x["h"]:
        to_zh, to_en = ("给 " + "、".join(x["w"]), " to " + ", ".join(x["w"])) if x["w"] else ("", "")
        handed_zh = f"；其中 {len(x['h'])} 位客户已交接{to_zh}，离职员工仍在联系"
        handed_en = f"; {len(x['h'])} of them already handed over{to_en} and still contacted"
    ctx.signal(Signal(
        "hr.after_last_day", severity, ts, (end, day_window(ctx.day(ts), ctx.tz)[1]),
        "离职后仍联系客户或下单",
        f"员工 {ctx.employee} 最后工作日为 {left}，离职 {days:.1f} 天后仍面向 {len(x['c'])} 位客户"
        + "、".join(did_zh) + handed_zh
        + f" / {ctx.employee}'s last day was {left}; {days:.1f} days after it they still " + " and ".join(did_en)
        + f" for {len(x['c'])} customer(s)" + handed_en,
        [evidence]))


def on_chat(state: dict, touch: ChatTouch, ctx: Ctx) -> None:
    if touch.outbound and touch.customer_id:
        _after(state, ctx, touch.ts, touch.customer_id, (MSGAUDIT, touch.msgid), False)


def on_order(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    if ev.event == "created":
        _after(state, ctx, ev.ts, ev.customer_id, (ORDERS, ev.evidence_id), True)


# --- the branch's partition -------------------------------------------------------------------------

def on_row(st: dict, body: dict) -> dict:
    """A leaver's report: the latest per leaver (one partition sends them in order)."""
    leavers = st.setdefault("ho", {})
    cur = leavers.get(body["e"]) or {}
    leavers[body["e"]] = {"t": body.get("t", ""), "r": body.get("r", ""), "ld": int(body["ld"]),
                          "n": int(body["n"]), "tz": body.get("tz") or "Asia/Shanghai", "ev": body.get("ev", ""),
                          "a": cur.get("a", 0) if cur.get("ld") == int(body["ld"]) else 0}
    return st


def suggest(leaver: str, entry: dict, rows: list[dict], leaving: set[str]) -> tuple[str, int] | None:
    """A member of the leaver's team (the same job if anyone does it) with the fewest customers, among
    the members who reported the day; (userid, customers) or None."""
    mates = [r for r in rows if r.get("t") == entry["t"] and r["e"] != leaver and r["e"] not in leaving
             and "ow" in r]
    same = [r for r in mates if entry["r"] and r.get("r") == entry["r"]]
    best = min(same or mates, key=lambda r: (r["ow"], r["e"]), default=None)
    return (best["e"], int(best["ow"])) if best else None


def evaluate(st: dict, rows: list[dict], window: tuple[int, int], rules) -> list[tuple[str, Signal]]:
    """At a branch day's evaluation: leavers whose customers are still unassigned `handover_days` on."""
    leavers = st.get("ho")
    if not leavers:
        return []
    cfg = rules.hr
    out = []
    for leaver in sorted(leavers):
        h = leavers[leaver]
        if window[0] - h["ld"] > FORGET_DAYS * DAY_MS:
            del leavers[leaver]
            continue
        due = h["ld"] + cfg.handover_days * DAY_MS
        if h["a"] or h["n"] <= 0 or due > window[1] or not cfg.enabled:
            continue
        h["a"] = 1
        days = (window[1] - h["ld"]) // DAY_MS
        left = _date(h["ld"], h["tz"])
        taker = suggest(leaver, h, rows, set(leavers))
        who_zh = f"；建议由同组 {taker[0]}（现有客户 {taker[1]} 位）接替" if taker else ""
        who_en = f"; suggested taker: {taker[0]} of the same team ({taker[1]} customers now)" if taker else ""
        ts = max(due, window[0])
        out.append((leaver, Signal(
            "hr.handover_unassigned", "medium", ts, (h["ld"], window[1]), "离职员工客户未交接",
            f"员工 {leaver} 最后工作日为 {left}，已过 {days} 天（期限 {cfg.handover_days} 天），仍有 {h['n']} 位客户未分配"
            f"给其他成员{who_zh} / {leaver}'s last day was {left}, {days} days ago (limit {cfg.handover_days}); "
            f"{h['n']} customer(s) are still not assigned to anyone{who_en}",
            [(TOPIC, h["ev"])] if h["ev"] else [])))
    return out
