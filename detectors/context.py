"""What a behaviour detector sees besides its own state, and what it may ask for.

Detectors stay pure: they read look-ups through `Ctx` (the directory entry, customer ownership) and
*request* effects by appending to its lists — signals to raise, ownership changes to record, messages
for other partitions (team aggregates, notices to another employee). The worker turns those requests
into table writes and Kafka sends; `paodan replay` applies them in memory, in the same order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable

from config.behaviour_rules import (CommissionRule, ContactsRule, ConversionRule, DivertedRule, DripRule,
                                    FollowupRule, HrRule, HygieneRule, OrdersRule, RiskRule, WindowsRule)
from detectors.hygiene import Signal
from detectors.windows import DEFAULT_TZ, day_window, local_day
# Internal topics by their logical names (streams/detection.py maps them to the application's own
# topics; replay routes them in memory).
from formats.topics import NOTICES as NOTICE_TOPIC  # noqa: F401 - detectors address their messages by these
from formats.topics import TEAM_DAYS as TEAM_TOPIC  # noqa: F401


@dataclass(frozen=True)
class BehaviourRules:
    version: str
    windows: WindowsRule
    contacts: ContactsRule
    followup: FollowupRule
    orders: OrdersRule
    conversion: ConversionRule
    commission: CommissionRule
    hr: HrRule
    risk: RiskRule
    hygiene: HygieneRule
    diverted: DivertedRule
    drip: DripRule

    @classmethod
    def of(cls, rules: Any) -> "BehaviourRules":
        """From config.rules.Rules (cached on the Rules object: built once per rules version)."""
        cached = getattr(rules, "_behaviour", None)
        if cached is None:
            cached = cls(version=rules.version, **{n: rules.rule(n) for n in (
                "windows", "contacts", "followup", "orders", "conversion", "commission", "hr", "risk",
                "hygiene", "diverted", "drip")})
            object.__setattr__(rules, "_behaviour", cached)
        return cached


class Ctx:
    """Per event (one is made for every behaviour event): a plain class with slots rather than a
    dataclass, and the employee's timezone resolved once, because `day()` runs several times per event."""

    __slots__ = ("employee", "rules", "directory", "owner_of", "signals", "owner_updates", "messages", "tz")

    def __init__(self, employee: str, rules: BehaviourRules, directory: dict[str, Any],
                 owner_of: Callable[[str], dict | None]):
        self.employee = employee
        self.rules = rules
        self.directory = directory
        self.owner_of = owner_of    # customer id -> {"o": owner, "t": since, "b": first buy}
        self.signals: list[Signal] = []
        self.owner_updates: list[tuple[str, dict]] = []
        self.messages: list[tuple[str, str, dict]] = []  # (topic, key, value)
        # The directory entry does not change while one event is processed.
        self.tz: str = directory.get("timezone") or DEFAULT_TZ

    def day(self, ts: int) -> int:
        return local_day(ts, self.tz)

    def day_window(self, ts: int) -> tuple[int, int]:
        return day_window(self.day(ts), self.tz)

    def owner(self, customer: str) -> dict | None:
        """Ownership, seeing this event's own earlier updates first (replay and worker alike)."""
        if self.owner_updates:
            for c, value in reversed(self.owner_updates):
                if c == customer:
                    return value
        return self.owner_of(customer) if customer else None

    def set_owner(self, customer: str, value: dict) -> None:
        self.owner_updates.append((customer, value))

    def signal(self, sig: Signal) -> None:
        self.signals.append(sig)


def short(customer: str) -> int:
    """A compact, stable stand-in for a customer id inside employee state (sets of customers)."""
    return zlib.crc32(customer.encode())
