"""A company built from a profile: branches, stores, teams, managers, finance, salespeople and their customers.

Everyone has their own habits: how much they sell (a few high performers sell two to three times the
median), how many customers they follow up a day, how large their orders are, their rest days. New
hires join during the period with a short book; the numbers that depend on the company's own order
sizes (the approval line, commission tiers) are set from a sample of its orders.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ingest.companies import clock
from ingest.companies.channels import OwnChannels, PrivateChannels, own_channels
from ingest.companies.params import Branch, Profile
from ingest.companies.records import external_id
from ingest.companies.vocab import INDUSTRIES, Industry, Sku

SURNAMES = (("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
            ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
            ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("林", "lin"), ("罗", "luo"),
            ("高", "gao"), ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"))
GIVEN = (("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("强", "qiang"),
         ("磊", "lei"), ("洋", "yang"), ("艳", "yan"), ("勇", "yong"), ("军", "jun"), ("杰", "jie"), ("娟", "juan"),
         ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀英", "xiuying"), ("霞", "xia"), ("平", "ping"),
         ("刚", "gang"), ("欢", "huan"), ("婷", "ting"), ("浩", "hao"), ("宇", "yu"), ("晨", "chen"), ("悦", "yue"),
         ("思琪", "siqi"), ("子涵", "zihan"), ("佳怡", "jiayi"), ("俊杰", "junjie"), ("雨桐", "yutong"))
STREETS = ("人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "文化路", "长江路", "黄河路", "滨江大道")
TEAM_WORDS = ("一组", "二组", "三组", "四组", "五组", "六组", "七组", "八组")


@dataclass
class Customer:
    cid: str
    name: str
    phone: str
    address: str
    activity: float          # relative propensity to buy again
    since: int               # epoch ms the relationship with the company began
    bought: bool             # has bought before: an existing customer
    gone: bool = False       # deleted the salesperson, or was deleted
    lost: bool = False       # steered away by a diverter: buys nothing more through the company
    contacted: int = -1      # day the current owner last wrote


@dataclass
class Person:
    userid: str
    name: str
    surname: str
    role: str                # sales | manager | branch_head | finance
    team: str
    branch: Branch
    store: str
    manager_id: str | None
    rate: float = 0.0        # own mean orders per working day
    followups: float = 0.0   # own mean customers followed up per working day
    scale: float = 1.0       # own order size relative to the company's
    start_day: int = 0       # joins on this day (new hires > 0)
    last_day: int = 10_000   # works until this day (a resignation's last day)
    rest: frozenset = frozenset()
    customers: list[Customer] = field(default_factory=list)
    leave: set[int] = field(default_factory=set)
    scenarios: list = field(default_factory=list)   # planted (ingest.companies.scenarios)
    lookalikes: list[str] = field(default_factory=list)
    private: PrivateChannels | None = None
    pending: dict[int, list[Customer]] = field(default_factory=dict)  # day -> new customers who buy then

    @property
    def sells(self) -> bool:
        return self.rate > 0

    def book(self) -> list[Customer]:
        """Customers still in touch through the company."""
        return [c for c in self.customers if not c.gone]


@dataclass
class Company:
    profile: Profile
    industry: Industry
    channels: OwnChannels
    corpid: str
    people: list[Person]
    by_id: dict[str, Person]
    finance: list[Person]
    heads: dict[str, Person]            # branch id -> branch head
    approval_amount: float
    tiers: tuple[tuple[float, float], ...]  # (month-to-date paid amount, added rate)
    sku_weights: tuple[float, ...]
    end_ms: int

    def sales(self) -> list[Person]:
        return [p for p in self.people if p.sells]

    def team_of(self, team: str) -> list[Person]:
        return [p for p in self.people if p.team == team]

    def works(self, p: Person, day: int) -> bool:
        prof = self.profile
        if not (p.start_day <= day < p.last_day) or day in p.leave:
            return False
        if any(d == day and kind == "closed" for d, kind in prof.holidays):
            return False
        return clock.weekday(prof.start, day) not in p.rest

    def at(self, p: Person, day: int, hour: float) -> int:
        return clock.at(self.profile.start, p.branch.tz, day, hour)


def _userid(style: str, surname: str, given: str, n: int, taken: set[str]) -> str:
    base = {"pinyin": surname + given, "dotted": f"{given}.{surname}", "number": f"E{10_000 + n * 37 % 90_000:05d}"}[style]
    uid, k = base, 1
    while uid in taken:
        k += 1
        uid = f"{base}{k:02d}" if style != "number" else f"E{int(base[1:]) + k:05d}"
    taken.add(uid)
    return uid


def _sample_amount(ind: Industry, weights: tuple[float, ...], rng: random.Random, qty: tuple[int, int],
                   scale: float) -> tuple[float, list[tuple[Sku, int, float]]]:
    """One basket: (amount, [(sku, qty, unit price)])."""
    items = []
    for sku in rng.choices(ind.skus, weights, k=rng.randint(*ind.basket)):
        q = max(1, round(rng.randint(*qty) * scale)) if qty[1] > 1 else 1
        price = round(rng.uniform(sku.low, sku.high) * rng.uniform(0.88, 1.0), 0)
        items.append((sku, q, price))
    return sum(q * pr for _, q, pr in items), items


def build(profile: Profile, staff_scale: float = 1.0) -> Company:
    rng = random.Random(profile.seed)
    ind = INDUSTRIES[profile.industry]
    home = profile.branches[0]
    channels = own_channels(profile.company, profile.brand, profile.stem, home.area_code, rng)
    corpid = "ww" + external_id(profile.company, profile.half)[2:18].lower()
    taken: set[str] = set()
    people: list[Person] = []

    def person(role: str, team: str, branch: Branch, store: str, manager: str | None) -> Person:
        (s_cn, s_py), (g_cn, g_py) = rng.choice(SURNAMES), rng.choice(GIVEN)
        uid = _userid(profile.userid_style, s_py, g_py, len(people), taken)
        p = Person(uid, s_cn + g_cn, s_cn, role, team, branch, store, manager)
        people.append(p)
        return p

    finance = [person("finance", "财务部", home, home.stores[0], None) for _ in range(2)]
    heads: dict[str, Person] = {}
    for b in profile.branches:
        head = person("branch_head", f"{b.city}管理层", b, b.stores[0], None)
        heads[b.branch_id] = head
        for t, size in enumerate(b.teams):
            size = max(2, round(size * staff_scale))
            team = f"{b.city}{ind.label}{TEAM_WORDS[t % len(TEAM_WORDS)]}"
            store = b.stores[t % len(b.stores)]
            mgr = person("manager", team, b, store, head.userid)
            for _ in range(size):
                person("sales", team, b, store, mgr.userid)
    by_id = {p.userid: p for p in people}

    # Own habits: a lognormal spread around the company's median, a few high performers on top.
    lo, hi = profile.orders_per_day
    median = (lo * hi) ** 0.5
    for p in people:
        if p.role == "sales":
            p.rate = median * rng.lognormvariate(0, 0.3)
            if rng.random() < profile.high_performers:
                p.rate *= rng.uniform(2.0, 3.0)
                p.lookalikes.append("high_performer")
        elif p.role == "manager" and profile.managers_sell:
            p.rate = median * rng.uniform(0.2, 0.4)
        if p.sells:
            f_lo, f_hi = profile.followups_per_day
            p.followups = rng.uniform(f_lo, f_hi)
            p.scale = rng.lognormvariate(0, 0.25)
        if profile.rota:
            p.rest = frozenset(rng.sample(range(7) if p.role == "finance" else range(5), 1 if p.sells else 2))
        if not profile.rota or p.role == "finance":
            p.rest = frozenset(d for d in range(7) if d not in profile.open_days) or frozenset({6})

    # New hires join during the period (not in its first or last week) and ramp up.
    for p in rng.sample([p for p in people if p.role == "sales"], profile.new_hires):
        p.start_day = rng.randint(7, max(8, profile.days - 8))
        p.lookalikes.append("new_hire")
    weights = tuple(s.weight or (s.low * s.high) ** -0.5 for s in ind.skus)
    sample = sorted(_sample_amount(ind, weights, rng, profile.qty, 1.0)[0] for _ in range(4000))
    approval_amount = _nice(sample[int(profile.approval_quantile * (len(sample) - 1))])
    month_sales = median * 26 * sample[len(sample) // 2]
    tiers = tuple((_nice(m * month_sales), bonus) for m, bonus in profile.commission.tiers)
    end_ms = clock.midnight(profile.start, "Asia/Shanghai", profile.days)
    company = Company(profile, ind, channels, corpid, people, by_id, finance, heads, approval_amount, tiers,
                      weights, end_ms)
    for p in company.sales():
        _give_customers(company, p, rng)
    return company


def _nice(x: float) -> float:
    """Round to a number a company would write in its policy (two significant digits)."""
    if x <= 0:
        return 0.0
    digits = len(str(int(x))) - 2
    return float(round(x / 10 ** digits) * 10 ** digits) if digits > 0 else float(round(x))


def new_customer(company: Company, p: Person, rng: random.Random, since: int, tag: object) -> Customer:
    (s_cn, _), title = rng.choice(SURNAMES), rng.choice(("女士", "先生", "总", "姐", "哥"))
    city = p.branch.city
    return Customer(
        cid=external_id(company.profile.name, company.profile.half, p.userid, tag),
        name=s_cn + title if rng.random() < 0.6 else s_cn + rng.choice(GIVEN)[0],
        phone=f"1{rng.choice('3456789')}{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
        address=f"{city}市{rng.choice(STREETS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}栋{rng.randint(101, 2802)}",
        activity=rng.lognormvariate(0, 0.8), since=since, bought=False)


def _give_customers(company: Company, p: Person, rng: random.Random) -> None:
    """The book a salesperson starts with: customers allocated over the past year (new hires: a few)."""
    lo, hi = company.profile.customers_per_staff
    n = rng.randint(lo, hi) if p.role == "sales" else rng.randint(lo // 4, lo // 2)
    start = company.at(p, p.start_day, 9.0)
    for i in range(n):
        ago = rng.uniform(2, 400) if p.start_day == 0 else rng.uniform(0, 1)
        c = new_customer(company, p, rng, start - int(ago * clock.DAY_MS), i)
        c.bought = rng.random() < (0.7 if p.start_day == 0 else 0.5)
        p.customers.append(c)
