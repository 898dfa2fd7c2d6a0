"""One detection path: decoded records in, effects out — for the worker, replay, back-tests and benches.

`Driver` runs the detectors on one record at a time over the states a `Store` holds and answers an
`Out`: the alerts raised, risk updates, notices for states held elsewhere and dead-letter reasons.
State, ownership and directory changes go to the store as they happen (the worker's store keeps them
for the batch's end, replay's is a set of dicts). No Kafka, no Faust here: the live worker
(streams/detection.py), `paodan replay` (streams/replay.py, streams/replay_split.py), `paodan rules
backtest`, `calibrate` and the benchmarks all call this class.

The ordering rule, the same everywhere: **a notice the engine sends itself takes effect right after the
record that set it off, before the next record.** Notices are a customer handed away, an employee's
closed day to their team's aggregate and the peer signals it answers, a closed chat day to the
company's channel aggregate and the `channels` notices it answers, and a chat alert to its employee's
behaviour state. They are applied at once, breadth first, wherever the store holds the state they are
for (`Store.place`); only a notice for a state held by another worker goes out (`Out.publish`), and is
applied where it arrives. Replay holds every state, and so does a worker that owns every partition;
with records taken in the order they were written (faustkit/fetches.py, aligned on the input topics),
such a worker ends with the alerts replay raises from the same records in that order. What Kafka
keeps of that order between partitions is the records' timestamps: records of one millisecond in
different partitions are taken in partition order, so a feed whose records of one millisecond
interact must stamp them in its own order (bench/bench_faults.py `--stamped`).

Redelivery: with a `source` (the Kafka record being processed), every behaviour and team state a
record changes remembers the record's offset (`off`), so a record whose effects a restored state
already holds — its own or a notice it set off — is not applied to it twice.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from config.rules import Rules
from detectors import channels
from detectors.alert import Alert
from detectors.context import NOTICE_TOPIC, TEAM_TOPIC
from detectors.events import ChatMessage
from streams import channel_feed
from streams.processing import (chat_contact, chat_notices, decode_behaviour, detect_chat, process_behaviour,
                                process_team)
from formats.records import RecordError

CHAT, BEHAVIOUR, TEAM = "chat", "behaviour", "team"  # the kinds of state a store holds
# The field that marks a notice on an internal topic as a log of one applied at once (`Out.applied`):
# the worker still sends those, so the topics tell what the engine told itself, and no one applies them.
LOGGED = "applied"


class Store(Protocol):
    """The states a driver reads and changes. `where` is what `place` answered for the state's key (or
    the record being processed, for its own employee): the store's business, never the driver's."""

    def get(self, kind: str, key: str, where: Any) -> dict | None: ...
    def put(self, kind: str, key: str, doc: dict, where: Any) -> None: ...
    def owner(self, customer: str) -> dict | None: ...
    def set_owner(self, customer: str, value: dict, where: Any) -> None: ...
    def directory(self, employee: str, where: Any = None) -> dict | None: ...
    def set_directory(self, employee: str, entry: dict) -> None: ...
    def place(self, topic: str, key: str) -> Any:
        """Where the state a notice on `topic` under `key` is for is held here, or None (elsewhere)."""


@dataclass(slots=True)
class Out:
    """What one record set off, in the order it happened."""

    alerts: list[Alert] = field(default_factory=list)
    risk: list[tuple[str, dict]] = field(default_factory=list)              # (employee, risk update)
    publish: list[tuple[str, str, dict]] = field(default_factory=list)      # (logical topic, key, body)
    applied: list[tuple[str, str, dict]] = field(default_factory=list)      # notices applied here, likewise
    dead: list[str] = field(default_factory=list)                           # reasons to dead-letter it
    contact: tuple | None = None  # a chat record's (employee, contact event, upsert) for the behaviour half
    notices: list = field(default_factory=list)  # and its chat alerts' notices (detectors/chat_notice.py)


class MemoryStore:
    """Every state in dicts, all held here: what replay and the benchmarks use."""

    HERE = True

    def __init__(self, directory: dict[str, dict] | None = None) -> None:
        self.chat: dict[str, dict] = {}
        self.behaviour: dict[str, dict] = {}
        self.teams: dict[str, dict] = {}
        self.owners: dict[str, dict] = {}
        self.directories: dict[str, dict] = directory if directory is not None else {}
        self._kinds = {CHAT: self.chat, BEHAVIOUR: self.behaviour, TEAM: self.teams}

    def get(self, kind: str, key: str, where: Any) -> dict | None:
        return self._kinds[kind].get(key)

    def put(self, kind: str, key: str, doc: dict, where: Any) -> None:
        self._kinds[kind][key] = doc

    def owner(self, customer: str) -> dict | None:
        return self.owners.get(customer)

    def set_owner(self, customer: str, value: dict, where: Any) -> None:
        self.owners[customer] = value

    def directory(self, employee: str, where: Any = None) -> dict | None:
        return self.directories.get(employee)

    def set_directory(self, employee: str, entry: dict) -> None:
        self.directories[employee] = entry

    def place(self, topic: str, key: str) -> Any:
        return self.HERE


_offset_keys: dict = {}  # (topic, partition) -> "topic:partition", made once (this runs for every record)


def _offset_key(source) -> str:
    tp = (source.topic, source.partition)
    key = _offset_keys.get(tp)
    if key is None:
        key = _offset_keys[tp] = f"{source.topic}:{source.partition}"
    return key


def applied(state: dict | None, source) -> bool:
    """True when `state` already held the effects of `source` before it came (a redelivered record;
    see `committed`). Ask only before the record first changed the state (`Driver._first`)."""
    if source is None or state is None:
        return False
    offsets = state.get("off")
    return offsets is not None and offsets.get(_offset_key(source), -1) >= source.offset


def committed(state: dict, source) -> dict:
    """`state`, remembering that it holds the effects of `source` (and of every record before it there)."""
    if source is not None:
        offsets = state.get("off")
        if offsets is None:
            offsets = state["off"] = {}
        offsets[_offset_key(source)] = source.offset
    return state


class Driver:
    """The detectors over one store; see the module docstring. `source` arguments are the Kafka record
    being processed (`.topic`, `.partition`, `.offset`), or None (replay: no redelivery)."""

    def __init__(self, rules: Rules, store: Store) -> None:
        self.rules = rules
        self.store = store
        self.channels = Channels(self)
        self.internal = 0  # notices applied here
        self._out: Out | None = None  # the chat record's while its closed day is folded (Channels.closed)
        self._seen: set[tuple[str, str]] = set()  # states this step of a record reached already

    def _first(self, kind: str, key: str, state: dict | None, source) -> bool:
        """Whether `source` is to be applied to this state: False when the state held its effects
        before it came (a redelivery); True again whenever the record reaches the state once more
        (one record can close several days of one team, or signal its own employee)."""
        if source is None:
            return True
        if (kind, key) in self._seen:
            return True
        self._seen.add((kind, key))
        return not applied(state, source)

    # --- chat content --------------------------------------------------------------------------

    def chat(self, employee: str, record: dict, msg: ChatMessage | None, source=None, contact: bool = True) -> Out:
        """The content detectors on one decoded `wecom.msgaudit` record of `employee`; `out.contact` and
        `out.notices` are what the behaviour half then takes (`contact`), unless `contact` is False (a
        media result: the chat was a contact already)."""
        out = Out()
        self._seen = set()
        if msg is not None:
            store = self.store
            before = store.get(CHAT, employee, source)
            directory = store.directory(employee, source)
            try:
                new_state, alerts = detect_chat(msg, record, before, self.rules, directory)
            except RecordError as exc:  # a detector failed on it: dead-lettered, yet still a customer contact
                out.dead.append(str(exc))
            else:
                out.alerts.extend(alerts)
                if new_state is not None:
                    store.put(CHAT, employee, new_state, source)
                    self._out = out
                    try:
                        out.alerts.extend(self.channels.closed(employee, before, new_state, directory, source))
                    finally:
                        self._out = None
                out.notices = chat_notices(alerts, record, msg)
        if contact:
            out.contact = chat_contact(record, msg)
        return out

    def learned(self, employee: str, notice: dict, out: Out, source=None, where=None) -> None:
        """A `channels` notice (streams/channel_feed.py) on the employee's chat state."""
        store = self.store
        where = source if where is None else where
        new_state, alerts = channel_feed.apply(store.get(CHAT, employee, where), notice, self.rules)
        out.alerts.extend(alerts)
        if new_state is not None:
            store.put(CHAT, employee, new_state, where)

    # --- behaviour -------------------------------------------------------------------------------

    def input(self, topic: str, key, value, source=None) -> Out:
        """A contact, order or HR record (or a chat record for the behaviour engine alone)."""
        out = Out()
        try:
            employee, event, upsert = decode_behaviour(topic, key, value)
        except RecordError as exc:
            out.dead.append(str(exc))
            return out
        return self.behaviour(employee, event, upsert, (), source, out)

    def contact(self, out: Out, source=None) -> Out:
        """The behaviour half of a chat record whose content half `out` is (`Driver.chat`)."""
        if out.contact is None:
            return out
        employee, event, upsert = out.contact
        return self.behaviour(employee, event, upsert, out.notices, source, out)

    def behaviour(self, employee: str, event: Any, upsert: dict | None, notices=(), source=None,
                  out: Out | None = None) -> Out:
        """The engine on one decoded event (decode_behaviour's answer) of the employee and the notices
        of their chat alerts that follow it, then on everything they set off (breadth first)."""
        out = out if out is not None else Out()
        self._seen = set()
        if upsert is not None:
            self.store.set_directory(employee, upsert)
        queue: deque = deque()
        state = self.store.get(BEHAVIOUR, employee, source)
        if not self._first(BEHAVIOUR, employee, state, source):
            return out
        events = ([event] if event is not None else []) + list(notices)
        for ev in events:
            state = self._event(employee, ev, state, source, source, queue, out)
        if events:
            self.store.put(BEHAVIOUR, employee, committed(state, source), source)
        self._drain(queue, source, out)
        return out

    def notice(self, topic: str, key: str, body: dict, source=None) -> Out:
        """A notice that came from elsewhere (another worker sent it through Kafka), applied here. One
        marked `applied` is the log of a notice applied at once where it was made (see `LOGGED`)."""
        out = Out()
        if body.get(LOGGED):
            return out
        self._seen = set()
        self._drain(deque([(topic, key, body, source)]), source, out)
        return out

    def _event(self, employee: str, event: Any, state: dict | None, source, where, queue: deque, out: Out) -> dict:
        result = process_behaviour(employee, event, state, self.rules, self.store.directory(employee, where),
                                   self.store.owner)
        for customer, value in result.owner_updates:
            self.store.set_owner(customer, value, where)
        out.alerts.extend(result.alerts)
        if result.risk is not None:
            out.risk.append((employee, result.risk))
        for topic, key, body in result.messages:
            self._route(topic, key, body, queue, out)
        return result.state

    def _route(self, topic: str, key: str, body: dict, queue: deque, out: Out) -> None:
        where = self.store.place(topic, key)
        if where is None:
            out.publish.append((topic, key, body))
        else:
            out.applied.append((topic, key, body))
            queue.append((topic, key, orjson.loads(orjson.dumps(body)), where))  # as through Kafka: JSON types

    def _drain(self, queue: deque, source, out: Out) -> None:
        store = self.store
        while queue:
            topic, key, body, where = queue.popleft()
            self.internal += 1
            if topic == TEAM_TOPIC:
                team = store.get(TEAM, key, where)
                if not self._first(TEAM, key, team, source):
                    continue
                team, messages = process_team(body, team, self.rules)
                store.put(TEAM, key, committed(team, source), where)
                for t, k, b in messages:
                    self._route(t, k, b, queue, out)
            elif body.get("kind") == channels.KIND:
                self.learned(key, body, out, source, where)
            else:
                employee, event, _ = decode_behaviour(NOTICE_TOPIC, key, body)
                state = store.get(BEHAVIOUR, employee, where)
                if not self._first(BEHAVIOUR, employee, state, source):
                    continue
                state = self._event(employee, event, state, source, where, queue, out)
                store.put(BEHAVIOUR, employee, committed(state, source), where)


class Channels:
    """The company's channel aggregate (streams/channel_feed.py), fed by the chat half: a closed chat
    day folds in at once when the store holds the aggregate, and its `channels` notices apply at once
    to the chat states held here."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    def closed(self, employee: str, before: dict | None, after: dict | None, directory: dict | None,
               source=None) -> list[Alert]:
        """The alerts revised by what the closed day (if `after` closed one) taught the aggregate."""
        found = channel_feed.closed_row(employee, before, after, directory)
        if found is None:
            return []
        key, row = found
        driver = self.driver
        out = driver._out if driver._out is not None else Out()
        revised = Out()
        queue: deque = deque()
        driver._route(TEAM_TOPIC, key, row, queue, out)
        driver._drain(queue, source, revised)
        out.publish.extend(revised.publish)
        out.applied.extend(revised.applied)
        return revised.alerts

    def proposals(self) -> dict[str, dict]:
        """What the aggregate has proposed so far (target → evidence)."""
        state = self.driver.store.get(TEAM, channels.KEY, None)
        return dict((state or {}).get("l", {}))
