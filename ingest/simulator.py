"""A simulated company: branches, teams, managers, salespeople and their customers, day by day.

`paodan simulate` produces its traffic to all four input topics (`wecom.msgaudit`, `wecom.contacts`,
`crm.orders`, `hr.events`), or with `--out` writes it in the replay format (CONTRACT.md §8). The same
`--seed` gives the same company and the same traffic, record for record.

The company works like one: weekday working hours (09:00–18:00 Asia/Shanghai) with check-ins, a quiet
weekend, customers who write at night and get their answer the next morning, orders that are created,
approved by the manager when large, paid, sometimes cancelled or refunded, new customers who are added
and sometimes buy, occasional leave, a promotion day that lifts everyone's orders, a handover and a
proper resignation. Into that, `ingest/scenarios.py` plants one salesperson per diversion pattern
(`PLANTED`) and a few look-alikes that must not be flagged (`HARD_NEGATIVES`); `world.staff` says who
is who, so tests can measure recall per pattern and precision.

Live mode (`produce_live`) sends the simulated days ending now, at `rate` records per second, then
keeps going in real time (event time = wall time) with ordinary traffic.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import random
import time
import zlib
from dataclasses import dataclass, field
from typing import Iterator

import orjson

from formats.topics import CONTACTS, HR, MSGAUDIT, ORDERS
from ingest import scenarios

CORPID = "wwpaodan0000000001"
DAY_MS = 86_400_000
MIN_MS = 60_000
TZ_OFFSET_MS = 8 * 3_600_000  # Asia/Shanghai, no DST
BRANCHES = {"SH-01": ["华东一组", "华东二组"], "BJ-01": ["华北一组", "华北二组"], "GZ-01": ["华南一组"]}
STORE_RATE = {"GZ-01": 0.035}  # matches config/rules.yaml commission.by_store; others 0.03
NAMES = ["zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi", "zhouba", "wujiu", "zhengshi", "chenyi",
         "linger", "huangsan", "yangsi", "liuwu", "gaoliu", "heqi", "luoba", "songjiu", "xushi"]

EMPLOYEE_LINES = ["您好，请问有什么可以帮您？", "这款今天有满减活动，官方旗舰店下单就行。", "已经帮您备注加急发货了。",
                  "收到，稍后给您发电子发票。", "明天下午三点前可以送到。", "这个型号库存还有 12 件。",
                  "您在我们小程序里下单就能用优惠券。", "售后问题可以拨打 400 热线。"]
CUSTOMER_LINES = ["这个多少钱？", "什么时候能发货？", "拼多多上好像更便宜啊", "有没有优惠？",
                  "淘宝上看到同款了，你们的是正品吗？", "发票怎么开？", "可以开专票吗", "上次买的还不错，还有货吗？"]
CLOSERS = ["好的谢谢", "收到", "好的", "谢谢"]
DIVERSION_LINES = ["你去拼多多搜我们店名，去拼多多下单便宜两百", "加我私人微信 chen_888，私下交易更划算",
                   "公司价格太高了，直接转我账上，我给你发货", "这单走我自己的店，给你返现 100",
                   "别在这拍了，去 淘 宝 拍，链接我私聊我发你", "扫我的收款码付款就行，比公司便宜"]


@dataclass
class Employee:
    userid: str
    name: str
    team: str
    branch: str
    manager_id: str
    role: str = "sales"
    pattern: str = ""          # planted pattern (scenarios.PLANTED) or hard negative (scenarios.HARD_NEGATIVES)
    base_orders: float = 2.0   # own daily order rate
    diverter: bool = False     # kept for older callers: a planted chat-content diverter

    @property
    def manager(self) -> bool:
        return self.role == "manager"


@dataclass
class World:
    seed: int
    start: int                 # UTC ms of local midnight of day 0
    days: int
    prefix: str
    staff: list[Employee]
    own: dict[str, list[str]] = field(default_factory=dict)      # employee -> own customers (in order)
    new: dict[str, list[str]] = field(default_factory=dict)      # employee -> new customers not yet bought
    ghosted: set[str] = field(default_factory=set)               # customers an employee stopped writing to
    partners: dict[str, list[str]] = field(default_factory=dict)  # scenario -> team-mates it involves
    promotion_day: int = -1
    seq: int = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def work_day(self, n: int) -> int:
        """The day index of the n-th working day (0-based) from the start."""
        d, seen = 0, -1
        while True:
            if _weekday(self.start, d) < 5:
                seen += 1
                if seen == n:
                    return d
            d += 1

    def by_id(self, userid: str) -> Employee:
        return next(e for e in self.staff if e.userid == userid)


def _weekday(start: int, day: int) -> int:
    local_days = (start + TZ_OFFSET_MS) // DAY_MS + day
    return (local_days + 3) % 7


def local_midnight(ms: int) -> int:
    return (ms + TZ_OFFSET_MS) // DAY_MS * DAY_MS - TZ_OFFSET_MS


def _customer_id(world_seed: int, prefix: str, owner: str, i: int) -> str:
    digest = hashlib.sha1(f"{prefix}|{world_seed}|{owner}|{i}".encode()).hexdigest()
    return "wm" + digest[:26]


def build(seed: int = 7, size: int = 40, start_ms: int = 1_764_172_800_000, days: int = 28,
          prefix: str = "") -> World:
    """The company: `size` employees in five teams (the first of each team its manager), ~25 customers
    per salesperson, and the planted scenarios assigned to distinct salespeople."""
    teams = [(b, t) for b, ts in BRANCHES.items() for t in ts]
    staff: list[Employee] = []
    rng = random.Random(seed)
    for i in range(size):
        branch, team = teams[i % len(teams)]
        base = NAMES[i % len(NAMES)]
        userid = prefix + (base if i < len(NAMES) else f"{base}{i // len(NAMES)}")
        team_name = team + (f"-{prefix.rstrip('-_')}" if prefix else "")
        manager = next((e for e in staff if e.team == team_name), None)
        staff.append(Employee(userid, base, team_name, branch, manager.userid if manager else "",
                              role="sales" if manager else "manager",
                              base_orders=round(rng.uniform(1.6, 2.6), 2)))
    world = World(seed=seed, start=local_midnight(start_ms), days=days, prefix=prefix, staff=staff)
    world.promotion_day = world.work_day(13)
    scenarios.assign(world, rng)
    for e in staff:
        if not e.manager:
            world.own[e.userid] = [_customer_id(seed, prefix, e.userid, i) for i in range(25)]
            world.new[e.userid] = []
    return world


# --- record builders ------------------------------------------------------------------------------

def chat(world: World, e: Employee, customer: str, ts: int, outbound: bool, text: str) -> tuple:
    n = world.next_seq()
    sender, to = (e.userid, customer) if outbound else (customer, e.userid)
    return (MSGAUDIT, e.userid, {
        "msgid": f"sim{world.prefix}{world.seed}-{n:08d}_external", "action": "send", "from": sender,
        "tolist": [to], "roomid": "", "msgtime": ts, "msgtype": "text", "text": {"content": text},
        "corpid": CORPID, "seq": n})


def contact(e: Employee, customer: str, ts: int, change: str, **extra) -> tuple:
    value = {"ToUserName": CORPID, "FromUserName": "sys", "CreateTime": ts // 1000, "MsgType": "event",
             "Event": "change_external_contact", "ChangeType": change, "UserID": e.userid,
             "ExternalUserID": customer}
    value.update(extra)
    return (CONTACTS, e.userid, value)


def hr(e: Employee, kind: str, ts: int, **fields) -> tuple:
    return (HR, e.userid, {"type": kind, "ts": ts, "employee_id": e.userid, **fields})


def order(e: Employee, oid: str, event: str, ts: int, customer: str, amount: float, *, complete: bool = True,
          approver: str | None = None, commission: float | None = None, sku: str = "C-100") -> tuple:
    details = {"name": "王女士", "phone": "13800000000", "address": "上海市浦东新区世纪大道 100 号"}
    if not complete:
        details = {"name": "王女士", "phone": "", "address": ""}
    return (ORDERS, e.userid, {
        "order_id": oid, "event": event, "ts": ts, "employee_id": e.userid, "customer_id": customer,
        "amount": f"{amount:.2f}", "currency": "CNY", "store_id": e.branch, "customer": details,
        "approver_id": approver, "commission": None if commission is None else f"{commission:.2f}",
        "items": [{"sku": sku, "qty": 1, "price": f"{amount:.2f}"}]})


def policy_commission(e: Employee, amount: float) -> float:
    return round(amount * STORE_RATE.get(e.branch, 0.03), 2)


def directory_record(e: Employee, ts: int, status: str = "active") -> tuple:
    return hr(e, "employee", ts, name=e.name, team=e.team, branch=e.branch, manager_id=e.manager_id or None,
              role=e.role, status=status, timezone="Asia/Shanghai")


# --- one employee's day ---------------------------------------------------------------------------

class Day:
    """Builds one employee's events for one day; `emit` collects (ts, record)."""

    def __init__(self, world: World, e: Employee, day: int, out: list):
        self.w, self.e, self.day, self.out = world, e, day, out
        self.rng = random.Random(world.seed * 1_000_003 + zlib.crc32(e.userid.encode()) * 101 + day)
        self.d0 = world.start + day * DAY_MS
        self.orders = 0
        self.touch_sales = True

    def at(self, hour: float, minute: float = 0) -> int:
        return self.d0 + int((hour * 60 + minute) * MIN_MS)

    def work_time(self, lo: float = 9.25, hi: float = 17.25) -> int:
        return self.at(self.rng.uniform(lo, hi))

    def emit(self, record: tuple) -> None:
        ts = record[2].get("msgtime") or record[2].get("ts") or record[2]["CreateTime"] * 1000
        self.out.append((ts, record))

    def own(self) -> list[str]:
        return self.w.own[self.e.userid]

    def reachable(self) -> list[str]:
        """Own customers the employee still writes to (a planted script may have stopped some)."""
        return [c for c in self.own() if c not in self.w.ghosted]

    def follow_up(self, factor: float = 1.0) -> None:
        own = self.reachable()
        k = max(0, round(len(own) * 0.24 * factor + self.rng.gauss(0, 0.6)))
        for c in self.rng.sample(own, min(k, len(own))):
            self.conversation(c)

    def conversation(self, c: str, when: int | None = None) -> None:
        t = when or self.work_time()
        if self.rng.random() < 0.5:
            self.emit(chat(self.w, self.e, c, t, False, self.rng.choice(CUSTOMER_LINES)))
            t += int(self.rng.uniform(2, 35) * MIN_MS)
            self.emit(chat(self.w, self.e, c, t, True, self.rng.choice(EMPLOYEE_LINES)))
        else:
            self.emit(chat(self.w, self.e, c, t, True, self.rng.choice(EMPLOYEE_LINES)))
        if self.rng.random() < 0.6:
            self.emit(chat(self.w, self.e, c, t + int(self.rng.uniform(1, 20) * MIN_MS), False,
                           self.rng.choice(CLOSERS)))

    def night_messages(self, share: float = 0.06) -> None:
        """Customers who write in the evening get their answer the next working morning."""
        nxt = self.day + 1
        while _weekday(self.w.start, nxt) >= 5:
            nxt += 1
        for c in self.reachable():
            if self.rng.random() < share:
                self.emit(chat(self.w, self.e, c, self.at(self.rng.uniform(19.5, 22.5)), False,
                               self.rng.choice(CUSTOMER_LINES)))
                reply = self.w.start + nxt * DAY_MS + int((9 * 60 + self.rng.uniform(5, 40)) * MIN_MS)
                self.emit(chat(self.w, self.e, c, reply, True, "早上好，昨晚的问题：" + self.rng.choice(EMPLOYEE_LINES)))

    def new_order_id(self) -> str:
        self.orders += 1
        return f"SO-{self.w.prefix}{self.w.seed}-{self.e.userid}-{self.day:03d}-{self.orders:02d}"

    def sale(self, customer: str, *, amount: float | None = None, t: int | None = None, complete: bool = True,
             approver: str | None = "manager", commission: float | None = None, paid: bool = True,
             refund_keep: bool = False, sku: str = "C-100", touch: bool = True, cancel_ok: bool = True) -> str:
        """One order's life: created, approval when large, paid (or cancelled), maybe refunded."""
        rng, e = self.rng, self.e
        t = t or self.work_time(9.5, 16.5)
        amount = amount if amount is not None else round(min(12_000, max(200, rng.lognormvariate(7.2, 0.7))), 2)
        oid = self.new_order_id()
        if touch:
            self.emit(chat(self.w, e, customer, t - 10 * MIN_MS, True, "订单已为您创建，请核对收货信息。"))
        self.emit(order(e, oid, "created", t, customer, amount, complete=complete, sku=sku))
        if not paid:
            return oid
        if approver == "manager":
            approver = e.manager_id
        if cancel_ok and rng.random() < 0.05 and commission is None and not refund_keep:
            self.emit(order(e, oid, "cancelled", t + int(rng.uniform(60, 600) * MIN_MS), customer, amount))
            return oid
        pay_at = t + int(rng.uniform(10, 240) * MIN_MS)
        if amount >= 5000 and approver:
            self.emit(order(e, oid, "submitted", t + 5 * MIN_MS, customer, amount))
            self.emit(order(e, oid, "approved", t + 30 * MIN_MS, customer, amount, approver=approver))
            pay_at = t + int(rng.uniform(40, 240) * MIN_MS)
        claimed = commission if commission is not None else policy_commission(e, amount)
        self.emit(order(e, oid, "paid", pay_at, customer, amount, commission=claimed, sku=sku))
        if refund_keep:
            self.emit(order(e, oid, "refunded", pay_at + int(rng.uniform(60, 300) * MIN_MS), customer, amount,
                            commission=claimed))
        elif rng.random() < 0.02:
            self.emit(order(e, oid, "refunded", pay_at + 2 * DAY_MS, customer, amount, commission=0.0))
        return oid

    def sell(self, factor: float = 1.0, repeat_factor: float = 1.0, new_conversion: float = 0.3) -> None:
        """New customers decide once (buy with `new_conversion`), then existing customers buy again."""
        pool = self.w.new[self.e.userid]
        while pool:
            c = pool.pop(0)
            if self.rng.random() < new_conversion:
                self.sale(c, complete=self.rng.random() > 0.03, touch=self.touch_sales)
        n = max(0, round(self.e.base_orders * factor * repeat_factor + self.rng.gauss(0, 0.55)))
        own = self.reachable()
        for c in self.rng.sample(own, min(n, len(own))):  # one order per customer a day
            self.sale(c, complete=self.rng.random() > 0.03, touch=self.touch_sales)

    def new_customers(self, p: float = 0.45) -> None:
        if self.rng.random() < p:
            c = _customer_id(self.w.seed, self.w.prefix, self.e.userid, 1000 + self.day * 10 + self.rng.randrange(10))
            if c in self.own():
                return
            t = self.work_time(9.0, 9.25)  # before the day's selling starts
            self.emit(contact(self.e, c, t, "add_external_contact", State="sim", WelcomeCode="W1"))
            self.emit(chat(self.w, self.e, c, t + 2 * MIN_MS, True, "您好，我是您的专属顾问，有需要随时找我。"))
            self.own().append(c)
            self.w.new[self.e.userid].append(c)

    def noise(self) -> None:
        rng = self.rng
        if rng.random() < 0.05 and self.own():
            c = self.rng.choice(self.own())
            self.emit(contact(self.e, c, self.work_time(), "del_external_contact"))
            self.own().remove(c)
        if rng.random() < 0.08:
            self.emit(contact(self.e, "wm" + hashlib.sha1(f"{self.e.userid}{self.day}".encode()).hexdigest()[:26],
                              self.work_time(), "del_follow_user"))

    def ordinary(self, follow: float = 1.0, sell: float = 1.0, repeat: float = 1.0, conv: float = 0.3,
                 new_p: float = 0.45) -> None:
        e = self.e
        self.emit(hr(e, "checkin", self.at(8.75, self.rng.uniform(0, 20)), checkin_type="上班打卡", exception_type=""))
        self.emit(hr(e, "checkin", self.at(18, self.rng.uniform(0, 30)), checkin_type="下班打卡", exception_type=""))
        if e.manager:
            return
        self.follow_up(follow)
        self.night_messages(0.15 if e.pattern == "hn.night_owl" else 0.04)
        self.new_customers(new_p)
        promo = 3.0 if self.day == self.w.promotion_day else 1.0
        self.sell(sell * promo, repeat, conv)
        self.noise()

    def weekend(self) -> None:
        if self.e.manager or self.rng.random() > 0.25:
            return
        own = self.reachable()
        for c in self.rng.sample(own, min(2, len(own))):
            self.conversation(c, self.at(self.rng.uniform(10, 16)))


def day_records(world: World, day: int) -> list[tuple[int, tuple]]:
    out: list = []
    scenarios.before_day(world, day, out)
    for e in world.staff:
        d = Day(world, e, day, out)
        if scenarios.play(world, d):  # a planted script replaced or extended the ordinary day
            continue
        if _weekday(world.start, day) >= 5:
            d.weekend()
        elif d.rng.random() < 0.02 and not e.manager:
            d.emit(hr(e, "leave", d.at(8), start=d.at(9), end=d.at(18), leave_type="事假"))
        else:
            d.ordinary()
    return out


def records(world: World, days: int | None = None, first_day: int = 0) -> Iterator[tuple[str, str, dict]]:
    """Every record in event-time order: the directory and customer allocation before day 0, then the
    days (those before `first_day` are simulated but not sent: a slice of the company's life)."""
    before = world.start - 45 * DAY_MS
    heap: list = []
    n = 0
    for e in world.staff:
        heapq.heappush(heap, (before, n, directory_record(e, before)))
        n += 1
    for e in world.staff:
        for i, c in enumerate(world.own.get(e.userid, [])):
            heapq.heappush(heap, (before + DAY_MS + i * MIN_MS, n,
                                  hr(e, "assignment", before + DAY_MS + i * MIN_MS, customer_id=c, reason="allocation")))
            n += 1
    total_days = world.days if days is None else days
    day = 0
    while total_days < 0 or day < total_days:
        for ts, rec in day_records(world, day):
            heapq.heappush(heap, (ts, n, rec))
            n += 1
        limit = world.start + (day + 1) * DAY_MS
        while heap and heap[0][0] < limit:
            ts, _, rec = heapq.heappop(heap)
            if ts >= world.start + first_day * DAY_MS or ts < world.start:
                yield rec
        day += 1
    while heap:
        yield heapq.heappop(heap)[2]


def replay_lines(seed: int, count: int | None, start_ms: int, size: int = 40, days: int = 28,
                 prefix: str = "") -> Iterator[bytes]:
    """The company's traffic in the replay format; `count` caps the number of records (None: all)."""
    world = build(seed, size, start_ms, days, prefix)
    for i, (topic, key, value) in enumerate(records(world)):
        if count is not None and i >= count:
            return
        yield orjson.dumps({"topic": topic, "key": key, "value": value})


async def produce_live(bootstrap: str, seed: int, rate: float, duration_s: float | None = None,
                       size: int = 40, quiet: bool = False, days: int = 28, prefix: str = "",
                       chatter_rate: float = 0.0) -> int:
    """Produce the simulated days ending now at up to `rate` records/s, then real-time traffic.

    With `chatter_rate` > 0, once the history has been sent, live chat (event time = now) is added at
    that many records/s: ordinary exchanges, and now and then a diversion line from one salesperson
    per team — so a board (every supervisor's team included) keeps showing new alerts in a demo.
    """
    from aiokafka import AIOKafkaProducer

    now = int(time.time() * 1000)
    world = build(seed, size, local_midnight(now) - days * DAY_MS, days=-1, prefix=prefix)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    sent = 0
    began = time.monotonic()
    chatter: asyncio.Task | None = None
    try:
        for topic, key, value in records(world, days=-1):
            ts = value.get("msgtime") or value.get("ts") or value.get("CreateTime", 0) * 1000
            wait_event = (ts - int(time.time() * 1000)) / 1000  # caught up with the present: real time
            if wait_event > 0 and chatter is None and chatter_rate > 0:
                if not quiet:
                    print(f"[simulate] history sent ({sent} records); live traffic from now on", flush=True)
                chatter = asyncio.create_task(_chatter(world, producer, chatter_rate, seed))
            wait_rate = began + sent / rate - time.monotonic()
            delay = max(wait_event, wait_rate)
            if duration_s is not None and time.monotonic() + max(0, delay) - began >= duration_s:
                # The next record falls after the end: keep the live chat going until the end.
                await asyncio.sleep(max(0.0, began + duration_s - time.monotonic()))
                break
            if delay > 0:
                await asyncio.sleep(delay)
            await producer.send(topic, key=key.encode(), value=orjson.dumps(value))
            sent += 1
            if not quiet and sent % max(1, int(rate * 10)) == 0:
                print(f"[simulate] {sent} records sent", flush=True)
    finally:
        if chatter is not None:
            chatter.cancel()
            await asyncio.gather(chatter, return_exceptions=True)
        await producer.stop()
    return sent


async def _chatter(world: World, producer, rate: float, seed: int) -> None:
    """Live chat at `rate` records/s; one salesperson per team now and then steers a customer away."""
    rng = random.Random(seed * 31 + 7)
    sales = [e for e in world.staff if not e.manager and world.own.get(e.userid)]
    steerers = {e.team: e for e in sorted(sales, key=lambda e: e.userid)}  # one per team, deterministic
    n = 0
    while True:
        e = rng.choice(sales)
        customer = rng.choice(world.own[e.userid])
        ts = int(time.time() * 1000)
        if steerers.get(e.team) is e and rng.random() < 0.25:
            rec = chat(world, e, customer, ts, True, rng.choice(DIVERSION_LINES))
        elif rng.random() < 0.5:
            rec = chat(world, e, customer, ts, True, rng.choice(EMPLOYEE_LINES))
        else:
            rec = chat(world, e, customer, ts, False, rng.choice(CUSTOMER_LINES))
        topic, key, value = rec
        value["msgid"] = f"simlive{world.prefix}-{ts}-{n}_external"  # unique across demo runs too
        await producer.send(topic, key=key.encode(), value=orjson.dumps(value))
        n += 1
        await asyncio.sleep(rng.expovariate(rate))
