"""The company's own channels: a contact or channel many colleagues send is the company's, not one person's.

Every contact or channel target a content signal names — a mobile number, a WeChat id, a link's host,
a mini-program's username, a 名片's userid and its company — is a *target* (`target(signal)`: `kind:value`). Each
employee's closed day reports the targets they sent (`day_row`); one aggregate for the company counts,
over the last `WINDOW_DAYS` of closed days, the distinct employees and teams who sent each target and
the distinct employees who sent anything (the active senders).

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

from detectors.alert import as_state, from_state
from detectors.content.alerting import BASE_SCORE
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


def day_row(employee: str, team: str, day: int, sent: Iterable[str], example: str = "",
            through: int | None = None) -> dict:
    """What one employee's closed day tells the aggregate: who, which team, which targets; `through`:
    the last day the row speaks for (the employee sent nothing between `day` and it)."""
    row = {"e": employee, "t": team, "d": day, "c": sorted(set(sent)), "x": example}
    if through is not None and through > day:
        row["u"] = through
    return row


def add_day(agg: dict, row: dict) -> None:
    """Fold one employee-day into the aggregate, idempotently and in any order.

    Kept per employee and target, not per day, so that the aggregate stays small whatever the
    company's size: `{"n": newest day, "s": {employee: last active day}, "g": {target: {"e":
    {employee: [last day, team]}, "f": first day, "x": [[day, example], …]}}}`."""
    day, emp = int(row["d"]), row["e"]
    newest = max(agg.get("n", day), day)
    if day <= newest - WINDOW_DAYS:
        return
    agg["n"] = newest
    senders = agg.setdefault("s", {})
    senders[emp] = max(senders.get(emp, day), day)
    found = agg.setdefault("g", {})
    for t in row["c"]:
        c = found.setdefault(t, {"e": {}, "f": day, "x": []})
        last = c["e"].get(emp)
        if last is None or last[0] <= day:
            c["e"][emp] = [day, row.get("t", "")]
        c["f"] = min(c["f"], day)
        if row.get("x") and [day, row["x"]] not in c["x"]:
            c["x"] = sorted(c["x"] + [[day, row["x"]]])[:EXAMPLES]
    horizon = newest - WINDOW_DAYS
    for e in [e for e, d in senders.items() if d <= horizon]:
        del senders[e]
    for t in list(found):
        c = found[t]
        for e in [e for e, (d, _) in c["e"].items() if d <= horizon]:
            del c["e"][e]
        if not c["e"]:
            del found[t]


def counts(agg: dict) -> tuple[int, dict[str, dict]]:
    """(active senders, {target: {"employees", "teams", "first", "examples"}}) over the window."""
    out: dict[str, dict] = {}
    for t, c in agg.get("g", {}).items():
        out[t] = {"employees": set(c["e"]), "teams": {team for _, team in c["e"].values()}, "first": c["f"],
                  "examples": [x for _, x in c["x"]]}
    return len(agg.get("s", {})), out


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


# --- learning while detecting: the same aggregate, fed by every employee's closed chat days -------
#
# The chat detectors count, per employee and local day, the targets the employee sent (`track`, kept in
# the chat state as `ch`). The employee's first message on a later day closes that day (`closed_row`):
# the row goes to the company's aggregate (`on_row`, key `KEY`, through the team-days topic like the
# behaviour summaries) and days are evaluated in day order. A new proposal comes back to every
# employee the aggregate knows as a `channels` notice (`notice`), and to a newcomer with their first
# row; the chat state keeps what it learned (`own`) and `learn` revises the open alerts that rest on
# nothing else.

KIND = "channels"          # a channel row on the team-days topic, and the notice that answers it
KEY = "channels:company"   # one aggregate for the whole company: its own channels are the company's
ACTIVE_DAYS = 7            # a member seen in the last week is waited for…
TIMEOUT_DAYS = 1           # …unless someone has already closed a day this much later
WARMUP_DAYS = 7            # days the aggregate evaluates before an unknown contact may flag (see `warming`)
# Contact and channel kinds that may be the company's own (a competitor's shop or mini-program never is).
LEARNABLE = frozenset(("phone", "wechat_id", "qq", "link", "weapp", "card"))


def track(state: dict, day: int, sent: list[str], msgid: str) -> dict:
    """The chat state with one outbound message of local `day` counted (`ch`: [day, targets, example]);
    the same object when nothing changed. A late message of an earlier day is not counted."""
    ch = state.get("ch")
    if ch is not None:
        if day < ch[0]:
            return state
        if day == ch[0]:
            new = [t for t in sent if t not in ch[1]]
            if not new:
                return state
            return dict(state, ch=[day, sorted(ch[1] + new), ch[2] or msgid])
    return dict(state, ch=[day, sorted(set(sent)), msgid if sent else ""])


def closed_row(employee: str, team: str, before: dict | None, after: dict | None) -> dict | None:
    """The row of the day `after` closed (the employee's first message on a later day), or None."""
    old = before.get("ch") if before else None
    new = after.get("ch") if after else None
    if old is None or new is None or new[0] <= old[0]:
        return None
    return dict(day_row(employee, team, old[0], old[1], old[2], through=new[0] - 1), kind=KIND)


def notice(employee: str, learned: dict, warm: bool = False, rising: list | None = None) -> tuple[str, dict]:
    body = {"kind": KIND, "employee_id": employee, "learned": learned, "warm": warm}
    if rising:
        body["rising"] = rising
    return employee, body


def rising(agg: dict, learned: dict) -> list[str]:
    """Targets on their way to being learned: colleagues in several teams send them (`MIN_SENDERS`,
    `MIN_TEAMS`), not yet the share of active senders a proposal needs. One person's contact is only
    theirs; several colleagues' across teams is most likely the company's."""
    _, found = counts(agg)
    return sorted(t for t, c in found.items() if t not in learned and len(c["employees"]) >= MIN_SENDERS
                  and len({x for x in c["teams"] if x}) >= MIN_TEAMS)


def warming(signal: Signal, rejected: frozenset[str], only: frozenset[str] | None = None) -> Signal:
    """During the company's warm-up, an unknown contact or channel is low, not medium or high: it may
    turn out to be the company's own once colleagues' days are seen. After it, the same holds for the
    targets still `rising` (`only`). A rejected one, a competitor's shop and what is already info or low
    keep their grade."""
    t = target(signal)
    if signal.kind not in LEARNABLE or signal.severity in ("info", "low") or (t is not None and t in rejected):
        return signal
    if only is not None and not is_own(signal, only):
        return signal
    return Signal(signal.rule, signal.kind, "low", signal.label + "（公司渠道学习中）", signal.written,
                  signal.normalized, signal.part, signal.start, signal.end, signal.contact, signal.source,
                  signal.refers_to, signal.channel)


def on_row(st: dict | None, row: dict) -> tuple[dict, list[tuple[str, dict]]]:
    """Fold one closed chat day into the company's state; evaluate the days now complete, in day order.

    A day is complete when every member seen in the last `ACTIVE_DAYS` has closed it (or a later one),
    or when someone has closed a day `TIMEOUT_DAYS` later (the first day the aggregate sees: only so,
    as no member is known before it). A row of a day already evaluated (a member
    back from a day off) still counts from the next evaluation on. Returns (state, [(employee, notice)])."""
    st = st if st is not None else {}
    reported, pending = st.setdefault("r", {}), st.setdefault("p", {})
    agg, learned, told = st.setdefault("a", {}), st.setdefault("l", {}), st.setdefault("k", {})
    day, emp = int(row["d"]), row["e"]
    reported[emp] = max(reported.get(emp, day), int(row.get("u", day)))
    if "done" not in st:  # nobody is known yet on the first day: it waits for a later day's close
        st["first"] = min(st.get("first", day), day)
    if day > st.get("done", -1):
        pending.setdefault(str(day), {})[emp] = row
    else:
        add_day(agg, row)
    latest = max(reported.values())
    fresh = evaluated = False
    for key in sorted(pending, key=int):
        d = int(key)
        active = [m for m, last in reported.items() if last >= d - ACTIVE_DAYS]
        if not ((d > st["first"] and all(reported[m] >= d for m in active)) or latest >= d + TIMEOUT_DAYS):
            break
        for r in sorted(pending.pop(key).values(), key=lambda r: r["e"]):
            add_day(agg, r)
        for t, s in evaluate(agg, {}).items():
            if t not in learned:
                learned[t] = {"d": d, "employees": s["employees"], "teams": s["teams"], "active": s["active"]}
                fresh = True
        st["done"] = d
        evaluated = True
    for m in [m for m, last in reported.items() if last < latest - WINDOW_DAYS]:
        del reported[m]
    # Until the company has been seen for WARMUP_DAYS evaluated days, nobody can tell its channels from
    # a person's: the chat side grades unknown contacts low meanwhile (`warming`), and is told here.
    newly_warm = not st.get("warm") and "done" in st and st["done"] - st["first"] + 1 >= WARMUP_DAYS
    if newly_warm:
        st["warm"] = True
    warm = bool(st.get("warm"))
    # Rising targets are told when one joins (not when one leaves: the chat side keeps grading it low).
    if evaluated:
        st["rc"] = rising(agg, learned)
    now_rising = st.get("rc", [])
    new_rising = [t for t in now_rising if t not in st.get("ri", ())]
    if new_rising:
        st["ri"] = sorted(set(st.get("ri", ())) | set(new_rising))
        st["rn"] = st.get("rn", 0) + 1
    out: list[tuple[str, dict]] = []
    if learned or warm or now_rising:
        whom = sorted(set(agg.get("s", {})) | {emp}) if fresh or newly_warm or new_rising else [emp]
        mark = [len(learned), st.get("rn", 0), warm]
        for e in whom:
            if told.get(e) != mark:
                told[e] = mark
                out.append(notice(e, dict(learned), warm, now_rising))
    for e in [e for e in told if e not in reported]:
        del told[e]
    return st, out


def _signal_of(rule: str, h: dict) -> Signal:
    """A kept highlight as the signal it was (a 名片's company is in its label: 其他企业名片（X）)."""
    label = h.get("label", "")
    corp = label[len("其他企业名片（"):-1] if h.get("kind") == "card" and label.startswith("其他企业名片（") else ""
    return Signal(rule, h.get("kind", ""), h.get("severity", "info"), label, h.get("text", ""), h.get("term", ""),
                  channel=f"corp:{corp.lower()}" if corp else "")


def explain_learned(targets: list[str], learned: dict) -> str:
    zh = "；".join(f"{t}（{s['employees']} 名同事、{s['teams']} 个团队在 {WINDOW_DAYS} 天内发送过，"
                  f"活跃发送人 {s['active']} 名）" for t, s in ((t, learned[t]) for t in targets))
    en = "; ".join(f"{t} (sent by {s['employees']} colleagues in {s['teams']} teams within {WINDOW_DAYS} days, "
                   f"of {s['active']} active senders)" for t, s in ((t, learned[t]) for t in targets))
    return (f"已降为提示：{zh} 已被识别为公司自有渠道（待管理员确认），本告警仅依据这些渠道。"
            f"Revised to info: {en} learned as the company's own channel (awaiting an admin); this alert "
            f"rests on nothing else. ")


def learn(state: dict | None, body: dict, configured: frozenset[str], rejected: frozenset[str],
          version: str) -> tuple[dict | None, list]:
    """Apply a `channels` notice to an employee's chat state: (new state or None when nothing is new,
    the open alerts revised to info because they rest only on own channels, at least one just learned)."""
    state = state or {}
    learned = body.get("learned") or {}
    known = set(state.get("own", ()))
    new = sorted(t for t in learned if t not in known and t not in rejected)
    changed = False
    if body.get("warm") and not state.get("warm"):
        state, changed = dict(state, warm=True), True
    ris = sorted(t for t in body.get("rising", ()) if t not in rejected)
    if ris != state.get("rising", []):
        state, changed = dict(state, rising=ris), True
        if not ris:
            del state["rising"]
    if not new:
        return (state if changed else None), []
    own = frozenset(known.union(new)) - rejected
    state = dict(state, own=sorted(own))
    just = frozenset(new)
    candidates = {aid: [_signal_of(a["rule"], h) for h in a.get("highlights", ())]
                  for aid, a in state.get("open", {}).items() if a["severity"] != "info"}
    revised = []
    if candidates:
        opened = dict(state["open"])
        for aid in revise(candidates, own | configured):
            sigs = candidates[aid]
            named = sorted({t for s in sigs for t in (target(s), s.channel) if t in just})
            if not named:
                continue  # rests on channels known before: revised then, or configured
            alert = from_state(opened[aid])
            alert.revision += 1
            alert.severity = "info"
            alert.score = BASE_SCORE["info"]
            alert.rules_version = version
            alert.highlights = [dict(h, severity="info") for h in alert.highlights]
            alert.explanation = explain_learned(named, learned) + alert.explanation
            opened[aid] = as_state(alert)
            revised.append(alert)
        state["open"] = opened
    return state, revised
