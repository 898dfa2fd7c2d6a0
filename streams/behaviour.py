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
customer handed away, a peer signal), `paodan.risk` (risk updates; the `live_risk` agent mirrors them
into Redis, sinks/redis_risk.py). Records that cannot be decoded go to `paodan.deadletter` — except
chat records, which the chat agent dead-letters already.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from detectors.context import NOTICE_TOPIC, TEAM_TOPIC
from sinks.redis_risk import LiveRisk
from sinks.retry import until_written
from streams import deadletter, topics
from streams.app import app, settings
from streams.directory import directory, lookup
from streams.processing import BEHAVIOUR_TOPICS, decode_behaviour, process_behaviour, process_team
from streams.records import RecordError
from streams.rules_state import current_rules

log = logging.getLogger(__name__)
RISK_TOPIC = "paodan.risk"


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


async def _deliver(out, employee: str) -> None:
    """Send everything the event set off and wait until Kafka has it.

    Only then is the new state written (with the record's offset in it): a crash before that replays
    the record from the old state and sends the same alerts again (same id and revision: sinks keep
    one); a crash after it finds the offset in the restored state and skips the record. No alert is
    lost and no event is counted twice."""
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
    if pending:
        await asyncio.gather(*pending)


def _commit(state: dict, msg) -> dict:
    state.setdefault("off", {})[f"{msg.topic}:{msg.partition}"] = msg.offset
    return state


@app.agent(inputs)
async def behaviour(stream):
    async for event in stream.events():
        msg = event.message
        try:
            employee, ev, upsert = decode_behaviour(msg.topic, event.key, event.value)
            if upsert is not None:
                directory[employee] = upsert
            state = behaviour_state.get(employee)
            if ev is None or _already_applied(state, msg):
                continue
            out = process_behaviour(employee, ev, state, current_rules(), lookup(employee), customer_owner.get)
        except RecordError as exc:
            if msg.topic != "wecom.msgaudit":  # the chat agent dead-letters bad chat records
                await deadletter.send(event, str(exc))
            continue
        await _deliver(out, employee)
        behaviour_state[employee] = _commit(out.state, msg)


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


_live: LiveRisk | None = None


@app.agent(risk_topic)
async def live_risk(stream):
    global _live
    async for events in stream.take_events(500, within=0.1):
        updates = []
        for e in events:
            try:
                updates.append(orjson.loads(e.value))
            except orjson.JSONDecodeError:
                log.error("paodan.risk holds a record that is not JSON at offset %s", e.message.offset)
        if not updates:
            continue
        if _live is None:
            _live = LiveRisk(settings.redis)
        await until_written(lambda: _live.upsert_many(updates), f"publish {len(updates)} risk updates to Redis")
