"""The company's own channels learned while detecting, in the worker and in `paodan replay` alike.

Each employee's chat state counts the contact and channel targets they send per local day
(detectors/channels.py `track`, in the content pipeline). Their first message on a later day closes
that day: the row goes to the company's aggregate, which evaluates closed days in day order and
answers every employee it knows with a `channels` notice when a target becomes proposed. The notice
updates the employee's chat state (`own`: graded info from then on) and revises their open alerts
that rest on nothing else.

Transport (streams/driver.py, `Channels`): a row is a team-days record under one key (`channels.KEY`),
so the team-days table holds the aggregate (detectors/peers.py hands the row to detectors/channels.py),
and a notice is a behaviour notice keyed by employee, applied to that employee's chat state by whoever
owns it — not a broadcast to every worker: a learned channel changes that employee's alerts, and only
the owner of their state may change it. Both take effect at once where their state is held (replay:
everywhere, on the chat side, in the replay's chat process when it has two), else through the topics.
"""

from __future__ import annotations

import copy

from config.rules import Rules
from detectors import channels
from detectors.alert import Alert


def closed_row(employee: str, before: dict | None, after: dict | None, directory: dict | None
               ) -> tuple[str, dict] | None:
    """(aggregate key, row) when the message that made `after` of `before` closed a chat day."""
    row = channels.closed_row(employee, (directory or {}).get("team", ""), before, after)
    return (channels.KEY, row) if row is not None else None


def apply(state: dict | None, notice: dict, rules: Rules) -> tuple[dict | None, list[Alert]]:
    """A `channels` notice on the employee's chat state: (new state or None, revised alerts)."""
    lim = rules.rule("chat.content")
    return channels.learn(state, notice, lim.own_channels | lim.proposed_channels, lim.rejected_channels,
                          rules.version)


def standing(team_state: dict | None, chat_states: dict[str, dict], directories: dict[str, dict],
             decisions: dict[str, str]) -> dict[str, dict]:
    """Every target's standing (detectors/channels.py `evaluate`) once the records have ended.

    The learner's aggregate (`team_state`, the team-days state under `channels.KEY`) lacks the closed
    days still waiting for colleagues and each employee's last day, which no later message closes: a
    copy gets both, so a finished replay counts every day, as `paodan rules channels` does."""
    state = team_state or {}
    agg = copy.deepcopy(state.get("a", {}))
    rows = [row for by_employee in state.get("p", {}).values() for row in by_employee.values()]
    for employee, chat in chat_states.items():
        ch = (chat or {}).get("ch")
        if ch:
            team = (directories.get(employee) or {}).get("team", "")
            rows.append(channels.day_row(employee, team, ch[0], ch[1], ch[2]))
    for row in sorted(rows, key=lambda r: (int(r["d"]), r["e"])):
        channels.add_day(agg, row)
    return channels.evaluate(agg, decisions)
