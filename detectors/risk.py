"""The risk score: one number 0–100 per employee, from the alerts raised about them.

Each alert contributes `weight(rule) × severity_factor(severity)` points, kept per alert id (a revised
alert replaces its contribution, it never counts twice) and halving every `half_life_days` of event
time. The score is 100 × (1 − e^(−points / scale)): it rises quickly with the first serious findings
and saturates below 100. Every contribution is kept with its points so the explanation can say what
the score is made of. When the score crosses a level (low/medium/high/critical in the rules) upwards,
a `risk.score` alert is raised for the employee's local day (crossing a higher level the same day
updates it); when it decays below a level, crossing it again later raises a new one.

Independent evidence: a rule's family is its first name part (orders, commission, followup, chat …),
except `chat.diverted_customer`, a family of its own: its steer is chat, its facts come from orders and
contacts, so a steer with what then happened to the customer is the one strong story that may carry
the score past medium, as two families do.
While every contribution comes from one family, the score is held below the `high` line and the level
never exceeds the strongest of those alerts' own severities (nor medium): one story told many times is
still one story, and the alert that tells it is already on the board. Rules listed as `context_rules`
(service quality) add points but never make the evidence independent. The risk alert's `score` is
the risk score its explanation quotes.

Chat alerts (chat.*, from the content detectors) reach the engine as notices (detectors/chat_notice.py)
and count from `chat_min_severity`; a revision below it withdraws the alert's points. Chat alone stays
below the `low` line (it ranks the employee, but raises no level alert: a line or two, however sharp,
is on the board already as its own alert) unless its alerts span `chat_alone_days` local days and
`chat_alone_customers` customers, when it may reach medium like any one family; chat with evidence of
another family counts in full. The explanation names each chat alert's id, its customers and the words quoted.
"""

from __future__ import annotations

import math

from config.behaviour_rules import RiskRule
from detectors.alert import SEVERITY_RANK, Alert
from detectors import drip
from detectors.hygiene import Signal
from formats.topics import ALERTS

DAY_MS = 86_400_000
RULE = "risk.score"
LEVEL_TITLES = {"low": "低", "medium": "中", "high": "高", "critical": "极高"}


def points(alert: Alert, rule: RiskRule) -> float:
    weight = rule.weights.get(alert.rule, rule.weights.get("default", 20))
    return float(weight) * float(rule.severity_factor.get(alert.severity, 1.0))


def _decayed(p: float, since: int, now: int, half_life_ms: float) -> float:
    return p * 0.5 ** (max(0, now - since) / half_life_ms)


# A steer in chat followed by what the CRM and WeCom say happened to that customer (cancelled, deleted,
# stopped buying): chat evidence joined to another source's, so not one more word of the chat family.
JOINED_FAMILIES = {"chat.diverted_customer": "diverted"}


def family(rule_name: str) -> str:
    return JOINED_FAMILIES.get(rule_name) or rule_name.split(".", 1)[0]


CHAT = "chat"
MAX_KEPT = 5  # customers, days and quotes kept per chat contribution (for the explanation and `_repeated`)


def _cap(parts: list[tuple[str, str, float]], contributions: dict, rule: RiskRule) -> str | None:
    """The highest level one family may reach alone, or None when the evidence is independent."""
    live = [(r, aid) for r, aid, p in parts if p >= 0.5]
    families = {family(r) for r, _ in live if r not in rule.context_rules}
    if len(families) > 1:
        return None
    strongest = "info"
    for _, aid in live:
        c = contributions.get(aid)
        sev = c[3] if c is not None and len(c) > 3 else "medium"
        if SEVERITY_RANK.get(sev, 2) > SEVERITY_RANK[strongest]:
            strongest = sev
    cap = strongest if SEVERITY_RANK[strongest] < SEVERITY_RANK["medium"] else "medium"
    if families == {CHAT} and not _repeated([contributions[aid] for _, aid in live], rule):
        cap = "info"
    return cap


def _repeated(chat: list[list], rule: RiskRule) -> bool:
    """Whether chat alerts alone tell more than one moment: several local days and several customers."""
    days, customers = set(), set()
    for c in chat:
        if c[0] == drip.RULE:
            return True  # by construction many customers over several days
        if len(c) > 6:
            customers.update(c[4])
            days.update(c[5])
    return len(days) >= rule.chat_alone_days and len(customers) >= rule.chat_alone_customers


def _fold_chat(contributions: dict, item: dict, rule: RiskRule) -> bool:
    """One chat alert revision (detectors/chat_notice.py) into the contributions; True when it changed them."""
    aid = item["id"]
    old = contributions.get(aid)
    if SEVERITY_RANK.get(item["sev"], 0) < SEVERITY_RANK[rule.chat_min_severity]:
        return contributions.pop(aid, None) is not None  # withdrawn: the alert no longer says enough
    weight = rule.weights.get(item["rule"], rule.weights.get("default", 20))
    p = round(float(weight) * float(rule.severity_factor.get(item["sev"], 1.0)), 2)
    kept = old[4:7] if old is not None and len(old) > 6 else [[], [], []]
    customers, days, quotes = (list(x) for x in kept)
    for values, value in ((customers, item.get("customer")), (days, item.get("day")), (quotes, item.get("quote"))):
        if value not in (None, "") and value not in values and len(values) < MAX_KEPT:
            values.append(value)
    new = [item["rule"], p, old[2] if old else item["ts"], item["sev"], customers, days, quotes]
    if new == old:
        return False
    contributions[aid] = new
    return True


def _describe(r: str, aid: str, p: float, contributions: dict) -> str:
    c = contributions.get(aid)
    if family(r) != CHAT or c is None or len(c) < 7:
        return f"{r} {p:.1f} 分"
    quoted = "".join(f"「{q}」" for q in c[6][:2])
    who = f"，客户 {'、'.join(c[4][:3])}" if c[4] else ""
    return f"{r} {p:.1f} 分（告警 {aid}{who}{'：' + quoted if quoted else ''}）"


def _ceiling(cap: str, rule: RiskRule) -> float:
    """Just below the first level line above `cap` (100 when there is none)."""
    above = [t for name, t in rule.levels.items() if SEVERITY_RANK.get(name, 0) > SEVERITY_RANK[cap]]
    return round(min(above) - 0.1, 1) if above else 100.0


def score(state: dict, now: int, rule: RiskRule) -> tuple[float, list[tuple[str, str, float]]]:
    """(score, [(rule, alert_id, decayed points)] largest first) at event time `now`."""
    half = rule.half_life_days * DAY_MS
    risk = state.get("rk", {})
    parts = [(r, aid, _decayed(p, ts, now, half)) for aid, (r, p, ts, *_) in risk.get("c", {}).items()]
    parts.sort(key=lambda x: (-x[2], x[1]))
    total = sum(p for _, _, p in parts)
    value = round(100.0 * (1.0 - math.exp(-total / rule.scale)), 1)
    cap = _cap(parts, risk.get("c", {}), rule)
    if cap is not None:
        value = min(value, _ceiling(cap, rule))
    return value, parts


def level(value: float, rule: RiskRule) -> str:
    best = "info"
    for name, threshold in rule.levels.items():
        if value >= threshold and SEVERITY_RANK[name] > SEVERITY_RANK[best]:
            best = name
    return best


def update(state: dict, alerts: list[Alert], now: int, rule: RiskRule,
           day_window: tuple[int, int], chat: dict | None = None) -> tuple[dict | None, Signal | None]:
    """Fold alerts (and a chat alert's revision, `chat`: see _fold_chat) into the score. Returns (risk
    update to publish or None, level-crossing signal or None)."""
    if not rule.enabled:
        return None, None
    risk = state.setdefault("rk", {"c": {}, "lv": "info"})
    contributions = risk["c"]
    changed = _fold_chat(contributions, chat, rule) if chat is not None else False
    for a in alerts:
        if a.rule == RULE:
            continue
        p = round(points(a, rule), 2)
        old = contributions.get(a.alert_id)
        if old is None or old[1] != p or old[3:4] != [a.severity]:
            # The alert's first time stays the decay origin: a revision adds evidence, not freshness.
            contributions[a.alert_id] = [a.rule, p, old[2] if old else a.ts, a.severity]
            changed = True
    if not changed:
        return None, None
    value, parts = score(state, now, rule)
    # Forget contributions that decayed to nothing: bounded state.
    for r, aid, p in parts:
        if p < 0.5:
            contributions.pop(aid, None)
    new_level = level(value, rule)
    crossed = SEVERITY_RANK[new_level] > SEVERITY_RANK[risk.get("lv", "info")]
    risk["lv"], risk["s"], risk["t"] = new_level, value, now
    update_msg = {"score": value, "level": new_level, "ts": now,
                  "contributions": [{"rule": r, "alert_id": aid, "points": round(p, 1)} for r, aid, p in parts
                                    if p >= 0.5]}
    signal = None
    if crossed and new_level != "info":
        top = "；".join(_describe(r, aid, p, contributions) for r, aid, p in parts[:5])
        signal = Signal(
            rule=RULE, severity=new_level, ts=now, window=day_window,
            title=f"员工风险分升至{LEVEL_TITLES.get(new_level, new_level)}风险",
            explanation=(f"风险分 {value:.1f}，达到{LEVEL_TITLES.get(new_level, new_level)}风险线 "
                         f"{rule.levels[new_level]}（半衰期 {rule.half_life_days:g} 天）；构成：{top}"),
            evidence=[(ALERTS, aid) for _, aid, _ in parts[:10]], score=value)
    return update_msg, signal


def relax(state: dict, now: int, rule: RiskRule) -> None:
    """Let the stored level follow the decay, so a later rise crosses it again."""
    risk = state.get("rk")
    if risk and risk.get("c"):
        value, _ = score(state, now, rule)
        risk["lv"] = level(value, rule)
