"""chat.slow_drip — private contacts or channels shared with many customers, a few at a time.

A careful diverter never sends a burst: one customer a day gets the personal WeChat, another the
private shop's link, each day below what any per-day line would notice. Seen over a week, the
employee has moved many customers; seen against their own weeks before and against their colleagues,
it is unusual for them, in this company.

Per employee (behaviour state, their partition): every chat alert revision of a sharing rule
(`drip.rules`: private contact, external shop, offline payment of at least `min_severity`; a diversion
phrase — 「加我微信」 — of at least `phrase_min_severity`) that the employee wrote to a customer
(detectors/chat_notice.py) is kept by local day (`dp`: customer, alert id, message, words). A revision
that falls below its line — say an alert revised to info because its link was learned as the
company's own channel — takes its customers back out.

At each active day's close the day summary to the branch (detectors/peers.py) carries the distinct
customers of the last `recent_days` (`dn`) and the employee's own norm: the distinct customers of the
`baseline_days` before, per active day, times the recent active days (`db`). The branch judges (same
day, every member's figure at hand): at least `min_customers` customers on at least `min_days`
different days, `own_ratio` × the own norm and `peer_ratio` × the peer group's median — and not what a
large share of the group did that day (a campaign everyone shares). One alert per episode: see
`evaluate`.
"""

from __future__ import annotations

from detectors.alert import SEVERITY_RANK
from detectors.context import Ctx, short
from detectors.hygiene import Signal
from detectors.windows import active_days, day_start
from formats.topics import MSGAUDIT as TOPIC

RULE = "chat.slow_drip"
PHRASE = "chat.diversion_phrase"  # counts from `phrase_min_severity`: "加我微信" is a share, a lone "天猫" is a word
MAX_PER_DAY = 20   # shares kept per local day (bounded state; the rule needs a handful)
MAX_EVIDENCE = 8
MAX_QUOTES = 3


def on_chat_alert(state: dict, body: dict, ctx: Ctx) -> None:
    """Keep (or withdraw) one chat alert revision's share."""
    cfg = ctx.rules.drip
    if not cfg.enabled or body.get("rule") not in cfg.rules or not body.get("out", True):
        return
    aid, customer = body.get("id", ""), body.get("customer", "")
    kept = state.get("dp")
    line = cfg.phrase_min_severity if body["rule"] == PHRASE else cfg.min_severity
    if SEVERITY_RANK.get(body.get("sev", "info"), 0) < SEVERITY_RANK[line]:
        if kept:
            for key in list(kept):
                kept[key] = [e for e in kept[key] if e[1] != aid]
                if not kept[key]:
                    del kept[key]
        return
    if not customer:
        return
    day = str(ctx.day(int(body.get("ts", 0))))
    entries = (kept if kept is not None else state.setdefault("dp", {})).setdefault(day, [])
    who = short(customer)
    if len(entries) < MAX_PER_DAY and not any(e[0] == who and e[1] == aid for e in entries):
        entries.append([who, aid, body.get("msgid", ""), body.get("quote", "")])


def _customers(kept: dict, first: int, last: int) -> tuple[set, set]:
    """Distinct customers and the days they were shared with, over local days first..last."""
    customers, days = set(), set()
    for key, entries in kept.items():
        if first <= int(key) <= last:
            for e in entries:
                customers.add(e[0])
                days.add(int(key))
    return customers, days


def figures(state: dict, day: int, ctx: Ctx) -> dict:
    """The closed day's share figures for the branch (every member sends `dn`: peers' zeros count)."""
    cfg = ctx.rules.drip
    if not cfg.enabled:
        return {}
    kept = state.get("dp") or {}
    recent_first = day - cfg.recent_days + 1
    base_first = recent_first - cfg.baseline_days
    for key in [k for k in kept if int(k) < base_first]:
        del kept[key]
    recent, days = _customers(kept, recent_first, day)
    out = {"dn": len(recent)}
    if not recent:
        return out
    base, _ = _customers(kept, base_first, recent_first - 1)
    n_base = len(active_days(state, base_first, recent_first - 1))
    n_recent = len(active_days(state, recent_first, day))
    entries = [e for d in sorted(kept, key=int, reverse=True) if recent_first <= int(d) <= day for e in kept[d]]
    quotes = list(dict.fromkeys(e[3] for e in entries if e[3]))[:MAX_QUOTES]
    out.update(dd=len(days), dk=n_base, db=round(len(base) / max(1, n_base) * n_recent, 2),
               dx=[e[2] for e in entries if e[2]][:MAX_EVIDENCE], dq=quotes)
    return out


def _check(r: dict, group, cfg, need: int, window: tuple[int, int], since: int) -> Signal | None:
    n = r.get("dn", 0)
    if n < cfg.min_customers or r.get("dd", 0) < cfg.min_days or r.get("dk", 0) < need:
        return None
    peer, k, label = group.median(r, "dn")
    own = r.get("db", 0.0)
    line = max(float(cfg.min_customers), cfg.own_ratio * own, cfg.peer_ratio * (peer or 0.0))
    if n < line:
        return None
    severity = "high" if n >= 2 * line else "medium"
    peers_zh = f"{label} {k} 人同期中位数 {peer:g} 位" if peer is not None else "同组人数不足，未与同事比较"
    peers_en = f"the median of {k} peers is {peer:g}" if peer is not None else "too few peers to compare"
    quoted = "".join(f"「{q}」" for q in r.get("dq", []))
    tz = r.get("tz", "")
    return Signal(
        RULE, severity, window[1] - 1, (day_start(since, tz), day_start(since + cfg.recent_days, tz)),
        "多日向多名客户发送私人联系方式或外部渠道",
        f"员工 {r['e']} 近 {cfg.recent_days} 天在 {r['dd']} 个不同日子向 {n} 位客户发送了私人联系方式、外部店铺或私下"
        f"付款方式{('，如' + quoted) if quoted else ''}；本人此前 {r['dk']} 个活跃日的常态折合同期约 {own:g} 位"
        f"（阈值 {cfg.own_ratio:g} 倍），{peers_zh}（阈值 {cfg.peer_ratio:g} 倍），且至少 {cfg.min_customers} 位、"
        f"{cfg.min_days} 天。 / In the last {cfg.recent_days} days {r['e']} shared a private contact, outside shop or "
        f"private payment with {n} customers on {r['dd']} different days; their own norm over {r['dk']} earlier "
        f"active days comes to about {own:g} in as many days (line {cfg.own_ratio:g}×), {peers_en} "
        f"(line {cfg.peer_ratio:g}×).",
        [(TOPIC, m) for m in r.get("dx", [])])


def evaluate(rows: list[dict], day: int, window: tuple[int, int], rules, group, st: dict
             ) -> list[tuple[str, Signal]]:
    """Branch-side, one closed day: every member's recent shares against their own norm and peers'.

    A drip goes on for days and is judged every day: while the stretch judged still overlaps the
    stretch of the employee's last alert (`st["dw"]`: its first day), the finding keeps that alert's
    window, so it revises the one alert instead of opening one a day."""
    cfg = rules.drip
    if not cfg.enabled:
        return []
    episodes = st.setdefault("dw", {})
    for e in [e for e, first in episodes.items() if first + 2 * cfg.recent_days <= day]:
        del episodes[e]
    start = day - cfg.recent_days + 1
    hits = []
    for r in rows:
        since = episodes.get(r["e"], start)
        if since + cfg.recent_days <= start:
            since = start
        sig = _check(r, group, cfg, rules.windows.min_history_days, window, since)
        if sig is not None:
            hits.append((r, sig, since))
    who = {r["e"] for r, _, _ in hits}
    out = []
    for r, sig, since in hits:
        if not group.crowded(r, who):
            episodes[r["e"]] = since
            out.append((r["e"], sig))
    return out
