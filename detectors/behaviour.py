"""The behaviour engine: one employee's event through every behaviour detector, hygiene and the risk score.

    outcome = process(state, event, ctx)

`state` is the employee's dict (the worker's `behaviour` table value, replay's in-memory dict); the
engine updates it and hands it back in `outcome.state`. Per event:
1. event time: the input's watermark advances; an event older than that watermark −
   `lateness_minutes` is counted (`late`) and otherwise ignored, so windows stay bounded;
2. the event's family detector runs (chat → followup, contacts, orders → orders/commission/conversion,
   HR → hr; orders and contacts also → diverted); notices from other partitions (a customer handed
   away, a team-level signal) are applied, and so are the chat alerts of the employee's own chat
   records (detectors/chat_notice.py: they feed the risk score and detectors/diverted.py);
3. local days that are over for every live input (windows.clock, `day_close_grace_minutes` after
   midnight) are closed: follow-up rate,
   stalled orders, and a summary to the branch (detectors/peers.py), where peers are compared;
4. signals become alerts through hygiene (dedup, cooldown, grouping, escalation), and alerts feed the
   risk score, whose level crossings are alerts too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detectors import chat_notice, contacts, diverted, drip, followup, handover, hr, hygiene, orders, peers, risk
from detectors.alert import Alert
from detectors.context import Ctx
from detectors.events import ChatTouch, ContactEvent, HrEvent, OrderEvent
from detectors.windows import DAY_MS, accept, clock, day_window, prune

STATE_VERSION = 1
SOURCES = {ChatTouch: "c", ContactEvent: "k", OrderEvent: "o", HrEvent: "h"}  # per-input watermarks


@dataclass(slots=True)
class Outcome:
    state: dict
    alerts: list[Alert] = field(default_factory=list)
    risk: dict | None = None                       # the employee's new risk score, when it changed
    owner_updates: list[tuple[str, dict]] = field(default_factory=list)
    messages: list[tuple[str, str, dict]] = field(default_factory=list)


def _close_days(state: dict, ctx: Ctx) -> None:
    w = ctx.rules.windows
    closable = ctx.day(clock(state) - w.day_close_grace_minutes * 60_000) - 1
    last = state.get("cd")
    if last is None:
        state["cd"] = closable
        return
    if closable <= last:
        return
    days = state.get("d", {})
    for day in range(max(last + 1, closable - w.history_days), closable + 1):
        active = str(day) in days
        if active:
            followup.close_day(state, day, ctx)
        if day > closable - 7:
            # Every closed day in turn (not only the last): the count must not depend on how far one
            # event moved the clock.
            followup.stalled(state, day, ctx)
        if active:
            peers.summary(state, day, ctx)
    # Times below are the closed day's end, not the watermark: the same for any arrival order.
    end = day_window(closable, ctx.tz)[1]
    orders.forget_finished(state, end - 2 * DAY_MS)
    state["cd"] = closable
    prune(state, closable, w.history_days)
    diverted.close(state, end, ctx)
    hygiene.expire(state, end, ctx.rules.hygiene.cooldown_hours * 3_600_000)
    risk.relax(state, end, ctx.rules.risk)


def _notice(state: dict, body: dict, ctx: Ctx) -> dict | None:
    """Apply a notice; a chat alert's (detectors/chat_notice.py) answers what the risk score folds in."""
    kind = body.get("kind")
    if kind == "lost_customer":
        hr.lost_customer(state, body)
    elif kind == "signal":
        ctx.signal(peers.signal_from(body))
    elif kind == chat_notice.KIND:
        drip.on_chat_alert(state, body, ctx)
        return diverted.on_chat_alert(state, body, ctx)
    return None


def process(state: dict | None, event: Any, ctx: Ctx) -> Outcome:
    state = state if state is not None else {"v": STATE_VERSION}
    chat = None
    if isinstance(event, dict):  # a notice from another partition: not an event of this employee's timeline
        chat = _notice(state, event, ctx)
        now = max(state.get("wm", 0), int(event.get("ts", 0)))
    else:
        kind = type(event)  # exactly one of SOURCES' types (a KeyError for any other)
        if not accept(state, SOURCES[kind], event.ts, ctx.rules.windows.lateness_minutes * 60_000):
            state["late"] = state.get("late", 0) + 1
            return Outcome(state)
        if kind is ChatTouch:
            followup.on_chat(state, event, ctx)
            handover.on_chat(state, event, ctx)
            diverted.on_chat(state, event, ctx)
        elif kind is OrderEvent:
            orders.on_order(state, event, ctx)
            diverted.on_order(state, event, ctx)
            handover.on_order(state, event, ctx)
        elif kind is ContactEvent:
            handover.on_contact(state, event, ctx)
            contacts.on_contact(state, event, ctx)
            diverted.on_contact(state, event, ctx)
        elif kind is HrEvent:
            hr.on_hr(state, event, ctx)
        _close_days(state, ctx)
        now = state["wm"]
    handover.report(state, ctx, now)  # a leaver's customers still held, to the branch (when it changed)
    out = Outcome(state, [], None, ctx.owner_updates, ctx.messages)  # positional: one is made per event
    if not ctx.signals and chat is None:
        return out
    h = ctx.rules.hygiene
    cooldown = h.cooldown_hours * 3_600_000
    for sig in ctx.signals:
        alert = hygiene.apply(state, sig, ctx.employee, ctx.directory, ctx.rules.version, cooldown, h.max_evidence)
        if alert is not None:
            out.alerts.append(alert)
    # The score is taken at the alerts' own event time (not the watermark, which depends on how the
    # inputs interleaved): the same alerts give the same score and level crossing, live or in replay.
    times = [a.ts for a in out.alerts] + ([chat["ts"]] if chat is not None else [])
    now = max(times) if times else now
    update, crossing = risk.update(state, out.alerts, now, ctx.rules.risk, day_window(ctx.day(now), ctx.tz), chat)
    if update is not None:
        out.risk = {"employee_id": ctx.employee, "team": ctx.directory.get("team", ""),
                    "branch": ctx.directory.get("branch", ""), **update}
    if crossing is not None:
        alert = hygiene.apply(state, crossing, ctx.employee, ctx.directory, ctx.rules.version, cooldown,
                              h.max_evidence)
        if alert is not None:
            out.alerts.append(alert)
    return out
