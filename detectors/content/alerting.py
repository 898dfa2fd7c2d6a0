"""From signals to alerts: one growing alert per rule, employee and window.

All of an employee's signals for one rule within one window (the rule's `window_minutes`, aligned to
the epoch) make one alert, whose id is `alert_id(rule, employee, window)` — so the live worker and
`paodan replay` agree. Each further message adds evidence and highlights, may raise the severity and
the score, and bumps the revision, so the board shows one alert that grows instead of a flood.

The explanation is written in Chinese for the person who must act on it: each span as the employee
wrote it, what it normalises to when that differs, what it is, and the rule (and lexicon line) it hit.
"""

from __future__ import annotations

from typing import Any

from config.chat_rules import ChatRule
from detectors.alert import Alert, Evidence, alert_id, as_state, from_state, max_severity
from detectors.content.signals import Signal, rank

TOPIC = "wecom.msgaudit"
BASE_SCORE = {"info": 10.0, "low": 30.0, "medium": 50.0, "high": 75.0, "critical": 90.0}
MAX_EVIDENCE = 50  # enough to investigate, bounded so state stays small
MAX_QUOTED = 6
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


def apply(open_alerts: dict[str, Any], cfg: ChatRule, msgid: str, employee: str, msgtime: int,
          signals: list[Signal], version: str, directory: dict[str, Any]) -> Alert | None:
    """Add one message's signals (all of rule `cfg.name`) to the window's alert; None if nothing new."""
    signals = [s for s in signals if rank(s.severity) >= rank(cfg.min_severity)]
    if not signals:
        return None
    rule = cfg.name
    w_start = msgtime - msgtime % cfg.window_ms
    w_end = w_start + cfg.window_ms
    aid = alert_id(rule, employee, w_start, w_end)
    severity = "info"
    for s in signals:
        severity = max_severity(severity, s.severity)
    new_hl = [highlight(msgid, s) for s in signals]
    # The message itself, after any message it is about (a recall lists the recalled message first).
    referred = dict.fromkeys(s.refers_to for s in signals if s.refers_to)
    evidence = [Evidence(TOPIC, ref) for ref in referred] + [Evidence(TOPIC, msgid)]
    if aid in open_alerts:
        alert = from_state(open_alerts[aid])
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
            alert.highlights.extend(new_hl)
    else:
        alert = Alert(alert_id=aid, rule=rule, severity=severity, score=0.0, employee_id=employee,
                      team=directory.get("team", ""), branch=directory.get("branch", ""), ts=msgtime,
                      window_start=w_start, window_end=w_end, title="", explanation="",
                      evidence=evidence, rules_version=version, highlights=new_hl)
    strongest = max(alert.highlights, key=lambda h: rank(h["severity"]))
    alert.title = f"{TITLES.get(rule, rule)}：{strongest['label']}"
    alert.score = min(100.0, BASE_SCORE[alert.severity] + 5.0 * (len(alert.highlights) - 1))
    alert.explanation = explain(rule, employee, alert.highlights, len(alert.evidence),
                                cfg.window_ms // 60_000, version)
    open_alerts[aid] = as_state(alert)
    return alert


def prune(open_alerts: dict[str, Any], now: int, keep_ms: int) -> dict[str, Any]:
    """Bounded lateness: drop alerts whose window ended more than `keep_ms` before `now`."""
    horizon = now - keep_ms
    return {k: v for k, v in open_alerts.items() if v["window_end"] > horizon}
