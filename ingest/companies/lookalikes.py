"""Hard negatives: innocent people whose records look like a scenario's.

| look-alike | looks like | what actually happens |
| --- | --- | --- |
| `top_seller_spike` | a volume spike | a strong salesperson's busy day, every order with full details |
| `big_normal_order` | a single large order | a key-account salesperson whose large orders are normal for them, details complete |
| `leave_quiet` | follow-up dropping | approved annual leave of several days |
| `leave_paid` | orders on leave days | payments for orders booked before the leave arrive while away |
| `covering` | working others' customers | answers an on-leave colleague's customers |
| `competitor_talk` | steering to competitors | customers keep comparing prices with other shops and platforms |
| `refuses_private` | private channels | customers ask for a private account, rebate or transfer; refused |
| `fake_shop_warner` | other shops, transfers | warns customers against fake shops and transfers to individuals |
| `cleanup` | deleting customers | removes a few contacts who never bought (duplicates, wrong numbers) |
| `multi_buy` | split orders | a customer buying three times on a promotion day, different goods |
| `night_customers` | reply timeouts | customers who write late at night, answered the next morning |
"""

from __future__ import annotations

from ingest.companies.behaviour import Behaviour
from ingest.companies.life import HOUR, MIN
from ingest.companies.vocab import FAKE_SHOP_WARNING, PRIVATE_ACCOUNT_ASK, PRIVATE_ACCOUNT_REFUSE, REBATE_ASK, \
    REBATE_REFUSE


class LookAlike(Behaviour):
    planted = False


class TopSellerSpike(LookAlike):
    name = "top_seller_spike"

    def prepare(self, company) -> None:
        self.person.rate *= 1.6

    def knobs(self, day, k) -> None:
        if day.d == self.onset_day:
            k.repeat = 3.0
            k.new_contacts = 2.0

    def order(self, day, o) -> None:
        o.complete = True


class BigNormalOrder(LookAlike):
    """Large orders are part of this person's history from the first day."""
    name = "big_normal_order"

    def active(self, day: int) -> bool:
        return True

    def order(self, day, o) -> None:
        if self.rng.random() < 0.18 and o.items:
            factor = self.rng.uniform(5, 10)
            o.items = [(s, max(1, round(q * factor)), pr) for s, q, pr in o.items]
            o.amount = sum(q * pr for _, q, pr in o.items)
            o.complete = True
            o.needs_approval = o.needs_approval or day.prof.approval != "rare"


class LeaveQuiet(LookAlike):
    name = "leave_quiet"

    def prepare(self, company) -> None:
        days = self.working_days(company)[: self.rng.randint(3, 5)]
        self.person.leave.update(days)
        self.days = days
        self.entered = max(0, days[0] - self.rng.randint(2, 6)) if days else -1

    def active(self, day: int) -> bool:
        return True

    def extra(self, day) -> None:
        if day.d == self.entered:
            h0, h1 = day.prof.hours
            day.life.hr(day.p, "leave", day.at(h0 + 1), start=day.co.at(day.p, self.days[0], h0),
                        end=day.co.at(day.p, self.days[-1], h1), leave_type="年假")


class LeavePaid(LookAlike):
    name = "leave_paid"

    def prepare(self, company) -> None:
        span = self.working_days(company)
        self.booked = span[0] if span else -1
        self.days = span[1:3]
        self.person.leave.update(self.days)

    def extra(self, day) -> None:
        if day.d != self.booked or not self.days:
            return
        h0, h1 = day.prof.hours
        book = [c for c in day.p.book() if c.bought] or day.p.book()
        for c in self.rng.sample(book, min(len(book), 3)):
            day.sale(c, day.work_time(0.6, 0.9), pay_delay_h=self.rng.uniform(16, 40))
        day.life.hr(day.p, "leave", day.at(h1 - 1), start=day.co.at(day.p, self.days[0], h0),
                    end=day.co.at(day.p, self.days[-1], h1), leave_type="事假")


class Covering(LookAlike):
    name = "covering"

    def prepare(self, company) -> None:
        mates = [q for q in company.team_of(self.person.team) if q.sells and q is not self.person and not q.scenarios
                 and q.start_day == 0]
        self.mate = mates[0] if mates else None
        self.days: set[int] = set()
        if self.mate is not None:
            days = [d for d in range(self.onset_day + 1, company.profile.days) if company.works(self.mate, d)][:3]
            self.mate.leave.update(days)
            self.days = set(days)
            self.mate.lookalikes.append("colleague_covered")

    def extra(self, day) -> None:
        if not self.days:
            return
        h0, h1 = day.prof.hours
        if day.d == self.onset_day:
            day.life.hr(self.mate, "leave", day.at(h0 + 2), start=day.co.at(self.mate, min(self.days), h0),
                        end=day.co.at(self.mate, max(self.days), h1), leave_type="年假")
        if day.d not in self.days or not day.co.works(day.p, day.d):
            return
        book = self.mate.book()
        for c in self.rng.sample(book, min(len(book), self.rng.randint(3, 6))):
            day.life.text(day.p, c, day.work_time(), True,
                          f"您好，{self.mate.surname}顾问这几天休假，我是同事{day.p.surname}，有需要先找我哈。", self.rng)


class CompetitorTalk(LookAlike):
    name = "competitor_talk"

    def active(self, day: int) -> bool:
        return True

    def extra(self, day) -> None:
        if not day.co.works(day.p, day.d):
            return
        ind = day.co.industry
        for c in self.rng.sample(day.p.book(), min(len(day.p.book()), self.rng.randint(1, 3))):
            t = day.work_time()
            day.life.text(day.p, c, t, False, self.rng.choice(ind.compare), self.rng)
            day.staff_answer(c, t, self.rng.choice(ind.compare_reply))


class RefusesPrivate(LookAlike):
    name = "refuses_private"

    def active(self, day: int) -> bool:
        return True

    def extra(self, day) -> None:
        if not day.co.works(day.p, day.d) or self.rng.random() > 0.6:
            return
        book = day.p.book()
        if not book:
            return
        c = self.rng.choice(book)
        t = day.work_time()
        if self.rng.random() < 0.6:
            ask, answer = self.rng.choice(PRIVATE_ACCOUNT_ASK), self.rng.choice(PRIVATE_ACCOUNT_REFUSE)
        else:
            ask, answer = self.rng.choice(REBATE_ASK), self.rng.choice(REBATE_REFUSE)
        day.life.text(day.p, c, t, False, ask, self.rng)
        day.staff_answer(c, t, answer)


class FakeShopWarner(LookAlike):
    name = "fake_shop_warner"

    def active(self, day: int) -> bool:
        return self.onset_day <= day < self.onset_day + 3

    def extra(self, day) -> None:
        if not day.co.works(day.p, day.d):
            return
        for c in self.rng.sample(day.p.book(), min(len(day.p.book()), self.rng.randint(5, 12))):
            day.life.text(day.p, c, day.work_time(), True, self.rng.choice(FAKE_SHOP_WARNING), self.rng)


class Cleanup(LookAlike):
    name = "cleanup"

    def extra(self, day) -> None:
        if day.d != self.onset_day:
            return
        idle = [c for c in day.p.book() if not c.bought and c.contacted < 0]
        t = day.work_time(0.6, 0.9)
        for c in idle[: self.rng.randint(3, 6)]:
            c.gone = True
            day.life.contact(day.p, c, t, "del_external_contact")
            t += int(self.rng.uniform(0.5, 3) * MIN)


class MultiBuy(LookAlike):
    """On the person's promotion day one customer buys three times (different goods, full details)."""
    name = "multi_buy"

    def extra(self, day) -> None:
        if day.d != self.onset_day or not day.co.works(day.p, day.d):
            return
        book = [c for c in day.p.book() if c.bought]
        if not book:
            return
        c = self.rng.choice(book)
        t = day.work_time(0.1, 0.3)
        for i in range(3):
            day.sale(c, t + int(i * self.rng.uniform(1, 3) * HOUR), complete=True)


class NightCustomers(LookAlike):
    name = "night_customers"

    def active(self, day: int) -> bool:
        return True

    def extra(self, day) -> None:
        book = day.p.book()
        for c in self.rng.sample(book, min(len(book), self.rng.randint(2, 5))):
            t = day.at(self.rng.uniform(22.0, 25.5))
            day.life.text(day.p, c, t, False, day.life.fill(self.rng.choice(day.co.industry.customer), self.rng, day.d),
                          self.rng)
            day.staff_answer(c, t, "早上好，看到您昨晚的消息了：" + day.life.fill(self.rng.choice(day.co.industry.staff),
                                                                          self.rng, day.d))


LOOKALIKES = {b.name: b for b in (TopSellerSpike, BigNormalOrder, LeaveQuiet, LeavePaid, Covering, CompetitorTalk,
                                  RefusesPrivate, FakeShopWarner, Cleanup, MultiBuy, NightCustomers)}
