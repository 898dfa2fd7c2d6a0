"""The alert model (CONTRACT.md §6) and its deterministic id.

An alert is identified by what it is about — rule, employee and window — never by when it was
computed, so the live worker and `paodan replay` produce the same `alert_id` for the same events under
the same rules, and sinks can deduplicate redeliveries by id. When new evidence arrives in the same
window the alert keeps its id and its `revision` goes up; sinks keep the highest revision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def alert_id(rule: str, employee_id: str, window_start: int, window_end: int) -> str:
    """A hash of rule, employee and window: stable across processes, replays and restarts."""
    key = f"{rule}\x1f{employee_id}\x1f{window_start}\x1f{window_end}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def max_severity(a: str, b: str) -> str:
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b


@dataclass
class Evidence:
    topic: str
    id: str

    def to_dict(self) -> dict[str, str]:
        return {"topic": self.topic, "id": self.id}


@dataclass
class Alert:
    alert_id: str
    rule: str
    severity: str
    score: float
    employee_id: str
    team: str
    branch: str
    ts: int
    window_start: int
    window_end: int
    title: str
    explanation: str
    evidence: list[Evidence]
    rules_version: str
    # Extensions beyond §6 (allowed: the contract may be extended, never broken).
    revision: int = 1
    # Spans the board highlights: [{"id": msgid, "start": i, "end": j, "text": "…"}], offsets into the
    # original message text.
    highlights: list[dict[str, Any]] = field(default_factory=list)
    detected_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON shape; `detected_at` is stamped by the caller (detectors have no clock)."""
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "severity": self.severity,
            "score": self.score,
            "employee_id": self.employee_id,
            "team": self.team,
            "branch": self.branch,
            "ts": self.ts,
            "window": {"start": self.window_start, "end": self.window_end},
            "title": self.title,
            "explanation": self.explanation,
            "evidence": [e.to_dict() for e in self.evidence],
            "rules_version": self.rules_version,
            "detected_at": self.detected_at,
            "schema": SCHEMA_VERSION,
            "revision": self.revision,
            "highlights": self.highlights,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Alert":
        return cls(
            alert_id=d["alert_id"], rule=d["rule"], severity=d["severity"], score=float(d["score"]),
            employee_id=d["employee_id"], team=d.get("team", ""), branch=d.get("branch", ""),
            ts=int(d["ts"]), window_start=int(d["window"]["start"]), window_end=int(d["window"]["end"]),
            title=d["title"], explanation=d["explanation"],
            evidence=[Evidence(**e) for e in d.get("evidence", [])],
            rules_version=d["rules_version"], revision=int(d.get("revision", 1)),
            highlights=list(d.get("highlights", [])), detected_at=int(d.get("detected_at", 0)),
        )


def as_state(alert: Alert) -> dict[str, Any]:
    """Compact form kept in detector state (no detected_at: state must not depend on wall time)."""
    # Written out rather than dataclasses.asdict, which deep-copies generically and was a tenth of the
    # worker's time on chat records.
    return {
        "alert_id": alert.alert_id, "rule": alert.rule, "severity": alert.severity, "score": alert.score,
        "employee_id": alert.employee_id, "team": alert.team, "branch": alert.branch, "ts": alert.ts,
        "window_start": alert.window_start, "window_end": alert.window_end, "title": alert.title,
        "explanation": alert.explanation, "evidence": [e.to_dict() for e in alert.evidence],
        "rules_version": alert.rules_version, "revision": alert.revision,
        "highlights": [dict(h) for h in alert.highlights],
    }


def from_state(d: dict[str, Any]) -> Alert:
    d = dict(d)
    d["evidence"] = [Evidence(**e) for e in d["evidence"]]
    d["highlights"] = [dict(h) for h in d.get("highlights", [])]  # never mutate the caller's state
    return Alert(**d)
