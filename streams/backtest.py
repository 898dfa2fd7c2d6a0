"""`paodan rules backtest RULES_FILE --since 30d` — what a rules file would have raised on the archive.

The archived records of the period are read back from ClickHouse day by day, merged into event-time
order and fed, in the replay format (CONTRACT §8), through `streams.replay.Replay` — the same detectors
the worker and `paodan replay` run. The report says how many alerts each rule would raise and for whom,
next to what was raised live, and estimates each rule's precision from the investigators' verdicts:
a back-test alert is labelled by the resolution (alert_actions) of the past alert with the same
`alert_id`, else of a past alert that cited the same evidence message. Precision = true positives /
labelled alerts (false positives and benign ones count against it).

Records come back as they were archived (`raw`), one per natural id. Chat records are re-keyed as the
archive loader keys them: by the internal sender, else one copy per internal recipient. The employee
directory is primed with everyone's latest HR `employee` record from before the period.
"""

from __future__ import annotations

import heapq
import io
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any, Callable, Iterator

import orjson

from config.rules import Rules
from formats.topics import CONTACTS, HR, MSGAUDIT, ORDERS
from sinks.clickhouse.connection import Archive
from sinks.clickhouse.rows import day
from sinks.history import is_internal
from streams.replay import Replay

# (topic, query of (ts, key-or-'', raw) for one day, in event-time order, one row per natural id)
_DAY_QUERIES = (
    (HR, "SELECT ts, employee_id, raw FROM {db}.hr_events WHERE event_date = %(d)s "
                  "ORDER BY ts, employee_id, type, record_key LIMIT 1 BY employee_id, ts, type, record_key"),
    (CONTACTS, "SELECT ts, employee_id, raw FROM {db}.contact_events WHERE event_date = %(d)s "
                       "ORDER BY ts, employee_id LIMIT 1 BY employee_id, create_time, change_type, "
                       "external_user_id, corpid"),
    (ORDERS, "SELECT ts, employee_id, raw FROM {db}.orders WHERE event_date = %(d)s "
                   "ORDER BY ts, employee_id, order_id, event LIMIT 1 BY employee_id, order_id, event, ts"),
    (MSGAUDIT, "SELECT msgtime, '', raw FROM {db}.messages WHERE msg_date = %(d)s "
                       "ORDER BY msgtime, msgid LIMIT 1 BY msgid"),
)
_TOPIC_ORDER = {topic: i for i, (topic, _) in enumerate(_DAY_QUERIES)}  # at equal times: HR first
PROGRESS_EVERY = 25_000  # records between progress lines within a day
DIRECTORY_QUERY = ("SELECT employee_id, argMax(raw, ts) FROM {db}.hr_events WHERE type = 'employee' "
                   "AND ts < %(t0)s GROUP BY employee_id ORDER BY employee_id")


def chat_keys(record: dict[str, Any]) -> list[str]:
    """The Kafka keys the archive loader gives a chat record (CONTRACT §2)."""
    sender = str(record.get("from") or record.get("user") or "")
    if is_internal(sender):
        return [sender]
    tolist = record.get("tolist") if isinstance(record.get("tolist"), list) else []
    return [str(t) for t in tolist if is_internal(str(t))] or [sender]


def _envelope(topic: str, key: str, raw: str) -> bytes:
    return orjson.dumps({"topic": topic, "key": key, "value": orjson.Fragment(raw)})


def archived_records(archive: Archive, since_ms: int, until_ms: int,
                     on_day: Callable[[str, int, int], None] | None = None) -> Iterator[tuple[str, bytes]]:
    """(where, replay line) for every archived record of [since, until], in event-time order."""
    db = archive.database
    for employee, raw in archive.execute(DIRECTORY_QUERY.format(db=db), {"t0": since_ms}):
        yield f"hr_events:{employee}", _envelope(HR, employee, raw)
    first, last = day(since_ms), day(until_ms)
    days = (last - first).days + 1
    for n in range(days):
        d = first + timedelta(days=n)
        streams = []
        for topic, sql in _DAY_QUERIES:
            rows = archive.execute(sql.format(db=db), {"d": d})
            streams.append([(int(ts), _TOPIC_ORDER[topic], topic, key, raw) for ts, key, raw in rows
                            if since_ms <= int(ts) <= until_ms])
        for ts, _, topic, key, raw in heapq.merge(*streams):
            if topic == MSGAUDIT:
                record = orjson.loads(raw)
                for k in chat_keys(record):
                    yield f"messages:{record.get('msgid')}", _envelope(topic, k, raw)
            else:
                yield f"{topic}@{ts}", _envelope(topic, key, raw)
        if on_day is not None:
            on_day(d.isoformat(), n + 1, days)


@dataclass
class RuleResult:
    alerts: int = 0
    employees: Counter = field(default_factory=Counter)
    live: int = 0
    verdicts: Counter = field(default_factory=Counter)

    @property
    def labelled(self) -> int:
        return sum(self.verdicts.values())

    @property
    def precision(self) -> float | None:
        return round(self.verdicts["true_positive"] / self.labelled, 4) if self.labelled else None

    def to_dict(self) -> dict[str, Any]:
        return {"alerts": self.alerts, "employees": dict(self.employees.most_common()), "live_alerts": self.live,
                "labelled": self.labelled, "true_positive": self.verdicts["true_positive"],
                "false_positive": self.verdicts["false_positive"], "benign": self.verdicts["benign"],
                "precision": self.precision}


@dataclass
class Report:
    since: int
    until: int
    rules_version: str
    records: int = 0
    bad: int = 0
    seconds: float = 0.0
    rules: dict[str, RuleResult] = field(default_factory=lambda: defaultdict(RuleResult))

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "rules_version": self.rules_version,
                "records": self.records, "bad_records": self.bad, "seconds": round(self.seconds, 2),
                "rules": {r: res.to_dict() for r, res in sorted(self.rules.items())}}


class _Alerts(io.RawIOBase):
    """Replay's stdout: collects the alerts it writes, keeping the latest revision per alert_id."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        for line in bytes(data).splitlines():
            if line.strip():
                alert = orjson.loads(line)
                self.by_id[alert["alert_id"]] = alert
        return len(data)


def past_verdicts(archive: Archive, since_ms: int, until_ms: int
                  ) -> tuple[dict[str, str], dict[str, str], Counter]:
    """Investigators' verdicts on past alerts around the period: by alert_id, by evidence message id,
    and the number of alerts raised live per rule."""
    db = archive.database
    slack = 7 * 86_400_000  # alerts whose window began a little before the period
    params = {"t0": max(0, since_ms - slack), "t1": until_ms}
    rows = archive.execute(
        f"SELECT alert_id, argMax(resolution, ts) FROM {db}.alert_actions WHERE action IN ('resolve', 'reopen') "
        f"AND alert_id IN (SELECT alert_id FROM {db}.alerts WHERE ts BETWEEN %(t0)s AND %(t1)s) "
        "GROUP BY alert_id", params)
    by_id = {alert_id: resolution for alert_id, resolution in rows if resolution}
    by_evidence: dict[str, str] = {}
    live: Counter = Counter()
    for alert_id, rule, ts, evidence in archive.execute(
            f"SELECT alert_id, rule, ts, evidence FROM {db}.alerts FINAL WHERE ts BETWEEN %(t0)s AND %(t1)s",
            params):
        if int(ts) >= since_ms:
            live[rule] += 1
        if alert_id in by_id:
            for item in orjson.loads(evidence or "[]"):
                by_evidence.setdefault(item.get("id", ""), by_id[alert_id])
    return by_id, by_evidence, live


def backtest(archive: Archive, rules: Rules, since_ms: int, until_ms: int,
             progress: IO[str] | None = sys.stderr) -> Report:
    """Replay the archive of [since, until] under `rules`; see the module docstring for the report."""
    began = time.monotonic()
    report = Report(since_ms, until_ms, rules.version)
    alerts = _Alerts()
    replay = Replay(rules, alerts, progress or io.StringIO())

    def on_day(d: str, n: int, days: int) -> None:
        if progress is not None:
            progress.write(f"[backtest] {d} ({n}/{days} days): {replay.records:,} records, "
                           f"{len(alerts.by_id):,} alerts, {time.monotonic() - began:.1f}s\n")
            progress.flush()

    for where, line in archived_records(archive, since_ms, until_ms, on_day):
        replay.line(where, line)
        if progress is not None and replay.records % PROGRESS_EVERY == 0:
            progress.write(f"[backtest] … {replay.records:,} records, {len(alerts.by_id):,} alerts, "
                           f"{time.monotonic() - began:.1f}s\n")
            progress.flush()
    report.records, report.bad = replay.records, replay.bad
    by_id, by_evidence, live = past_verdicts(archive, since_ms, until_ms)
    for alert in alerts.by_id.values():
        result = report.rules[alert["rule"]]
        result.alerts += 1
        result.employees[alert["employee_id"]] += 1
        verdict = by_id.get(alert["alert_id"]) or next(
            (by_evidence[e["id"]] for e in alert.get("evidence", []) if e.get("id") in by_evidence), None)
        if verdict:
            result.verdicts[verdict] += 1
    for rule, count in live.items():
        report.rules[rule].live = count
    report.seconds = time.monotonic() - began
    return report


def render(report: Report, top: int = 5) -> str:
    """The report as a short table for people."""
    lines = [f"rules {report.rules_version}: {report.records:,} archived records replayed in "
             f"{report.seconds:.1f}s ({report.bad} bad)",
             f"{'rule':<34} {'alerts':>7} {'live':>6} {'labelled':>8} {'precision':>9}  top employees"]
    for rule, res in sorted(report.rules.items()):
        precision = f"{res.precision:.0%}" if res.precision is not None else "—"
        who = ", ".join(f"{e} ({n})" for e, n in res.employees.most_common(top))
        lines.append(f"{rule:<34} {res.alerts:>7} {res.live:>6} {res.labelled:>8} {precision:>9}  {who}")
    if not report.rules:
        lines.append("(no alerts, live or back-tested, in this period)")
    return "\n".join(lines)
