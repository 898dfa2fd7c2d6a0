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
  (detectors/peers.py). Fed by re-keying through the team-days topic. Under one more key, the
  company's own-channel aggregate (streams/channel_feed.py), whose `channels` notices go to the chat
  state.
- the employee directory (streams/directory.py), upserted here from `hr.events` `employee` records.

Internal topics carry the application id, like Faust's own changelogs, so two applications on one
cluster (a demo beside the production worker, a test's worker) never read each other's:
`{app_id}-team-days` (team-keyed summaries) and `{app_id}-behaviour-notices` (employee-keyed notices:
a customer handed away, a peer signal). The detectors name them by the logical names in
detectors/context.py. Output: `paodan.alerts`, `paodan.risk` (streams/live.py mirrors both into Redis).
Records that cannot be decoded go to `paodan.deadletter`, each once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from contextlib import aclosing
from itertools import groupby
from operator import attrgetter
from typing import Awaitable, Callable

import orjson

from detectors.content.parts import skipped
from formats import topics
from formats.records import RecordError, decode_msgaudit
from formats.topics import NOTICES as NOTICE_TOPIC
from formats.topics import TEAM_DAYS as TEAM_TOPIC
from streams import channel_feed, deadletter, media_agent, system_alert, tables
from streams.app import app, settings
from streams.directory import directory, lookup
from faustkit.fetches import during
from streams.processing import (BEHAVIOUR_TOPICS, chat_contact, chat_notices, decode_behaviour, detect_chat,
                                process_behaviour, process_team)
from streams.rules_state import current_rules

log = logging.getLogger(__name__)
RISK_TOPIC = topics.RISK
ALERT_TOPIC = topics.ALERTS
# Logical topic (what detectors and replay call it) → this application's topic.
INTERNAL = topics.internal(settings.app_id)
LOGICAL = {physical: logical for logical, physical in INTERNAL.items()}
NOTICES = INTERNAL[NOTICE_TOPIC]


def _topic(*names: str):
    return app.topic(*names, key_serializer="raw", value_serializer="raw", partitions=settings.partitions)


# and what images say, as text records (streams/media_agent.py): chat content only, never a contact again.
inputs = _topic(*(INTERNAL.get(t, t) for t in BEHAVIOUR_TOPICS), media_agent.TOPIC)
team_topic = _topic(INTERNAL[TEAM_TOPIC])
OUT = {NOTICE_TOPIC: _topic(INTERNAL[NOTICE_TOPIC]), TEAM_TOPIC: team_topic}

# JSON documents Faust keeps as bytes (faustkit/tables.py). Restored in batches of 10,000 changelog
# records (one RocksDB write batch each) rather than Faust's 1,000.
chat_state = tables.table("chat_state", recovery_buffer_size=10_000)
behaviour_state = tables.table("behaviour", recovery_buffer_size=10_000)
team_days = tables.table("team_days")
customer_owner = tables.global_table("customer_owner", partitions=1, recovery_buffer_size=1, use_partitioner=True)
counts: Counter[str] = Counter()
_partition = attrgetter("partition")


_offset_keys: dict = {}  # topic-partition -> "topic:partition", made once (this runs for every record)


def _offset_key(msg) -> str:
    key = _offset_keys.get(msg.tp)
    if key is None:
        key = _offset_keys[msg.tp] = f"{msg.topic}:{msg.partition}"
    return key


def _already_applied(state: dict | None, msg) -> bool:
    """True for a redelivered record whose effect the restored state already holds (see `_commit`)."""
    offsets = state.get("off") if state is not None else None
    return offsets is not None and offsets.get(_offset_key(msg), -1) >= msg.offset


def _commit(state: dict, msg) -> dict:
    offsets = state.get("off")
    if offsets is None:
        offsets = state["off"] = {}
    offsets[_offset_key(msg)] = msg.offset
    return state


class Batch:
    """What one batch changes: the states and customer owners it read and updated (written once, at
    the end) and the futures of everything it sent (awaited before the states are written). Directory
    entries are read through the table's kept documents (faustkit/tables.py) and written at once."""

    def __init__(self) -> None:
        self.chat: dict[str, tuple[dict, object]] = {}       # employee -> (state, their last message)
        self.behaviour: dict[str, tuple[dict, object]] = {}  # employee -> (state, their last message)
        self.owners: dict[str, tuple[dict, object]] = {}     # customer -> (owner, the message that set it)
        # (future, the record it is for, how to send it again) of everything sent
        self.pending: list[tuple[asyncio.Future, object, Callable[[], Awaitable]]] = []
        self.message = None  # the record being processed (set by _guarded): what a send is for
        self._send = app.producer.send  # the producer itself: Faust's topic layers cost more than the send

    directory = staticmethod(lookup)

    def set_directory(self, employee: str, entry: dict) -> None:
        directory.put(employee, entry)

    def owner(self, customer: str) -> dict | None:
        return self.owners[customer][0] if customer in self.owners else customer_owner.get(customer)

    def chat_state(self, employee: str) -> dict | None:
        return self.chat[employee][0] if employee in self.chat else chat_state.get(employee)

    def behaviour_state(self, employee: str) -> dict | None:
        return self.behaviour[employee][0] if employee in self.behaviour else behaviour_state.get(employee)

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

    async def effects(self, out, employee: str, message) -> None:
        """Send everything one behaviour event set off; keep its customer-owner changes for `finish`."""
        for customer, value in out.owner_updates:
            self.owners[customer] = (value, message)
        for t, k, v in out.messages:
            await self.send(INTERNAL[t], k, v)
        if out.alerts:
            await self.alerts(out.alerts)
        if out.risk is not None:
            await self.send(RISK_TOPIC, employee, out.risk)

    async def dead_letter(self, message, reason: str) -> None:
        counts["dead_lettered"] += 1

        def again():
            return deadletter.send(message, reason)
        self.pending.append((await again(), message, again))

    async def finish(self) -> None:
        """Wait until Kafka has every effect, then write the states and owners (each in the partition
        of the message that changed it last)."""
        if self.pending:
            results = await asyncio.gather(*(f for f, _, _ in self.pending), return_exceptions=True)
            refused = [(p, r) for p, r in zip(self.pending, results) if isinstance(r, BaseException)]
            if refused:
                await self._refused(refused)
        for table, changed in ((chat_state, self.chat), (behaviour_state, self.behaviour)):
            await table.write((key, doc, message.partition) for key, (doc, message) in changed.items())
        if self.owners:
            await customer_owner.write((key, doc, message.partition) for key, (doc, message) in self.owners.items())

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
            counts["poison"] += 1
            counts["dead_lettered"] += 1
            await (await deadletter.send(message, error))
            body = system_alert.poison(message.topic, message.partition, message.offset, error,
                                       int(time.time() * 1000), refused=True)
            await (await self._send(ALERT_TOPIC, body["employee_id"].encode(), orjson.dumps(body), None, None, None))


def _where(message) -> str:
    return "no record" if message is None else f"{message.topic}[{message.partition}]@{message.offset}"


async def _chat(batch: Batch, message, rules):
    """The content detectors on one `wecom.msgaudit` record; returns what the behaviour engine makes of
    it (decode_behaviour's answer and its chat alerts' notices), or None when it was dead-lettered."""
    try:
        record, msg = decode_msgaudit(message.key, message.value)
    except RecordError as exc:
        await batch.dead_letter(message, str(exc))
        return None
    counts["chat_records"] += 1
    notices: list = []
    if msg is not None:
        employee = (message.key or b"").decode("utf-8", "replace")
        if msg.msgtype in ("image", "voice") and message.topic != media_agent.TOPIC:  # beside, never waited for
            media_agent.agent.submit(employee, record, rules.rule("media"))
        state = batch.chat_state(employee)
        partial = skipped(record, rules.rule("chat.content").max_text_chars)
        try:
            new_state, alerts = detect_chat(msg, record, state, rules, batch.directory(employee))
        except RecordError as exc:  # a detector failed on it: dead-lettered, yet still a customer contact
            await batch.dead_letter(message, str(exc))
        else:
            if alerts and await _guarded(batch, message, lambda: batch.alerts(alerts)) is POISON:
                return None
            if partial:
                counts[partial] += 1
            if new_state is not None:
                batch.chat[employee] = (new_state, message)
                closed = channel_feed.closed_row(employee, state, new_state, batch.directory(employee))
                if closed is not None:  # a chat day closed: to the company's channel aggregate
                    await batch.send(INTERNAL[TEAM_TOPIC], *closed)
            notices = chat_notices(alerts, record, msg)
    return chat_contact(record, msg), notices


async def _learned(batch: Batch, message, rules) -> None:
    """A `channels` notice (streams/channel_feed.py) on the employee's chat state, in this batch."""
    employee = message.key.decode("utf-8", "replace")
    new_state, alerts = channel_feed.apply(batch.chat_state(employee), orjson.loads(message.value), rules)
    if alerts:
        await batch.alerts(alerts)
    if new_state is not None:
        batch.chat[employee] = (new_state, message)


async def _behaviour(batch: Batch, message, rules, decoded=None, notices=()) -> None:
    """The behaviour engine on one record of any input topic; `decoded` is decode_behaviour's answer
    when the caller has it already (chat records), followed by the record's chat alert `notices`
    (as replay's MemoryBehaviour.handle_decoded does)."""
    topic = message.topic
    try:
        employee, ev, upsert = decoded or decode_behaviour(LOGICAL.get(topic, topic), message.key, message.value)
    except RecordError as exc:
        await batch.dead_letter(message, str(exc))
        return
    if upsert is not None:
        batch.set_directory(employee, upsert)
    events = ([ev] if ev is not None else []) + list(notices)
    state = batch.behaviour_state(employee)
    if not events or _already_applied(state, message):
        return
    for event in events:
        try:
            out = process_behaviour(employee, event, state, rules, batch.directory(employee), batch.owner)
        except RecordError as exc:
            await batch.dead_letter(message, str(exc))
            return
        # Only the sends are retried: the engine changed the state in place, so running it again would
        # count the event twice. Sends of identical bodies are harmless (sinks keep one per revision).
        await _guarded(batch, message, lambda: batch.effects(out, employee, message))
        state = out.state
    batch.behaviour[employee] = (_commit(state, message), message)


@app.agent(inputs)
async def detect(stream):
    """Events in batches, a fetch or a few at a time (≤ settings.batch_max; faustkit/fetches.py): each
    employee's states are read once, updated by every event of theirs in the batch and written once —
    one changelog record per employee per batch instead of one per event.

    Effects first, state after: the batch's alerts, risk updates and internal messages are sent and
    acknowledged by Kafka, then the states are written (the behaviour state with the offsets it covers),
    and only then is the batch acked and its offsets let be committed. A crash before the state write
    replays the batch from the old state and re-sends identical alert revisions (sinks keep one); a
    crash after it finds the offsets in the restored state and skips those records. No alert is lost
    and no event is counted twice."""
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
    counts["rekeyed"] += 1
    await batch.send_raw(message.topic, employee.encode(), message.value)
    return True


REKEYED_TOPICS = frozenset(t for t in BEHAVIOUR_TOPICS if t not in INTERNAL)


async def _detect(messages) -> None:
    """One batch (Kafka messages in partition order)."""
    batch, rules = Batch(), current_rules()
    for _, of_partition in groupby(messages, key=_partition):
        of_partition = list(of_partition)
        with during(of_partition[0]):
            for message in of_partition:
                if not message.key:
                    rekeyed = await _guarded(batch, message, lambda: _rekeyed(batch, message))
                    if rekeyed is not False:  # sent again, or a poison record (dead-lettered)
                        continue
                if message.topic == media_agent.TOPIC:
                    await _guarded(batch, message, lambda: _chat(batch, message, rules))
                elif message.topic == NOTICES and channel_feed.is_notice(message.value):
                    await _guarded(batch, message, lambda: _learned(batch, message, rules))
                elif message.topic != topics.MSGAUDIT:
                    await _guarded(batch, message, lambda: _behaviour(batch, message, rules))
                elif (chat := await _guarded(batch, message, lambda: _chat(batch, message, rules))) \
                        not in (None, POISON):
                    await _guarded(batch, message, lambda: _behaviour(batch, message, rules, *chat))
    counts["batches"] += 1
    counts["records"] += len(messages)
    await batch.finish()


POISON = object()  # what _guarded answers for a record it dead-lettered


async def _guarded(batch: Batch, message, step):
    """Run one step of a record's processing (`step()` makes its coroutine); a failure is retried once
    (a send that failed for a moment), and a second failure dead-letters the record with the reason,
    raises a `system.poison_record` alert and answers POISON: one record must never stop detection,
    and a crash would only meet the same record again after the restart. A step is either free of
    state changes (decoding, re-keying) or only sends what the detectors already decided, so trying
    it again changes nothing but what Kafka receives."""
    batch.message = message
    for attempt in (1, 2):
        try:
            return await step()
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is this record's
            error = f"detection failed twice: {type(exc).__name__}: {str(exc)[:500]}"
            log.warning("detection failed on %s[%s]@%s (attempt %d): %r", message.topic, message.partition,
                        message.offset, attempt, exc)
    counts["poison"] += 1
    await batch.dead_letter(message, error)
    body = system_alert.poison(message.topic, message.partition, message.offset, error, int(time.time() * 1000))
    await batch.send(ALERT_TOPIC, body["employee_id"], body)
    return POISON


@app.agent(team_topic)
async def team(stream):
    async for event in stream.events():
        msg = event.message
        key = (event.key or b"").decode("utf-8", "replace")
        state = team_days.get(key)
        if _already_applied(state, msg):
            continue
        try:
            state, messages = process_team(event.value, state, current_rules())
        except RecordError as exc:
            await deadletter.send(msg, str(exc))
            continue
        await asyncio.gather(*[await OUT[t].send(key=k.encode(), value=orjson.dumps(v)) for t, k, v in messages])
        team_days.put(key, _commit(state, msg))


@app.timer(interval=60.0)
async def log_counts() -> None:
    if counts:
        log.info("detection: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
