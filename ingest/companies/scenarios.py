"""Planted diverters: each scenario of the seed article and of issues 13/14, plain and subtle.

| scenario | what the salesperson does from the onset |
| --- | --- |
| `repeat_drop` | (家居) new contacts convert at ~90 % while existing customers stop buying through the company |
| `followup_drop` | (4S) follows up far fewer own customers while orders rise; steers some to a private place |
| `big_incomplete` | a single order far above their own typical amount, customer details incomplete, counts normal |
| `leave_orders` | takes leave on several days and books orders on them; sales rise |
| `over_claim` | claims more commission than colleagues for the same store and SKU |
| `split_orders` | splits one customer's purchase into several same-day orders (below the approval line where there is one) |
| `resign_delete` | deletes their customers around a resignation (after notice, or quietly before it) |
| `others_customers` | works colleagues' customers and books orders on them |
| `paid_no_approval` | orders paid without the approval the company requires (only where approval is the norm) |
| `self_approval` | approves their own orders |
| `private_channel` | steers customers away in chat and sends a private channel (a burst) |
| `slow_drip` | shares a private contact with one customer a day, over many customers |
| `sequence` | customer asks the price → private channel → customer cancels / stops buying |
"""

from __future__ import annotations

from ingest.companies import phrases
from ingest.companies.behaviour import Behaviour
from ingest.companies.channels import private_share
from ingest.companies.life import DAY, HOUR, MIN


def _say(day, c, t: int, line: str, evade: bool = False) -> int:
    p, rng = day.p, day.rng
    places = day.co.industry.places + phrases.GENERIC_PLACES
    text = phrases.fill(line, rng, places, p.private.wxid, p.private.phone)
    if evade:
        text = phrases.evade(text, rng)
    day.life.text(p, c, t, True, text, rng)
    return t


def _working(day) -> bool:
    return day.co.works(day.p, day.d)


class RepeatDrop(Behaviour):
    name = "repeat_drop"

    def knobs(self, day, k) -> None:
        k.conversion = 0.75 if self.subtle else 0.9
        k.repeat = 0.25 if self.subtle else 0.08
        # Only the customers who come to buy are added (brought over from elsewhere), a few more than usual.
        k.new_contacts = 1.3 * day.prof.conversion / k.conversion
        if day.d == self.onset_day:
            day.life.mark(day.p, self.name, day.at(0))

    def extra(self, day) -> None:
        if self.subtle or not _working(day) or day.rng.random() > 0.35:
            return
        book = [c for c in day.p.book() if c.bought and not c.lost]
        if book:
            c = day.rng.choice(book)
            t = day.work_time()
            day.life.text(day.p, c, t, True, day.life.fill(day.rng.choice(day.co.industry.staff), day.rng, day.d), day.rng)
            _say(day, c, t + 3 * MIN, day.rng.choice(phrases.INDUCE + phrases.VEILED))
            c.lost = True


class FollowupDrop(Behaviour):
    name = "followup_drop"

    def knobs(self, day, k) -> None:
        k.followup = 0.55 if self.subtle else 0.35
        k.repeat = 1.25 if self.subtle else 1.4
        if day.d == self.onset_day:
            day.life.mark(day.p, self.name, day.at(0))

    def extra(self, day) -> None:
        if not _working(day) or day.rng.random() > (0.2 if self.subtle else 0.4):
            return
        book = [c for c in day.p.book() if not c.lost]
        if not book:
            return
        c = day.rng.choice(book)
        t = day.work_time()
        lines = phrases.VEILED if self.subtle else phrases.STEER + phrases.OFF_RECORD
        _say(day, c, t, day.rng.choice(lines))
        c.lost = True


class BigIncomplete(Behaviour):
    name = "big_incomplete"

    def prepare(self, company) -> None:
        days = self.working_days(company, last=self.onset_day + 7)
        self.act_on(self.rng.sample(days, min(len(days), 1 if self.subtle else 2)))

    def extra(self, day) -> None:
        if day.d not in self.days:
            return
        book = [c for c in day.p.book() if not c.lost]
        if not book:
            return
        factor = self.rng.uniform(4, 6) if self.subtle else self.rng.uniform(8, 15)
        amount, items = day.basket()
        items = [(s, max(1, round(q * factor)), pr) for s, q, pr in items]
        amount = sum(q * pr for _, q, pr in items)
        o = day.sale(self.rng.choice(book), basket=(amount, items), complete=False, touch=False,
                     customer_id_missing=self.rng.random() < 0.5)
        day.life.mark(day.p, self.name, o.created)


class LeaveOrders(Behaviour):
    name = "leave_orders"

    def prepare(self, company) -> None:
        span = self.working_days(company, last=min(company.profile.days - 1, self.onset_day + 12))
        self.person.leave.update(self.act_on(self.rng.sample(span, min(len(span), 2 if self.subtle else 4))))

    def knobs(self, day, k) -> None:
        if day.d in self.days:
            k.sells_on_leave = True
            k.repeat = 1.8
        else:
            k.repeat = 1.3
        if day.d == self.onset_day:
            day.life.mark(day.p, self.name, day.at(0))

    def extra(self, day) -> None:
        if day.d in self.days:
            ahead = self.rng.randint(1, 3)
            h0 = day.prof.hours[0]
            day.life.hr(day.p, "leave", day.co.at(day.p, day.d - ahead, h0 + 2), start=day.at(h0),
                        end=day.at(day.prof.hours[1]), leave_type=self.rng.choice(("事假", "年假", "调休")))


def _first_or(day, behaviour: Behaviour, share: float) -> bool:
    """Whether an order-level behaviour applies to this order: always to the first after the onset."""
    return (day.p.userid, behaviour.name) not in day.life.marks or behaviour.rng.random() < share


class OverClaim(Behaviour):
    name = "over_claim"

    def order(self, day, o) -> None:
        if _first_or(day, self, 0.35 if self.subtle else 0.85):
            o.commission_factor = 1.25 if self.subtle else self.rng.uniform(1.4, 2.0)
            day.life.mark(day.p, self.name, o.created)


class SplitOrders(Behaviour):
    name = "split_orders"

    def prepare(self, company) -> None:
        span = self.working_days(company, last=company.profile.days - 1)
        self.act_on(self.rng.sample(span, min(len(span), 2 if self.subtle else 3)))

    def extra(self, day) -> None:
        if day.d not in self.days:
            return
        book = [c for c in day.p.book() if c.bought and not c.lost]
        if not book:
            return
        c = self.rng.choice(book)
        n = 3 if self.subtle else self.rng.randint(4, 5)
        t = day.work_time(0.1, 0.6)
        line = day.co.approval_amount if day.prof.approval == "large" else 0.0
        for i in range(n):
            amount, items = day.basket()
            if line:
                want = line * self.rng.uniform(0.8, 0.97)
                items = [(s, q, round(pr * want / amount, 0)) for s, q, pr in items]
                amount = sum(q * pr for _, q, pr in items)
            o = day.sale(c, t + i * int(self.rng.uniform(3, 20) * MIN), basket=(amount, items), touch=i == 0)
            if i == 0:
                day.life.mark(day.p, self.name, o.created)


class ResignDelete(Behaviour):
    """Plain: notice first, then deletions in bursts. Subtle: a few deletions a day, notice after."""
    name = "resign_delete"

    def prepare(self, company) -> None:
        self.notice = self.onset_day + (4 if self.subtle else 0)
        self.last = self.notice + self.rng.randint(8, 14)
        self.person.last_day = min(self.last, 10_000)

    def extra(self, day) -> None:
        p, d, life = day.p, day.d, day.life
        if d == self.notice:
            life.hr(p, "resignation", day.at(day.prof.hours[0] + 1), last_day=day.co.at(p, self.last, day.prof.hours[1]))
        burst_days = range(self.onset_day, self.notice) if self.subtle else range(self.notice + 1, self.notice + 4)
        if d not in burst_days:
            return
        book = sorted((c for c in p.book() if c.bought), key=lambda c: -c.activity)
        n = self.rng.randint(3, 5) if self.subtle else self.rng.randint(8, 14)
        t = day.at(day.prof.hours[1] - 1.0 if not self.subtle else self.rng.uniform(*day.prof.hours))
        for c in book[:n]:
            c.gone = True
            life.contact(p, c, t, "del_external_contact")
            life.mark(p, self.name, t)
            t += int(self.rng.uniform(0.3, 6 if self.subtle else 2) * MIN)


class OthersCustomers(Behaviour):
    name = "others_customers"

    def prepare(self, company) -> None:
        p = self.person
        others = [q for q in company.sales() if q.branch is p.branch and q.team != p.team] or \
                 [q for q in company.sales() if q.userid != p.userid]
        pool = [c for q in others for c in q.customers[:40] if c.bought]
        self.targets = self.rng.sample(pool, min(len(pool), 5 if self.subtle else 12))
        self.buyers = set(c.cid for c in self.targets[:1 if self.subtle else 3])

    def active(self, day: int) -> bool:
        return self.onset_day <= day < self.onset_day + 6

    def extra(self, day) -> None:
        if not _working(day) or not self.targets:
            return
        todays = [self.targets.pop() for _ in range(min(len(self.targets), self.rng.randint(1, 3)))]
        for c in todays:
            t = day.work_time(0.1, 0.7)
            day.life.text(day.p, c, t, True, self.rng.choice((
                f"您好，我是{day.prof.brand}的{day.p.surname}，之前的顾问太忙，以后有需要直接找我，价格给您最优惠。",
                "您好，最近有活动，找我下单比找别人多送东西。", "我这边可以给您更低的折扣，要不要了解一下？")), day.rng)
            day.life.mark(day.p, self.name, t)
            if c.cid in self.buyers:
                day.sale(c, t + int(self.rng.uniform(1, 4) * HOUR), touch=False)


class PaidNoApproval(Behaviour):
    name = "paid_no_approval"

    def order(self, day, o) -> None:
        if o.needs_approval and _first_or(day, self, 0.3 if self.subtle else 0.7):
            o.skip_approval = True
            day.life.mark(day.p, self.name, o.created)

    def extra(self, day) -> None:
        # Where only large orders need approval, a salesperson may have few: book some.
        if day.prof.approval != "large" or not _working(day) or self.rng.random() > (0.2 if self.subtle else 0.35):
            return
        book = [c for c in day.p.book() if c.bought and not c.lost]
        if not book:
            return
        amount, items = day.basket()
        factor = day.co.approval_amount * self.rng.uniform(1.05, 1.6) / amount
        items = [(s, q, round(pr * factor, 0)) for s, q, pr in items]
        o = day.sale(self.rng.choice(book), basket=(sum(q * pr for _, q, pr in items), items), skip_approval=True,
                     needs_approval=True)
        day.life.mark(day.p, self.name, o.created)


class SelfApproval(Behaviour):
    name = "self_approval"

    def order(self, day, o) -> None:
        if o.needs_approval and _first_or(day, self, 0.25 if self.subtle else 0.6):
            o.self_approve = True
            day.life.mark(day.p, self.name, o.created)

    def extra(self, day) -> None:
        if day.prof.approval == "all" or not _working(day) or self.rng.random() > (0.15 if self.subtle else 0.3):
            return
        book = [c for c in day.p.book() if c.bought and not c.lost]
        if book:
            o = day.sale(self.rng.choice(book), needs_approval=True, self_approve=True)
            day.life.mark(day.p, self.name, o.created)


class PrivateChannel(Behaviour):
    name = "private_channel"

    def prepare(self, company) -> None:
        self.act_on(self.working_days(company)[:2 if self.subtle else 3])

    def extra(self, day) -> None:
        if day.d not in self.days:
            return
        rng = self.rng
        book = [c for c in day.p.book() if not c.lost]
        for c in rng.sample(book, min(len(book), 1 if self.subtle else rng.randint(2, 3))):
            t = day.conversation(c, day.work_time(0.1, 0.7)) + int(rng.uniform(1, 20) * MIN)
            lines = phrases.intent_lines(self.subtle)
            _say(day, c, t, rng.choice(lines), evade=self.subtle or rng.random() < 0.3)
            day.life.mark(day.p, self.name, t)
            if not self.subtle and rng.random() < 0.6:
                msgtype, payload = private_share(day.p.private, rng)
                day.life.msg(day.p, c, t + int(rng.uniform(0.3, 3) * MIN), True, msgtype, payload, rng)
            if rng.random() < 0.6:
                c.lost = True


class SlowDrip(Behaviour):
    name = "slow_drip"

    def extra(self, day) -> None:
        if not _working(day) or (self.subtle and day.d % 2):
            return
        book = [c for c in day.p.book() if not c.lost and c.bought]
        if not book:
            return
        c = self.rng.choice(book)
        t = day.conversation(c, day.work_time(0.1, 0.8)) + int(self.rng.uniform(1, 10) * MIN)
        _say(day, c, t, self.rng.choice(phrases.DRIP), evade=self.subtle and self.rng.random() < 0.5)
        day.life.mark(day.p, self.name, t)
        if self.rng.random() < 0.5:
            c.lost = True


class Sequence(Behaviour):
    name = "sequence"

    def prepare(self, company) -> None:
        self.act_on(self.working_days(company, last=company.profile.days - 1)[::2][: 2 if self.subtle else 3])

    def extra(self, day) -> None:
        if day.d not in self.days:
            return
        rng, p, life = self.rng, day.p, day.life
        book = [c for c in p.book() if c.bought and not c.lost]
        if not book:
            return
        c = rng.choice(book)
        t0 = day.work_time(0.05, 0.4)
        o = day.sale(c, t0, paid=False)            # the customer's order, still open
        t1 = o.created + int(rng.uniform(0.5, 2) * HOUR)
        life.text(p, c, t1, False, rng.choice(phrases.CUSTOMER_PRICE), rng)
        t2 = t1 + int(rng.uniform(2, 25) * MIN)
        _say(day, c, t2, rng.choice(phrases.AFTER_PRICE), evade=self.subtle)
        life.mark(p, self.name, t2)
        if not self.subtle:
            msgtype, payload = private_share(p.private, rng)
            life.msg(p, c, t2 + MIN, True, msgtype, payload, rng)
        t3 = t2 + int(rng.uniform(5, 90) * MIN)
        life.text(p, c, t3, False, rng.choice(phrases.CUSTOMER_GOES), rng)
        day.put_order(o, "cancelled", t3 + int(rng.uniform(0.2, 1.5) * DAY))
        c.lost = True


PLANTED = {b.name: b for b in (RepeatDrop, FollowupDrop, BigIncomplete, LeaveOrders, OverClaim, SplitOrders,
                               ResignDelete, OthersCustomers, PaidNoApproval, SelfApproval, PrivateChannel,
                               SlowDrip, Sequence)}


def applies(name: str, profile) -> bool:
    """Whether a scenario is misbehaviour in this company (paying without approval is not where few orders need it)."""
    return not (name == "paid_no_approval" and profile.approval == "rare")
