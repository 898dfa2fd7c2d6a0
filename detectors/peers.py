"""Peer comparison: team-level aggregates of closed days, and the checks that need them.

State is per employee and partitioned by employee, but "compared with the team on the same day"
needs every team member's figures in one place. When an employee's local day closes, their partition
sends a small *summary* of that day (orders, own baseline, conversion figures) to an internal topic
keyed by **team** (`paodan.team-days`), so one partition owns each team's aggregate (`team_days`
table). That partition evaluates a day once the team has reported it:

- every member seen in the last 7 days has reported that day or a later one, or
- someone has reported a day three or more days later (a member who stopped working cannot hold the
  team back for ever).

Evaluating whole closed days — not running totals — makes the result independent of the order in
which partitions deliver: replay and the worker compare the same figures. The checks themselves live
with their families (orders.evaluate, conversion.evaluate); their signals go back to each employee's
partition through `paodan.behaviour`, where hygiene and the risk score handle them like any other.
"""

from __future__ import annotations

from detectors import conversion, orders
from detectors.context import NOTICE_TOPIC, TEAM_TOPIC, BehaviourRules, Ctx
from detectors.hygiene import Signal
from detectors.windows import day_window

ACTIVE_DAYS = 7
TIMEOUT_DAYS = 3


def summary(state: dict, day: int, ctx: Ctx) -> None:
    """At an active day's close: send the day's figures to the team's partition."""
    team = ctx.directory.get("team")
    if not team:
        return
    body = {"e": ctx.employee, "d": day, "tz": ctx.tz}
    body.update(orders.figures(state, day, ctx))
    body.update(conversion.figures(state, day, ctx))
    ctx.messages.append((TEAM_TOPIC, team, body))


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
    """Fold one member's day summary into the team's state; evaluate the days now complete."""
    st = team_state if team_state is not None else {}
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
        for employee, sig in orders.evaluate(rows, d, window, rules) + conversion.evaluate(rows, d, window, rules):
            out.append(signal_message(employee, sig))
        st["done"] = d
    for m in [m for m, last in reported.items() if last < latest - 30]:
        del reported[m]
    return st, out
