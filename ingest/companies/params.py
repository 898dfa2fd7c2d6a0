"""Company profiles: every parameter the detection rules depend on, drawn from an archetype's ranges.

An archetype (`ARCHETYPES`) says how a trade usually works — ranges for order size and volume, the
approval practices and commission schemes found in it, how fast its customers answer, when it is open.
`draw(name, half)` turns one into a concrete `Profile` with a random generator seeded by the name and
the half: the dev half and the test half are different draws from the same ranges. The numbers come
from how these trades work, not from any rules file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import asdict, dataclass


# dev and dev2 are open (dev2 checks that what was built looking at dev carries over); test is frozen.
HALVES = ("dev", "test", "dev2")
# Bumped when a change alters what any profile generates: scores of different versions do not compare.
CORPUS_VERSION = "1"


@dataclass(frozen=True)
class Branch:
    branch_id: str
    name: str
    city: str
    tz: str
    area_code: str
    stores: tuple[str, ...]
    teams: tuple[int, ...]   # salespeople per team (the manager comes on top)


@dataclass(frozen=True)
class Commission:
    kind: dict[str, str]              # category -> "percent" | "per_unit"
    rate: dict[str, float]            # category -> share of the line amount (percent) or yuan per unit
    store_bonus: dict[str, float]     # store -> added share (percent categories)
    tiers: tuple[tuple[float, float], ...]  # (month-to-date sales in median-salesperson months, added share)
    refund: str                       # what a refund event carries: "zero" or "null"


@dataclass(frozen=True)
class Profile:
    name: str
    half: str
    seed: int
    industry: str
    company: str
    brand: str
    stem: str                      # latin name for the company's domains
    start: dt.date
    days: int
    branches: tuple[Branch, ...]
    open_days: tuple[int, ...]     # weekdays the business is open (Monday = 0)
    rota: bool                     # staff rest on rotating weekdays (else on the closed days)
    hours: tuple[float, float]     # local working hours
    holidays: tuple[tuple[int, str], ...]  # (day, "closed" | "busy")
    userid_style: str              # "pinyin" | "dotted" | "number"
    managers_sell: bool
    orders_per_day: tuple[float, float]   # a salesperson's own mean, drawn per person in this range
    qty: tuple[int, int]
    new_share: float               # share of orders from customers new this month
    conversion: float              # share of new contacts that ever buy
    conversion_lag_days: float
    customers_per_staff: tuple[int, int]
    followups_per_day: tuple[float, float]
    inbound_rate: float            # chance an own customer writes on a given day
    customer_reply_min: float      # median minutes a customer takes to answer
    staff_reply_min: float         # median working minutes a salesperson takes to answer
    night_share: float             # customer messages written after hours
    approval: str                  # "all" | "large" | "rare"
    approval_quantile: float       # "large": the share of orders below the approval line
    approval_chain: tuple[str, ...]  # ("manager", "finance") or ("manager",)
    approval_delay_min: float      # median working minutes per approval step
    commission: Commission
    crm_style: str                 # "full": every order event repeats the order; "sparse": ids and amounts only
    details_missing: float         # share of ordinary orders lacking phone or address (walk-in sales)
    pay_delay_h: float             # median hours from order to payment (after approvals)
    cancel_rate: float
    refund_rate: float
    promotions: tuple[tuple[int, str, float], ...]  # (day, "company" | "branch" | "team", lift)
    high_performers: float         # share of salespeople selling 2-3x the median
    new_hires: int
    resignations: int              # proper resignations with handover
    handovers: int                 # on-job transfers of part of a book
    group_chats: float             # share of conversations in a customer group with a colleague
    contact_churn: float           # chance per customer per day that the customer deletes the salesperson
    sick_rate: float               # chance per salesperson per working day of sick leave

    def describe(self) -> dict:
        d = asdict(self)
        d["start"] = self.start.isoformat()
        return d


@dataclass(frozen=True)
class Archetype:
    industry: str
    companies: tuple[tuple[str, str, str], ...]   # (company, brand, latin stem)
    cities: tuple[tuple[str, str, str], ...]      # (city, tz, area code); the first ones are home
    far_cities: tuple[tuple[str, str, str], ...]  # a branch in another time zone
    branches: tuple[int, int]
    team_size: tuple[int, int]
    stores_per_branch: tuple[int, int]
    open_days: tuple[tuple[int, ...], ...]
    rota: tuple[bool, ...]
    hours: tuple[tuple[float, float], ...]
    holiday: tuple[str, ...]
    orders_per_day: tuple[float, float]       # range of the company's median salesperson
    spread: tuple[float, float]               # ratio of the busiest to the quietest ordinary salesperson
    qty: tuple[int, int]
    new_share: tuple[float, float]
    conversion: tuple[float, float]
    lag: tuple[float, float]
    customers: tuple[int, int]
    followups: tuple[float, float]
    inbound: tuple[float, float]
    customer_reply: tuple[float, float]
    staff_reply: tuple[float, float]
    night: tuple[float, float]
    approvals: tuple[str, ...]
    approval_quantile: tuple[float, float]    # "large": share of orders below the line
    chains: tuple[tuple[str, ...], ...]
    approval_delay: tuple[float, float]
    commission_kinds: dict[str, str]
    rates: dict[str, tuple[float, float]]
    store_bonus: tuple[float, float]
    tier_bonus: tuple[float, float]
    details_missing: tuple[float, float]
    pay_delay: tuple[float, float]
    cancel: tuple[float, float]
    refund: tuple[float, float]
    promotions: tuple[int, int]
    promo_lift: tuple[float, float]
    group_chats: tuple[float, float]


ARCHETYPES: dict[str, Archetype] = {
    "jiaju": Archetype(
        industry="furniture",
        companies=(("悦居家居集团有限公司", "悦居", "yueju-home"), ("森朗家具股份有限公司", "森朗", "senlang"),
                   ("栖木全屋定制有限公司", "栖木", "qimu-custom")),
        cities=(("杭州", "Asia/Shanghai", "0571"), ("成都", "Asia/Shanghai", "028"), ("武汉", "Asia/Shanghai", "027"),
                ("南京", "Asia/Shanghai", "025")),
        far_cities=(("乌鲁木齐", "Asia/Urumqi", "0991"), ("喀什", "Asia/Urumqi", "0998")),
        branches=(3, 5), team_size=(4, 12), stores_per_branch=(1, 3),
        open_days=((0, 1, 2, 3, 4, 5, 6),), rota=(True,), hours=((9.5, 21.0), (10.0, 21.5), (9.0, 20.0)),
        holiday=("busy",), orders_per_day=(0.4, 1.2), spread=(2.0, 3.5), qty=(1, 2),
        new_share=(0.35, 0.6), conversion=(0.12, 0.3), lag=(2.0, 9.0), customers=(90, 200),
        followups=(6.0, 14.0), inbound=(0.01, 0.03), customer_reply=(40.0, 240.0), staff_reply=(8.0, 45.0),
        night=(0.15, 0.3), approvals=("all", "large"), approval_quantile=(0.6, 0.85),
        chains=(("manager", "finance"), ("manager",)), approval_delay=(20.0, 120.0),
        commission_kinds={c: "percent" for c in ("sofa", "bed", "mattress", "table", "chair", "custom", "cabinet", "deco")},
        rates={"sofa": (0.02, 0.04), "bed": (0.02, 0.04), "mattress": (0.03, 0.06), "table": (0.02, 0.035),
               "chair": (0.02, 0.04), "custom": (0.015, 0.03), "cabinet": (0.02, 0.04), "deco": (0.04, 0.08)},
        store_bonus=(0.0, 0.01), tier_bonus=(0.003, 0.01), details_missing=(0.01, 0.05), pay_delay=(2.0, 30.0),
        cancel=(0.03, 0.08), refund=(0.01, 0.04), promotions=(2, 4), promo_lift=(2.0, 4.0), group_chats=(0.0, 0.1),
    ),
    "auto4s": Archetype(
        industry="auto4s",
        companies=(("锦程汽车销售服务有限公司", "锦程", "jincheng-auto"), ("驰远汽车4S店", "驰远", "chiyuan-motor"),
                   ("安驰汽车集团", "安驰", "anchi-auto")),
        cities=(("苏州", "Asia/Shanghai", "0512"), ("佛山", "Asia/Shanghai", "0757"), ("郑州", "Asia/Shanghai", "0371")),
        far_cities=(("乌鲁木齐", "Asia/Urumqi", "0991"), ("伊宁", "Asia/Urumqi", "0999")),
        branches=(2, 4), team_size=(5, 15), stores_per_branch=(1, 1),
        open_days=((0, 1, 2, 3, 4, 5, 6),), rota=(True,), hours=((8.5, 18.5), (9.0, 19.0)),
        holiday=("busy",), orders_per_day=(0.3, 0.9), spread=(2.0, 3.0), qty=(1, 1),
        new_share=(0.2, 0.45), conversion=(0.05, 0.15), lag=(5.0, 15.0), customers=(120, 260),
        followups=(10.0, 25.0), inbound=(0.008, 0.02), customer_reply=(60.0, 300.0), staff_reply=(10.0, 60.0),
        night=(0.1, 0.25), approvals=("all",), approval_quantile=(0.5, 0.5),
        chains=(("manager", "finance"),), approval_delay=(30.0, 180.0),
        commission_kinds={"vehicle": "per_unit", "insurance": "percent", "accessory": "percent", "service": "percent"},
        rates={"vehicle": (300.0, 1500.0), "insurance": (0.03, 0.08), "accessory": (0.05, 0.12), "service": (0.02, 0.06)},
        store_bonus=(0.0, 0.01), tier_bonus=(0.0, 0.005), details_missing=(0.05, 0.2), pay_delay=(24.0, 96.0),
        cancel=(0.04, 0.1), refund=(0.005, 0.02), promotions=(1, 3), promo_lift=(2.0, 3.5), group_chats=(0.1, 0.3),
    ),
    "meizhuang": Archetype(
        industry="cosmetics",
        companies=(("澜颜化妆品连锁有限公司", "澜颜", "lanyan-beauty"), ("沐芙美妆", "沐芙", "mufu-cosme"),
                   ("黛拾生物科技（化妆品）", "黛拾", "daishi-skin")),
        cities=(("上海", "Asia/Shanghai", "021"), ("广州", "Asia/Shanghai", "020"), ("长沙", "Asia/Shanghai", "0731"),
                ("重庆", "Asia/Shanghai", "023")),
        far_cities=(("吉隆坡", "Asia/Kuala_Lumpur", "+60-3"), ("东京", "Asia/Tokyo", "+81-3")),
        branches=(3, 5), team_size=(2, 7), stores_per_branch=(2, 4),
        open_days=((0, 1, 2, 3, 4, 5, 6),), rota=(True,), hours=((10.0, 22.0), (10.0, 21.5)),
        holiday=("busy",), orders_per_day=(4.0, 12.0), spread=(2.0, 4.0), qty=(1, 3),
        new_share=(0.2, 0.4), conversion=(0.25, 0.5), lag=(0.5, 3.0), customers=(220, 480),
        followups=(10.0, 25.0), inbound=(0.02, 0.05), customer_reply=(3.0, 20.0), staff_reply=(2.0, 12.0),
        night=(0.2, 0.4), approvals=("rare", "large"), approval_quantile=(0.95, 0.99),
        chains=(("manager",),), approval_delay=(10.0, 60.0),
        commission_kinds={c: "percent" for c in ("skincare", "makeup", "mask", "suncare", "gift")},
        rates={"skincare": (0.05, 0.1), "makeup": (0.06, 0.12), "mask": (0.03, 0.08), "suncare": (0.04, 0.08),
               "gift": (0.03, 0.06)},
        store_bonus=(0.0, 0.02), tier_bonus=(0.005, 0.02), details_missing=(0.2, 0.4), pay_delay=(0.05, 0.3),
        cancel=(0.02, 0.05), refund=(0.02, 0.06), promotions=(2, 4), promo_lift=(2.5, 5.0), group_chats=(0.0, 0.0),
    ),
    "muying": Archetype(
        industry="maternal",
        companies=(("贝呵母婴连锁有限公司", "贝呵", "beihe-baby"), ("小禾苗母婴生活馆", "小禾苗", "xiaohemiao"),
                   ("暖宝母婴用品有限公司", "暖宝", "nuanbao-mom")),
        cities=(("合肥", "Asia/Shanghai", "0551"), ("济南", "Asia/Shanghai", "0531"), ("西安", "Asia/Shanghai", "029"),
                ("福州", "Asia/Shanghai", "0591")),
        far_cities=(("乌鲁木齐", "Asia/Urumqi", "0991"), ("阿克苏", "Asia/Urumqi", "0997")),
        branches=(3, 5), team_size=(3, 9), stores_per_branch=(2, 3),
        open_days=((0, 1, 2, 3, 4, 5, 6),), rota=(True,), hours=((9.0, 21.0), (9.5, 21.5)),
        holiday=("busy",), orders_per_day=(3.0, 8.0), spread=(2.0, 3.5), qty=(1, 4),
        new_share=(0.2, 0.35), conversion=(0.3, 0.55), lag=(0.5, 4.0), customers=(150, 380),
        followups=(8.0, 20.0), inbound=(0.01, 0.03), customer_reply=(5.0, 30.0), staff_reply=(3.0, 15.0),
        night=(0.2, 0.35), approvals=("large", "rare"), approval_quantile=(0.9, 0.97),
        chains=(("manager",), ("manager", "finance")), approval_delay=(10.0, 90.0),
        commission_kinds={c: "percent" for c in ("formula", "diaper", "gear", "toy", "clothes", "food")},
        rates={"formula": (0.01, 0.025), "diaper": (0.015, 0.03), "gear": (0.04, 0.08), "toy": (0.04, 0.08),
               "clothes": (0.04, 0.08), "food": (0.02, 0.04)},
        store_bonus=(0.0, 0.01), tier_bonus=(0.003, 0.01), details_missing=(0.1, 0.3), pay_delay=(0.05, 0.5),
        cancel=(0.02, 0.05), refund=(0.01, 0.04), promotions=(2, 4), promo_lift=(2.0, 4.0), group_chats=(0.0, 0.05),
    ),
    "b2b": Archetype(
        industry="b2b_parts",
        companies=(("恒力精工机电有限公司", "恒力精工", "hengli-mech"), ("博远工业配套有限公司", "博远", "boyuan-ind"),
                   ("泰拓传动科技有限公司", "泰拓", "taituo-drive")),
        cities=(("宁波", "Asia/Shanghai", "0574"), ("无锡", "Asia/Shanghai", "0510"), ("天津", "Asia/Shanghai", "022"),
                ("东莞", "Asia/Shanghai", "0769")),
        far_cities=(("曼谷", "Asia/Bangkok", "+66-2"), ("迪拜", "Asia/Dubai", "+971-4"), ("法兰克福", "Europe/Berlin", "+49-69")),
        branches=(3, 4), team_size=(3, 10), stores_per_branch=(1, 1),
        open_days=((0, 1, 2, 3, 4),), rota=(False,), hours=((8.5, 17.5), (9.0, 18.0)),
        holiday=("closed",), orders_per_day=(0.3, 1.0), spread=(2.5, 5.0), qty=(1, 20),
        new_share=(0.05, 0.2), conversion=(0.05, 0.2), lag=(5.0, 20.0), customers=(30, 80),
        followups=(3.0, 9.0), inbound=(0.03, 0.08), customer_reply=(90.0, 600.0), staff_reply=(20.0, 120.0),
        night=(0.05, 0.15), approvals=("all", "large"), approval_quantile=(0.6, 0.85),
        chains=(("manager", "finance"), ("manager",)), approval_delay=(60.0, 300.0),
        commission_kinds={c: "percent" for c in ("bearing", "valve", "pump", "motor", "control", "hydraulic")},
        rates={"bearing": (0.01, 0.025), "valve": (0.01, 0.03), "pump": (0.008, 0.02), "motor": (0.008, 0.02),
               "control": (0.015, 0.035), "hydraulic": (0.01, 0.03)},
        store_bonus=(0.0, 0.0), tier_bonus=(0.002, 0.006), details_missing=(0.0, 0.02), pay_delay=(48.0, 480.0),
        cancel=(0.02, 0.06), refund=(0.005, 0.02), promotions=(1, 2), promo_lift=(1.5, 2.5), group_chats=(0.2, 0.5),
    ),
}

PROFILE_NAMES = tuple(ARCHETYPES)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, ("companies", CORPUS_VERSION, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _u(rng: random.Random, lo_hi: tuple[float, float], digits: int = 4) -> float:
    lo, hi = lo_hi
    return round(rng.uniform(lo, hi), digits)


def _teams(rng: random.Random, a: Archetype, n_branches: int, staff: int) -> list[list[int]]:
    """Team sizes per branch adding up to about `staff` salespeople, each within the archetype's range."""
    lo, hi = a.team_size
    sizes: list[int] = []
    while sum(sizes) < staff:
        sizes.append(rng.randint(lo, hi))
    sizes[-1] = max(2, sizes[-1] - (sum(sizes) - staff))
    out: list[list[int]] = [[] for _ in range(n_branches)]
    for i, s in enumerate(sorted(sizes, reverse=True)):
        out[i % n_branches].append(s)
    return [b for b in out if b] or [[staff]]


def draw(name: str, half: str, staff: int = 110, days: int = 28) -> Profile:
    """The `half` ("dev", "dev2" or "test") draw of archetype `name`, for about `staff` salespeople
    and `days` days."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, got {half!r}")
    a = ARCHETYPES[name]
    rng = _rng(name, half)
    company, brand, stem = rng.choice(a.companies)
    n_branches = rng.randint(*a.branches)
    teams = _teams(rng, a, n_branches, staff)
    homes = rng.sample(a.cities, min(len(a.cities), len(teams) - 1))
    far = rng.choice(a.far_cities)
    places = [*homes, far]
    branches = []
    for i, sizes in enumerate(teams):
        city, tz, area = places[i % len(places)]
        bid = f"{stem.split('-')[0][:2].upper()}{i + 1:02d}"
        n_stores = rng.randint(*a.stores_per_branch)
        branches.append(Branch(bid, f"{city}分公司", city, tz, area,
                               tuple(f"{bid}-S{j + 1}" for j in range(n_stores)), tuple(sizes)))
    start = dt.date(2026, 1, 5) + dt.timedelta(days=rng.randrange(0, 300))
    holidays = tuple(sorted({(rng.randrange(3, days - 2), rng.choice(a.holiday)) for _ in range(rng.randint(1, 2))}))
    kinds = dict(a.commission_kinds)
    rates = {c: _u(rng, r, 4 if kinds[c] == "percent" else 0) for c, r in a.rates.items()}
    store_bonus = {s: _u(rng, a.store_bonus) for b in branches for s in b.stores}
    tier_amount = rng.choice((1.0, 1.5, 2.0))  # in multiples of the median salesperson's month
    tiers = ((tier_amount, _u(rng, a.tier_bonus)),) if rng.random() < 0.7 else ()
    approval = rng.choice(a.approvals)
    open_days = rng.choice(a.open_days)
    n_promos = rng.randint(*a.promotions)
    promotions = tuple(sorted((rng.randrange(5, days - 3), rng.choice(("company", "branch", "team")),
                               _u(rng, a.promo_lift, 2)) for _ in range(n_promos)))
    median_rate = _u(rng, a.orders_per_day, 3)
    spread = _u(rng, a.spread, 2)
    return Profile(
        name=name, half=half, seed=rng.randrange(1 << 30), industry=a.industry, company=company, brand=brand,
        stem=stem, start=start, days=days, branches=tuple(branches), open_days=open_days, rota=rng.choice(a.rota),
        hours=rng.choice(a.hours), holidays=holidays, userid_style=rng.choice(("pinyin", "dotted", "number")),
        managers_sell=rng.random() < 0.5,
        orders_per_day=(round(median_rate / spread ** 0.5, 3), round(median_rate * spread ** 0.5, 3)),
        qty=a.qty, new_share=_u(rng, a.new_share), conversion=_u(rng, a.conversion),
        conversion_lag_days=_u(rng, a.lag, 1),
        customers_per_staff=(a.customers[0], rng.randint(a.customers[0] + 10, a.customers[1])),
        followups_per_day=(lambda f: (round(f * 0.6, 1), round(f * 1.4, 1)))(_u(rng, a.followups, 1)),
        inbound_rate=_u(rng, a.inbound), customer_reply_min=_u(rng, a.customer_reply, 1),
        staff_reply_min=_u(rng, a.staff_reply, 1), night_share=_u(rng, a.night, 3),
        approval=approval, approval_quantile=_u(rng, a.approval_quantile, 3),
        approval_chain=rng.choice(a.chains), approval_delay_min=_u(rng, a.approval_delay, 1),
        commission=Commission(kinds, rates, store_bonus, tiers, rng.choice(("zero", "null"))),
        crm_style=rng.choice(("full", "sparse")), details_missing=_u(rng, a.details_missing, 3),
        pay_delay_h=_u(rng, a.pay_delay, 2), cancel_rate=_u(rng, a.cancel, 3), refund_rate=_u(rng, a.refund, 3),
        promotions=promotions, high_performers=_u(rng, (0.06, 0.15), 3), new_hires=rng.randint(2, 5),
        resignations=rng.randint(1, 3), handovers=rng.randint(1, 3), group_chats=_u(rng, a.group_chats, 3),
        contact_churn=_u(rng, (0.0003, 0.0015), 5), sick_rate=_u(rng, (0.005, 0.02), 4),
    )
