"""The behaviour tables in memory: what `paodan replay` (and the benchmarks) use instead of Faust.

The worker keeps employee state, the directory, customer ownership and team aggregates in Faust
tables and moves internal messages (team summaries, notices) through Kafka topics. Here the same
processing functions (streams.processing) run with dicts for tables and a queue for the internal
topics, so a file replays to the alerts the worker would raise.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import orjson

from config.rules import Rules
from detectors.alert import Alert
from formats.topics import TEAM_DAYS as TEAM_TOPIC
from streams.processing import decode_behaviour, process_behaviour, process_team


class MemoryBehaviour:
    def __init__(self, rules: Rules, directory: dict[str, dict[str, Any]] | None = None):
        self.rules = rules
        self.states: dict[str, dict] = {}
        self.directory = directory if directory is not None else {}
        self.owners: dict[str, dict] = {}
        self.teams: dict[str, dict] = {}
        self.risk: dict[str, dict] = {}   # the latest risk update per employee
        self.internal = 0                 # internal messages routed

    def handle(self, topic: str, key: str | None, raw: bytes | dict) -> list[Alert]:
        """Process one input record and everything it sets off; RecordError for a bad record."""
        alerts: list[Alert] = []
        self._drain(deque([(topic, key, raw)]), alerts)
        return alerts

    def handle_decoded(self, employee: str, event: Any, upsert: dict | None, notices=()) -> list[Alert]:
        """`handle` for a record already decoded (streams.processing.decode_behaviour's answer); a chat
        record's `notices` (its chat alerts, detectors/chat_notice.py) follow its event, as in the worker."""
        alerts: list[Alert] = []
        queue: deque[tuple[str, str | None, bytes]] = deque()
        self._event(employee, event, upsert, queue, alerts)
        for notice in notices:
            self._event(employee, notice, None, queue, alerts)
        if queue:
            self._drain(queue, alerts)
        return alerts

    def _drain(self, queue: deque, alerts: list[Alert]) -> None:
        while queue:
            t, k, r = queue.popleft()
            if t == TEAM_TOPIC:
                self.teams[k], messages = process_team(r, self.teams.get(k), self.rules)
                self._route(messages, queue)
            else:
                self._event(*decode_behaviour(t, k, r), queue, alerts)

    def _event(self, employee: str, event: Any, upsert: dict | None, queue: deque, alerts: list[Alert]) -> None:
        if upsert is not None:
            self.directory[employee] = upsert
        if event is None:
            return
        out = process_behaviour(employee, event, self.states.get(employee), self.rules,
                                self.directory.get(employee), self.owners.get)
        self.states[employee] = out.state
        for customer, value in out.owner_updates:
            self.owners[customer] = value
        if out.risk is not None:
            self.risk[employee] = out.risk
        alerts.extend(out.alerts)
        self._route(out.messages, queue)

    def _route(self, messages, queue: deque) -> None:
        for mt, mk, mv in messages:
            self.internal += 1
            queue.append((mt, mk, orjson.dumps(mv)))  # as through Kafka: a copy, in JSON types
