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
  (detectors/peers.py). Fed by re-keying through the team-days topic.
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

import orjson

from detectors.content.parts import skipped
from detectors.context import NOTICE_TOPIC, TEAM_TOPIC
from streams import deadletter, tables, topics
from streams.app import app, settings
from streams.directory import directory, lookup
from streams.fetches import during
from streams.processing import (BEHAVIOUR_TOPICS, chat_contact, decode_behaviour, detect_chat, process_behaviour,
                                process_team)
from streams.records import RecordError, decode_msgaudit
from streams.rules_state import current_rules

log = logging.getLogger(__name__)
RISK_TOPIC = "paodan.risk"
# Logical topic (what detectors and replay call it) → this application's topic.
INTERNAL = {NOTICE_TOPIC: f"{settings.app_id}-behaviour-notices", TEAM_TOPIC: f"{settings.app_id}-team-days"}
LOGICAL = {physical: logical for logical, physical in INTERNAL.items()}


def _topic(*names: str):
    return app.topic(*names, key_serializer="raw", value_serializer="raw", partitions=settings.partitions)


inputs = _topic(*(INTERNAL.get(t, t) for t in BEHAVIOUR_TOPICS))
team_topic = _topic(INTERNAL[TEAM_TOPIC])
risk_topic = _topic(RISK_TOPIC)
OUT = {NOTICE_TOPIC: _topic(INTERNAL[NOTICE_TOPIC]), TEAM_TOPIC: team_topic}

# JSON documents Faust keeps as bytes (streams/tables.py). Restored in batches of 10,000 changelog
# records (one RocksDB write batch each) rather than Faust's 1,000.
chat_state = tables.table("chat_state", recovery_buffer_size=10_000)
behaviour_state = tables.table("behaviour", recovery_buffer_size=10_000)
team_days = tables.table("team_days")
customer_owner = tables.global_table("customer_owner", partitions=1, recovery_buffer_size=1, use_partitioner=True)
counts: Counter[str] = Counter()
_partition = attrgetter("partition")
_owner_partitions_known = False


async def _owner_changelog_known() -> None:
    """Make the producer track `customer_owner`'s changelog in its metadata. A GlobalTable write picks
    its partition with the producer's partitioner, synchronously, from the producer's metadata, which
    keeps only the topics it was told to track: a topic it merely saw once (when Faust created it)
    drops out at the next refresh, and the write then fails with a TypeError inside aiokafka."""
    global _owner_partitions_known
    if not _owner_partitions_known:
        name = customer_owner.table.changelog_topic.get_topic_name()
        client = app.producer._ensure_producer().client  # faust exposes no public way to this
        await client.add_topic(name)
        await client._wait_on_metadata(name)
        _owner_partitions_known = True


def _already_applied(state: dict | None, msg) -> bool:
    """True for a redelivered record whose effect the restored state already holds (see `_commit`)."""
    return state is not None and state.get("off", {}).get(f"{msg.topic}:{msg.partition}", -1) >= msg.offset


def _commit(state: dict, msg) -> dict:
    state.setdefault("off", {})[f"{msg.topic}:{msg.partition}"] = msg.offset
    return state


class Batch:
    """What one batch changes: the states it read and updated (written once, at the end) and the
    futures of everything it sent (awaited before the states are written). Directory entries and
    customer owners are read through the tables' kept documents (streams/tables.py) and written at
    once: the next record may need them."""

    def __init__(self) -> None:
        self.chat: dict[str, tuple[dict, object]] = {}       # employee -> (state, their last message)
        self.behaviour: dict[str, tuple[dict, object]] = {}  # employee -> (state, their last message)
        self.pending: list = []

    directory = staticmethod(lookup)
    owner = staticmethod(customer_owner.get)

    def set_directory(self, employee: str, entry: dict) -> None:
        directory.put(employee, entry)

    def chat_state(self, employee: str) -> dict | None:
        return self.chat[employee][0] if employee in self.chat else chat_state.get(employee)

    def behaviour_state(self, employee: str) -> dict | None:
        return self.behaviour[employee][0] if employee in self.behaviour else behaviour_state.get(employee)

    async def alerts(self, alerts) -> None:
        now = int(time.time() * 1000)
        for alert in alerts:
            body = alert.to_dict()
            body["detected_at"] = now
            self.pending.append(await topics.alerts.send(key=alert.employee_id.encode(), value=orjson.dumps(body)))

    async def effects(self, out, employee: str) -> None:
        """Send everything one behaviour event set off."""
        if out.owner_updates:
            await _owner_changelog_known()
        for customer, value in out.owner_updates:
            customer_owner.put(customer, value)
        for t, k, v in out.messages:
            self.pending.append(await OUT[t].send(key=k.encode(), value=orjson.dumps(v)))
        await self.alerts(out.alerts)
        if out.risk is not None:
            self.pending.append(await risk_topic.send(key=employee.encode(), value=orjson.dumps(out.risk)))

    async def dead_letter(self, message, reason: str) -> None:
        counts["dead_lettered"] += 1
        self.pending.append(await deadletter.send(message, reason))

    async def finish(self) -> None:
        """Wait until Kafka has every effect, then write the states (each in its message's partition)."""
        if self.pending:
            await asyncio.gather(*self.pending)
        for table, states in ((chat_state, self.chat), (behaviour_state, self.behaviour)):
            for employee, (state, message) in states.items():
                with during(message):
                    table.put(employee, state)


async def _chat(batch: Batch, message, rules):
    """The content detectors on one `wecom.msgaudit` record; returns what the behaviour engine makes of
    it (decode_behaviour's answer), or None when the record was dead-lettered."""
    try:
        record, msg = decode_msgaudit(message.key, message.value)
    except RecordError as exc:
        await batch.dead_letter(message, str(exc))
        return None
    counts["chat_records"] += 1
    if msg is not None:
        employee = (message.key or b"").decode("utf-8", "replace")
        state = batch.chat_state(employee)
        try:
            new_state, alerts = detect_chat(msg, record, state, rules, batch.directory(employee))
        except RecordError as exc:  # a detector failed on it: dead-lettered, yet still a customer contact
            await batch.dead_letter(message, str(exc))
        else:
            partial = skipped(record, rules.rule("chat.content").max_text_chars)
            if partial:
                counts[partial] += 1
            if new_state is not None:
                batch.chat[employee] = (new_state, message)
            await batch.alerts(alerts)
    return chat_contact(record, msg)


async def _behaviour(batch: Batch, message, rules, decoded=None) -> None:
    """The behaviour engine on one record of any input topic; `decoded` is decode_behaviour's answer
    when the caller has it already (chat records)."""
    try:
        topic = message.topic
        employee, ev, upsert = decoded or decode_behaviour(LOGICAL.get(topic, topic), message.key, message.value)
        if upsert is not None:
            batch.set_directory(employee, upsert)
        state = batch.behaviour_state(employee)
        if ev is None or _already_applied(state, message):
            return
        out = process_behaviour(employee, ev, state, rules, batch.directory(employee), batch.owner)
    except RecordError as exc:
        await batch.dead_letter(message, str(exc))
        return
    await batch.effects(out, employee)
    batch.behaviour[employee] = (_commit(out.state, message), message)


@app.agent(inputs)
async def detect(stream):
    """Events in batches, a fetch or a few at a time (≤ settings.batch_max; streams/fetches.py): each
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


async def _detect(messages) -> None:
    """One batch (Kafka messages in partition order)."""
    batch, rules = Batch(), current_rules()
    for _, of_partition in groupby(messages, key=_partition):
        of_partition = list(of_partition)
        with during(of_partition[0]):
            for message in of_partition:
                if message.topic != "wecom.msgaudit":
                    await _behaviour(batch, message, rules)
                elif (contact := await _chat(batch, message, rules)) is not None:
                    await _behaviour(batch, message, rules, contact)
    counts["batches"] += 1
    counts["records"] += len(messages)
    await batch.finish()


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
