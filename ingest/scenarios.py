"""The simulator's planted diverters and hard negatives.

`PLANTED` maps each pattern to the alert rule (group) that must flag its salesperson with severity
medium or above; `HARD_NEGATIVES` are look-alikes that must NOT be flagged (a proper handover, a proper
resignation, customers who name competitors, night-time customers, leave without selling). Everybody
else is ordinary, and the promotion day (everyone's orders ×3) is the company-wide hard negative.

Days are working days counted from the start (`world.work_day(n)`), so a plant never falls on a
weekend and always has two weeks of ordinary history before it (the baselines).
"""

from __future__ import annotations

import random

PLANTED: dict[str, str] = {
    "contacts.deletion": "contacts.deletion",                  # bulk deletion, then resignation
    "contacts.deleted_by_customers": "contacts.deleted_by_customers",
    "contacts.transfer_fail": "contacts.transfer_fail",
    "followup.others_customers": "followup.others_customers",
    "followup.rate_drop": "followup.rate_drop",                # seed: follow-up halves while orders rise
    "followup.reply_timeout": "followup.reply_timeout",
    "followup.stalled": "followup.stalled",
    "orders.volume_spike": "orders.volume_spike",              # seed: orders ×4 with missing details
    "orders.approval": "orders.approval",
    "orders.others_customer": "orders.others_customer",
    "conversion.repeat_drop": "conversion.repeat_drop",        # seed: new convert 90%, repeat falls
    "commission.over_claim": "commission.over_claim",
    "commission.kept_on_refund": "commission.kept_on_refund",
    "commission.split_orders": "commission.split_orders",
    "hr.leave_sales": "hr.leave_sales",                        # seed: frequent leave, sales soar
    "hr.resignation_lookback": "hr.resignation_lookback",      # seed: deletions before resigning
    "chat.diversion": "chat.",                                 # chat content (any chat.* rule)
}
HARD_NEGATIVES = ("hn.handover_recipient", "hn.resigner", "hn.competitor_talk", "hn.night_owl",
                  "hn.leave_no_sales")
NEUTRAL = "您好，最近有新品到货，需要给您介绍一下吗？"
DIVERSION = ["加我私人微信 chen_888，私下交易更划算", "公司价格太高了，直接转我账上，我给你发货",
             "你去拼多多搜我们店名，去拼多多下单便宜两百"]


def assign(world, rng: random.Random) -> None:
    """Give each pattern, then each hard negative, its own salesperson (as many as the company has)."""
    sales = [e for e in world.staff if not e.manager]
    rng.shuffle(sales)
    for e, pattern in zip(sales, [*PLANTED, *HARD_NEGATIVES]):
        e.pattern = pattern
    world.partners = {}
    for e in world.staff:
        if e.pattern in ("hn.handover_recipient", "hn.resigner"):
            mates = [m for m in world.staff if m.team == e.team and not m.manager and not m.pattern]
            world.partners[e.userid] = [m.userid for m in mates[:2]]


def _others_customers(world, d, n: int, other_team: bool = True) -> list[str]:
    pool = [c for m in world.staff if not m.manager and m.userid != d.e.userid
            and (m.team != d.e.team or not other_team) for c in world.own.get(m.userid, [])[:5]]
    return d.rng.sample(pool, min(n, len(pool)))


def _delete(d, count: int, first_hour: float, step_min: float) -> None:
    from ingest.simulator import contact
    own = d.own()
    for i in range(min(count, len(own))):
        c = own.pop(d.rng.randrange(len(own)))
        d.emit(contact(d.e, c, d.at(first_hour, i * step_min), "del_external_contact"))


def _resign(world, d, notice_days: int) -> None:
    from ingest.simulator import DAY_MS, hr
    d.emit(hr(d.e, "resignation", d.at(10), last_day=d.d0 + notice_days * DAY_MS))


def _leave(d, first_day: int, n_days: int) -> None:
    from ingest.simulator import DAY_MS, hr
    start = d.w.start + first_day * DAY_MS + 9 * 3_600_000
    d.emit(hr(d.e, "leave", d.at(16), start=start, end=start + (n_days - 1) * DAY_MS + 9 * 3_600_000,
              leave_type="年假"))


def before_day(world, day: int, out: list) -> None:
    """Handovers happen before work starts (07:00), so nobody works a customer who just changed hands."""
    from ingest.simulator import Day, chat, contact, hr
    W = world.work_day
    for e in world.staff:
        mates = world.partners.get(e.userid) or []
        if e.pattern == "hn.handover_recipient" and day == W(9) and mates:
            d = Day(world, e, day, out)
            moved = world.own[mates[0]][:10]
            del world.own[mates[0]][:10]
            for i, c in enumerate(moved):
                d.emit(hr(e, "assignment", d.at(7, i), customer_id=c, previous_owner_id=mates[0], reason="handover"))
                d.emit(chat(world, e, c, d.at(14, i * 12), True, "您好，我是接替您原顾问的新顾问，之后由我为您服务。"))
            d.own().extend(moved)
        elif e.pattern == "hn.resigner" and day in (W(14), W(15)) and mates:
            d = Day(world, e, day, out)
            half = d.own()[: (len(d.own()) + 1) // 2] if day == W(14) else list(d.own())
            for i, c in enumerate(half):
                to = world.by_id(mates[i % len(mates)])
                d.emit(hr(to, "assignment", d.at(7, i), customer_id=c, previous_owner_id=e.userid,
                          reason="resignation"))
                world.own[to.userid].append(c)
                d.own().remove(c)
            if day == W(14) and half:
                d.emit(contact(e, half[0], d.at(16), "transfer_fail", FailReason="customer_refused"))


def play(world, d) -> bool:  # noqa: C901 - one branch per pattern reads best as a table of scripts
    """Play the salesperson's planted script for this day; False when the day is an ordinary one."""
    from ingest.simulator import _weekday, chat, contact, directory_record
    e, day, p, W = d.e, d.day, d.e.pattern, world.work_day
    weekend = _weekday(world.start, day) >= 5
    A, A2 = W(11), W(12)
    if p == "contacts.deletion":
        if day == W(14):
            d.ordinary()
            _delete(d, 12, 20, 4)
            return True
        if day == W(15):
            d.ordinary()
            _resign(world, d, 14)
            return True
    elif p == "contacts.deleted_by_customers" and day == A:
        d.ordinary()
        for i in range(6):
            c = d.own().pop(0)
            d.emit(contact(e, c, d.at(10 + i), "del_follow_user"))
        return True
    elif p == "contacts.transfer_fail" and day == A:
        d.ordinary()
        for i in range(5):
            d.emit(contact(e, d.own()[i], d.at(11, i * 20), "transfer_fail", FailReason="customer_refused"))
        return True
    elif p == "followup.others_customers" and day == A:
        d.ordinary()
        for i, c in enumerate(_others_customers(world, d, 8)):
            d.emit(chat(world, e, c, d.at(14, i * 9), True, NEUTRAL))
        return True
    elif p == "followup.rate_drop" and day >= W(8) and not weekend:
        d.touch_sales = False  # orders keep coming in (+30%) while the customers hear less and less
        d.ordinary(follow=0.25, sell=1.3)
        return True
    elif p == "followup.reply_timeout" and day in (A, A2):
        d.ordinary()
        silent = [c for c in d.own() if c not in world.ghosted][-6:]
        world.ghosted.update(silent)
        for i, c in enumerate(silent):
            d.emit(chat(world, e, c, d.at(9.5, i * 25), False, "请问我的订单什么时候发货？急用"))
        return True
    elif p == "followup.stalled" and day == A:
        d.ordinary()
        ghosts = [c for c in d.own() if c not in world.ghosted][:4]
        world.ghosted.update(ghosts)
        for i, c in enumerate(ghosts):
            d.sale(c, t=d.at(10 + i), paid=False)
        return True
    elif p == "orders.volume_spike" and day == A:
        d.ordinary(sell=0)
        for i in range(9):
            d.sale(d.rng.choice(d.own()), t=d.at(9.5 + i * 0.8), complete=i >= 6, cancel_ok=False)
        return True
    elif p == "orders.approval" and day in (A, A2, W(13)):
        d.ordinary()
        approver = {A: None, A2: e.userid}.get(day) or next(m.userid for m in world.staff
                                                               if m.manager and m.team != e.team)
        d.sale(d.own()[0], amount=8000.0, t=d.at(11), approver=approver, cancel_ok=False)
        return True
    elif p == "orders.others_customer" and day == A:
        d.ordinary()
        for i, c in enumerate(_others_customers(world, d, 3, other_team=False)):
            d.sale(c, t=d.at(10 + i), cancel_ok=False)
        return True
    elif p == "conversion.repeat_drop" and day >= W(10) and not weekend:
        d.ordinary(repeat=0.08, conv=0.95, new_p=1.0)
        return True
    elif p == "commission.over_claim" and day in (A, A2):
        d.ordinary()
        amount = round(d.rng.uniform(1500, 3000), 2)
        d.sale(d.own()[1], amount=amount, t=d.at(15), commission=round(amount * 0.10, 2), cancel_ok=False)
        return True
    elif p == "commission.kept_on_refund" and day in (A, A2):
        d.ordinary()
        d.sale(d.own()[2], t=d.at(13), refund_keep=True, cancel_ok=False)
        return True
    elif p == "commission.split_orders" and day == A:
        d.ordinary()
        c = d.own()[3]
        for i in range(4):
            d.sale(c, amount=1200.0 + i, t=d.at(10, i * 40), cancel_ok=False, touch=i == 0)
        return True
    elif p == "hr.leave_sales":
        if W(6) <= day <= W(10) and not weekend:
            d.ordinary(sell=1.8)
            if day == W(10):
                _leave(d, A, W(13) - A + 1)
            return True
        if A <= day <= W(13):
            for i in range(2):
                d.sale(d.rng.choice(d.own()), t=d.at(11 + 2 * i), cancel_ok=False)
            return True
    elif p == "hr.resignation_lookback":
        if day in (W(8), W(9)):
            d.ordinary()
            _delete(d, 6, 9.5, 75)
            for i, c in enumerate(_others_customers(world, d, 3)):
                d.emit(chat(world, e, c, d.at(15, i * 10), True, NEUTRAL))
            return True
        if day == W(12):
            d.ordinary()
            _resign(world, d, 14)
            return True
    elif p == "chat.diversion" and day == A:
        d.ordinary()
        for i, line in enumerate(DIVERSION):
            d.emit(chat(world, e, d.own()[i], d.at(16, i * 7), True, line))
        return True
    elif p == "hn.resigner":
        if day == W(10):
            d.ordinary()
            _resign(world, d, W(17) - day)
            return True
        if day == W(17):
            d.emit(directory_record(e, d.at(18), status="resigned"))
            return True
        return day > W(17)
    elif p == "hn.competitor_talk" and not weekend:
        d.ordinary()
        c = d.rng.choice(d.own())
        d.emit(chat(world, e, c, d.at(13), False, "拼多多上同款便宜五十，淘宝也有，你们能便宜点吗？"))
        d.emit(chat(world, e, c, d.at(13, 8), True, "我们是官方正品，今天官方小程序下单有满减。"))
        return True
    elif p == "hn.leave_no_sales":
        if day == W(10):
            d.ordinary()
            _leave(d, A, W(13) - A + 1)
            return True
        if A <= day <= W(13):
            if day == A2:
                d.sale(d.rng.choice(d.own()), t=d.at(20), touch=False, cancel_ok=False)  # an online order
            return True
    return False

