"""Alert hygiene: behaviour signals become alerts without flooding the board.

A detector returns `Signal`s (a rule crossed a line, with the numbers and the evidence). Signals of one
alert *group* for one employee become ONE alert:
- the id is deterministic: alert_id(group, employee, window of the first signal) — same events, same id;
- dedup: a signal that adds no evidence, no rule and no severity changes nothing (no new revision);
- cooldown: a signal of the same group within `cooldown_hours` of the alert's last signal updates that
  alert (new revision) instead of opening another one; so does a signal whose window starts where the
  alert's ends or earlier (a condition that persists day after day is one alert whose window grows);
- grouping: related rules share a group (e.g. self-approval and paid-without-approval are both
  `orders.approval`), so they read as one story with one explanation line per rule;
- escalation: the alert's severity is the highest of its signals; more evidence raises the score.
Open alerts are kept in the employee's state (`al`), compactly, and forgotten after the cooldown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from detectors.alert import SEVERITY_RANK, Alert, Evidence, alert_id, max_severity

BASE_SCORE = {"info": 10.0, "low": 30.0, "medium": 50.0, "high": 75.0, "critical": 90.0}
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# How long a forgotten alert's last revision is remembered: the longest `history_days` a rule may keep,
# since a day that old can still be checked again and must then continue, not restart, its revisions.
RETIRED_KEEP_MS = 120 * DAY_MS


@dataclass
class Signal:
    rule: str            # the specific rule that fired, e.g. orders.self_approval
    severity: str
    ts: int              # event time of the event that made it fire
    window: tuple[int, int]
    title: str           # zh-CN
    explanation: str     # zh-CN, quoting the numbers that crossed the line
    evidence: list[tuple[str, str]] = field(default_factory=list)  # (topic, id)
    group: str = ""      # alert group; defaults to the rule
    score: float | None = None  # the alert's score when the finding has one of its own (the risk score)

    def __post_init__(self) -> None:
        self.group = self.group or self.rule


def apply(state: dict, signal: Signal, employee: str, directory: dict, rules_version: str,
          cooldown_ms: int, max_evidence: int) -> Alert | None:
    """Merge `signal` into the employee's open alerts; return the alert to publish, or None."""
    open_alerts = state.setdefault("al", {})
    cur = open_alerts.get(signal.group)
    if cur is not None and signal.ts - cur["last"] > cooldown_ms and signal.window[0] > cur["we"]:
        _retire(state, cur)
        cur = None
    if cur is None:
        w0, w1 = signal.window
        aid = alert_id(signal.group, employee, w0, w1)
        # The same window checked again after its alert was forgotten: same id, so the next revision.
        past = state.get("ar", {}).pop(aid, None)
        cur = {"id": aid, "ws": w0, "we": w1, "sev": signal.severity,
               "rev": past[0] + 1 if past else 1, "ts": signal.ts, "last": signal.ts, "title": signal.title,
               "parts": {signal.rule: signal.explanation}, "ev": [list(e) for e in signal.evidence[:max_evidence]]}
        if signal.score is not None:
            cur["sc"] = signal.score
        open_alerts[signal.group] = cur
    else:
        known = {tuple(e) for e in cur["ev"]}
        fresh = [list(e) for e in signal.evidence if tuple(e) not in known]
        severity = max_severity(cur["sev"], signal.severity)
        if not fresh and severity == cur["sev"] and cur["parts"].get(signal.rule) == signal.explanation:
            return None  # the same thing said again
        room = max(0, max_evidence - len(cur["ev"]))
        cur["ev"].extend(fresh[:room])
        if SEVERITY_RANK[signal.severity] > SEVERITY_RANK[cur["sev"]]:
            cur["title"] = signal.title  # the most serious finding names the alert
        cur["sev"] = severity
        cur["parts"][signal.rule] = signal.explanation
        cur["rev"] += 1
        cur["ts"] = max(cur["ts"], signal.ts)
        cur["last"] = max(cur["last"], signal.ts)
        cur["we"] = max(cur["we"], signal.window[1])
        if signal.score is not None:
            cur["sc"] = signal.score
    return to_alert(cur, signal.group, employee, directory, rules_version)


def to_alert(cur: dict, group: str, employee: str, directory: dict, rules_version: str) -> Alert:
    score = cur.get("sc")
    if score is None:
        score = min(100.0, BASE_SCORE[cur["sev"]] + 3.0 * (len(cur["parts"]) - 1) + 0.5 * (len(cur["ev"]) - 1))
    return Alert(alert_id=cur["id"], rule=group, severity=cur["sev"], score=round(score, 1),
                 employee_id=employee, team=directory.get("team", ""), branch=directory.get("branch", ""),
                 ts=cur["ts"], window_start=cur["ws"], window_end=cur["we"], title=cur["title"],
                 explanation="；".join(cur["parts"].values()),
                 evidence=[Evidence(t, i) for t, i in cur["ev"]], rules_version=rules_version,
                 revision=cur["rev"])


def expire(state: dict, now: int, cooldown_ms: int) -> None:
    """Forget alerts whose cooldown has passed and whose window ended a day ago or more (a later signal
    opens a new alert; the day after the window may still continue it)."""
    open_alerts = state.get("al")
    if open_alerts:
        for group in [g for g, a in open_alerts.items()
                      if now - a["last"] > cooldown_ms and now - a["we"] >= DAY_MS]:
            _retire(state, open_alerts.pop(group))
    retired = state.get("ar")
    if retired:
        for aid in [a for a, (_, we) in retired.items() if now - we > RETIRED_KEEP_MS]:
            del retired[aid]


def _retire(state: dict, cur: dict) -> None:
    """Remember a forgotten alert's id and last revision (an id's revisions only ever grow)."""
    state.setdefault("ar", {})[cur["id"]] = [cur["rev"], cur["we"]]
