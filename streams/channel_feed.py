"""The company's own channels learned while detecting, in the worker and in `paodan replay` alike.

Each employee's chat state counts the contact and channel targets they send per local day
(detectors/channels.py `track`, in the content pipeline). Their first message on a later day closes
that day: the row goes to the company's aggregate, which evaluates closed days in day order and
answers every employee it knows with a `channels` notice when a target becomes proposed. The notice
updates the employee's chat state (`own`: graded info from then on) and revises their open alerts
that rest on nothing else.

Transport: the rows go through the team-days topic under one key (`channels.KEY`), so the team agent
and its changelogged table hold the aggregate (detectors/peers.py hands the row to
detectors/channels.py), and the notices through the behaviour-notices topic, keyed by employee, so they
reach the partition that owns the employee's chat state and are applied there, inside the batch that
writes it — not a broadcast to every worker: a learned channel changes that employee's alerts, and
only the owner of their state may change it. Replay (`MemoryChannels`) calls the same functions with
dicts, on the chat side (the replay's chat process, when it has two), at once.
"""

from __future__ import annotations

from typing import Any

import orjson

from config.rules import Rules
from detectors import channels
from detectors.alert import Alert
from streams.processing import process_team

_MARK = b'"kind":"' + channels.KIND.encode() + b'"'


def closed_row(employee: str, before: dict | None, after: dict | None, directory: dict | None
               ) -> tuple[str, dict] | None:
    """(aggregate key, row) when the message that made `after` of `before` closed a chat day."""
    row = channels.closed_row(employee, (directory or {}).get("team", ""), before, after)
    return (channels.KEY, row) if row is not None else None


def is_notice(raw: bytes | None) -> bool:
    """Whether a behaviour-notices record is a `channels` notice (for the chat state, not the engine)."""
    return bool(raw) and _MARK in raw and orjson.loads(raw).get("kind") == channels.KIND


def apply(state: dict | None, notice: dict, rules: Rules) -> tuple[dict | None, list[Alert]]:
    """A `channels` notice on the employee's chat state: (new state or None, revised alerts)."""
    lim = rules.rule("chat.content")
    return channels.learn(state, notice, lim.own_channels | lim.proposed_channels, lim.rejected_channels,
                          rules.version)


class MemoryChannels:
    """Replay's aggregate: rows folded and notices applied at once, to the replay's chat states."""

    def __init__(self, rules: Rules, chat_state: dict[str, dict[str, Any]]):
        self.rules = rules
        self.chat_state = chat_state
        self.states: dict[str, dict] = {}

    def closed(self, employee: str, before: dict | None, after: dict | None, directory: dict | None) -> list[Alert]:
        found = closed_row(employee, before, after, directory)
        if found is None:
            return []
        key, row = found
        # As through Kafka: JSON bytes in, JSON types out.
        self.states[key], messages = process_team(orjson.dumps(row), self.states.get(key), self.rules)
        revised: list[Alert] = []
        for _topic, emp, body in messages:
            new, alerts = apply(self.chat_state.get(emp), orjson.loads(orjson.dumps(body)), self.rules)
            if new is not None:
                self.chat_state[emp] = new
            revised.extend(alerts)
        return revised

    def proposals(self) -> dict[str, dict]:
        """What the aggregate has proposed so far (target → evidence)."""
        return dict(self.states.get(channels.KEY, {}).get("l", {}))
