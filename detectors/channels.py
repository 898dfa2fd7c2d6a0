"""The company's own channels: a contact or channel many colleagues send is the company's, not one person's.

Every contact or channel target a content signal names — a mobile number, a WeChat id, a link's host,
a mini-program's username, a 名片's userid and its company — is a *target* (`target(signal)`: `kind:value`). Each
employee's closed day reports the targets they sent (`day_row`); one aggregate per branch (or
company) counts, over the last `WINDOW_DAYS` of closed days, the distinct employees and teams who sent
each target and the distinct employees who sent anything (the active senders).

A target is *proposed* as the company's own when it was sent by at least `share` of the active senders
— a share, not a count, so that a company of 10 and one of 500 are judged alike, with a floor of
`MIN_SENDERS` distinct employees — across at least `MIN_TEAMS` teams. One diverter, or a few in one
team, never make their private number the company's. An admin then confirms (the target goes into the
allow-lists, published as rules are) or rejects it (it flags again). Until a decision, a proposed
target is info: it never flags an employee (`is_own`).

Closed days are evaluated in day order with every list sorted, so the same rows give the same
proposals whatever order partitions delivered them in: replay and the worker agree.
"""

from __future__ import annotations

import math
from typing import Iterable

from detectors.content.signals import Signal

WINDOW_DAYS = 30
MIN_SENDERS = 3
MIN_TEAMS = 2
SHARE = 0.15
EXAMPLES = 3
DAY_MS = 86_400_000

# Signal kind → target kind. Bank cards and red packets are payments, never a company channel.
TARGET_KINDS = {
    "phone": "phone", "wechat_id": "wechat", "qq": "qq", "shop_link": "domain", "link": "domain",
    "weapp": "weapp", "competitor_weapp": "weapp", "card": "card",
}
PROPOSED, CONFIRMED, REJECTED = "proposed", "confirmed", "rejected"


def target(signal: Signal) -> str | None:
    """`kind:value` for a signal that names a contact or channel, else None."""
    kind = TARGET_KINDS.get(signal.kind)
    value = signal.normalized.strip().lower()
    return f"{kind}:{value}" if kind and value else None


def targets(signals: Iterable[Signal]) -> list[str]:
    """Every target the signals name: their own, and a 名片's company (corp:<name>)."""
    return sorted({t for t in map(target, signals) if t} | {s.channel for s in signals if s.channel})


def day_row(employee: str, team: str, day: int, sent: Iterable[str], example: str = "") -> dict:
    """What one employee's closed day tells the aggregate: who, which team, which targets."""
    return {"e": employee, "t": team, "d": day, "c": sorted(set(sent)), "x": example}


def add_day(agg: dict, row: dict) -> None:
    """Fold one employee-day into the aggregate (`{"days": {day: {employee: row}}}`), idempotently."""
    days = agg.setdefault("days", {})
    days.setdefault(str(row["d"]), {})[row["e"]] = row
    newest = max(int(d) for d in days)
    for d in [d for d in days if int(d) <= newest - WINDOW_DAYS]:
        days.pop(d)


def counts(agg: dict) -> tuple[int, dict[str, dict]]:
    """(active senders, {target: {"employees", "teams", "first", "examples"}}) over the window."""
    senders: set[str] = set()
    out: dict[str, dict] = {}
    for d in sorted(agg.get("days", {}), key=int):
        for emp in sorted(agg["days"][d]):
            row = agg["days"][d][emp]
            senders.add(emp)
            for t in row["c"]:
                c = out.setdefault(t, {"employees": set(), "teams": set(), "first": int(d), "examples": []})
                c["employees"].add(emp)
                c["teams"].add(row.get("t", ""))
                if row.get("x") and len(c["examples"]) < EXAMPLES:
                    c["examples"].append(row["x"])
    return len(senders), out


def needed(active: int, share: float = SHARE) -> int:
    """Distinct senders a target needs to be proposed: a share of the active senders, at least the floor."""
    return max(MIN_SENDERS, math.ceil(share * active))


def evaluate(agg: dict, decisions: dict[str, str], share: float = SHARE) -> dict[str, dict]:
    """Every target's standing: proposed/confirmed/rejected with its counts (for `paodan rules channels`).

    `decisions`: the admins' `{target: confirmed|rejected}` from the rules. Only proposed and decided
    targets are listed; a target no one decided and few send is an ordinary finding."""
    active, found = counts(agg)
    need = needed(active, share)
    out: dict[str, dict] = {}
    for t in sorted(set(found) | set(decisions)):
        c = found.get(t)
        n_emp = len(c["employees"]) if c else 0
        n_team = len({x for x in c["teams"] if x}) if c else 0
        status = decisions.get(t)
        if status is None and n_emp >= need and n_team >= MIN_TEAMS:
            status = PROPOSED
        if status is None:
            continue
        out[t] = {"status": status, "employees": n_emp, "teams": n_team, "active": active, "needed": need,
                  "first": c["first"] if c else None, "examples": list(c["examples"]) if c else []}
    return out


def own(standing: dict[str, dict]) -> frozenset[str]:
    """The targets that never flag an employee: proposed (awaiting a decision) and confirmed."""
    return frozenset(t for t, s in standing.items() if s["status"] in (PROPOSED, CONFIRMED))


def is_own(signal: Signal, own_targets: frozenset[str]) -> bool:
    t = target(signal)
    return (t is not None and t in own_targets) or (bool(signal.channel) and signal.channel in own_targets)


def as_info(signal: Signal) -> Signal:
    """The signal graded info and labelled as the company's own channel (kept as context)."""
    return Signal(signal.rule, signal.kind, "info", signal.label + "（公司自有渠道）", signal.written,
                  signal.normalized, signal.part, signal.start, signal.end, signal.contact, "channels",
                  signal.refers_to, signal.channel)


def revise(signals_by_alert: dict[str, list[Signal]], own_targets: frozenset[str]) -> list[str]:
    """Open alerts (id → their signals) that rest only on own channels: to be revised down to info."""
    return sorted(aid for aid, sigs in signals_by_alert.items()
                  if sigs and all(is_own(s, own_targets) for s in sigs))
