"""From signals to alerts: one growing alert per rule, employee and window.

All of an employee's signals for one rule within one window (the rule's `window_minutes`, aligned to
the epoch) make one alert, whose id is `alert_id(rule, employee, window)` — so the live worker and
`paodan replay` agree. Each further message adds evidence and highlights, may raise the severity and
the score, and bumps the revision, so the board shows one alert that grows instead of a flood.

An alert is kept open until the employee's latest message (the watermark) is `keep_ms` past its
window, then forgotten but for a trace (its window and evidence ids, for `GONE_KEEP_MS`). A message
that arrives after its window's alert was forgotten opens a *separate* alert with an id of its own
(salted with the watermark): the sinks keep each id's highest revision, and continuing the old id
from the late message alone would replace the full body with a partial one, while restarting it at
revision 1 would give one (id, revision) two bodies. A message the trace already holds (redelivered)
raises nothing.

The explanation is written in Chinese for the person who must act on it: each span as the employee
wrote it, what it normalises to when that differs, what it is, and the rule (and lexicon line) it hit.
"""

from __future__ import annotations

from typing import Any

from config.chat_rules import ChatRule
from detectors.alert import Alert, Evidence, alert_id, as_state, from_state, max_severity
from detectors.content.signals import Signal, rank
from formats.topics import MSGAUDIT as TOPIC

BASE_SCORE = {"info": 10.0, "low": 30.0, "medium": 50.0, "high": 75.0, "critical": 90.0}
MAX_EVIDENCE = 50  # enough to investigate, bounded so state stays small
MAX_QUOTED = 6
MAX_HIGHLIGHTS = 2 * MAX_EVIDENCE  # one message may list hundreds of numbers: the alert stays small
GONE_KEEP_MS = 14 * 24 * 3_600_000  # as long as the board shows an alert
MAX_GONE_IDS = 2 * MAX_EVIDENCE
LATE_NOTE = "（迟到消息：本窗口此前的告警已结束，另起一条）"
TITLES = {
    "chat.diversion_phrase": "引导客户离开公司渠道",
    "chat.private_contact": "向客户发送私人联系方式",
    "chat.external_shop": "向客户发送外部店铺或链接",
    "chat.offline_payment": "引导客户私下付款",
    "chat.recall_after_hit": "命中后撤回消息",
}


def highlight(msgid: str, s: Signal) -> dict[str, Any]:
    """What the board needs to highlight a span and the explanation needs to quote it."""
    return {"id": msgid, "part": s.part, "start": s.start, "end": s.end, "text": s.written,
            "term": s.normalized, "kind": s.kind, "label": s.label, "severity": s.severity, "source": s.source}


def _quote(h: dict[str, Any]) -> str:
    written, norm = h["text"], h["term"]
    if h["kind"] == "recall":
        return f"{h['label']}：{written}"
    shown = f"「{written}」" if written else ""
    if norm and norm != written:
        shown += f"→“{norm}”" if written else f"“{norm}”"
    return f"{shown}（{h['label']}）"


def explain(rule: str, employee: str, highlights: list[dict[str, Any]], n_messages: int, window_min: int,
            version: str) -> str:
    quoted = "；".join(_quote(h) for h in highlights[:MAX_QUOTED])
    more = f"等 {len(highlights)} 处" if len(highlights) > MAX_QUOTED else f"共 {len(highlights)} 处"
    sources = sorted({h["source"].split(" ")[0] for h in highlights if h.get("source")})
    where = f"，依据 {', '.join(sources[:4])}" if sources else ""
    return (f"员工 {employee} 在 {window_min} 分钟窗口内的 {n_messages} 条消息中发现{more}：{quoted}。"
            f"命中规则 {rule}（规则版本 {version}{where}）。")


def book(state: dict[str, Any], msgtime: int, keep_ms: int) -> dict[str, Any]:
    """The employee's alert memory from `state`, to `apply` one message's signals to and `close`."""
    return {"open": dict(state.get("open", {})), "gone": state.get("gone", {}), "late": dict(state.get("late", {})),
            "wm": max(state.get("wm", msgtime), msgtime), "keep_ms": keep_ms}


def apply(book: dict[str, Any], cfg: ChatRule, msgid: str, employee: str, msgtime: int,
          signals: list[Signal], version: str, directory: dict[str, Any]) -> Alert | None:
    """Add one message's signals (all of rule `cfg.name`) to the window's alert; None if nothing new."""
    signals = [s for s in signals if rank(s.severity) >= rank(cfg.min_severity)]
    if not signals:
        return None
    rule = cfg.name
    w_start = msgtime - msgtime % cfg.window_ms
    w_end = w_start + cfg.window_ms
    key = alert_id(rule, employee, w_start, w_end)
    open_alerts, late = book["open"], book["late"]
    severity = "info"
    for s in signals:
        severity = max_severity(severity, s.severity)
    new_hl = [highlight(msgid, s) for s in signals[:MAX_HIGHLIGHTS]]
    # The message itself, after any message it is about (a recall lists the recalled message first).
    referred = dict.fromkeys(s.refers_to for s in signals if s.refers_to)
    evidence = [Evidence(TOPIC, ref) for ref in referred] + [Evidence(TOPIC, msgid)]
    if key in open_alerts:
        alert = from_state(open_alerts[key])
        if any(e.id == msgid for e in alert.evidence):
            return None  # the same message delivered again: nothing new to say
        alert.revision += 1
        alert.severity = max_severity(alert.severity, severity)
        alert.ts = max(alert.ts, msgtime)
        alert.team = directory.get("team", alert.team)
        alert.branch = directory.get("branch", alert.branch)
        alert.rules_version = version
        if len(alert.evidence) < MAX_EVIDENCE:
            alert.evidence.extend(evidence)
            alert.highlights.extend(new_hl[:MAX_HIGHLIGHTS - len(alert.highlights)])
    else:
        aid = key
        if w_end <= book["wm"] - book["keep_ms"]:  # this window's alert, if it had one, is forgotten
            gone = book["gone"].get(key)
            if gone is not None and msgid in gone[2]:
                return None  # redelivered: it was evidence of the forgotten alert
            aid = alert_id(f"{rule}\x1f{book['wm']}", employee, w_start, w_end)
            late[key] = book["wm"]
        alert = Alert(alert_id=aid, rule=rule, severity=severity, score=0.0, employee_id=employee,
                      team=directory.get("team", ""), branch=directory.get("branch", ""), ts=msgtime,
                      window_start=w_start, window_end=w_end, title="", explanation="",
                      evidence=evidence, rules_version=version, highlights=new_hl)
    if key in late:
        late[key] = book["wm"]  # kept open as long as if its window were now
    strongest = max(alert.highlights, key=lambda h: rank(h["severity"]))
    alert.title = f"{TITLES.get(rule, rule)}：{strongest['label']}"
    alert.score = min(100.0, BASE_SCORE[alert.severity] + 5.0 * (len(alert.highlights) - 1))
    alert.explanation = explain(rule, employee, alert.highlights, len(alert.evidence),
                                cfg.window_ms // 60_000, version) + (LATE_NOTE if key in late else "")
    open_alerts[key] = as_state(alert)
    return alert


def close(book: dict[str, Any]) -> dict[str, Any]:
    """The state fields after the message: open alerts past `keep_ms` forgotten into the trace, traces
    older than `GONE_KEEP_MS` dropped (bounded lateness, bounded memory)."""
    wm = book["wm"]
    horizon = wm - book["keep_ms"]
    late = book["late"]
    gone = book["gone"]
    kept: dict[str, Any] = {}
    for key, a in book["open"].items():
        if a["window_end"] > horizon or late.get(key, horizon) > horizon:
            kept[key] = a
            continue
        late.pop(key, None)
        before = gone.get(key)
        ids = [e["id"] for e in a["evidence"]]
        if before is not None:
            ids = before[2] + [i for i in ids if i not in before[2]]
        gone = dict(gone)
        gone[key] = [a["window_end"], wm, ids[-MAX_GONE_IDS:]]
    if gone and any(wm - g[1] > GONE_KEEP_MS for g in gone.values()):
        gone = {k: g for k, g in gone.items() if wm - g[1] <= GONE_KEEP_MS}
    fields: dict[str, Any] = {"open": kept, "wm": wm}
    if gone:
        fields["gone"] = gone
    if late:
        fields["late"] = late
    return fields
