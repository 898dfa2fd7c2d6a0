"""Fault suite (issue 19): what a poison pill, a killed worker, a stopped or killed ClickHouse, a frozen or
lost Redis and a backlog cost, and whether the worker's memory stays bounded — printed as figures, run
on demand against the local stack.

    .venv/bin/python -m bench.bench_faults [--records 20000] [--size 20] [--seed 7] [--rate 1000]
                                           [--backlog 100000] [--outage-s 60] [--pause-s 30]
                                           [--passes 3] [--malformed 10000]
                                           [--only baseline,poison,kill,clickhouse,backlog,redis-stop,redis,rss]

One fresh `paodan worker` (own application id, so its own consumer groups and internal topics) on the
stack `paodan stack up` runs (the PAODAN_* endpoints in the environment; Kafka, Redis and ClickHouse
all real). The ClickHouse and Redis faults act only on the processes that stack started (their pid
files), stopping or killing them and starting them again with the stack's own `up`. Each company phase
produces a simulated company of its own (ingest/simulator.py, a unique id prefix), at `--rate`
records/s as a live stream would come (the backlog all at once), and `paodan replay` of the same
records the worker was given so far (the companies share branches, so their peers), in-process, is
what the worker should end with (each alert id's last revision). Content alerts (`chat.*` but
`chat.diverted_customer`) are also counted apart: each depends on one employee's chat alone, so a
difference there is the fault's, not the arrival order's. One outbound text in 60 is made a
diversion line so that there are some.

Every company phase prints: alerts lost / extra / different against replay (target 0 / 0 / 0);
(alert id, revision) pairs published with two bodies (target 0) and published more than once
(harmless redelivery: sinks keep one); ClickHouse rows against the rows the records make
(`streams.archive.Batch`), per table (target: exact). Catch-up is measured from the moment the fault
ends — the worker killed or started, ClickHouse answering again, Redis let go on — until what it
concerns is done.

0. baseline — the company without any fault: what the worker's arrival order alone makes differ from
   replay (issue 19 item 3), so the phases below can be read against it.
1. poison — the company's records with a poison pill in the middle (a keyless chat record whose sender
   id is 600 kB: re-keying it makes a record over the producer's request limit); also the
   `system.poison_record` alert and how long the worker spent on the pill (its two attempts and the
   dead letter, from its log).
2. kill — a company, the worker killed with SIGKILL (its archive processes with it) once a third and
   again once two thirds of the records are committed, started again each time while the records keep
   coming: records uncommitted at each kill, seconds until it was ready again after each, and seconds
   from the second kill until the worker committed everything.
3. clickhouse — two companies; once a quarter of each is committed ClickHouse is (a) stopped cleanly
   (SIGTERM) and (b) killed with SIGKILL, and started again `--outage-s` later: detection must go on
   without it (alerts against replay), the archive must end exact, and the seconds from ClickHouse
   answering again until the archive's group committed everything.
4. backlog — `--backlog` records of a company (as many employees as it takes to span the days a
   `--records` company spans) produced while the worker is stopped, then the worker started: seconds
   until it is ready and until it committed everything, counted from its start.
5. redis-stop — a company; once a quarter of it is committed Redis is frozen with SIGSTOP for
   `--pause-s`, then SIGCONT: how many of the alerts the worker published `paodan:alert:*` holds in
   the end (against the worker's own, so that what it raised differently from replay, counted
   apart, does not count twice), and the seconds after SIGCONT until it held them all.
6. redis — Redis killed with SIGKILL and brought back without its data (the append-only file and
   snapshot removed): how many of the phases' alerts `paodan:alert:*` holds before, and again after
   how many seconds from the kill (the live feed re-reads `paodan.alerts`).
7. rss — `--passes` rounds of `--malformed` malformed records (every kind the decoders reject,
   spread over the four input topics), each followed by the next days of one company (the same
   employees throughout): the worker's resident memory (its process, and with its archive
   processes) before the first pass and after each, then before → after. Bounded when it levels off
   instead of growing pass after pass (state pruning, nothing kept per rejected record).

At the end one table sums the phases up against the targets: phase | lost | extra | different |
archive rows vs made | catch-up s | RSS MB before → after the phase (the worker's process; with its
archive processes; after a restart the new process's).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.bench_e2e import commit_positions, committed
from bench.bench_worker import TOPICS, end_offsets
from config.rules import load_rules
from config.settings import load
from formats.topics import ALERTS, CONTACTS, HR, MSGAUDIT, ORDERS
from formats.topics import internal as internal_topics
from ingest import simulator
from tests.live import Consumer, Worker, delete_app_topics

DAY_MS = 86_400_000
# Recent days: the archive's retention (180 days by default) would drop older rows at once.
START_MS = (int(time.time() * 1000) // DAY_MS - 45) * DAY_MS


# --- data ----------------------------------------------------------------------------------------

def company(seed: int, size: int, count: int, prefix: str) -> list[tuple[str, bytes, bytes]]:
    """The simulated company's first `count` records; one outbound text in 60 says a diversion line
    (the simulated history has few), so content alerts are among those compared."""
    world = simulator.build(seed, size, START_MS, 200, prefix)
    out = []
    n = 0
    for topic, key, value in simulator.records(world):
        if topic == MSGAUDIT and value.get("from") == key and value.get("msgtype") == "text":
            n += 1
            if n % 60 == 0:
                value["text"] = {"content": simulator.DIVERSION_LINES[n // 60 % len(simulator.DIVERSION_LINES)]}
        out.append((topic, key.encode(), orjson.dumps(value)))
        if len(out) >= count:
            break
    return out


def poison_pill(prefix: str) -> tuple[str, None, bytes]:
    value = {"msgid": f"poison-{prefix}", "action": "send", "from": "p" * 600_000, "tolist": ["wmX"],
             "roomid": "", "msgtime": START_MS, "msgtype": "text", "text": {"content": "去拼多多下单"},
             "corpid": "ww", "seq": 1}
    return (MSGAUDIT, None, orjson.dumps(value))


def malformed(n: int, prefix: str) -> list[tuple[str, bytes, bytes]]:
    """Records every decoder rejects: not JSON, not UTF-8, not an object, fields missing or of the
    wrong type, negative amounts, unknown events and types, leaves ending before they start."""
    emp = f"{prefix}bad"
    kinds = [
        (MSGAUDIT, b"{not json"),
        (MSGAUDIT, b"\xff\xfe" + os.urandom(64)),
        (MSGAUDIT, b"[1, 2, 3]"),
        (MSGAUDIT, orjson.dumps({"msgid": "x", "action": "shout", "from": emp, "msgtime": START_MS})),
        (MSGAUDIT, orjson.dumps({"action": "send", "from": emp, "msgtime": -5, "msgtype": "text"})),
        (CONTACTS, orjson.dumps({"ChangeType": "explode", "UserID": emp, "CreateTime": 1})),
        (CONTACTS, b"null"),
        (ORDERS, orjson.dumps({"order_id": "SO-x", "event": "created", "ts": START_MS, "employee_id": emp,
                                     "customer_id": "c", "amount": "-500.00", "currency": "CNY"})),
        (ORDERS, orjson.dumps({"order_id": "SO-y", "event": "vanished", "ts": START_MS, "employee_id": emp})),
        (HR, orjson.dumps({"type": "leave", "ts": START_MS, "employee_id": emp, "start": START_MS,
                                    "end": START_MS - 3_600_000})),
        (HR, orjson.dumps({"type": "teleport", "ts": START_MS, "employee_id": emp})),
    ]
    out = []
    for i in range(n):
        topic, value = kinds[i % len(kinds)]
        if value.startswith(b"{") and b"msgid" in value:
            value = value.replace(b'"x"', f'"{prefix}{i}"'.encode())  # distinct records, as a real stream has
        out.append((topic, emp.encode(), value))
    return out


def expected_alerts(records: list[tuple[str, bytes | None, bytes]], prefix: str = "") -> dict[str, dict]:
    """Each alert id's last revision, of employees whose id starts with `prefix`, as `paodan replay`
    makes it from these records."""
    from config.settings import CONFIG_DIR
    from streams.replay import Replay

    out = io.BytesIO()
    replay = Replay(load_rules(CONFIG_DIR / "rules.yaml"), out, io.StringIO())
    for n, (topic, key, value) in enumerate(records):
        envelope = b'{"topic":%s,"key":%s,"value":%s}' % (orjson.dumps(topic), orjson.dumps(
            key.decode() if key else None), value)
        replay.line(str(n), envelope)
    bodies = [orjson.loads(line) for line in out.getvalue().splitlines()]
    return final([b for b in bodies if b["employee_id"].startswith(prefix)])


def final(bodies: list[dict]) -> dict[str, dict]:
    last: dict[str, dict] = {}
    for b in bodies:
        b = {k: v for k, v in b.items() if k != "detected_at"}
        if b.get("revision", 1) >= last.get(b["alert_id"], {}).get("revision", 0):
            last[b["alert_id"]] = b
    return last


BEHAVIOUR_CHAT = {"chat.diverted_customer"}  # named chat.*, raised by the behaviour engine


def chat(alerts: dict[str, dict]) -> dict[str, dict]:
    """The content alerts: each depends on one employee's chat only (one partition, in order), so any
    difference from replay is the fault's, not the arrival order's. `chat.diverted_customer` is not
    one: it follows the customer's orders and contacts after the words (detectors/diverted.py)."""
    return {i: a for i, a in alerts.items() if a["rule"].startswith("chat.") and a["rule"] not in BEHAVIOUR_CHAT}


def compare(live: dict[str, dict], want: dict[str, dict], quiet: bool = False) -> tuple[int, int, int]:
    lost = [want[i]["rule"] for i in want if i not in live]
    extra = [live[i]["rule"] for i in live if i not in want]
    different = [i for i in want if i in live and live[i] != want[i]]
    if (lost or extra or different) and not quiet:
        print(f"  (lost {dict(Counter(lost))}, extra {dict(Counter(extra))}, different "
              f"{dict(Counter(want[i]['rule'] for i in different))})")
        for i in different[:2]:  # how they differ: the fields, live against replay
            fields = sorted(k for k in set(live[i]) | set(want[i]) if live[i].get(k) != want[i].get(k))
            print(f"  ({want[i]['rule']} {i}: " + "; ".join(
                f"{k} live {str(live[i].get(k))[:160]} replay {str(want[i].get(k))[:160]}" for k in fields) + ")")
    return len(lost), len(extra), len(different)


def repeats(bodies: list[dict]) -> tuple[int, int]:
    """(pairs published with two bodies, pairs published more than once) among (alert id, revision)."""
    seen: dict[tuple, set] = defaultdict(set)
    times: Counter = Counter()
    for b in bodies:
        key = (b["alert_id"], b.get("revision", 1))
        seen[key].add(orjson.dumps({k: v for k, v in b.items() if k != "detected_at"}, option=orjson.OPT_SORT_KEYS))
        times[key] += 1
    return sum(1 for s in seen.values() if len(s) > 1), sum(1 for n in times.values() if n > 1)


def archive_rows(records: list[tuple[str, bytes | None, bytes]]) -> dict[str, int]:
    """Rows the archive makes of these records, per table (distinct natural ids)."""
    from streams.archive import Batch

    batch = Batch.of([(t, k, v) for t, k, v in records])
    made = {}
    for table, rows in batch.rows.items():  # the key the table replaces by
        key = [table.column_names.index(c.strip()) for c in table.order_by.strip("()").split(",")]
        made[table.name] = len({tuple(row[i] for i in key) for row in rows})
    return made


# --- the stack -----------------------------------------------------------------------------------

async def produce(bootstrap: str, records, rate: float | None = None, stamped: bool = False) -> None:
    """Produce `records` in order, at `rate` records/s. `stamped`: each with its own Kafka timestamp, a
    millisecond after the one before, so that the topics keep the order they were written in even
    between partitions (the producer's clock gives records of the same millisecond the same time)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=256 * 1024,
                                max_request_size=2 << 20)
    await producer.start()
    began = time.monotonic()
    first = int(time.time() * 1000)
    try:
        futures = []
        for n, (topic, key, value) in enumerate(records):
            futures.append(await producer.send(topic, key=key, value=value,
                                               timestamp_ms=first + n if stamped else None))
            if rate and n % 500 == 0:
                ahead = n / rate - (time.monotonic() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def ends(bootstrap: str, topics: tuple[str, ...]) -> dict[TopicPartition, int]:
    c = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None)
    await c.start()
    try:
        return await c.end_offsets(sorted(c.assignment()))
    finally:
        await c.stop()


async def position_groups(bootstrap: str, app_id: str) -> None:
    """Start the worker's detection and archive groups at the topics' current ends, so that a restart
    after a kill resumes from their commits (offset reset `earliest`) and a fresh group sees only the
    suite's records."""
    from streams.archive import ARCHIVED_TOPICS

    await commit_positions(bootstrap, app_id, await ends(bootstrap, TOPICS))
    await commit_positions(bootstrap, f"{app_id}-archive", await ends(bootstrap, ARCHIVED_TOPICS))


async def caught_up(bootstrap: str, group: str, start: dict[TopicPartition, int],
                    end: dict[TopicPartition, int], timeout: float = 900) -> float:
    """Wait until `group` committed up to `end` wherever records came after `start`; return when
    (time.monotonic())."""
    wanted = {tp: off for tp, off in end.items() if off > start.get(tp, 0)}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            now = await committed(admin, group)
            if all(now.get(tp, 0) >= off for tp, off in wanted.items()):
                return time.monotonic()
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    raise RuntimeError(f"{group} did not catch up within {timeout}s")


async def settled(bootstrap: str, app_id: str, start: dict[TopicPartition, int],
                  end: dict[TopicPartition, int], timeout: float = 900, internal_s: float = 90) -> float:
    """`caught_up` on the input topics, then on the worker's internal topics (the notices and team
    days it sends itself) until what it sent there is committed too; return when (time.monotonic()).
    Internal records still uncommitted `internal_s` after the inputs are printed, not waited for."""
    done = await caught_up(bootstrap, app_id, start, end, timeout)
    internal = tuple(internal_topics(app_id).values())
    deadline = time.monotonic() + internal_s
    while True:
        there = await ends(bootstrap, internal)
        try:
            done = await caught_up(bootstrap, app_id, {}, there, max(1.0, deadline - time.monotonic()))
        except RuntimeError:
            now = await group_committed(bootstrap, app_id)
            behind = {f"{tp.topic.removeprefix(app_id + '-')}[{tp.partition}]": f"{now.get(tp)}/{off}"
                      for tp, off in sorted(there.items()) if now.get(tp, 0) < off}
            print(f"  ({app_id}: internal records not committed {internal_s:.0f}s after the inputs, "
                  f"committed/end: {behind})")
            return done
        if await ends(bootstrap, internal) == there:
            return done


async def group_committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await committed(admin, group)
    finally:
        await admin.close()


async def done_since(bootstrap: str, group: str, start: dict[TopicPartition, int]) -> int:
    """Records `group` committed past `start`."""
    now = await group_committed(bootstrap, group)
    return sum(max(0, now.get(tp, off) - off) for tp, off in start.items())


class Drain(Consumer):
    """`paodan.alerts` from its end at `start()`: `until` returns what matched once nothing more
    matched for `timeout` seconds."""

    async def until(self, predicate, timeout: float = 10.0, count: int = 1, distinct=None):
        found = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                for m in msgs:
                    try:
                        value = orjson.loads(m.value)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(value, dict) and predicate((None, value)):
                        found.append(value)
                        deadline = time.monotonic() + timeout
        return found


async def alerts_until_quiet(alerts: Drain, prefixes: tuple[str, ...], quiet_s: float = 8.0) -> list[dict]:
    return await alerts.until(lambda kv: str(kv[1].get("employee_id", "")).startswith(prefixes)
                              or str(kv[1].get("rule", "")).startswith("system."), timeout=quiet_s)


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory (MB) of a process, and of it with its children (the archive processes)."""
    def one(p: int) -> float:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    main = one(pid)
    return main, main + sum(one(c) for c in children)


def archived(settings, prefix: str) -> dict[str, int]:
    from sinks.clickhouse import ClickHouseArchive

    archive = ClickHouseArchive(settings.clickhouse)
    db, p = archive.database, {"p": prefix + "%", "m": f"sim{prefix}%", "o": f"SO-{prefix}%"}
    try:
        return {
            "messages": archive.query(f"SELECT count() FROM {db}.messages FINAL WHERE msgid LIKE %(m)s", p)[0][0],
            "contact_events": archive.query(f"SELECT count() FROM {db}.contact_events FINAL WHERE employee_id LIKE %(p)s", p)[0][0],
            "orders": archive.query(f"SELECT count() FROM {db}.orders FINAL WHERE order_id LIKE %(o)s", p)[0][0],
            "hr_events": archive.query(f"SELECT count() FROM {db}.hr_events FINAL WHERE employee_id LIKE %(p)s", p)[0][0],
        }
    finally:
        archive.close()


async def archive_caught_up(settings, app_id: str, start: dict, timeout: float = 300) -> None:
    await caught_up(settings.kafka, f"{app_id}-archive", start, await end_offsets(settings.kafka), timeout)


def log_time(line: str) -> float:
    return datetime.strptime(line[1:line.index("]")], "%Y-%m-%d %H:%M:%S,%f").timestamp()


# --- phases --------------------------------------------------------------------------------------

def restart(worker: Worker, timeout: float = 180) -> None:
    """Start the worker again and wait until it is ready by what it logs from now on: its log keeps
    the earlier runs' lines, which `Worker.start` alone takes for this run's readiness."""
    after = len(worker.log())  # characters, as `wait_ready` slices the text
    worker.start(timeout)
    worker.wait_ready(timeout, after)


async def committed_past(settings, worker: Worker, start: dict, count: int, producing: asyncio.Task) -> int:
    """Wait until the worker committed `count` records past `start` while `producing` runs (raising
    what it raised, if it failed); return how many it had."""
    while (done := await done_since(settings.kafka, worker.app_id, start)) < count:
        if producing.done():
            producing.result()
        await asyncio.sleep(0.2)
    return done


async def outcome(settings, worker: Worker, alerts: Drain, prefix: str, valid: list, want: dict[str, dict],
                  start: dict) -> dict:
    """What the worker made of a company's records `valid` (all produced, the worker running): when it
    settled, its alerts against replay's `want`, (id, revision) pairs with two bodies and published
    twice, and the archive's rows against the rows the records make, per table."""
    done = await settled(settings.kafka, worker.app_id, start, await end_offsets(settings.kafka))
    bodies = await alerts_until_quiet(alerts, (prefix,))
    mine = [b for b in bodies if b["employee_id"].startswith(prefix)]
    live = final(mine)
    lost, extra, different = compare(live, want)
    two_bodies, repeated = repeats(mine)
    await archive_caught_up(settings, worker.app_id, start)
    await asyncio.sleep(2 * settings.sink_flush_s + 1)
    return {"records": len(valid), "expected": len(want), "raised": len(live), "lost": lost, "extra": extra,
            "different": different, "chat": compare(chat(live), chat(want), quiet=True),
            "chat_expected": len(chat(want)), "two_bodies": two_bodies, "repeated": repeated,
            "rows": archived(settings, prefix), "made": archive_rows(valid), "settled": done, "bodies": bodies,
            "ids": set(live)}


async def phase_kill(settings, worker: Worker, alerts: Drain, args, tag: str, history: list) -> dict:
    """A company produced at `--rate`, the worker killed with SIGKILL (its archive processes with it)
    once a third and again once two thirds of the records are committed, started again each time."""
    prefix = f"fk{tag}-"
    records = company(args.seed + 1, args.size, args.records, prefix)
    history += records
    want = expected_alerts(history, prefix)
    start = await end_offsets(settings.kafka)
    producing = asyncio.create_task(produce(settings.kafka, records, rate=args.rate))
    restart_s, left = [], []
    for third in (1, 2):
        done = await committed_past(settings, worker, start, len(records) * third // 3, producing)
        worker.stop(signal.SIGKILL)
        killed = time.monotonic()
        left.append(len(records) - done)
        starting = asyncio.create_task(asyncio.to_thread(restart, worker))  # the records keep coming
        if third == 2:  # watched from the kill on: the worker may be done before all of it is ready
            await producing
            back = asyncio.create_task(settled(settings.kafka, worker.app_id, start, await end_offsets(settings.kafka)))
        await starting
        restart_s.append(time.monotonic() - killed)
    r = await outcome(settings, worker, alerts, prefix, records, want, start)
    return r | {"restart_s": restart_s, "catch_up_s": await back - killed, "left": left}


async def phase_poison(settings, worker: Worker, alerts: Drain, args, tag: str, history: list,
                       pill: bool = True) -> dict:
    """A company's records, with a poison pill in the middle (`pill`) or without (the baseline)."""
    prefix = f"fp{tag}-" if pill else f"fb{tag}-"
    valid = company(args.seed, args.size, args.records, prefix)  # the same company, its own ids
    history += valid
    want = expected_alerts(history, prefix)
    half = len(valid) // 2
    records = valid[:half] + [poison_pill(prefix)] * pill + valid[half:]
    start = await end_offsets(settings.kafka)
    began = time.monotonic()
    await produce(settings.kafka, records, rate=args.rate, stamped=args.stamped)
    r = await outcome(settings, worker, alerts, prefix, valid, want, start)
    system = [b for b in r["bodies"] if b["rule"] == "system.poison_record" and MSGAUDIT in b["evidence"][0]["topic"]]
    lines = worker.log().splitlines()
    first = next((log_time(ln) for ln in lines if "(attempt 1)" in ln and MSGAUDIT in ln), None)
    lettered = [log_time(ln) for ln in lines if "dead-lettered wecom.msgaudit" in ln and "detection failed twice" in ln]
    return r | {"records": len(records), "system_alerts": len(system), "seconds": r["settled"] - began,
                "skip_s": (lettered[-1] - first) if first and lettered else None}


async def phase_backlog(settings, worker: Worker, alerts: Drain, args, tag: str, history: list) -> dict:
    """`--backlog` records of a company produced while the worker is stopped, all at once: the worker
    starts on a backlog, its fetches bringing some partitions far ahead of others. The company has as
    many more employees as it takes for them to span the days a `--records` company spans."""
    prefix = f"fl{tag}-"
    size = max(args.size, args.size * args.backlog // args.records)
    records = company(args.seed + 2, size, args.backlog, prefix)
    history += records
    want = expected_alerts(history, prefix)
    worker.stop()
    start = await end_offsets(settings.kafka)
    await produce(settings.kafka, records)
    began = time.monotonic()  # watched from the start on: the worker may be done before all of it is ready
    back = asyncio.create_task(settled(settings.kafka, worker.app_id, start, await end_offsets(settings.kafka)))
    await asyncio.to_thread(restart, worker)
    ready = time.monotonic()
    r = await outcome(settings, worker, alerts, prefix, records, want, start)
    return r | {"employees": size, "start_s": ready - began, "catch_up_s": await back - began}


async def stop_service(settings, name: str, sig: int) -> float | None:
    """Stop the stack's `name` (the process `paodan stack up` started: none other) with `sig` and wait
    until it is gone; return when (time.monotonic()), or None when this stack did not start it."""
    from paodan.stack.manager import services

    svc = services(settings)[name]
    pid = svc.our_pid()
    if pid is None:
        return None
    os.kill(pid, sig)
    deadline = time.monotonic() + 60
    while svc.our_pid() is not None:
        try:
            os.waitpid(pid, os.WNOHANG)  # restarted by this process (`up` below): reap it
        except ChildProcessError:
            pass
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.1)
    return time.monotonic()


async def start_services(settings) -> float:
    """`paodan stack up`: start what is not running; return when all answer (time.monotonic())."""
    from paodan.stack.manager import up

    await asyncio.to_thread(up, settings)
    return time.monotonic()


async def held(settings, ids) -> set[str]:
    """Which of these alert ids `paodan:alert:*` holds."""
    from sinks.redis_live import LiveAlerts, alert_key

    live = LiveAlerts(settings.redis)
    try:
        return {i for i in ids if await live.redis.exists(alert_key(i))}
    finally:
        await live.close()


async def held_again(settings, ids, target: int, since: float, timeout: float = 180) -> tuple[int, float | None]:
    """Poll until `paodan:alert:*` holds `target` of `ids`: (how many it holds, seconds after `since`
    it got there, or None if it did not within `timeout`)."""
    now = 0
    while time.monotonic() - since < timeout:
        now = len(await held(settings, ids))
        if now >= target:
            return now, time.monotonic() - since
        await asyncio.sleep(0.5)
    return now, None


async def phase_clickhouse(settings, worker: Worker, alerts: Drain, args, tag: str, history: list,
                           sig: int) -> dict:
    """A company produced at `--rate`; once a quarter of it is committed ClickHouse is stopped with
    `sig` (SIGTERM: a clean stop, SIGKILL) and started again `--outage-s` later."""
    n = 3 if sig == signal.SIGTERM else 4
    prefix = f"fc{n}{tag}-"
    records = company(args.seed + n, args.size, args.records, prefix)
    history += records
    want = expected_alerts(history, prefix)
    start = await end_offsets(settings.kafka)
    producing = asyncio.create_task(produce(settings.kafka, records, rate=args.rate))
    await committed_past(settings, worker, start, len(records) // 4, producing)
    stopped = await stop_service(settings, "clickhouse", sig)
    if stopped is None:
        producing.cancel()
        return {"skipped": "ClickHouse was not started by `paodan stack up` here"}
    await asyncio.sleep(max(0.0, args.outage_s - (time.monotonic() - stopped)))
    back = await start_services(settings)
    await producing
    await archive_caught_up(settings, worker.app_id, start, timeout=900)
    archived_at = time.monotonic()
    r = await outcome(settings, worker, alerts, prefix, records, want, start)
    return r | {"outage_s": back - stopped, "catch_up_s": archived_at - back}


async def phase_redis_stop(settings, worker: Worker, alerts: Drain, args, tag: str, history: list) -> dict:
    """A company produced at `--rate`; once a quarter of it is committed Redis is frozen (SIGSTOP) for
    `--pause-s`, then let go on (SIGCONT)."""
    from paodan.stack.manager import services

    prefix = f"fs{tag}-"
    records = company(args.seed + 5, args.size, args.records, prefix)
    history += records
    want = expected_alerts(history, prefix)
    pid = services(settings)["redis"].our_pid()
    if pid is None:
        return {"skipped": "Redis was not started by `paodan stack up` here"}
    start = await end_offsets(settings.kafka)
    producing = asyncio.create_task(produce(settings.kafka, records, rate=args.rate))
    await committed_past(settings, worker, start, len(records) // 4, producing)
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(args.pause_s)
    finally:
        os.kill(pid, signal.SIGCONT)
    resumed = time.monotonic()
    timeline: list[tuple[float, set[str]]] = []  # (seconds after SIGCONT, which expected alerts it held)

    async def watch() -> None:
        while True:
            timeline.append((time.monotonic() - resumed, await held(settings, want)))
            await asyncio.sleep(0.5)

    watching = asyncio.create_task(watch())
    await producing
    r = await outcome(settings, worker, alerts, prefix, records, want, start)
    # Against what the worker published: an alert it did not raise (vs replay, counted above) is not
    # Redis's to hold.
    holds, _ = await held_again(settings, r["ids"], len(r["ids"]), time.monotonic(), timeout=60)
    watching.cancel()
    published = r["ids"] & set(want)
    catch_up = next((t for t, ids in timeline if published <= ids), None)
    if catch_up is None and holds == len(r["ids"]):
        catch_up = time.monotonic() - resumed
    return r | {"held": holds, "published": len(r["ids"]), "catch_up_s": catch_up}


async def phase_redis(settings, ids: set[str]) -> dict:
    from paodan.stack.manager import services

    before = len(await held(settings, ids))
    killed = await stop_service(settings, "redis", signal.SIGKILL)
    if killed is None:
        return {"skipped": "Redis was not started by `paodan stack up` here"}
    for f in services(settings)["redis"].data_dir.rglob("*"):
        if f.is_file():
            f.unlink()  # back without its data, as after a lost volume
    back = await start_services(settings)
    after, restored = await held_again(settings, ids, before, killed)
    return {"held_before": before, "held_after": after, "restart_s": back - killed, "restored_s": restored}


async def phase_rss(settings, worker: Worker, alerts: Drain, args, tag: str) -> list[tuple[str, tuple[float, float]]]:
    """Passes of malformed records, each followed by the next days of one company (the same
    employees: their state must be pruned, not grow)."""
    prefix = f"fr{tag}-"
    step = args.records // 2
    days = company(args.seed + 1, args.size, step * args.passes, prefix)
    figures = [("before the first pass", rss_mb(worker.proc.pid))]
    for n in range(1, args.passes + 1):
        records = malformed(args.malformed, f"{prefix}{n}-") + days[(n - 1) * step:n * step]
        start = await end_offsets(settings.kafka)
        await produce(settings.kafka, records)
        await caught_up(settings.kafka, worker.app_id, start, await end_offsets(settings.kafka))
        await alerts_until_quiet(alerts, (prefix,), quiet_s=4.0)
        figures.append((f"after pass {n} ({args.malformed:,} malformed, {step:,} valid)", rss_mb(worker.proc.pid)))
    return figures


def print_archive(r: dict) -> None:
    for table in sorted(set(r["made"]) | set(r["rows"])):
        made, rows = r["made"].get(table, 0), r["rows"].get(table, 0)
        print(f"  archive {table:<15} {rows:>7,} rows of {made:>7,} {'exact' if rows == made else 'NOT EXACT'}")


def archive_verdict(r: dict) -> str:
    """`exact (rows)` when every table holds the rows the records make, else the tables that do not."""
    tables = sorted(set(r["made"]) | set(r["rows"]))
    off = [f"{t} {r['rows'].get(t, 0):,}/{r['made'].get(t, 0):,}" for t in tables
           if r["rows"].get(t, 0) != r["made"].get(t, 0)]
    return "NOT EXACT " + ", ".join(off) if off else f"exact ({sum(r['made'].values()):,})"


def content(r: dict) -> str:
    return "content alerts lost/extra/different %d/%d/%d (of %d)" % (*r["chat"], r["chat_expected"])


def alerts_line(r: dict) -> str:
    return (f"alerts lost/extra/different vs replay {r['lost']}/{r['extra']}/{r['different']} (of {r['expected']} "
            f"expected, {r['raised']} raised); {content(r)}; (id, revision) with two bodies {r['two_bodies']}, "
            f"published twice {r['repeated']} (redelivered, same body)")


PHASES = ("baseline", "poison", "kill", "clickhouse", "backlog", "redis-stop", "redis", "rss")
COLUMNS = ("phase", "lost", "extra", "different", "archive rows vs made", "catch-up s",
           "RSS MB before→after (worker; with archive)", "also")
TARGETS = ("target", "0", "0", "0", "exact", "", "levels off", "")


def summary_row(phase: str, r: dict | None, rss: tuple, catch_up: float | None = None, also: str = "") -> tuple:
    """One line of the summary: `r` a company phase's figures (None: a phase without a company)."""
    (b_main, b_all), (a_main, a_all) = rss
    figures = ("", "", "", "") if r is None else (str(r["lost"]), str(r["extra"]), str(r["different"]),
                                                   archive_verdict(r))
    return (phase, *figures, "" if catch_up is None else f"{catch_up:.1f}",
            f"{b_main:.0f}→{a_main:.0f}; {b_all:.0f}→{a_all:.0f}", also)


def print_table(rows: list[tuple]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for n, row in enumerate(rows):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            print("-+-".join("-" * w for w in widths))


async def run(args) -> None:
    settings = load()
    tag = uuid.uuid4().hex[:6]
    only = set(args.only.split(",")) if args.only else set(PHASES)
    summary = [COLUMNS, TARGETS]
    with tempfile.TemporaryDirectory() as tmp:
        app_id = f"paodan-faults-{tag}"
        Path(args.keep or tmp).mkdir(parents=True, exist_ok=True)
        worker = Worker(Path(args.keep or tmp), app_id=app_id, name="faults",
                        env={"PAODAN_OFFSET_RESET": "earliest"})
        await position_groups(settings.kafka, app_id)
        alerts = await Drain(settings.kafka, ALERTS).start()
        worker.start(timeout=180)

        async def measured(coro):
            """The phase's result, and the worker's RSS before and after it (after a restart: the new
            process's)."""
            before = rss_mb(worker.proc.pid)
            result = await coro
            return result, (before, rss_mb(worker.proc.pid))

        try:
            print(f"worker {app_id} ready; RSS %.0f MB, %.0f MB with its archive processes" % rss_mb(worker.proc.pid))
            ids: set[str] = set()
            history: list = []  # every valid record the worker was given, in order: replay's input
            def report(phase: str, r: dict, rss: tuple, headline: str, tail: str = "",
                       catch_up: float | None = None, also: str = "") -> None:
                """A company phase's figures: printed, and its line of the summary."""
                ids.update(r.pop("ids"))
                print(f"\n{headline}: {alerts_line(r)}{tail}")
                print_archive(r)
                summary.append(summary_row(phase, r, rss, catch_up, "; ".join(
                    x for x in (f"two bodies {r['two_bodies']}", also) if x)))

            if "baseline" in only:
                r, rss = await measured(phase_poison(settings, worker, alerts, args, tag, history, pill=False))
                report("baseline (no fault)", r, rss, f"baseline, no fault, {r['records']:,} records at "
                       f"{args.rate:,.0f}/s", " — what arrival order alone costs (issue 19 item 3)",
                       also="arrival order alone")
            if "poison" in only:
                r, rss = await measured(phase_poison(settings, worker, alerts, args, tag, history))
                pill = f"{1000 * r['skip_s']:.0f} ms" if r["skip_s"] is not None else "? (not in the log)"
                report("poison pill", r, rss, f"poison pill in {r['records']:,} records",
                       f"; system.poison_record alerts {r['system_alerts']}; the pill cost {pill} (two attempts "
                       f"and the dead letter); all records in {r['seconds']:.1f}s", also=f"pill {pill}")
            if "kill" in only:
                r, rss = await measured(phase_kill(settings, worker, alerts, args, tag, history))
                restarts = " and ".join(f"{x:.1f}s" for x in r["restart_s"])
                report("worker kill -9 ×2", r, rss, f"worker kill -9 at a third and at two thirds of "
                       f"{r['records']:,} records", f"; records uncommitted at the kills "
                       f"{' and '.join(f'{n:,}' for n in r['left'])}; ready again {restarts} after each, caught "
                       f"up {r['catch_up_s']:.1f}s after the second kill", r["catch_up_s"], f"restarts {restarts}")
            if "clickhouse" in only:
                for sig, how in ((signal.SIGTERM, "stopped"), (signal.SIGKILL, "killed -9")):
                    r, rss = await measured(phase_clickhouse(settings, worker, alerts, args, tag, history, sig))
                    if "skipped" in r:
                        print(f"\nClickHouse {how}: {r['skipped']}")
                        continue
                    report(f"ClickHouse {how} {r['outage_s']:.0f}s", r, rss, f"ClickHouse {how} for "
                           f"{r['outage_s']:.0f}s while {r['records']:,} records came at {args.rate:,.0f}/s",
                           f"; the archive caught up {r['catch_up_s']:.1f}s after ClickHouse was back",
                           r["catch_up_s"])
            if "backlog" in only:
                r, rss = await measured(phase_backlog(settings, worker, alerts, args, tag, history))
                report(f"backlog {r['records']:,}", r, rss, f"backlog of {r['records']:,} records "
                       f"({r['employees']} employees) at the worker's start", f"; ready {r['start_s']:.1f}s after "
                       f"its start, caught up {r['catch_up_s']:.1f}s after it", r["catch_up_s"],
                       f"ready {r['start_s']:.1f}s")
            if "redis-stop" in only:
                r, rss = await measured(phase_redis_stop(settings, worker, alerts, args, tag, history))
                if "skipped" in r:
                    print(f"\nRedis SIGSTOP: {r['skipped']}")
                else:
                    again = "not yet" if r["catch_up_s"] is None else f"{r['catch_up_s']:.1f}s after SIGCONT"
                    report(f"Redis SIGSTOP {args.pause_s:.0f}s", r, rss, f"Redis frozen (SIGSTOP) for "
                           f"{args.pause_s:.0f}s while {r['records']:,} records came", f"; paodan:alert:* holds "
                           f"{r['held']} of the {r['published']} alerts the worker published, all of them {again}",
                           r["catch_up_s"], f"held {r['held']}/{r['published']} published")
            if "redis" in only:
                r, rss = await measured(phase_redis(settings, ids))
                if "skipped" in r:
                    print(f"\nRedis kill -9, back without data: {r['skipped']}")
                else:
                    again = "not within 180s" if r["restored_s"] is None else f"{r['restored_s']:.1f}s after the kill"
                    print(f"\nRedis kill -9, back without its data: alerts held {r['held_before']} before, "
                          f"{r['held_after']} after; Redis up again in {r['restart_s']:.1f}s, alerts restored {again}")
                    summary.append(summary_row("Redis kill -9, no data", None, rss, r["restored_s"],
                                               f"held {r['held_after']}/{r['held_before']}"))
            if "rss" in only:
                print("\nworker RSS under sustained bad input:")
                figures = await phase_rss(settings, worker, alerts, args, tag)
                for what, (main, total) in figures:
                    print(f"  {what:<55} worker {main:5.0f} MB, with archive processes {total:5.0f} MB")
                (b_main, b_all), (a_main, a_all) = figures[0][1], figures[-1][1]
                print(f"  before → after: worker {b_main:.0f} → {a_main:.0f} MB, with archive processes "
                      f"{b_all:.0f} → {a_all:.0f} MB")
                summary.append(summary_row(f"malformed {args.malformed:,} ×{args.passes}", None,
                                           (figures[0][1], figures[-1][1]),
                                           also=" ".join(f"{m:.0f}" for _, (m, _) in figures) + " MB by pass"))
        finally:
            await alerts.stop()
            worker.stop()
            await delete_app_topics(settings.kafka, app_id)
    print("\nsummary (alerts against `paodan replay` of the same records; catch-up: seconds from the worker, "
          "ClickHouse or Redis being back until done):")
    print_table(summary)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=20_000, help="records per simulated company")
    p.add_argument("--size", type=int, default=20, help="employees per company")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--rate", type=float, default=1_000, help="records/s produced (a live stream, not a backlog)")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--malformed", type=int, default=10_000)
    p.add_argument("--backlog", type=int, default=100_000, help="records of the backlog phase's company")
    p.add_argument("--outage-s", type=float, default=60, help="seconds ClickHouse stays down")
    p.add_argument("--pause-s", type=float, default=30, help="seconds Redis stays frozen (SIGSTOP)")
    p.add_argument("--only", help="comma-separated phases: " + ",".join(PHASES))
    p.add_argument("--keep", help="keep the worker's log and data in this directory")
    p.add_argument("--stamped", action="store_true",
                   help="give the records of the baseline and poison phases Kafka timestamps in their order")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
