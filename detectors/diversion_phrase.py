"""chat.diversion_phrase — an employee tells a customer, in words, to buy elsewhere or pay privately.

Terms come from the lexicons named in the rules file. Only messages the employee sends count: a
customer naming a competitor is not the employee steering. All hits of one employee within one
window (rule `window_minutes`, aligned to the epoch) make one alert; each further hit adds evidence,
raises the score and bumps the alert's revision, so the board shows one growing alert instead of a
flood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.rules import Rules, Term
from detectors.alert import Alert, Evidence, alert_id, as_state, from_state, max_severity
from detectors.events import ChatMessage
from detectors.textnorm import normalize

RULE = "chat.diversion_phrase"
TOPIC = "wecom.msgaudit"
BASE_SCORE = {"info": 10.0, "low": 30.0, "medium": 50.0, "high": 75.0, "critical": 90.0}
# Evidence kept per alert: enough to investigate, bounded so state stays small.
MAX_EVIDENCE = 50


@dataclass(frozen=True)
class Hit:
    term: Term
    start: int  # offsets into the original text
    end: int
    written: str  # the span as the employee wrote it


class PhraseMatcher:
    """Finds lexicon terms in normalised text. Built once per rules version."""

    def __init__(self, terms: list[Term]):
        self._terms = [(normalize(t.text).text, t) for t in terms]
        self._terms = [(norm, t) for norm, t in self._terms if norm]

    def find(self, text: str) -> list[Hit]:
        norm = normalize(text)
        hits: list[Hit] = []
        for needle, term in self._terms:
            pos = norm.text.find(needle)
            while pos != -1:
                s, e = norm.span(pos, pos + len(needle))
                hits.append(Hit(term, s, e, text[s:e]))
                pos = norm.text.find(needle, pos + len(needle))
        # Overlapping terms (加我微信 inside 加我个人微信…) report the longest only.
        hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
        kept: list[Hit] = []
        for h in hits:
            if not kept or h.start >= kept[-1].end:
                kept.append(h)
        return kept


_matchers: dict[tuple[str, int], PhraseMatcher] = {}


def matcher_for(rules: Rules) -> PhraseMatcher:
    # Caching by (version, identity) keeps this pure from the caller's view: same rules, same matcher.
    key = (rules.version, id(rules.lexicon))
    m = _matchers.get(key)
    if m is None:
        _matchers.clear()
        m = _matchers[key] = PhraseMatcher(rules.lexicon.terms())
    return m


def _explain(employee: str, hits: list[dict[str, Any]], n_messages: int, window_min: int) -> str:
    quoted = "；".join(f"「{h['text']}」（{h['group_title']}，词条“{h['term']}”）" for h in hits[:5])
    more = f"等 {len(hits)} 处" if len(hits) > 5 else f"共 {len(hits)} 处"
    return (f"员工 {employee} 在 {window_min} 分钟窗口内的 {n_messages} 条发给客户的消息中出现引导话术{more}：{quoted}。"
            f"命中规则 {RULE}。")


def detect(state: dict[str, Any] | None, msg: ChatMessage, rules: Rules,
           directory: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[Alert]]:
    """Return (new_state, alerts raised or updated by this message)."""
    state = dict(state or {})
    open_alerts: dict[str, Any] = dict(state.get("open", {}))
    cfg = rules.diversion_phrase
    if not cfg.enabled or not msg.outbound or not msg.text or msg.action != "send":
        return state, []
    hits = matcher_for(rules).find(msg.text)
    if not hits:
        return state, []

    window = cfg.window_ms
    w_start = msg.msgtime - msg.msgtime % window
    w_end = w_start + window
    aid = alert_id(RULE, msg.employee_id, w_start, w_end)
    titles = {g.name: g.title for g in rules.lexicon.groups}
    new_hits = [{"id": msg.msgid, "start": h.start, "end": h.end, "text": h.written, "term": h.term.text,
                 "group": h.term.group, "group_title": titles.get(h.term.group, h.term.group)} for h in hits]
    severity = "info"
    for h in hits:
        severity = max_severity(severity, h.term.severity)
    directory = directory or {}

    if aid in open_alerts:
        alert = from_state(open_alerts[aid])
        if any(e.id == msg.msgid for e in alert.evidence):
            return state, []  # the same message delivered again: nothing new to say
        alert.revision += 1
        alert.severity = max_severity(alert.severity, severity)
        alert.ts = max(alert.ts, msg.msgtime)
        alert.team = directory.get("team", alert.team)
        alert.branch = directory.get("branch", alert.branch)
        if len(alert.evidence) < MAX_EVIDENCE:
            alert.evidence.append(Evidence(TOPIC, msg.msgid))
            alert.highlights.extend(new_hits)
    else:
        alert = Alert(alert_id=aid, rule=RULE, severity=severity, score=0.0, employee_id=msg.employee_id,
                      team=directory.get("team", ""), branch=directory.get("branch", ""), ts=msg.msgtime,
                      window_start=w_start, window_end=w_end, title="", explanation="",
                      evidence=[Evidence(TOPIC, msg.msgid)], rules_version=rules.version,
                      highlights=new_hits)
    n_msgs = len(alert.evidence)
    first = alert.highlights[0]["group_title"] if alert.highlights else "引导话术"
    alert.title = f"引导客户离开公司渠道：{first}"
    alert.score = min(100.0, BASE_SCORE[alert.severity] + 5.0 * (len(alert.highlights) - 1))
    alert.explanation = _explain(msg.employee_id, alert.highlights, n_msgs, window // 60_000)
    open_alerts[aid] = as_state(alert)
    # Bounded lateness: keep the current and the previous window only.
    horizon = msg.msgtime - 2 * window
    state["open"] = {k: v for k, v in open_alerts.items() if v["window_end"] > horizon}
    return state, [alert]
