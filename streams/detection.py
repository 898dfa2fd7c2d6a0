"""The detection agent: every input topic → chat-content and behaviour detectors → alerts and risk.

One agent reads all four input topics (and the notices the engine sends itself) in batches. Chat
records go through the content detectors and, as contacts with customers, through the behaviour
engine; contact, order and HR events through the behaviour engine. One agent rather than one per
detector family because a Faust worker spends most of its time moving each record through its
consumer, streams and tables, not detecting: every extra subscriber of `wecom.msgaudit` pays that
again for the largest topic.

Tables (declared here, beside the agent that uses them; all changelog-backed, RocksDB on disk):
- `chat_state` — keyed by employee id: the content detectors' open windows and recent hits.
- `behaviour` — keyed by employee id: the engine's state (daily counters, open orders, pending
  replies, open alerts, risk contributions). Input topics are co-partitioned by employee, so the
  worker that owns an employee's partition owns all of their state.
- `customer_owner` — a GlobalTable keyed by customer id: `{"o": owner, "t": since, "b": first
  purchase}`. Every worker holds all of it (an employee may write to, or sell to, any customer).
  One changelog partition, as faust-streaming advises for global tables, so every write is ordered.
- `team_days` — keyed by team: closed-day summaries waiting for the rest of the team
  (detectors/peers.py). Under one more key, the company's own-channel aggregate
  (streams/channel_feed.py), whose `channels` notices go to the chat state.
- the employee directory (streams/directory.py), upserted here from `hr.events` `employee` records.

The detection itself is streams/driver.py's, as in `paodan replay`: this agent is its Kafka side (the
store over these tables, the sends, redelivery and poison records). The notices the engine sends
itself take effect right after the record that set them off (the driver's ordering rule), applied in
the batch when this worker owns the partition of the state they are for, and otherwise sent through
internal topics, which carry the application id like Faust's own changelogs, so two applications on
one cluster (a demo beside the production worker, a test's worker) never read each other's:
`{app_id}-team-days` (team-keyed summaries) and `{app_id}-behaviour-notices` (employee-keyed notices:
a customer handed away, a peer signal). This agent reads both, beside the inputs. The detectors name
them by the logical names in detectors/context.py. Output: `paodan.alerts`, `paodan.risk` (streams/live.py mirrors both into Redis).
Records that cannot be decoded go to `paodan.deadletter`, each once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from contextlib import aclosing
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Awaitable, Callable, NamedTuple

import orjson
from aiokafka.partitioner import murmur2

from detectors.content.parts import skipped
from faustkit.fetches import during
from formats import topics
from formats.records import RecordError, decode_msgaudit, loads_object
from formats.topics import MSGAUDIT
from formats.topics import NOTICES as NOTICE_TOPIC
from formats.topics import TEAM_DAYS as TEAM_TOPIC
from metrics import detection as detection_metrics
from streams import deadletter, media_agent, system_alert, tables
from streams.app import app, settings
from streams.directory import directory
from streams.driver import BEHAVIOUR, CHAT, LOGGED, TEAM, Driver, Out
from streams.processing import BEHAVIOUR_TOPICS, decode_behaviour
from streams.rules_state import current_rules

log = logging.getLogger(__name__)
RISK_TOPIC = topics.RISK
ALERT_TOPIC = topics.ALERTS
# Logical topic (what detectors and replay call it) → this application's topic.
INTERNAL = topics.internal(settings.app_id)
LOGICAL = {physical: logical for logical, physical in INTERNAL.items()}
NOTICES = INTERNAL[NOTICE_TOPIC]
TEAMS = INTERNAL[TEAM_TOPIC]


def _topic(*names: str):
    return app.topic(*names, key_serializer="raw", value_serializer="raw", partitions=settings.partitions)


# and what images say, as text records (streams/media_agent.py): chat content only, never a contact again.
inputs = _topic(*(INTERNAL.get(t, t) for t in BEHAVIOUR_TOPICS), TEAMS, media_agent.TOPIC)

# JSON documents Faust keeps as bytes (faustkit/tables.py). Restored in batches of 10,000 changelog
# records (one RocksDB write batch each) rather than Faust's 1,000.
chat_state = tables.table("chat_state", recovery_buffer_size=10_000)
behaviour_state = tables.table("behaviour", recovery_buffer_size=10_000)
team_days = tables.table("team_days")
customer_owner = tables.global_table("customer_owner", partitions=1, recovery_buffer_size=1, use_partitioner=True)
counts: Counter[str] = Counter()
_partition = attrgetter("partition")
_time = itemgetter(0)
_TABLES = {CHAT: chat_state, BEHAVIOUR: behaviour_state, TEAM: team_days}


class Place(NamedTuple):
    """Where a notice's state is held, when not in the partition of the record being processed."""

    partition: int


class Batch:
    """The driver's store (streams/driver.py) for one batch, over the tables: the states and customer
    owners it read and updated (written once, at the end, each in the partition it belongs to), and
    the futures of everything it sent (awaited before the states are written). Directory entries are
    read through the table's kept documents (faustkit/tables.py) and written at once."""

    def __init__(self) -> None:
        self.changed: dict[str, dict[str, tuple[dict, object]]] = {CHAT: {}, BEHAVIOUR: {}, TEAM: {}}
        self.owners: dict[str, tuple[dict, object]] = {}     # customer -> (owner, where it was set)
        # (future, the record it is for, how to send it again) of everything sent
        self.pending: list[tuple[asyncio.Future, object, Callable[[], Awaitable]]] = []
        self.message = None  # the record being processed (set by _guarded): what a send is for
        self._send = app.producer.send  # the producer itself: Faust's topic layers cost more than the send
        # The partitions of the internal topics this worker owns now (a rebalance waits for the batch).
        assigned = app.assignor.assigned_actives()
        self._held = {t: {tp.partition for tp in assigned if tp.topic == t} for t in (NOTICES, TEAMS)}
        self._places: dict[tuple[str, str], Place | None] = {}

    # --- the driver's store -----------------------------------------------------------------

    def get(self, kind: str, key: str, where) -> dict | None:
        changed = self.changed[kind].get(key)
        if changed is not None:
            return changed[0]
        if where is None or where is self.message:
            return _TABLES[kind].get(key)
        with during(where):
            return _TABLES[kind].get(key)

    def put(self, kind: str, key: str, doc: dict, where) -> None:
        self.changed[kind][key] = (doc, where)

    def owner(self, customer: str) -> dict | None:
        return self.owners[customer][0] if customer in self.owners else customer_owner.get(customer)

    def set_owner(self, customer: str, value: dict, where) -> None:
        self.owners[customer] = (value, where)

    def directory(self, employee: str, where=None) -> dict | None:
        if where is None or where is self.message:
            return directory.get(employee)
        with during(where):
            return directory.get(employee)

    def set_directory(self, employee: str, entry: dict) -> None:
        directory.put(employee, entry)

    def place(self, topic: str, key: str) -> Place | None:
        """The partition of `key`'s state when this worker owns it: records keyed by employee or team
        land by the default partitioner (the contract's co-partitioning), as the worker sends them."""
        found = self._places.get((topic, key), False)
        if found is False:
            physical = INTERNAL[topic]
            partition = (murmur2(key.encode()) & 0x7FFFFFFF) % settings.partitions
            found = self._places[topic, key] = Place(partition) if partition in self._held[physical] else None
        return found

    # --- sends ------------------------------------------------------------------------------

    async def send(self, topic: str, key: str, value) -> None:
        await self.send_raw(topic, key.encode(), orjson.dumps(value))

    async def send_raw(self, topic: str, key: bytes, value: bytes | None) -> None:
        def again():
            return self._send(topic, key, value, None, None, None)
        self.pending.append((await again(), self.message, again))

    async def alerts(self, alerts) -> None:
        now = int(time.time() * 1000)
        for alert in alerts:
            body = alert.to_dict()
            body["detected_at"] = now
            await self.send(ALERT_TOPIC, alert.employee_id, body)

    async def effects(self, out: Out) -> None:
        """Send everything one record set off (its states and owners wait for `finish`)."""
        if out.alerts:
            await self.alerts(out.alerts)
        for employee, update in out.risk:
            await self.send(RISK_TOPIC, employee, update)
        for t, k, v in out.publish:
            await self.send(INTERNAL[t], k, v)
        for t, k, v in out.applied:  # the log of what was applied at once (streams/driver.py LOGGED)
            await self.send(INTERNAL[t], k, {**v, LOGGED: True})
        for reason in out.dead:
            await self.dead_letter(self.message, reason)

    async def dead_letter(self, message, reason: str) -> None:
        _outcome("dead_lettered")

        def again():
            return deadletter.send(message, reason)
        self.pending.append((await again(), message, again))

    async def finish(self) -> None:
        """Wait until Kafka has every effect, then write the states and owners (each in the partition
        it belongs to)."""
        if self.pending:
            results = await asyncio.gather(*(f for f, _, _ in self.pending), return_exceptions=True)
            refused = [(p, r) for p, r in zip(self.pending, results) if isinstance(r, BaseException)]
            if refused:
                await self._refused(refused)
        for kind, table in _TABLES.items():
            changed = self.changed[kind]
            if changed:
                await table.write((key, doc, where.partition) for key, (doc, where) in changed.items())
        if self.owners:
            await customer_owner.write((key, doc, where.partition) for key, (doc, where) in self.owners.items())

    async def _refused(self, refused) -> None:
        """Sends Kafka refused after accepting them (the broker's size limit, say): each is sent again,
        alone (a refused batch fails every record in it); a record whose result is refused twice is
        dead-lettered and shown as a `system.poison_record` alert, like a record detection fails on,
        and the batch goes on. If even that cannot be sent, Kafka is unusable: the batch fails."""
        poisoned: dict[int, tuple[object, BaseException]] = {}
        for (_, message, again), exc in refused:
            log.warning("Kafka refused a send for %s (%r); sending it again", _where(message), exc)
            try:
                await (await again())
            except Exception as exc2:  # noqa: BLE001 - whatever it is, the record's result is lost
                poisoned.setdefault(id(message), (message, exc2))
        for message, exc in poisoned.values():
            if message is None:
                raise exc  # not any record's: nothing to skip
            error = f"result refused twice by Kafka: {type(exc).__name__}: {str(exc)[:500]}"
            log.error("%s on %s; dead-lettering the record", error, _where(message))
            _outcome("poison")
            _outcome("dead_lettered")
            await (await deadletter.send(message, error))
            body = system_alert.poison(message.topic, message.partition, message.offset, error,
                                       int(time.time() * 1000), refused=True)
            await (await self._send(ALERT_TOPIC, body["employee_id"].encode(), orjson.dumps(body), None, None, None))


def _where(message) -> str:
    return "no record" if message is None else f"{message.topic}[{message.partition}]@{message.offset}"


async def _record(batch: Batch, driver: Driver, message) -> None:
    """One record of any topic this agent reads, through the driver; its effects sent."""
    topic = message.topic
    if topic == MSGAUDIT or topic == media_agent.TOPIC:
        chat = await _guarded(batch, message, lambda: _chat(batch, driver, message))
        if chat is None or chat is POISON:
            return
        await _guarded(batch, message, lambda: batch.effects(chat))
        if topic == media_agent.TOPIC:
            return
        contact = Out(contact=chat.contact, notices=chat.notices)  # the behaviour half, the same record
        out = await _guarded(batch, message, lambda: _step(driver.contact, contact, message))
    elif topic in LOGICAL:  # a notice another worker sent (or this one, for a partition it then did not own)
        out = await _guarded(batch, message, lambda: _step(_notice, driver, message))
    else:
        out = await _guarded(batch, message, lambda: _step(driver.input, topic, message.key, message.value,
                                                           message))
    if out is not POISON:
        await _guarded(batch, message, lambda: batch.effects(out))


async def _step(run, *args) -> Out:
    """A driver step whose bad record (RecordError) is dead-lettered, as the detectors' failures are."""
    try:
        return run(*args)
    except RecordError as exc:
        return Out(dead=[str(exc)])


def _notice(driver: Driver, message) -> Out:
    body = loads_object(message.value)
    key = (message.key or b"").decode("utf-8", "replace")
    return driver.notice(LOGICAL[message.topic], key, body, message)


async def _chat(batch: Batch, driver: Driver, message) -> Out | None:
    """The content half of one chat record (or media result); None when it was dead-lettered."""
    try:
        record, msg = decode_msgaudit(message.key, message.value)
    except RecordError as exc:
        await batch.dead_letter(message, str(exc))
        return None
    counts["chat_records"] += 1
    employee = (message.key or b"").decode("utf-8", "replace")
    media = message.topic == media_agent.TOPIC
    if msg is not None and msg.msgtype in ("image", "voice") and not media:  # beside, never waited for
        media_agent.agent.submit(employee, record, driver.rules.rule("media"))
    out = driver.chat(employee, record, msg, message, contact=not media)
    if msg is not None and not out.dead:
        partial = skipped(record, driver.rules.rule("chat.content").max_text_chars)
        if partial:
            counts[partial] += 1
    return out


@app.agent(inputs)
async def detect(stream):
    """Events in batches, a fetch or a few at a time (≤ settings.batch_max; faustkit/fetches.py), in the
    order they were written: each employee's states are read once, updated by every event of theirs
    in the batch and written once — one changelog record per employee per batch instead of one per event.

    Effects first, state after: the batch's alerts, risk updates and internal messages are sent and
    acknowledged by Kafka, then the states are written (the behaviour and team states with the offsets
    they cover), and only then is the batch acked and its offsets let be committed. A crash before the
    state write replays the batch from the old state and re-sends identical alert revisions (sinks keep
    one); a crash after it finds the offsets in the restored state and skips those records. No alert is
    lost and no event is counted twice."""
    async with aclosing(app.fetches.batches(stream)) as batches:
        async for messages in batches:
            await _detect(messages)


def _payload_employee(message) -> str:
    """The employee a keyless input record belongs to, from its payload ("" when it has none or does
    not decode: then it is dead-lettered as usual)."""
    try:
        if message.topic == topics.MSGAUDIT:
            _, msg = decode_msgaudit(None, message.value)
            return msg.employee_id if msg is not None else ""
        return decode_behaviour(message.topic, None, message.value)[0]
    except RecordError:
        return ""


async def _rekeyed(batch: Batch, message) -> bool:
    """Send a keyless input record (the caller checks the key) again, keyed by its payload's employee
    (the contract keys every input by employee): on whatever partition it landed it would split that
    employee's state. True when it was sent, and the original is then not processed."""
    if message.topic not in REKEYED_TOPICS:
        return False
    employee = _payload_employee(message)
    if not employee:
        return False
    _outcome("rekeyed")
    await batch.send_raw(message.topic, employee.encode(), message.value)
    return True


REKEYED_TOPICS = frozenset(t for t in BEHAVIOUR_TOPICS if t not in INTERNAL)
app.fetches.aligned = REKEYED_TOPICS  # the inputs, taken in the order they were written (faustkit/fetches.py)


def _write_order(messages: list) -> list:
    """A batch (grouped by partition, faustkit/fetches.py) in the order its records were written: by
    Kafka timestamp, each topic-partition's records in offset order (a timestamp earlier than one
    before it there counts as that one's, as in the fetches' merge). The driver applies a notice at
    once to another partition's state, so that state must have seen what was written before it."""
    clock: dict = {}
    timed = []
    for message in messages:
        tp = message.tp
        t = clock[tp] = max(clock.get(tp, 0.0), message.timestamp or 0.0)
        timed.append((t, message))
    timed.sort(key=_time)  # stable: offset order within a topic-partition stays
    return [message for _, message in timed]


async def _detect(messages) -> None:
    """One batch (Kafka messages, see `_write_order`)."""
    began = time.perf_counter()
    messages = _write_order(messages)
    batch = Batch()
    driver = Driver(current_rules(), batch)
    for _, run in groupby(messages, key=_partition):
        run = list(run)
        with during(run[0]):
            for message in run:
                if not message.key:
                    rekeyed = await _guarded(batch, message, lambda: _rekeyed(batch, message))
                    if rekeyed is not False:  # sent again, or a poison record (dead-lettered)
                        continue
                await _record(batch, driver, message)
    counts["batches"] += 1
    counts["records"] += len(messages)
    await batch.finish()
    detection_metrics.batch(messages, time.perf_counter() - began)


def _outcome(what: str) -> None:
    counts[what] += 1
    detection_metrics.OUTCOMES.inc(outcome=what)


POISON = object()  # what _guarded answers for a record it dead-lettered


async def _guarded(batch: Batch, message, step):
    """Run one step of a record's processing (`step()` makes its coroutine); a failure is retried once
    (a send that failed for a moment), and a second failure dead-letters the record with the reason,
    raises a `system.poison_record` alert and answers POISON: one record must never stop detection,
    and a crash would only meet the same record again after the restart. A step is either free of
    state changes (decoding, re-keying), only sends what the driver already decided, or is a driver
    step, which a retry finds applied (the state remembers the record's offset)."""
    batch.message = message
    for attempt in (1, 2):
        try:
            return await step()
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is this record's
            error = f"detection failed twice: {type(exc).__name__}: {str(exc)[:500]}"
            log.warning("detection failed on %s[%s]@%s (attempt %d): %r", message.topic, message.partition,
                        message.offset, attempt, exc)
    _outcome("poison")
    await batch.dead_letter(message, error)
    body = system_alert.poison(message.topic, message.partition, message.offset, error, int(time.time() * 1000))
    await batch.send(ALERT_TOPIC, body["employee_id"], body)
    return POISON


@app.task
async def serve_metrics() -> None:
    """/metrics of this process (metrics/detection.py)."""
    await detection_metrics.serve(settings)


@app.timer(interval=60.0)
async def log_counts() -> None:
    if counts:
        log.info("detection: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
