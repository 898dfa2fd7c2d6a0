"""Who does what when: the company's calendar of structural events and the cast of planted and look-alike people.

Structural events are ordinary life at company scale: promotion days lifting a team, a branch or the
whole company (busy holidays too), sick leave (often entered the day after), on-job handovers of part
of a book (WeCom's transfer: `del_external_contact` with `Source=DELETE_BY_TRANSFER`, the new owner's
`assignment`), proper resignations handing everything over, new hires' first day, a company notice
against fake shops, campaigns where staff across teams send the company's own mini-program.
"""

from __future__ import annotations

import random

from ingest.companies import lookalikes, scenarios
from ingest.companies.channels import own_share, private_channels
from ingest.companies.company import Company, Customer, Person
from ingest.companies.life import MIN
from ingest.companies.vocab import FAKE_SHOP_WARNING

PER_SCENARIO = ("plain", "subtle")
PER_LOOKALIKE = 2


class Plan:
    def __init__(self, company: Company, rng: random.Random):
        self.co = company
        prof = company.profile
        self.rng = rng
        self.promos: dict[int, list[tuple[str, str, float]]] = {}
        teams = sorted({p.team for p in company.people if p.sells})
        for day, scope, lift in prof.promotions:
            value = {"company": "", "branch": rng.choice(prof.branches).branch_id, "team": rng.choice(teams)}[scope]
            self.promos.setdefault(day, []).append((scope, value, lift))
        for day, kind in prof.holidays:
            if kind == "busy":
                self.promos.setdefault(day, []).append(("company", "", 2.0))
        self.sick: dict[tuple[str, int], int] = {}   # (userid, entry day) -> first sick day
        self.handovers: dict[int, list[tuple[Person, Person]]] = {}
        self.resign: dict[str, tuple[int, int]] = {}  # userid -> (notice day, last day), proper resignations
        self.notice_day = rng.randrange(3, prof.days - 3)
        self._cast()
        self._structure()

    # --- the cast -----------------------------------------------------------------------------------
    def _cast(self) -> None:
        co, rng, prof = self.co, self.rng, self.co.profile
        veterans = [p for p in co.people if p.role == "sales" and p.start_day == 0]
        rng.shuffle(veterans)
        last_onset = prof.days - 7
        first_onset = min(10, last_onset)
        applicable = [(name, cls) for name, cls in scenarios.PLANTED.items() if scenarios.applies(name, prof)]
        if len(veterans) >= 4 * len(applicable):
            wanted = [(name, cls, variant) for name, cls in applicable for variant in PER_SCENARIO]
        else:  # a small company: one diverter per scenario, plain and subtle in turn
            wanted = [(name, cls, PER_SCENARIO[i % 2]) for i, (name, cls) in enumerate(applicable)]
        for name, cls, variant in wanted[: len(veterans)]:
            p = veterans.pop()
            p.private = private_channels(p.userid, p.surname, co.industry.label, rng)
            onset = self._working_day(p, rng.randint(first_onset, last_onset))
            p.scenarios.append(cls(p, onset, variant, rng.randrange(1 << 30)))
        # Look-alikes: two of each where the company is large enough, else one; some people stay ordinary.
        each = PER_LOOKALIKE if len(veterans) >= PER_LOOKALIKE * len(lookalikes.LOOKALIKES) + 10 else 1
        for name, cls in lookalikes.LOOKALIKES.items():
            for _ in range(each):
                if len(veterans) < 4:
                    break
                p = veterans.pop() if name != "multi_buy" else self._in_promotion(veterans)
                day = self._promo_day(p) if name == "multi_buy" else rng.randint(3, prof.days - 4)
                p.scenarios.append(cls(p, self._working_day(p, day), "plain", rng.randrange(1 << 30)))
                p.lookalikes.append(name)
        self.spare = veterans
        for p in co.people:
            for b in p.scenarios:
                b.prepare(co)

    def _working_day(self, p: Person, day: int) -> int:
        for d in range(day, self.co.profile.days):
            if self.co.works(p, d):
                return d
        return day

    def _in_promotion(self, pool: list[Person]) -> Person:
        for i, p in enumerate(pool):
            if any(self.lift(p, d) > 1.0 for d in self.promos):
                return pool.pop(i)
        return pool.pop()

    def _promo_day(self, p: Person) -> int:
        days = [d for d in sorted(self.promos) if self.lift(p, d) > 1.0]
        return days[0] if days else self.rng.randint(3, self.co.profile.days - 4)

    def _structure(self) -> None:
        co, rng, prof = self.co, self.rng, self.co.profile
        spare = self.spare
        for _ in range(prof.resignations):
            if len(spare) < 2:
                break
            p = spare.pop()
            notice = rng.randint(3, prof.days - 10)
            self.resign[p.userid] = (notice, notice + rng.randint(8, 20))
            p.last_day = self.resign[p.userid][1]
            p.lookalikes.append("resign_proper")
        for _ in range(prof.handovers):
            if len(spare) < 2:
                break
            giver = spare.pop()
            mates = [q for q in co.team_of(giver.team) if q.sells and q is not giver and q.last_day > prof.days]
            if not mates:
                continue
            receiver = rng.choice(mates)
            self.handovers.setdefault(rng.randint(3, prof.days - 4), []).append((giver, receiver))
            giver.lookalikes.append("handover_giver")
            receiver.lookalikes.append("handover_receiver")
        for p in co.people:
            if not p.sells:
                continue
            for d in range(prof.days):
                if co.works(p, d) and rng.random() < prof.sick_rate:
                    n = rng.choice((1, 1, 2))
                    p.leave.update(range(d, d + n))
                    self.sick[(p.userid, d + rng.choice((0, 1, 1)))] = d
                    if "sick_leave" not in p.lookalikes:
                        p.lookalikes.append("sick_leave")

    # --- days ---------------------------------------------------------------------------------------
    def lift(self, p: Person, day: int) -> float:
        f = 1.0
        for scope, value, lift in self.promos.get(day, ()):
            if scope == "company" or (scope == "branch" and p.branch.branch_id == value) or \
                    (scope == "team" and p.team == value):
                f *= lift
        return f

    def before(self, day) -> None:
        first = self.sick.get((day.p.userid, day.d))
        if first is not None:
            h0, h1 = day.prof.hours
            ends = max(d for d in day.p.leave if d >= first and all(x in day.p.leave for x in range(first, d + 1)))
            day.life.hr(day.p, "leave", day.at(h0 + self.rng.uniform(0, 2)), start=day.co.at(day.p, first, h0),
                        end=day.co.at(day.p, ends, h1), leave_type="病假")

    def after(self, day) -> None:
        p, d = day.p, day.d
        notice = self.resign.get(p.userid)
        if notice and d == notice[0]:
            day.life.hr(p, "resignation", day.at(day.prof.hours[0] + 1.5), last_day=day.co.at(p, notice[1], day.prof.hours[1]))
        if notice and notice[0] < d < notice[1] and day.co.works(p, d) and p.book():
            self._transfer(day, p, p.book()[: max(1, len(p.customers) // 5)])
        if d == p.last_day:
            self._offboard(day)
        for giver, receiver in self.handovers.get(d, ()):
            if giver is p:
                book = p.book()
                self._transfer(day, p, self.rng.sample(book, min(len(book), self.rng.randint(10, 25))), receiver)
        if d == self.notice_day and p.sells and day.co.works(p, d) and self.rng.random() < 0.3:
            for c in self.rng.sample(p.book(), min(len(p.book()), self.rng.randint(2, 6))):
                day.life.text(p, c, day.work_time(), True, self.rng.choice(FAKE_SHOP_WARNING), day.rng)
        if self.lift(p, d) > 1.0 and p.sells and day.co.works(p, d) and self.rng.random() < 0.5:
            for c in self.rng.sample(p.book(), min(len(p.book()), self.rng.randint(3, 10))):
                msgtype, payload = own_share(day.co.channels, self.rng, p.userid)
                day.life.msg(p, c, day.work_time(0.0, 0.3), True, msgtype, payload, day.rng)

    def _transfer(self, day, giver: Person, customers: list[Customer], receiver: Person | None = None) -> None:
        """An on-job transfer (在职继承): the new owner's assignment, WeCom's deletion by transfer."""
        life = day.life
        t = day.work_time(0.2, 0.8)
        mates = [q for q in day.co.team_of(giver.team) if q.sells and q is not giver and q.last_day > day.prof.days]
        for c in customers:
            to = receiver or (self.rng.choice(mates) if mates else None)
            if to is None:
                return
            if self.rng.random() < 0.05:
                life.contact(to, c, t + 24 * 60 * MIN, "transfer_fail", FailReason="customer_refused")
                continue
            self._move(day, c, giver, to, t, "handover")
            life.contact(giver, c, t + 24 * 60 * MIN, "del_external_contact", Source="DELETE_BY_TRANSFER")
            if self.rng.random() < 0.5:
                life.text(to, c, t + int(self.rng.uniform(1, 6) * 60 * MIN), True,
                          f"您好，我是{day.prof.brand}的{to.surname}，之后由我为您服务，{giver.surname}的工作交接给我了。",
                          day.rng)
            t += int(self.rng.uniform(0.2, 2) * MIN)

    def _move(self, day, c: Customer, giver: Person, to: Person, t: int, reason: str) -> None:
        giver.customers.remove(c)
        c.contacted = -1
        to.customers.append(c)
        day.life.hr(to, "assignment", t, customer_id=c.cid, previous_owner_id=giver.userid, reason=reason)

    def _offboard(self, day) -> None:
        """The last day: the directory says resigned, the rest of the book goes to colleagues (离职继承)."""
        p = day.p
        t = day.at(day.prof.hours[1] + 1)
        day.life.hr(p, "employee", t, **directory(p, "resigned"))
        mates = [q for q in day.co.team_of(p.team) if q.sells and q is not p and q.last_day > day.d]
        for c in list(p.book()):
            if mates:
                self._move(day, c, p, self.rng.choice(mates), t + MIN, "resignation")

    # --- before the first day -----------------------------------------------------------------------
    def preamble(self, life) -> None:
        """The directory and the customer books as they stood when the period began (new hires on their day)."""
        co = self.co
        first = min((c.since for p in co.people for c in p.customers), default=co.at(co.people[0], 0, 0))
        for p in co.people:
            joined = co.at(p, p.start_day, 8.0) if p.start_day else first - 86_400_000
            life.hr(p, "employee", joined, **directory(p, "active"))
            for c in p.customers:
                life.hr(p, "assignment", max(c.since, joined + MIN), customer_id=c.cid, reason="allocation")


def directory(p: Person, status: str) -> dict:
    return {"name": p.name, "team": p.team, "branch": p.branch.branch_id, "manager_id": p.manager_id,
            "role": {"branch_head": "manager"}.get(p.role, p.role), "status": status, "timezone": p.branch.tz}
