"""Ordinary days: what one person's working day (or day off) puts on the company's four systems.

A salesperson checks in, follows up part of their book, answers customers (at the company's pace —
within minutes in a cosmetics counter, hours later at a parts supplier), takes on new contacts,
some of whom buy days later, sells to existing customers, and shares the company's own channels.
Orders go through the company's approval practice, are paid (after minutes or weeks), sometimes
cancelled or refunded, and carry the commission its policy pays. Around that: customers who write at
night, compare prices with competitors, ask for a private account and are refused; customers who
delete the salesperson; sick leave entered the next day; promotion days lifting a team or a branch.

Planted behaviour (ingest.companies.scenarios) changes a day through `Knobs` and the hooks of
`Behaviour`; nothing here knows who is planted.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zlib
from dataclasses import dataclass, field

from formats.topics import CONTACTS, HR, MSGAUDIT, ORDERS
from ingest.companies import clock, records
from ingest.companies.channels import own_share
from ingest.companies.company import Company, Customer, Person, _sample_amount, new_customer
from ingest.companies.records import Sink, money
from ingest.companies.vocab import (FAKE_SHOP_WARNING, PRIVATE_ACCOUNT_ASK, PRIVATE_ACCOUNT_REFUSE, REBATE_ASK,
                                    REBATE_REFUSE, Sku)

MIN = clock.MIN_MS
HOUR = clock.HOUR_MS
DAY = clock.DAY_MS


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, lam ** 0.5)))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


@dataclass
class Knobs:
    """One person's habits for one day, as multipliers of their own; planted behaviour changes them."""
    followup: float = 1.0        # own customers written to (and answered)
    repeat: float = 1.0          # existing customers buying again
    new_contacts: float = 1.0
    conversion: float | None = None
    works: bool | None = None    # None: the calendar decides
    sells_on_leave: bool = False


@dataclass
class Order:
    order_id: str
    customer: Customer | None
    created: int
    amount: float
    items: list[tuple[Sku, int, float]]
    complete: bool = True
    customer_id_missing: bool = False
    needs_approval: bool = False
    skip_approval: bool = False
    self_approve: bool = False
    commission_factor: float = 1.0
    paid: bool = True
    pay_delay_h: float | None = None
    touch: bool = True
    tags: list[str] = field(default_factory=list)


class Life:
    """The whole company's days: `day(d)` for every person, into one `Sink`."""

    def __init__(self, company: Company, sink: Sink, plan):
        self.co = company
        self.prof = company.profile
        self.ind = company.industry
        self.sink = sink
        self.plan = plan
        self.month_sales: dict[tuple[str, int], float] = {}
        self.n_orders: dict[str, int] = {}
        self.n_msgs = 0
        self.marks: dict[tuple[str, str], int] = {}   # (userid, behaviour) -> first planted event ts

    # --- emitting -----------------------------------------------------------------------------------
    def emit(self, topic: str, key: str, value: dict, ts: int, delay_ms: int = 0) -> None:
        if ts >= self.co.end_ms:
            return
        self.sink.put(ts + delay_ms, topic, key, value)

    def mark(self, p: Person, behaviour: str, ts: int) -> None:
        """Remember when a planted behaviour first showed (the ground truth's onset)."""
        key = (p.userid, behaviour)
        if ts < self.marks.get(key, 1 << 62):
            self.marks[key] = ts

    def msg(self, p: Person, c: Customer | str, ts: int, outbound: bool, msgtype: str, payload: dict,
            rng: random.Random, room: tuple[str, list[str]] | None = None) -> str:
        """One chat message between p and a customer (or, in a group, with colleagues in `room`)."""
        cid = c.cid if isinstance(c, Customer) else c
        msgid = self.new_msgid(p, ts)
        delay = int(rng.uniform(0.5, 8) * MIN)  # the archive is pulled every few minutes
        members = [p.userid] + (room[1] if room else [])
        if outbound:
            value = records.chat(self.co.corpid, msgid, p.userid, [cid] + members[1:], ts, msgtype, payload,
                                 room[0] if room else "")
            self.emit(MSGAUDIT, p.userid, value, ts, delay)
        else:
            for member in members:  # one copy per internal recipient
                tolist = [m for m in members]
                value = records.chat(self.co.corpid, msgid, cid, tolist, ts, msgtype, payload, room[0] if room else "")
                self.emit(MSGAUDIT, member, value, ts, delay)
        if isinstance(c, Customer) and outbound:
            c.contacted = self.day_of(p, ts)
        return msgid

    def new_msgid(self, p: Person, ts: int) -> str:
        """In the shape WeCom gives cross-company messages: digits, the send time in seconds, `_external`."""
        self.n_msgs += 1
        return f"{zlib.crc32(f'{self.prof.name}{self.prof.half}{p.userid}'.encode()):010d}{self.n_msgs:09d}_{ts // 1000}_external"

    def text(self, p: Person, c: Customer | str, ts: int, outbound: bool, content: str, rng: random.Random,
             room=None) -> str:
        return self.msg(p, c, ts, outbound, "text", {"content": content}, rng, room)

    def contact(self, p: Person, c: Customer | str, ts: int, change: str, **extra: str) -> None:
        cid = c.cid if isinstance(c, Customer) else c
        self.emit(CONTACTS, p.userid, records.contact(self.co.corpid, p.userid, cid, ts, change, **extra), ts,
                  int(random.Random(ts).uniform(0, 20_000)))

    def hr(self, p: Person, kind: str, ts: int, **fields) -> None:
        self.emit(HR, p.userid, records.hr(kind, ts, p.userid, **fields), ts)

    # --- time ---------------------------------------------------------------------------------------
    def day_of(self, p: Person, ts: int) -> int:
        return (ts - clock.midnight(self.prof.start, p.branch.tz, 0)) // DAY

    def working_after(self, p: Person, ts: int, minutes: float) -> int | None:
        """When p, at work, has spent `minutes` of working time after `ts` (None: not within the period)."""
        h0, h1 = self.prof.hours
        left = int(minutes * MIN)
        for d in range(max(self.day_of(p, ts), 0), self.prof.days + 1):
            if not self.co.works(p, d):
                continue
            begin, end = self.co.at(p, d, h0), self.co.at(p, d, h1)
            t = max(ts, begin)
            if t >= end:
                continue
            if t + left <= end:
                return t + left
            left -= end - t
        return None

    def work_time(self, p: Person, day: int, rng: random.Random, lo: float = 0.05, hi: float = 0.95) -> int:
        h0, h1 = self.prof.hours
        return self.co.at(p, day, h0 + (h1 - h0) * rng.uniform(lo, hi))

    # --- lines --------------------------------------------------------------------------------------
    def fill(self, line: str, rng: random.Random, day: int) -> str:
        sku = rng.choice(self.ind.skus)
        return line.format(product=sku.name, price=int(rng.uniform(sku.low, sku.high)), brand=self.prof.brand,
                           shop=self.co.channels.shops[0], n=rng.randint(2, 9),
                           day=(self.prof.start.toordinal() + day + rng.randint(3, 10)) % 28 + 1)

    # --- one day ------------------------------------------------------------------------------------
    def day(self, d: int) -> None:
        for p in self.co.people:
            rng = random.Random(zlib.crc32(f"{self.prof.seed}|{p.userid}|{d}".encode()))
            Day(self, p, d, rng).run()


class Day:
    def __init__(self, life: Life, p: Person, d: int, rng: random.Random):
        self.life, self.co, self.prof, self.p, self.d, self.rng = life, life.co, life.prof, p, d, rng
        self.knobs = Knobs()
        self.active = [b for b in p.scenarios if b.active(d)]

    def run(self) -> None:
        p, d = self.p, self.d
        for b in self.active:
            b.knobs(self, self.knobs)
        self.life.plan.before(self)
        works = self.co.works(p, d) if self.knobs.works is None else self.knobs.works
        if p.start_day <= d < p.last_day:
            self.inbound()
        if works:
            self.checkin()
            if p.role == "finance":
                pass  # approvals come with the orders
            elif p.sells:
                self.sell_day()
        elif self.knobs.sells_on_leave and p.start_day <= d < p.last_day:
            self.selling()
        self.pending_buys(works or self.knobs.sells_on_leave)
        for b in self.active:
            b.extra(self)
        self.life.plan.after(self)

    # --- pieces -------------------------------------------------------------------------------------
    def at(self, hour: float) -> int:
        return self.co.at(self.p, self.d, hour)

    def work_time(self, lo: float = 0.05, hi: float = 0.95) -> int:
        return self.life.work_time(self.p, self.d, self.rng, lo, hi)

    def lift(self) -> float:
        """The day's demand: weekends and promotions for the whole team/branch, busy holidays."""
        f = self.life.plan.lift(self.p, self.d)
        wd = clock.weekday(self.prof.start, self.d)
        if self.prof.rota and wd >= 5:
            f *= 1.4
        ramp = self.d - self.p.start_day
        if self.p.start_day > 0 and ramp < 10:
            f *= 0.2 + 0.08 * ramp  # a new hire ramps up
        return f

    def checkin(self) -> None:
        h0, h1 = self.prof.hours
        late = self.rng.random() < 0.04
        t_in = self.at(h0 - self.rng.uniform(0.05, 0.4) + (self.rng.uniform(0.1, 0.6) if late else 0))
        self.life.hr(self.p, "checkin", t_in, checkin_type="上班打卡", exception_type="时间异常" if late else "")
        if self.p.sells and self.rng.random() < 0.1:
            self.life.hr(self.p, "checkin", self.work_time(0.2, 0.6), checkin_type="外出打卡", exception_type="")
        self.life.hr(self.p, "checkin", self.at(h1 + self.rng.uniform(0.0, 0.6)), checkin_type="下班打卡",
                     exception_type="" if self.rng.random() > 0.02 else "未打卡")

    def sell_day(self) -> None:
        self.follow_up()
        self.new_contacts()
        self.selling()
        self.housekeeping()

    def room(self, c: Customer) -> tuple[str, list[str]] | None:
        """A customer group with a colleague (B2B projects, 4S delivery groups) for some conversations."""
        if self.rng.random() >= self.prof.group_chats:
            return None
        mate = self.p.manager_id or next(iter(self.co.heads.values())).userid
        return "wr" + records.external_id("room", c.cid)[2:20], [mate]

    def conversation(self, c: Customer, t: int, opener: tuple[str, dict] | None = None) -> int:
        """A follow-up thread started by the salesperson; returns when it ended."""
        life, rng, p = self.life, self.rng, self.p
        room = self.room(c)
        kind = rng.random()
        if opener is None:
            if kind < 0.07:
                opener = own_share(self.co.channels, rng, rng.choice(self.co.people).userid)
            elif kind < 0.08:
                opener = ("text", {"content": rng.choice(FAKE_SHOP_WARNING)})
            else:
                opener = ("text", {"content": life.fill(rng.choice(self.co.industry.staff), rng, self.d)})
        life.msg(p, c, t, True, opener[0], opener[1], rng, room)
        if rng.random() < 0.05:
            life.msg(p, c, t + int(rng.uniform(0.2, 2) * MIN), True, "image",
                     {"md5sum": records.external_id("img", c.cid, t)[2:34].lower(), "filesize": rng.randint(40_000, 900_000),
                      "sdkfileid": "Cts" + records.external_id("sdk", t)[2:]}, rng, room)
        if rng.random() > 0.55:
            return t
        t = self.customer_answer(t)
        topic = rng.random()
        ind = self.co.industry
        if topic < 0.06:
            life.text(p, c, t, False, rng.choice(ind.compare), rng, room)
            return self.staff_answer(c, t, rng.choice(ind.compare_reply), room)
        if topic < 0.08:
            life.text(p, c, t, False, rng.choice(PRIVATE_ACCOUNT_ASK), rng, room)
            return self.staff_answer(c, t, rng.choice(PRIVATE_ACCOUNT_REFUSE), room)
        if topic < 0.09:
            life.text(p, c, t, False, rng.choice(REBATE_ASK), rng, room)
            return self.staff_answer(c, t, rng.choice(REBATE_REFUSE), room)
        if topic < 0.5:
            life.text(p, c, t, False, life.fill(rng.choice(ind.customer), rng, self.d), rng, room)
            t = self.staff_answer(c, t, life.fill(rng.choice(ind.staff + ind.after_sale), rng, self.d), room)
            if rng.random() < 0.5:
                t = self.customer_answer(t)
                life.text(p, c, t, False, rng.choice(ind.closers), rng, room)
            return t
        if rng.random() < 0.15:
            life.msg(p, c, t, False, "emotion", {"type": 1, "width": 240, "height": 240, "imagesize": 18_000,
                                                  "md5sum": records.external_id("emo", t)[2:34].lower()}, rng, room)
        else:
            life.text(p, c, t, False, rng.choice(ind.closers), rng, room)
        return t

    def customer_answer(self, t: int) -> int:
        return t + int(self.rng.lognormvariate(math.log(self.prof.customer_reply_min), 1.0) * MIN) + MIN

    def staff_answer(self, c: Customer, asked: int, content: str, room=None) -> int:
        """The salesperson answers a customer's question at the company's pace, in working time."""
        minutes = self.rng.lognormvariate(math.log(self.prof.staff_reply_min), 0.9)
        t = self.life.working_after(self.p, asked, minutes)
        if t is None:
            return asked
        self.life.text(self.p, c, t, True, content, self.rng, room)
        return t

    def follow_up(self) -> None:
        book = [c for c in self.p.book() if not c.lost]
        k = poisson(self.rng, self.p.followups * self.knobs.followup * min(self.lift(), 1.5))
        if not book or k <= 0:
            return
        for c in self.rng.sample(book, min(k, len(book))):
            self.conversation(c, self.work_time())

    def inbound(self) -> None:
        """Customers writing first, at any hour; answered when the salesperson next works."""
        book = self.p.book()
        if not book:
            return
        rng, life = self.rng, self.life
        for c in rng.sample(book, min(len(book), poisson(rng, self.prof.inbound_rate * len(book)))):
            h0, h1 = self.prof.hours
            if rng.random() < self.prof.night_share:  # evenings and early mornings
                t = self.at(rng.uniform(h1, 24.5) if rng.random() < 0.8 else rng.uniform(6.5, h0))
            else:
                t = self.at(rng.uniform(h0, h1))
            line = rng.choice(self.co.industry.customer if rng.random() < 0.8 else self.co.industry.compare)
            life.text(self.p, c, t, False, life.fill(line, rng, self.d), rng)
            if rng.random() < 0.9 * min(1.0, self.knobs.followup):  # a neglected book waits unanswered
                self.staff_answer(c, t, life.fill(rng.choice(self.co.industry.staff + self.co.industry.compare_reply),
                                                  rng, self.d))

    def new_contacts(self) -> None:
        rng, p, prof = self.rng, self.p, self.prof
        lam = p.rate * prof.new_share / max(prof.conversion, 0.01) * self.lift() * self.knobs.new_contacts
        conversion = self.knobs.conversion if self.knobs.conversion is not None else prof.conversion
        for i in range(poisson(rng, lam)):
            t = self.work_time()
            c = new_customer(self.co, p, rng, t, f"new-{self.d}-{i}")
            p.customers.append(c)
            half = rng.random() < 0.2
            self.life.contact(p, c, t, "add_half_external_contact" if half else "add_external_contact",
                              State=rng.choice(("store_qr", "live", "referral", "ad_lead", "")),
                              WelcomeCode="WC" + c.cid[2:12])
            self.conversation(c, t + int(rng.uniform(1, 10) * MIN), ("text", {"content": rng.choice((
                f"您好，我是{self.prof.brand}的顾问{p.surname}，有任何问题随时找我。",
                f"欢迎来到{self.prof.brand}！这是我的企业微信，以后售后和活动都可以找我。"))}))
            if rng.random() < 0.5:
                self.life.contact(p, c, t + int(rng.uniform(5, 120) * MIN), "edit_external_contact")
            if rng.random() < conversion:
                lag = rng.expovariate(1 / max(0.3, prof.conversion_lag_days))
                buy_day = self.d + int(lag)
                p.pending.setdefault(buy_day, []).append(c)

    def pending_buys(self, works: bool) -> None:
        """New contacts deciding to buy today (on a day off, the next working day)."""
        due = self.p.pending.pop(self.d, [])
        if not works:
            if due:
                self.p.pending.setdefault(self.d + 1, []).extend(due)
            return
        for c in due:
            if not c.gone and not c.lost:
                self.sale(c)
                c.bought = True

    def selling(self) -> None:
        rng, p = self.rng, self.p
        existing = [c for c in p.book() if c.bought and not c.lost]
        if not existing:
            return
        lam = p.rate * (1 - self.prof.new_share) * self.lift() * self.knobs.repeat
        n = poisson(rng, lam)
        if n <= 0:
            return
        weights = [c.activity for c in existing]
        buyers = rng.choices(existing, weights, k=n)
        seen: set[str] = set()
        for c in buyers:
            if c.cid in seen and rng.random() > 0.1:
                continue  # one order a day per customer, with few exceptions
            seen.add(c.cid)
            self.sale(c)

    def housekeeping(self) -> None:
        """Customers leave at a normal rate; now and then a salesperson removes a contact."""
        rng, p, life = self.rng, self.p, self.life
        book = p.book()
        for c in rng.sample(book, min(len(book), poisson(rng, self.prof.contact_churn * len(book)))):
            c.gone = True
            life.contact(p, c, self.at(rng.uniform(7, 23)), "del_follow_user")
        if book and rng.random() < 0.01:
            c = rng.choice(book)
            c.gone = True
            life.contact(p, c, self.work_time(), "del_external_contact")
        if rng.random() < 0.03:  # a recalled typo
            c = rng.choice(book) if book else None
            if c is not None:
                t = self.work_time()
                mid = life.text(p, c, t, True, "不好意思发错了", rng)
                life.emit(MSGAUDIT, p.userid, {"msgid": life.new_msgid(p, t + 30_000), "action": "recall", "from": p.userid,
                                               "tolist": [c.cid], "roomid": "", "msgtime": t + 30_000,
                                               "msgtype": "revoke", "revoke": {"pre_msgid": mid},
                                               "corpid": self.co.corpid}, t + 30_000, 3 * MIN)

    # --- orders -------------------------------------------------------------------------------------
    def basket(self, scale: float = 1.0) -> tuple[float, list]:
        return _sample_amount(self.co.industry, self.co.sku_weights, self.rng, self.prof.qty, self.p.scale * scale)

    def new_order_id(self) -> str:
        n = self.life.n_orders.get(self.p.userid, 0) + 1
        self.life.n_orders[self.p.userid] = n
        date = self.prof.start.toordinal() + self.d
        return f"SO{date % 100_000:05d}-{zlib.crc32(self.p.userid.encode()) % 10_000:04d}-{n:04d}"

    def sale(self, c: Customer | None, t: int | None = None, **overrides) -> Order:
        """One order's life, after planted behaviour had its say."""
        amount, items = overrides.pop("basket", None) or self.basket()
        o = Order(self.new_order_id(), c, t or self.work_time(0.1, 0.85), amount, items)
        o.complete = self.rng.random() >= self.prof.details_missing
        approval = self.prof.approval
        o.needs_approval = (approval == "all" or (approval == "large" and amount >= self.co.approval_amount)
                            or (approval == "rare" and self.rng.random() < 0.02))
        for k, v in overrides.items():
            setattr(o, k, v)
        for b in self.active:
            b.order(self, o)
        self.book_order(o)
        return o

    def order_value(self, o: Order, event: str, ts: int, full: bool, **extra) -> dict:
        value = {"order_id": o.order_id, "event": event, "ts": ts, "employee_id": self.p.userid,
                 "amount": money(o.amount), "currency": "CNY", "store_id": self.p.store}
        value["customer_id"] = None if o.customer_id_missing or o.customer is None else o.customer.cid
        if full:
            c = o.customer
            value["customer"] = None if c is None else {
                "name": c.name, "phone": c.phone if o.complete else "",
                "address": c.address if o.complete or self.rng.random() < 0.3 else ""}
            value["items"] = [{"sku": s.code, "qty": q, "price": money(pr)} for s, q, pr in o.items]
        value.update(extra)
        return value

    def put_order(self, o: Order, event: str, ts: int, **extra) -> None:
        full = event == "created" or self.prof.crm_style == "full"  # a sparse CRM sends ids and amounts later
        if full:
            extra.setdefault("approver_id", None)
            extra.setdefault("commission", None)
        self.life.emit(ORDERS, self.p.userid, self.order_value(o, event, ts, full, **extra), ts,
                       int(self.rng.uniform(0, 40_000)))

    def commission(self, o: Order, paid_at: int) -> float:
        pol = self.prof.commission
        month = (self.prof.start + dt.timedelta(days=self.life.day_of(self.p, paid_at))).month
        key = (self.p.userid, month)
        so_far = self.life.month_sales.get(key, 0.0)
        self.life.month_sales[key] = so_far + o.amount
        bonus = sum(b for line, b in self.co.tiers if so_far >= line)
        total = 0.0
        for sku, q, price in o.items:
            if pol.kind[sku.category] == "per_unit":
                total += pol.rate[sku.category] * q
            else:
                total += q * price * (pol.rate[sku.category] + pol.store_bonus.get(self.p.store, 0.0) + bonus)
        return round(total * o.commission_factor, 2)

    def approver(self, role: str, at_ts: int) -> str:
        p = self.p
        if role == "finance":
            return self.rng.choice(self.co.finance).userid
        boss = self.co.by_id.get(p.manager_id or "") or self.co.heads[p.branch.branch_id]
        if boss.userid == p.userid or not self.co.works(boss, self.life.day_of(boss, at_ts)):
            boss = self.co.heads[p.branch.branch_id]  # the deputy while the manager is away
        return boss.userid

    def book_order(self, o: Order) -> None:
        rng, prof, life = self.rng, self.prof, self.life
        if o.customer is not None and o.touch:
            life.text(self.p, o.customer, o.created - int(rng.uniform(3, 25) * MIN), True,
                      rng.choice(("订单已经帮您下好了，麻烦核对一下收货信息。", "我这边提交订单了，您确认一下哈。",
                                  "好的，给您下单了，付款链接稍后发您。")), rng)
        self.put_order(o, "created", o.created)
        t = o.created
        if o.needs_approval and not o.skip_approval:
            t += int(rng.uniform(1, 15) * MIN)
            self.put_order(o, "submitted", t)
            for role in prof.approval_chain if (o.amount >= self.co.approval_amount * 3 or prof.approval == "all") \
                    else prof.approval_chain[:1]:
                boss = self.approver(role, t)
                step = life.working_after(self.co.by_id[boss], t, rng.lognormvariate(math.log(prof.approval_delay_min), 0.8))
                if step is None:
                    return
                t = step
                who = self.p.userid if o.self_approve else boss
                if rng.random() < 0.015 and not o.self_approve:
                    self.put_order(o, "rejected", t, approver_id=who)
                    self.put_order(o, "cancelled", t + int(rng.uniform(10, 120) * MIN))
                    return
                self.put_order(o, "approved", t, approver_id=who)
        if not o.paid:
            return
        if rng.random() < prof.cancel_rate:
            self.put_order(o, "cancelled", t + int(rng.uniform(0.5, 30) * HOUR))
            return
        delay = o.pay_delay_h if o.pay_delay_h is not None else rng.lognormvariate(math.log(prof.pay_delay_h), 0.9)
        paid_at = t + int(delay * HOUR) + int(rng.uniform(1, 10) * MIN)
        commission = self.commission(o, paid_at)
        self.put_order(o, "paid", paid_at, commission=money(commission))
        if rng.random() < prof.refund_rate:
            back = paid_at + int(rng.uniform(1, 8) * DAY)
            self.put_order(o, "refunded", back, commission="0.00" if prof.commission.refund == "zero" else None)
