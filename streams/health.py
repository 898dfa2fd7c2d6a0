"""Pipeline health as `system.*` alerts: a chat archive gone quiet in working hours (with the time left
before WeCom drops the records), WeCom's `msgaudit_notify` callbacks gone quiet, chat media not pulled
while WeCom's keep window runs out, a consumer group falling behind, a burst of dead letters, HR or order
feeds gone stale, a rule firing for a large share of a team. Pure: a `Snapshot` of what the Kafka probe saw (streams/health_probe.py) in, alerts out.

Alert ids are stable while a condition lasts (a quiet feed: its last record's time; a lagging group: the
day; a dead-letter burst: its window), so a condition seen at every check is one alert whose revision
grows (minutes since it began), not a flood.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from config.health import HealthSettings
from detectors.alert import SCHEMA_VERSION, alert_id
from formats.topics import ALERTS, DEADLETTER, EVENT_TOPICS, MSGAUDIT
from streams.system_alert import SYSTEM_EMPLOYEE

ARCHIVE_SILENT = "system.archive_silent"
CONSUMER_LAG = "system.consumer_lag"
DEADLETTER_SURGE = "system.deadletter_surge"
FEED_STALE = "system.feed_stale"
NOTIFY_SILENT = "system.notify_silent"
MEDIA_EXPIRING = "system.media_expiring"
RULE_SHARE = "system.rule_share"

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


@dataclass
class Snapshot:
    now_ms: int
    # The newest record's Kafka timestamp per feed ("msgaudit", "hr", "orders"); None: the topic is empty.
    last_ms: dict[str, int | None] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)  # feed → topic name (for the evidence)
    lag: dict[tuple[str, str], int] = field(default_factory=dict)  # (group, topic) → records behind
    deadletters_recent: int = 0  # in the last window
    deadletters_day: int = 0  # in the 24 hours before it
    # Chat media whose keep window is ending (streams/health_probe.py); None: not looked at.
    media: "MediaFacts | None" = None
    # Per (rule, team) over the last day: (employees alerted, the team's active members).
    rule_teams: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


@dataclass
class MediaFacts:
    """Image and voice records older than the keep window less `media_lead_h`, by what the media store
    holds for them: not pulled yet (the oldest one's time), or already gone at WeCom (10010)."""

    pending: int = 0
    oldest_ms: int | None = None
    expired: int = 0


def _alert(rule: str, subject: str, start: int, now: int, severity: str, title: str, explanation: str,
           evidence: list[dict[str, Any]], score: float) -> dict[str, Any]:
    return {
        "alert_id": alert_id(rule, f"{SYSTEM_EMPLOYEE}:{subject}", start, start), "rule": rule,
        "severity": severity, "score": round(score, 1), "employee_id": SYSTEM_EMPLOYEE, "team": "", "branch": "",
        "ts": now, "window": {"start": start, "end": now}, "title": title, "explanation": explanation,
        "evidence": evidence, "rules_version": "", "detected_at": now, "schema": SCHEMA_VERSION,
        "revision": max(1, (now - start) // MINUTE), "highlights": [],
    }


def _quiet_minutes(s: Snapshot, cfg: HealthSettings, last: int) -> float:
    """Minutes without a record, counted from the start of today's working hours at the earliest (no
    chats at night is normal)."""
    local_day = (s.now_ms + int(cfg.utc_offset_h * HOUR)) // DAY * DAY - int(cfg.utc_offset_h * HOUR)
    work_start = local_day + int(cfg.work_start_h * HOUR)
    return (s.now_ms - max(last, work_start)) / MINUTE


def _archive_silent(s: Snapshot, cfg: HealthSettings) -> list[dict[str, Any]]:
    last = s.last_ms.get("msgaudit")
    if last is None or not cfg.working(s.now_ms):
        return []
    quiet_min = _quiet_minutes(s, cfg, last)
    if quiet_min < cfg.archive_silent_min:
        return []
    since_h = (s.now_ms - last) / HOUR
    left_h = cfg.wecom_keep_h - since_h
    severity = "critical" if left_h < 24 else "high"
    topic = s.topics.get("msgaudit", MSGAUDIT)
    return [_alert(
        ARCHIVE_SILENT, topic, last, s.now_ms, severity,
        "会话存档已停止 / The chat archive has gone quiet",
        f"工作时间内已 {quiet_min:.0f} 分钟没有新的会话存档记录（最后一条在 {since_h:.1f} 小时前）；企业微信约保留 "
        f"{cfg.wecom_keep_h:.0f} 小时，剩余约 {max(left_h, 0):.1f} 小时，之后未拉取的记录将丢失。请检查存档拉取程序。"
        f" / No chat-archive record for {quiet_min:.0f} minutes of working hours (the last {since_h:.1f} h ago); "
        f"WeCom keeps records about {cfg.wecom_keep_h:.0f} h, so about {max(left_h, 0):.1f} h are left before "
        "unpulled records are lost. Check the archive loader.",
        [{"topic": topic, "id": f"last@{last}"}], min(100.0, quiet_min))]


def _lag(s: Snapshot, cfg: HealthSettings) -> list[dict[str, Any]]:
    behind: dict[str, dict[str, int]] = {}
    for (group, topic), n in s.lag.items():
        if n:
            behind.setdefault(group, {})[topic] = n
    out = []
    for group, topics in sorted(behind.items()):
        total = sum(topics.values())
        if total < cfg.lag_records:
            continue
        worst = ", ".join(f"{t} {n:,}" for t, n in sorted(topics.items(), key=lambda kv: -kv[1])[:5])
        out.append(_alert(
            CONSUMER_LAG, group, s.now_ms // DAY * DAY, s.now_ms,
            "critical" if total >= 10 * cfg.lag_records else "high",
            f"消费组 {group} 积压 / Consumer group {group} is falling behind",
            f"{group} 落后 {total:,} 条记录（{worst}），告警与归档会延迟。 / {group} is {total:,} records behind "
            f"({worst}); alerts and the archive are delayed.",
            [{"topic": t, "id": group} for t in sorted(topics, key=lambda t: -topics[t])[:5]], min(100.0, 10.0 * total / cfg.lag_records)))
    return out


def _deadletters(s: Snapshot, cfg: HealthSettings) -> list[dict[str, Any]]:
    window = int(cfg.deadletter_window_min * MINUTE)
    usual = s.deadletters_day / (DAY / window)  # per window, over the day before
    if s.deadletters_recent < cfg.deadletter_min or s.deadletters_recent < cfg.deadletter_factor * usual:
        return []
    start = s.now_ms // window * window
    return [_alert(
        DEADLETTER_SURGE, DEADLETTER, start, s.now_ms, "high",
        "死信激增 / A surge of dead letters",
        f"最近 {cfg.deadletter_window_min:.0f} 分钟有 {s.deadletters_recent} 条记录无法处理并转入 {DEADLETTER}"
        f"（前一天平均每 {cfg.deadletter_window_min:.0f} 分钟 {usual:.1f} 条）：上游格式可能已变化。 / "
        f"{s.deadletters_recent} records went to {DEADLETTER} in the last {cfg.deadletter_window_min:.0f} "
        f"minutes (the day before: {usual:.1f} per {cfg.deadletter_window_min:.0f} minutes); an upstream format "
        "may have changed.",
        [{"topic": DEADLETTER, "id": f"window@{start}"}], min(100.0, float(s.deadletters_recent)))]


def _stale(s: Snapshot, cfg: HealthSettings) -> list[dict[str, Any]]:
    out = []
    for feed, hours, zh, en in (("hr", cfg.hr_stale_h, "人事", "HR"), ("orders", cfg.orders_stale_h, "订单", "order")):
        last = s.last_ms.get(feed)
        if last is None:
            continue
        since_h = (s.now_ms - last) / HOUR
        if since_h < hours:
            continue
        topic = s.topics.get(feed, feed)
        out.append(_alert(
            FEED_STALE, topic, last, s.now_ms, "medium",
            f"{zh}数据已停止更新 / The {en} feed is stale",
            f"{topic} 已 {since_h:.1f} 小时没有新记录（阈值 {hours:.0f} 小时）：依赖它的检测（离职、转移、跑单订单）"
            f"可能失明。 / No record on {topic} for {since_h:.1f} h (threshold {hours:.0f} h): the detections that "
            "need it (departures, transfers, diverted orders) may be blind.",
            [{"topic": topic, "id": f"last@{last}"}], min(100.0, 100.0 * since_h / (4 * hours))))
    return out


def _notify_silent(s: Snapshot, cfg: HealthSettings) -> list[dict[str, Any]]:
    """No `msgaudit_notify` callback for a while in working hours. Only where the topic has ever had one
    (a deployment that polls without callbacks has none)."""
    last = s.last_ms.get("notify")
    if last is None or not cfg.working(s.now_ms):
        return []
    quiet_min = _quiet_minutes(s, cfg, last)
    if quiet_min < cfg.notify_silent_min:
        return []
    topic = s.topics.get("notify", EVENT_TOPICS["msgaudit_notify"])
    return [_alert(
        NOTIFY_SILENT, topic, last, s.now_ms, "medium",
        "会话存档回调已停止 / WeCom's msgaudit_notify callbacks have stopped",
        f"工作时间内已 {quiet_min:.0f} 分钟没有收到企业微信的 msgaudit_notify 回调（有新存档时最多每 15 秒一次）："
        "回调地址、证书或企业微信后台配置可能有误，存档拉取可能因此延迟。 / No msgaudit_notify callback from WeCom "
        f"for {quiet_min:.0f} minutes of working hours (WeCom sends one at most every 15 s while records wait): "
        "the callback URL, certificate or WeCom admin settings may be wrong, and archive pulls may lag.",
        [{"topic": topic, "id": f"last@{last}"}], min(100.0, quiet_min))]


def _media_expiring(s: Snapshot, cfg: HealthSettings) -> list[dict[str, Any]]:
    m = s.media
    if m is None or not m.pending or m.oldest_ms is None:
        return []
    age_h = (s.now_ms - m.oldest_ms) / HOUR
    left_h = max(0.0, cfg.wecom_keep_h - age_h)
    expired = (f"另有 {m.expired} 个已在企业微信过期。" if m.expired else "")
    expired_en = (f" {m.expired} more have already expired at WeCom." if m.expired else "")
    return [_alert(
        MEDIA_EXPIRING, "media", m.oldest_ms, s.now_ms, "critical" if left_h < cfg.media_lead_h / 4 else "high",
        "会话媒体即将过期 / Chat media about to expire unpulled",
        f"{m.pending} 个图片/语音尚未拉取到媒体目录，最早的一个已 {age_h:.1f} 小时；企业微信约保留 {cfg.wecom_keep_h:.0f} "
        f"小时，剩余约 {left_h:.1f} 小时，之后无法再拉取，图片中的二维码和文字也无从检测。{expired}请检查媒体拉取程序。 / "
        f"{m.pending} images or voice messages are not in the media store yet, the oldest {age_h:.1f} h old; WeCom "
        f"keeps media about {cfg.wecom_keep_h:.0f} h, so about {left_h:.1f} h are left before they can no longer be "
        f"pulled (nor their QR codes and text checked).{expired_en} Check the media puller.",
        [{"topic": MSGAUDIT, "id": f"media@{m.oldest_ms}"}], min(100.0, 100.0 * age_h / cfg.wecom_keep_h))]


def _rule_share(s: Snapshot, cfg: HealthSettings) -> list[dict[str, Any]]:
    out = []
    day = s.now_ms // DAY * DAY
    for (rule, team), (alerted, members) in sorted(s.rule_teams.items()):
        if rule.startswith("system.") or members < cfg.rule_share_min_team or alerted < cfg.rule_share * members:
            continue
        share = alerted / members
        out.append(_alert(
            RULE_SHARE, f"{rule}:{team}", day, s.now_ms, "medium",
            f"规则 {rule} 在 {team} 过于频繁 / Rule {rule} fires for much of team {team}",
            f"过去 24 小时 {rule} 对 {team} 的 {alerted}/{members} 名成员（{share:.0%}）报警，超过设定的 "
            f"{cfg.rule_share:.0%}：更可能是规则误报或数据源异常，而非整组跑单。请复核规则与数据。 / In the last 24 h "
            f"{rule} alerted on {alerted} of {members} members of {team} ({share:.0%}, over the {cfg.rule_share:.0%} "
            "set): more likely a misfiring rule or a feed gone wrong than a whole team diverting. Review the rule "
            "and its data.",
            [{"topic": ALERTS, "id": f"{rule}@{team}"}], min(100.0, 100.0 * share)))
    return out


def evaluate(snapshot: Snapshot, cfg: HealthSettings) -> list[dict[str, Any]]:
    """The system alerts a snapshot calls for."""
    return [*_archive_silent(snapshot, cfg), *_notify_silent(snapshot, cfg), *_media_expiring(snapshot, cfg),
            *_lag(snapshot, cfg), *_deadletters(snapshot, cfg), *_stale(snapshot, cfg), *_rule_share(snapshot, cfg)]
