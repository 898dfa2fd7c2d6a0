"""Peer comparison: branch-level aggregates of closed days, and the checks that need them.

State is per employee and partitioned by employee, but "compared with the team on the same day"
needs every colleague's figures in one place. When an employee's local day closes, their partition
sends a small *summary* of that day (orders, replies, stalled orders, approvals, conversion, own
baselines) to an internal topic keyed by **branch** (the team when the directory names no branch;
`paodan.team-days`), so one partition owns each branch's aggregate (`team_days` table). That
partition evaluates a day once the branch has reported it:

- every member seen in the last 7 days has reported that day or a later one, or
- someone has reported a day three or more days later (a member who stopped working cannot hold the
  others back for ever).

An employee's peer group is their team when it has `windows.min_peers` other members reporting that
day, else their branch (`Peers`). What a large share of a peer group does on a day
(`windows.crowd_share`: a promotion, a holiday rush, a slow season) is that group's norm: a check
whose own-baseline condition holds for that share of the group flags no one in it (`Peers.crowded`).
The branch aggregate also learns the company's approval practice over time (orders.learn_approvals).

Evaluating whole closed days — not running totals — makes the result independent of the order in
which partitions deliver: replay and the worker compare the same figures. The checks themselves live
with their families (orders.evaluate, conversion.evaluate); their signals go back to each employee's
partition through `paodan.behaviour`, where hygiene and the risk score handle them like any other.
"""

from __future__ import annotations

import statistics
from typing import Callable

from detectors import channels, commission, conversion, drip, followup, handover, orders, others
from detectors.context import NOTICE_TOPIC, TEAM_TOPIC, BehaviourRules, Ctx
from detectors.hygiene import Signal
from detectors.windows import day_window

ACTIVE_DAYS = 7
TIMEOUT_DAYS = 3


class Peers:
    """One day's rows of a branch, grouped by team: who an employee is compared with."""

    __slots__ = ("rows", "teams", "min_peers", "crowd_share")

    def __init__(self, rows: list[dict], rules: BehaviourRules):
        self.rows = rows
        self.teams: dict[str, list[dict]] = {}
        for r in rows:
            self.teams.setdefault(r.get("t", ""), []).append(r)
        self.min_peers = rules.windows.min_peers
        self.crowd_share = rules.windows.crowd_share

    def group(self, row: dict, keep: Callable[[dict], bool] = lambda r: True) -> tuple[list[dict], str]:
        """The colleagues (not the employee) the row is judged against, and what they are (zh)."""
        team = [r for r in self.teams.get(row.get("t", ""), ()) if r is not row and keep(r)]
        if len(team) >= self.min_peers:
            return team, "同组"
        branch = [r for r in self.rows if r is not row and keep(r)]
        if len(branch) >= self.min_peers:
            return branch, "同分公司"
        return [], ""

    def median(self, row: dict, key: str, keep: Callable[[dict], bool] = lambda r: True
               ) -> tuple[float | None, int, str]:
        """The median of `key` over the peers whose rows carry it (and pass `keep`): (median or None
        without enough such peers, how many, label)."""
        group, label = self.group(row, lambda r: key in r and keep(r))
        if not group:
            return None, 0, ""
        return statistics.median(r[key] for r in group), len(group), label

    def mean(self, row: dict, key: str, keep: Callable[[dict], bool] = lambda r: True
             ) -> tuple[float | None, int, str]:
        group, label = self.group(row, keep)
        if not group:
            return None, 0, ""
        return sum(r.get(key, 0) for r in group) / len(group), len(group), label

    def crowded(self, row: dict, hits: set[str]) -> bool:
        """Whether `hits` (who stand out against their own baseline) cover a large share of the row's
        group that day: then it is the group's norm, not a signal."""
        team = self.teams.get(row.get("t", ""), [])
        group = team if len(team) > self.min_peers else self.rows
        return sum(1 for r in group if r["e"] in hits) >= max(3, self.crowd_share * len(group))


def summary(state: dict, day: int, ctx: Ctx) -> None:
    """At an active day's close: send the day's figures to the branch's partition."""
    team = ctx.directory.get("team") or ""
    key = ctx.directory.get("branch") or team
    if not key:
        return
    body = {"e": ctx.employee, "d": day, "tz": ctx.tz, "t": team}
    body.update(orders.figures(state, day, ctx))
    body.update(conversion.figures(state, day, ctx))
    body.update(followup.figures(state, day, ctx))
    body.update(others.figures(state, day, ctx))
    body.update(commission.figures(state, day, ctx))
    body.update(drip.figures(state, day, ctx))
    body.update(handover.figures(state, ctx))
    ctx.messages.append((TEAM_TOPIC, key, body))


def signal_message(employee: str, sig: Signal) -> tuple[str, str, dict]:
    return (NOTICE_TOPIC, employee, {"kind": "signal", "employee_id": employee, "signal": {
        "rule": sig.rule, "severity": sig.severity, "ts": sig.ts, "window": list(sig.window), "title": sig.title,
        "explanation": sig.explanation, "evidence": [list(e) for e in sig.evidence], "group": sig.group}})


def signal_from(body: dict) -> Signal:
    s = body["signal"]
    return Signal(rule=s["rule"], severity=s["severity"], ts=int(s["ts"]), window=tuple(s["window"]),
                  title=s["title"], explanation=s["explanation"], evidence=[tuple(e) for e in s["evidence"]],
                  group=s.get("group", ""))


def on_summary(team_state: dict | None, body: dict, rules: BehaviourRules
               ) -> tuple[dict, list[tuple[str, str, dict]]]:
    """Fold one member's day summary into the team's state; evaluate the days now complete.

    A closed chat day (`kind` channels, key channels.KEY) goes to the company's channel aggregate."""
    if body.get("kind") == channels.KIND:
        st, told = channels.on_row(team_state, body)
        return st, [(NOTICE_TOPIC, employee, notice) for employee, notice in told]
    if body.get("kind") == others.LEAVE_KIND:  # a member's leave: colleagues may cover it
        return others.on_leave_row(team_state, body), []
    st = team_state if team_state is not None else {}
    if body.get("kind") == handover.KIND:  # a leaver's customers still held: checked as days are evaluated
        return handover.on_row(st, body), []
    reported = st.setdefault("r", {})
    pending = st.setdefault("p", {})
    day, member = int(body["d"]), body["e"]
    reported[member] = max(reported.get(member, day), day)
    if day > st.get("done", -1):
        pending.setdefault(str(day), {})[member] = body
    out: list[tuple[str, str, dict]] = []
    latest = max(reported.values())
    for key in sorted(pending, key=int):
        d = int(key)
        active = [m for m, last in reported.items() if last >= d - ACTIVE_DAYS]
        if not (all(reported[m] >= d for m in active) or latest >= d + TIMEOUT_DAYS):
            break
        rows = sorted(pending.pop(key).values(), key=lambda r: r["e"])
        window = day_window(d, rows[0].get("tz") or "Asia/Shanghai")
        group = Peers(rows, rules)
        found = (orders.evaluate(rows, d, window, rules, group, st)
                 + conversion.evaluate(rows, d, window, rules, group)
                 + followup.evaluate(rows, d, window, rules, group)
                 + others.evaluate(rows, d, window, rules, group, st)
                 + commission.evaluate(rows, window, rules, st)
                 + drip.evaluate(rows, d, window, rules, group, st)
                 + handover.evaluate(st, rows, window, rules))
        for employee, sig in found:
            out.append(signal_message(employee, sig))
        st["done"] = d
    for m in [m for m, last in reported.items() if last < latest - 30]:
        del reported[m]
    return st, out
