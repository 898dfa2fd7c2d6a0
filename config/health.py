"""Settings of the pipeline's health checks (streams/health.py): when a quiet feed, a lagging consumer or a
burst of dead letters becomes a `system.*` alert. Read from PAODAN_HEALTH_* variables; every threshold is
about the pipeline itself (how long WeCom keeps chat records, how far behind a consumer may fall), not
about employees.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from config.settings import SettingsError, _float, _int


@dataclass(frozen=True)
class HealthSettings:
    every_s: float = 60.0
    # The company's working hours, in its own UTC offset: a silent chat archive matters then.
    utc_offset_h: float = 8.0
    work_start_h: float = 9.0
    work_end_h: float = 21.0
    # No chat record loaded for this long in working hours: the loader is silent.
    archive_silent_min: float = 30.0
    # How long WeCom keeps records for pulling (3–5 days by the sources; the short end).
    wecom_keep_h: float = 72.0
    # Records a consumer group may be behind on a topic before it is "lagging".
    lag_records: int = 50_000
    # Dead letters in the last `deadletter_window_min` minutes: a surge if at least `deadletter_min`
    # and `deadletter_factor` times the hourly average of the day before.
    deadletter_window_min: float = 10.0
    deadletter_min: int = 20
    deadletter_factor: float = 5.0
    # HR and order feeds quiet for longer than this (hours) are stale.
    hr_stale_h: float = 48.0
    orders_stale_h: float = 24.0
    # No `msgaudit_notify` callback (WeCom sends one at most every 15 s while records wait) for this long
    # in working hours: the callback path is silent, even if the loader still polls.
    notify_silent_min: float = 30.0
    # Chat images and voice not yet pulled into the media store when this many hours are left before
    # WeCom's keep window (wecom_keep_h) ends for them.
    media_lead_h: float = 24.0
    # A rule raising alerts for at least this share of a team's members within a day (teams of at
    # least `rule_share_min_team`): more likely a misfiring rule or a feed gone wrong than a team of
    # diverters.
    rule_share: float = 0.5
    rule_share_min_team: int = 5

    def working(self, now_ms: int) -> bool:
        hour = ((now_ms / 3_600_000) + self.utc_offset_h) % 24
        return self.work_start_h <= hour < self.work_end_h


def _hours(env: dict[str, str]) -> tuple[float, float]:
    raw = env.get("PAODAN_HEALTH_WORK_HOURS") or "09:00-21:00"
    match = re.fullmatch(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})", raw.strip())
    if not match:
        raise SettingsError(f"PAODAN_HEALTH_WORK_HOURS={raw!r}: expected HH:MM-HH:MM, e.g. 09:00-21:00")
    a, b, c, d = (int(g) for g in match.groups())
    start, end = a + b / 60, c + d / 60
    if not 0 <= start < end <= 24:
        raise SettingsError(f"PAODAN_HEALTH_WORK_HOURS={raw!r}: the start must come before the end, within a day")
    return start, end


def load_health(env: dict[str, str] | None = None) -> HealthSettings:
    env = dict(os.environ if env is None else env)
    start, end = _hours(env)
    return HealthSettings(
        every_s=_float(env, "PAODAN_HEALTH_EVERY", 60.0, 1.0, 3600.0),
        utc_offset_h=_float(env, "PAODAN_HEALTH_UTC_OFFSET", 8.0, -12.0, 14.0),
        work_start_h=start, work_end_h=end,
        archive_silent_min=_float(env, "PAODAN_HEALTH_ARCHIVE_SILENT_MIN", 30.0, 1.0, 24 * 60.0),
        wecom_keep_h=_float(env, "PAODAN_HEALTH_WECOM_KEEP_H", 72.0, 1.0, 24 * 30.0),
        lag_records=_int(env, "PAODAN_HEALTH_LAG_RECORDS", 50_000, 1, 10**12),
        deadletter_window_min=_float(env, "PAODAN_HEALTH_DEADLETTER_WINDOW_MIN", 10.0, 1.0, 24 * 60.0),
        deadletter_min=_int(env, "PAODAN_HEALTH_DEADLETTER_MIN", 20, 1, 10**9),
        deadletter_factor=_float(env, "PAODAN_HEALTH_DEADLETTER_FACTOR", 5.0, 1.0, 1000.0),
        hr_stale_h=_float(env, "PAODAN_HEALTH_HR_STALE_H", 48.0, 1.0, 24 * 365.0),
        orders_stale_h=_float(env, "PAODAN_HEALTH_ORDERS_STALE_H", 24.0, 1.0, 24 * 365.0),
        notify_silent_min=_float(env, "PAODAN_HEALTH_NOTIFY_SILENT_MIN", 30.0, 1.0, 24 * 60.0),
        media_lead_h=_float(env, "PAODAN_HEALTH_MEDIA_LEAD_H", 24.0, 0.0, 24 * 30.0),
        rule_share=_float(env, "PAODAN_HEALTH_RULE_SHARE", 0.5, 0.01, 1.0),
        rule_share_min_team=_int(env, "PAODAN_HEALTH_RULE_SHARE_MIN_TEAM", 5, 1, 10**6),
    )
