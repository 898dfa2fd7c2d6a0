"""The behaviour half of the driver over states in memory: what replay and the benchmarks hand records to.

A thin face of streams.driver (`Driver` over a `MemoryStore`): the same processing as the live worker,
with dicts for tables and internal notices applied at once (the driver's ordering rule).
"""

from __future__ import annotations

from typing import Any

from config.rules import Rules
from detectors.alert import Alert
from streams.driver import Driver, MemoryStore, Out
from formats.records import RecordError


class MemoryBehaviour:
    def __init__(self, rules: Rules, directory: dict[str, dict[str, Any]] | None = None,
                 driver: Driver | None = None):
        self.driver = driver if driver is not None else Driver(rules, MemoryStore(directory))
        store = self.driver.store
        self.rules = rules
        self.states: dict[str, dict] = store.behaviour
        self.directory = store.directories
        self.owners: dict[str, dict] = store.owners
        self.teams: dict[str, dict] = store.teams
        self.risk: dict[str, dict] = {}   # the latest risk update per employee

    @property
    def internal(self) -> int:
        return self.driver.internal

    def handle(self, topic: str, key: str | None, raw: bytes | dict) -> list[Alert]:
        """Process one input record and everything it sets off; RecordError for a bad record."""
        return self._alerts(self.driver.input(topic, key, raw))

    def handle_decoded(self, employee: str, event: Any, upsert: dict | None, notices=()) -> list[Alert]:
        """`handle` for a record already decoded (streams.processing.decode_behaviour's answer); a chat
        record's `notices` (its chat alerts, detectors/chat_notice.py) follow its event."""
        return self._alerts(self.driver.behaviour(employee, event, upsert, notices))

    def _alerts(self, out: Out) -> list[Alert]:
        if out.dead:
            raise RecordError(out.dead[0])
        for employee, update in out.risk:
            self.risk[employee] = update
        return out.alerts
