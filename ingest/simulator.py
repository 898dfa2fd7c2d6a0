"""A simulated company: employees in teams and branches chatting with customers over WeCom.

`paodan simulate` produces its traffic live to the input topics (event time = now), or with `--out`
writes it in the replay format (CONTRACT.md §8). The same `--seed` gives the same company and the same
conversation. A few employees are planted diverters who, now and then, steer a customer to another
platform or to a private payment; customers who merely name a competitor are the hard negatives.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Iterator

import orjson

CORPID = "wwpaodan0000000001"
BRANCHES = {"SH-01": ["华东一组", "华东二组"], "BJ-01": ["华北一组"]}
NAMES = ["zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi", "zhouba", "wujiu", "zhengshi", "chenyi",
         "linger", "huangsan", "yangsi", "liuwu", "gaoliu", "heqi", "luoba", "songjiu", "xushi"]

EMPLOYEE_LINES = ["您好，请问有什么可以帮您？", "这款今天有满减活动，官方旗舰店下单就行。", "已经帮您备注加急发货了。",
                  "收到，稍后给您发电子发票。", "明天下午三点前可以送到。", "这个型号库存还有 12 件。",
                  "您在我们小程序里下单就能用优惠券。", "售后问题可以拨打 400 热线。"]
CUSTOMER_LINES = ["这个多少钱？", "什么时候能发货？", "拼多多上好像更便宜啊", "有没有优惠？", "好的谢谢",
                  "淘宝上看到同款了，你们的是正品吗？", "发票怎么开？", "可以开专票吗"]
DIVERSION_LINES = ["你去拼多多搜我们店名，去拼多多下单便宜两百", "加我私人微信 chen_888，私下交易更划算",
                   "公司价格太高了，直接转我账上，我给你发货", "这单走我自己的店，给你返现 100",
                   "别在这拍了，去 淘 宝 拍，链接我私聊我发你", "扫我的收款码付款就行，比公司便宜"]


@dataclass(frozen=True)
class Employee:
    userid: str
    name: str
    team: str
    branch: str
    manager_id: str
    diverter: bool


def company(seed: int, size: int = 12) -> list[Employee]:
    rng = random.Random(seed)
    teams = [(b, t) for b, ts in BRANCHES.items() for t in ts]
    out: list[Employee] = []
    for i in range(size):
        branch, team = teams[i % len(teams)]
        base = NAMES[i % len(NAMES)]
        userid = base if i < len(NAMES) else f"{base}{i // len(NAMES)}"
        manager = next((e.userid for e in out if e.team == team), "")
        out.append(Employee(userid, userid, team, branch, manager, diverter=False))
    # Plant diverters deterministically: about one in six, never a team's manager.
    for idx in rng.sample(range(len(out)), k=max(1, size // 6)):
        e = out[idx]
        if e.manager_id:
            out[idx] = Employee(e.userid, e.name, e.team, e.branch, e.manager_id, diverter=True)
    if not any(e.diverter for e in out):
        e = out[-1]
        out[-1] = Employee(e.userid, e.name, e.team, e.branch, e.manager_id, diverter=True)
    return out


def _customer(rng: random.Random) -> str:
    return "wm" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789")
                          for _ in range(26))


def directory_events(staff: list[Employee], ts: int) -> Iterator[tuple[str, str, dict]]:
    for e in staff:
        yield "hr.events", e.userid, {
            "type": "employee", "ts": ts, "employee_id": e.userid, "name": e.name, "team": e.team,
            "branch": e.branch, "manager_id": e.manager_id or None,
            "role": "sales" if e.manager_id else "manager", "status": "active", "timezone": "Asia/Shanghai"}


def chat_events(staff: list[Employee], seed: int, start_ms: int, count: int, step_ms: int = 1000,
                diversion_rate: float = 0.08) -> Iterator[tuple[str, str, dict]]:
    """`count` chat-archive records, one every `step_ms` of event time from `start_ms`."""
    rng = random.Random(seed * 7919 + 1)
    customers = {e.userid: [_customer(rng) for _ in range(5)] for e in staff}
    for i in range(count):
        e = rng.choice(staff)
        cust = rng.choice(customers[e.userid])
        ms = start_ms + i * step_ms
        if e.diverter and rng.random() < diversion_rate * 4:
            sender, to, text = e.userid, cust, rng.choice(DIVERSION_LINES)
        elif rng.random() < 0.5:
            sender, to, text = e.userid, cust, rng.choice(EMPLOYEE_LINES)
        else:
            sender, to, text = cust, e.userid, rng.choice(CUSTOMER_LINES)
        msgid = f"sim{seed}-{i:08d}_external"
        yield "wecom.msgaudit", e.userid, {
            "msgid": msgid, "action": "send", "from": sender, "tolist": [to], "roomid": "",
            "msgtime": ms, "msgtype": "text", "text": {"content": text}, "corpid": CORPID, "seq": i + 1}


def replay_lines(seed: int, count: int, start_ms: int, size: int = 12) -> Iterator[bytes]:
    staff = company(seed, size)
    for topic, key, value in (*directory_events(staff, start_ms - 1), *chat_events(staff, seed, start_ms, count)):
        yield orjson.dumps({"topic": topic, "key": key, "value": value})


async def produce_live(bootstrap: str, seed: int, rate: float, duration_s: float | None = None,
                       size: int = 12, quiet: bool = False) -> int:
    """Produce the company's traffic at `rate` records/s with event time = now; return records sent."""
    from aiokafka import AIOKafkaProducer

    staff = company(seed, size)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=5)
    await producer.start()
    sent = 0
    try:
        now = int(time.time() * 1000)
        for topic, key, value in directory_events(staff, now):
            await producer.send(topic, key=key.encode(), value=orjson.dumps(value))
        await producer.flush()
        began = time.monotonic()
        interval = 1.0 / rate
        # The stream is endless in live mode: chat_events is consumed lazily, event time = wall time.
        for topic, key, value in chat_events(staff, seed, now, count=10**12, step_ms=0):
            value["msgtime"] = int(time.time() * 1000)
            await producer.send(topic, key=key.encode(), value=orjson.dumps(value))
            sent += 1
            if not quiet and sent % max(1, int(rate * 10)) == 0:
                print(f"[simulate] {sent} chat records sent", flush=True)
            if duration_s is not None and time.monotonic() - began >= duration_s:
                break
            delay = began + sent * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    finally:
        await producer.stop()
    return sent
