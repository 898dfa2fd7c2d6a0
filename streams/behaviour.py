"""Behaviour agents: the four input topics → per-employee behaviour state → alerts and risk updates.

Tables (declared here, beside the agents that use them; all changelog-backed, RocksDB on disk):
- `behaviour` — keyed by employee id: the engine's state (daily counters, open orders, pending
  replies, open alerts, risk contributions). Input topics are co-partitioned by employee, so the
  worker that owns an employee's partition owns all of their state.
- `customer_owner` — a GlobalTable keyed by customer id: `{"o": owner, "t": since, "b": first
  purchase}`. Every worker holds all of it (an employee may write to, or sell to, any customer).
  One changelog partition, as faust-streaming advises for global tables, so every write is ordered.
- `team_days` — keyed by team: closed-day summaries waiting for the rest of the team
  (detectors/peers.py). Fed by re-keying through `paodan.team-days`.
- the employee directory (streams/directory.py), upserted here from `hr.events` `employee` records.

Topics: `paodan.team-days` (team-keyed summaries), `paodan.behaviour` (employee-keyed notices: a
customer handed away, a peer signal), `paodan.risk` (risk updates; streams/live.py mirrors them into
Redis, sinks/redis_risk.py). Records that cannot be decoded go to `paodan.deadletter` — except
chat records, which the chat agent dead-letters already.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from contextlib import contextmanager

import orjson
from faust.streams import _current_event  # private: see _during

from detectors.context import NOTICE_TOPIC, TEAM_TOPIC
from streams import deadletter, topics
from streams.app import app, settings
from streams.directory import directory, lookup
from streams.processing import BEHAVIOUR_TOPICS, decode_behaviour, process_behaviour, process_team
from streams.records import RecordError
from streams.rules_state import current_rules

log = logging.getLogger(__name__)
RISK_TOPIC = "paodan.risk"
BATCH, BATCH_WAIT_S = 500, 0.05


def _topic(*names: str):
    return app.topic(*names, key_serializer="raw", value_serializer="raw", partitions=settings.partitions)


inputs = _topic(*BEHAVIOUR_TOPICS)
notices = _topic(NOTICE_TOPIC)
team_topic = _topic(TEAM_TOPIC)
risk_topic = _topic(RISK_TOPIC)
OUT = {NOTICE_TOPIC: notices, TEAM_TOPIC: team_topic}

behaviour_state = app.Table("behaviour", default=None)
team_days = app.Table("team_days", default=None)
customer_owner = app.GlobalTable("customer_owner", default=None, partitions=1, recovery_buffer_size=1,
                                 use_partitioner=True)


def _already_applied(state: dict | None, msg) -> bool:
    """True for a redelivered record whose effect the restored state already holds (see `_commit`)."""
    return state is not None and state.get("off", {}).get(f"{msg.topic}:{msg.partition}", -1) >= msg.offset


async def _send_effects(out, employee: str) -> list:
    """Send everything one event set off; returns the futures Kafka resolves when it has them."""
    for customer, value in out.owner_updates:
        customer_owner[customer] = value
    pending = [await OUT[t].send(key=k.encode(), value=orjson.dumps(v)) for t, k, v in out.messages]
    now = int(time.time() * 1000)
    for alert in out.alerts:
        body = alert.to_dict()
        body["detected_at"] = now
        pending.append(await topics.alerts.send(key=alert.employee_id.encode(), value=orjson.dumps(body)))
    if out.risk is not None:
        pending.append(await risk_topic.send(key=employee.encode(), value=orjson.dumps(out.risk)))
    return pending


def _commit(state: dict, msg) -> dict:
    state.setdefault("off", {})[f"{msg.topic}:{msg.partition}"] = msg.offset
    return state


@contextmanager
def _during(event):
    """Make `event` Faust's current event, as during `stream.events()`: table reads and writes then use
    its partition (RocksDB sub-store, changelog partition), which `take_events` batches leave unset."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


@app.agent(inputs)
async def behaviour(stream):
    """Events in small batches (≤ BATCH, ≤ BATCH_WAIT_S): each employee's state is read once, updated
    by every event of theirs in the batch and written once — one changelog record per employee per
    batch instead of one per event, which is what a Faust worker spends most of its time on.

    Effects first, state after: the batch's alerts, risk updates and internal messages are sent and
    acknowledged by Kafka, then the states are written (each with the offsets it covers), and only
    then does Faust ack the batch and let its offsets be committed. A crash before the state write
    replays the batch from the old state and re-sends identical alert revisions (sinks keep one); a
    crash after it finds the offsets in the restored state and skips those records. No alert is lost
    and no event is counted twice."""
    async for events in stream.take_events(BATCH, within=BATCH_WAIT_S):
        dirty: dict[str, tuple[dict, object]] = {}  # employee -> (state, their last event)
        pending: list = []
        rules = current_rules()
        for event in events:
            msg = event.message
            with _during(event):
                try:
                    employee, ev, upsert = decode_behaviour(msg.topic, event.key, event.value)
                    if upsert is not None:
                        directory[employee] = upsert
                    state = dirty[employee][0] if employee in dirty else behaviour_state.get(employee)
                    if ev is None or _already_applied(state, msg):
                        continue
                    out = process_behaviour(employee, ev, state, rules, lookup(employee), customer_owner.get)
                except RecordError as exc:
                    if msg.topic != "wecom.msgaudit":  # the chat agent dead-letters bad chat records
                        await deadletter.send(event, str(exc))
                    continue
                pending += await _send_effects(out, employee)
            dirty[employee] = (_commit(out.state, msg), event)
        if pending:
            await asyncio.gather(*pending)
        for employee, (state, event) in dirty.items():
            with _during(event):
                behaviour_state[employee] = state


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
            await deadletter.send(event, str(exc))
            continue
        await asyncio.gather(*[await OUT[t].send(key=k.encode(), value=orjson.dumps(v)) for t, k, v in messages])
        team_days[key] = _commit(state, msg)

