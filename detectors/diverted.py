"""chat.diverted_customer — a customer steered away in chat who then stops buying through the company.

One chat alert is a word; the same customer's purchases stopping after it is what the words did. Per
employee (behaviour state, their partition):
- every order event keeps that customer's own history with this employee, compactly: orders, first
  and last order, cancellations (`ch`, bounded);
- a chat alert of `steer_min_severity` or more, revised by a message the employee wrote to a customer
  (detectors/chat_notice.py), starts watching that customer for `window_days` (`dv`, bounded): the steer, its alert, the words;
- what then happens to the customer within the window is a fact of the story: an order of theirs
  cancelled or refunded (unless cancelling is this customer's habit: more than `cancel_norm_share`
  of their own orders before), the contact deleted by the employee or by the customer, or a
  handover the customer refused; and, judged at each day close against the
  customer's own rhythm, no order for `gap_ratio` × their typical gap between orders (at least
  `quiet_min_days`; only for a customer with `min_orders` orders before the steer);
- a recall of a message after the steer (`chat.recall_after_hit` about the same customer) is a fact too:
  the employee taking back what was said;
- an order the customer places through the employee after the steer ends the watch: they still buy.
A price question the customer asked shortly before the steer (within `price_window_hours`: 「多少钱」,
「能便宜点吗」 …, remembered per customer from the chat) opens the story: the customer asked, the
employee pointed them elsewhere. The first fact raises one alert for the customer that tells the story
in order (price question, steer, then each fact with its evidence); each further fact revises it and
raises its severity (medium from a medium steer with one fact, one step more for a high steer, for a
price question before it and for each further fact).
"""

from __future__ import annotations

import datetime
import re

from detectors.alert import SEVERITY_RANK
from detectors.context import Ctx, short
from detectors.events import ChatTouch, ContactEvent, OrderEvent
from detectors.hygiene import Signal
from detectors.windows import DAY_MS, HOUR_MS, day_window, offset_ms
from formats.topics import ALERTS, CONTACTS, MSGAUDIT, ORDERS

RULE = "chat.diverted_customer"
LEVELS = ("medium", "high", "critical")
MAX_HISTORY = 400  # customers whose order history is kept per employee
MAX_ALERTS = 3     # chat alerts kept per steer
CONTACT_FACTS = {
    "del_external_contact": ("员工删除了该客户", "the employee deleted the customer"),
    "del_follow_user": ("客户删除了员工", "the customer deleted the employee"),
    "transfer_fail": ("客户拒绝转接", "the customer refused a handover"),
}
TRANSFER_SOURCE = "DELETE_BY_TRANSFER"  # the company's handover (contacts.py), not the employee's act
RECALL = "chat.recall_after_hit"
MAX_PRICE_QUESTIONS = 200  # customers whose last price question is kept per employee
PRICE = re.compile(r"多少钱|什么价|价格|价钱|报价|怎么卖|便宜|优惠|打折|折扣|最低价|最低多少|贵了|太贵|划算")


def _when(ts: int, tz: str) -> str:
    local = (ts + offset_ms(ts, tz)) // 60_000
    days, minutes = divmod(local, 1440)
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=days)
    return f"{d.month:02d}-{d.day:02d} {minutes // 60:02d}:{minutes % 60:02d}"


def _history(state: dict, customer: str) -> list | None:
    return state.get("ch", {}).get(str(short(customer)))


def _remember_order(state: dict, ev: OrderEvent) -> None:
    hist = state.setdefault("ch", {})
    key = str(short(ev.customer_id))
    h = hist.get(key)
    hour = ev.ts // HOUR_MS
    if h is None:
        if ev.event != "created":
            return
        if len(hist) >= MAX_HISTORY:  # forget the customers quiet the longest, a batch at a time
            for k in sorted(hist, key=lambda k: (hist[k][2], k))[:MAX_HISTORY // 8]:
                del hist[k]
        h = hist[key] = [0, hour, hour, 0]
    if ev.event == "created":
        h[0] += 1
        h[2] = max(h[2], hour)
    elif ev.event in ("cancelled", "refunded"):
        h[3] += 1


def on_chat(state: dict, ev: ChatTouch, ctx: Ctx) -> None:
    """A customer's price question, kept until a steer may follow it (their last one only, bounded)."""
    if ev.outbound or not ev.customer_id or not ev.text or not PRICE.search(ev.text):
        return
    asked = state.setdefault("pq", {})
    asked.pop(ev.customer_id, None)
    asked[ev.customer_id] = [ev.ts, ev.text[:40], ev.msgid]
    while len(asked) > MAX_PRICE_QUESTIONS:
        del asked[next(iter(asked))]  # the longest ago


def on_chat_alert(state: dict, body: dict, ctx: Ctx) -> dict:
    """A chat alert's revision (a notice): watch its customer; returns the item risk.update folds."""
    item = {"id": body.get("id", ""), "rule": body.get("rule", ""), "sev": body.get("sev", "info"),
            "ts": int(body.get("ts", 0)), "customer": body.get("customer", ""), "quote": body.get("quote", ""),
            "day": ctx.day(int(body.get("ts", 0)))}
    cfg = ctx.rules.diverted
    customer = item["customer"]
    if not cfg.enabled or not customer or not body.get("out", True) or \
            SEVERITY_RANK.get(item["sev"], 0) < SEVERITY_RANK[cfg.steer_min_severity]:
        return item
    watched = state.setdefault("dv", {})
    w = watched.get(customer)
    if w is not None and item["rule"] == RECALL and "recall" not in w.get("k", ()) and _within(w, item["ts"], cfg):
        w.setdefault("k", []).append("recall")
        _fact(state, customer, w, item["ts"], f"员工撤回了消息（{RECALL} 告警 {item['id']}）",
              f"the employee recalled a message ({RECALL} alert {item['id']})", (ALERTS, item["id"]), ctx)
        return item
    if w is None:
        if len(watched) >= cfg.max_watched:
            del watched[min(watched, key=lambda c: (watched[c]["t"], c))]
        h = _history(state, customer)
        w = watched[customer] = {"t": item["ts"], "a": [], "q": item["quote"], "m": body.get("msgid", ""),
                                 "r": item["rule"], "s": item["sev"], "h": list(h) if h else [0, 0, 0, 0],
                                 "f": []}
        asked = state.get("pq", {}).get(customer)
        if asked and 0 <= item["ts"] - asked[0] <= cfg.price_window_hours * HOUR_MS:
            w["p"] = asked
    if item["id"] not in w["a"] and len(w["a"]) < MAX_ALERTS:
        w["a"].append(item["id"])
    if SEVERITY_RANK[item["sev"]] > SEVERITY_RANK[w["s"]]:
        w["s"], w["r"] = item["sev"], item["rule"]
    return item


def _within(w: dict, ts: int, cfg) -> bool:
    return w["t"] < ts <= w["t"] + cfg.window_days * DAY_MS


def on_order(state: dict, ev: OrderEvent, ctx: Ctx) -> None:
    if not ev.customer_id:
        return
    watched = state.get("dv")
    w = watched.get(ev.customer_id) if watched else None
    if w is not None and _within(w, ev.ts, ctx.rules.diverted):
        if ev.event == "created":
            del watched[ev.customer_id]  # buying again through the employee: not diverted
        elif ev.event in ("cancelled", "refunded"):
            n, _, _, cancels = w["h"]
            if not n or cancels / n <= ctx.rules.diverted.cancel_norm_share:
                what = "取消" if ev.event == "cancelled" else "退款"
                _fact(state, ev.customer_id, w, ev.ts, f"订单 {ev.order_id} {what}",
                      f"order {ev.order_id} {ev.event}", (ORDERS, ev.evidence_id), ctx)
    _remember_order(state, ev)


def on_contact(state: dict, ev: ContactEvent, ctx: Ctx) -> None:
    watched = state.get("dv")
    w = watched.get(ev.customer_id) if watched and ev.customer_id else None
    fact = CONTACT_FACTS.get(ev.change_type)
    if w is None or fact is None or ev.source == TRANSFER_SOURCE or not _within(w, ev.ts, ctx.rules.diverted):
        return
    _fact(state, ev.customer_id, w, ev.ts, fact[0], fact[1], (CONTACTS, ev.evidence_id), ctx)


def close(state: dict, end: int, ctx: Ctx) -> None:
    """At a day close (`end`: the closed day's end): a steered customer's silence against their own
    rhythm; watches past their window are forgotten."""
    watched = state.get("dv")
    if not watched:
        return
    cfg = ctx.rules.diverted
    for customer in sorted(watched):
        w = watched[customer]
        if end > w["t"] + cfg.window_days * DAY_MS:
            del watched[customer]
            continue
        n, first, last, _ = w["h"]
        if n < cfg.min_orders or "quiet" in w.get("k", ()):
            continue
        gap_h = (last - first) / (n - 1)
        need_h = max(cfg.quiet_min_days * 24, cfg.gap_ratio * gap_h)
        quiet_h = end // HOUR_MS - last
        if quiet_h >= need_h and end - w["t"] >= cfg.quiet_min_days * DAY_MS:
            w.setdefault("k", []).append("quiet")
            _fact(state, customer, w, end,
                  f"此后 {quiet_h / 24:.0f} 天未再下单（该客户以往约每 {gap_h / 24:.1f} 天一单，共 {n} 单）",
                  f"no order for {quiet_h / 24:.0f} days (the customer's own gap: {gap_h / 24:.1f} days, "
                  f"{n} orders)", None, ctx)


def _fact(state: dict, customer: str, w: dict, ts: int, zh: str, en: str, evidence: tuple | None,
          ctx: Ctx) -> None:
    tz = ctx.tz
    w["f"].append([ts, zh, en, list(evidence) if evidence else None])
    asked = w.get("p")
    step = (1 if SEVERITY_RANK[w["s"]] >= SEVERITY_RANK["high"] else 0) + (1 if asked else 0) + len(w["f"]) - 1
    severity = LEVELS[min(step, len(LEVELS) - 1)]
    quote = f"「{w['q']}」" if w["q"] else ""
    steps_zh = "；".join(f"{_when(t, tz)} {z}" for t, z, _, _ in w["f"])
    steps_en = "; ".join(f"{_when(t, tz)} {e}" for t, _, e, _ in w["f"])
    aids = "、".join(w["a"])
    asked_zh = f"客户 {customer} 于 {_when(asked[0], tz)} 询价「{asked[1]}」，" if asked else ""
    asked_en = f"Customer {customer} asked about the price at {_when(asked[0], tz)}; " if asked else ""
    explanation = (f"{asked_zh}员工 {ctx.employee} 于 {_when(w['t'], tz)} 在会话中引导客户 {customer} 离开{quote}"
                   f"（{w['r']} 告警 {aids}），随后：{steps_zh}。"
                   f" {asked_en}Employee {ctx.employee} steered customer {customer} away in chat at {_when(w['t'], tz)} "
                   f"({w['r']} alert {', '.join(w['a'])}), then: {steps_en}.")
    ev = ([(MSGAUDIT, asked[2])] if asked and asked[2] else [])
    ev += [(ALERTS, a) for a in w["a"]] + ([(MSGAUDIT, w["m"])] if w["m"] else [])
    ev += [tuple(e) for _, _, _, e in w["f"] if e]
    # One alert per employee and cooldown (hygiene), one explanation part per customer.
    ctx.signal(Signal(f"{RULE}#{customer}", severity, ts, (day_window(ctx.day(w["t"]), tz)[0], day_window(ctx.day(ts), tz)[1]),
                      "客户被引导离开后停止购买 / steered customer stopped buying", explanation, ev,
                      group=RULE))
