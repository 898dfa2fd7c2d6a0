"""Pipeline health (streams/health.py): which snapshots become which `system.*` alerts."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from config.health import HealthSettings, load_health
from config.settings import SettingsError
from streams.health import (ARCHIVE_SILENT, CONSUMER_LAG, DEADLETTER_SURGE, FEED_STALE, HOUR, MEDIA_EXPIRING,
                            MINUTE, NOTIFY_SILENT, RULE_SHARE, MediaFacts, Snapshot, evaluate)

CFG = HealthSettings()  # working hours 09:00–21:00 at UTC+8


def at(hh: int, mm: int = 0) -> int:
    """A moment on 2026-12-03 at hh:mm in the company's UTC+8."""
    return int(datetime(2026, 12, 3, hh - 8 if hh >= 8 else hh + 16, mm, tzinfo=timezone.utc).timestamp() * 1000) \
        - (0 if hh >= 8 else 24 * HOUR)


def rules(alerts):
    return [(a["rule"], a["severity"]) for a in alerts]


def test_a_quiet_archive_in_working_hours_is_an_alert_with_the_time_left():
    now = at(14)
    [alert] = evaluate(Snapshot(now, {"msgaudit": now - 45 * MINUTE}), CFG)
    assert (alert["rule"], alert["severity"]) == (ARCHIVE_SILENT, "high")
    assert "45 分钟" in alert["explanation"] and "71.2 h are left" in alert["explanation"]
    assert alert["employee_id"] == "_system" and alert["window"]["start"] == now - 45 * MINUTE
    # Quiet for less than the threshold, or at night: nothing.
    assert evaluate(Snapshot(now, {"msgaudit": now - 20 * MINUTE}), CFG) == []
    assert evaluate(Snapshot(at(23), {"msgaudit": at(23) - 5 * HOUR}), CFG) == []


def test_quiet_counts_from_the_start_of_working_hours_and_turns_critical_near_wecoms_limit():
    # Last record at 20:00 yesterday: at 09:10 the night is not counted yet …
    assert evaluate(Snapshot(at(9, 10), {"msgaudit": at(9, 10) - 13 * HOUR - 10 * MINUTE}), CFG) == []
    # … at 09:40 it is 40 minutes of working hours.
    assert rules(evaluate(Snapshot(at(9, 40), {"msgaudit": at(9, 40) - 13 * HOUR - 40 * MINUTE}), CFG)) == \
        [(ARCHIVE_SILENT, "high")]
    # Two days quiet: under a day left before WeCom drops the records.
    assert rules(evaluate(Snapshot(at(15), {"msgaudit": at(15) - 50 * HOUR}), CFG)) == [(ARCHIVE_SILENT, "critical")]


def test_the_same_quiet_spell_is_one_alert_with_growing_revisions():
    last = at(13)
    first, later = (evaluate(Snapshot(last + m * MINUTE, {"msgaudit": last}), CFG)[0] for m in (40, 55))
    assert first["alert_id"] == later["alert_id"] and later["revision"] > first["revision"]
    [again] = evaluate(Snapshot(at(17), {"msgaudit": at(16)}), CFG)  # a new spell after records came
    assert again["alert_id"] != first["alert_id"]


def test_lag_per_group_and_topic():
    snap = Snapshot(at(3), lag={("paodan", "wecom.msgaudit"): 60_000, ("paodan", "crm.orders"): 10,
                                ("paodan-archive", "wecom.msgaudit"): 600_000, ("other", "x"): 49_999})
    alerts = evaluate(snap, CFG)
    assert rules(alerts) == [(CONSUMER_LAG, "high"), (CONSUMER_LAG, "critical")]
    assert "60,010" in alerts[0]["explanation"] and "paodan-archive" in alerts[1]["title"]


def test_a_dead_letter_surge_is_against_the_day_before():
    quiet_day = Snapshot(at(3), deadletters_recent=25, deadletters_day=0)
    assert rules(evaluate(quiet_day, CFG)) == [(DEADLETTER_SURGE, "high")]
    # 25 in ten minutes when the day before averaged 10 per ten minutes: not five times the usual.
    assert evaluate(Snapshot(at(3), deadletters_recent=25, deadletters_day=10 * 144), CFG) == []
    assert evaluate(Snapshot(at(3), deadletters_recent=19, deadletters_day=0), CFG) == []


def test_stale_hr_and_order_feeds():
    now = at(3)
    alerts = evaluate(Snapshot(now, {"hr": now - 49 * HOUR, "orders": now - 2 * HOUR}), CFG)
    assert rules(alerts) == [(FEED_STALE, "medium")] and "HR" in alerts[0]["title"]
    alerts = evaluate(Snapshot(now, {"hr": now - HOUR, "orders": now - 25 * HOUR, "msgaudit": None}), CFG)
    assert rules(alerts) == [(FEED_STALE, "medium")] and "order" in alerts[0]["title"]
    assert evaluate(Snapshot(now, {"hr": None, "orders": None}), CFG) == []  # never fed: nothing to judge


def test_settings_are_validated():
    cfg = load_health({"PAODAN_HEALTH_WORK_HOURS": "08:30-18:00", "PAODAN_HEALTH_LAG_RECORDS": "100"})
    assert (cfg.work_start_h, cfg.work_end_h, cfg.lag_records) == (8.5, 18.0, 100)
    with pytest.raises(SettingsError, match="PAODAN_HEALTH_WORK_HOURS"):
        load_health({"PAODAN_HEALTH_WORK_HOURS": "18:00-08:00"})
    with pytest.raises(SettingsError, match="PAODAN_HEALTH_LAG_RECORDS"):
        load_health({"PAODAN_HEALTH_LAG_RECORDS": "-1"})


def test_silent_msgaudit_notify_callbacks_in_working_hours_are_an_alert():
    now = at(14)
    [alert] = evaluate(Snapshot(now, {"notify": now - 40 * MINUTE}), CFG)
    assert (alert["rule"], alert["severity"]) == (NOTIFY_SILENT, "medium") and "40 分钟" in alert["explanation"]
    assert evaluate(Snapshot(now, {"notify": now - 10 * MINUTE}), CFG) == []  # callbacks keep coming
    assert evaluate(Snapshot(at(23), {"notify": at(23) - 3 * HOUR}), CFG) == []  # at night
    assert evaluate(Snapshot(now, {"notify": None}), CFG) == []  # a deployment without callbacks


def test_media_not_pulled_as_wecoms_keep_window_ends_is_an_alert_with_the_time_left():
    now = at(14)
    snap = Snapshot(now, media=MediaFacts(pending=3, oldest_ms=now - 60 * HOUR, expired=2))
    [alert] = evaluate(snap, CFG)
    assert (alert["rule"], alert["severity"]) == (MEDIA_EXPIRING, "high")
    assert "3 个图片/语音" in alert["explanation"] and "about 12.0 h are left" in alert["explanation"]
    assert "2 more have already expired" in alert["explanation"]
    near = Snapshot(now, media=MediaFacts(pending=1, oldest_ms=now - 70 * HOUR))
    assert rules(evaluate(near, CFG)) == [(MEDIA_EXPIRING, "critical")]  # two hours left
    assert evaluate(Snapshot(now, media=MediaFacts(expired=5)), CFG) == []  # nothing left to save
    assert evaluate(Snapshot(now, media=None), CFG) == []  # no media store here


def test_a_rule_alerting_on_a_large_share_of_a_team_is_an_alert_per_rule_and_team():
    now = at(14)
    snap = Snapshot(now, rule_teams={("chat.diversion_phrase", "华东一组"): (6, 10),
                                     ("chat.diversion_phrase", "华东二组"): (4, 10),
                                     ("orders.volume_spike", "小组"): (3, 3),  # too small a team to judge
                                     ("system.consumer_lag", "华东一组"): (10, 10)})
    [alert] = evaluate(snap, CFG)
    assert (alert["rule"], alert["severity"]) == (RULE_SHARE, "medium")
    assert "6/10" in alert["explanation"] and "60%" in alert["explanation"] and "华东一组" in alert["title"]
    again = evaluate(Snapshot(now + HOUR, rule_teams={("chat.diversion_phrase", "华东一组"): (7, 10)}), CFG)
    assert again[0]["alert_id"] == alert["alert_id"]  # the same day: one alert, revised
    other = evaluate(Snapshot(now, rule_teams={("chat.diversion_phrase", "华东二组"): (6, 10)}), CFG)
    assert other[0]["alert_id"] != alert["alert_id"]


def test_the_new_thresholds_are_read_and_checked():
    cfg = load_health({"PAODAN_HEALTH_NOTIFY_SILENT_MIN": "15", "PAODAN_HEALTH_MEDIA_LEAD_H": "12",
                       "PAODAN_HEALTH_RULE_SHARE": "0.3", "PAODAN_HEALTH_RULE_SHARE_MIN_TEAM": "8"})
    assert (cfg.notify_silent_min, cfg.media_lead_h, cfg.rule_share, cfg.rule_share_min_team) == (15, 12, 0.3, 8)
    with pytest.raises(SettingsError, match="PAODAN_HEALTH_RULE_SHARE"):
        load_health({"PAODAN_HEALTH_RULE_SHARE": "2"})
