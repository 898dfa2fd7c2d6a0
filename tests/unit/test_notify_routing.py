"""Notification routing: the file is validated with file:line, routes pick targets by rule, team and
severity, messages never carry chat content, and each target keeps to its rate."""

from __future__ import annotations

import pytest

from config.yamlfile import ConfigError
from sinks.notify import Quiet, RateLimit, Route, load_routing, render

GOOD = """\
targets:
  robot:
    kind: wecom_robot
    url_env: ROBOT_URL
    per_minute: 20
  soc:
    kind: webhook
    url_env: SOC_URL
routes:
  - {rule: "*", team: "*", min_severity: critical, targets: [soc]}
  - {rule: chat.diversion_phrase, team: 华东一组, min_severity: high, targets: [robot]}
"""
ENV = {"ROBOT_URL": "http://127.0.0.1:1/robot", "SOC_URL": "https://soc.example/hook"}
ALERT = {"alert_id": "a1", "rule": "chat.diversion_phrase", "severity": "high", "score": 82.5,
         "employee_id": "zhangsan", "team": "华东一组", "title": "引导客户到外部平台下单",
         "explanation": "命中「去拼多多下单」", "highlights": [{"id": "m1", "start": 0, "end": 6, "text": "私密内容"}]}


def write(tmp_path, text):
    path = tmp_path / "notify.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_routes_pick_targets_by_rule_team_and_severity(tmp_path):
    routing = load_routing(write(tmp_path, GOOD), ENV)
    assert [t.name for t in routing.targets_for(ALERT)] == ["robot"]
    assert [t.name for t in routing.targets_for({**ALERT, "severity": "critical"})] == ["robot", "soc"]
    assert [t.name for t in routing.targets_for({**ALERT, "team": "华北二组"})] == []
    assert [t.name for t in routing.targets_for({**ALERT, "team": "华北二组", "severity": "critical"})] == ["soc"]
    assert routing.targets_for({**ALERT, "severity": "medium"}) == []
    assert Route("*", "*", "high", ("x",)).matches({**ALERT, "severity": "critical"})


def test_a_target_whose_url_variable_is_unset_is_disabled(tmp_path):
    routing = load_routing(write(tmp_path, GOOD), {"SOC_URL": ENV["SOC_URL"]})
    assert routing.targets_for({**ALERT, "severity": "critical"})[0].name == "soc"
    assert routing.targets_for(ALERT) == []


@pytest.mark.parametrize("text, where, message", [
    (GOOD.replace("kind: webhook", "kind: email"), 6, "kind must be one of"),
    (GOOD.replace("targets: [robot]", "targets: [robot, pager]"), 11, "unknown target(s): pager"),
    (GOOD.replace("min_severity: critical", "min_severity: medium"), 10, "high or critical"),
    (GOOD.replace("per_minute: 20", "per_minute: 0"), 2, "per_minute"),
    (GOOD.replace("    url_env: SOC_URL\n", ""), 6, "url_env"),
    ("targets: {}\n", None, "expected `targets:`"),
    (GOOD + 'quiet_hours: {from: "22:00", to: "25:00"}\n', 12, "two different times of day"),
    (GOOD + 'quiet_hours: {from: "22:00", to: "08:00", timezone: Mars/Olympus}\n', 12, "unknown timezone"),
    (GOOD + "escalation: {after_minutes: 0, rota: [wanglei]}\n", 12, "after_minutes"),
    (GOOD + "escalation: {after_minutes: 15, rota: []}\n", 12, "rota must be a non-empty list"),
])
def test_a_bad_file_fails_with_file_and_line(tmp_path, text, where, message):
    with pytest.raises(ConfigError) as exc:
        load_routing(write(tmp_path, text), ENV)
    assert message in str(exc.value) and exc.value.line == where
    assert str(exc.value).startswith(str(tmp_path / "notify.yaml"))


def test_messages_carry_no_chat_content(tmp_path):
    routing = load_routing(write(tmp_path, GOOD), ENV)
    robot, soc = routing.targets["robot"], routing.targets["soc"]
    markdown = render(robot, ALERT, "https://board.example/")["markdown"]["content"]
    assert "引导客户到外部平台下单" in markdown and "zhangsan" in markdown and "华东一组" in markdown
    assert "私密内容" not in markdown and "https://board.example/" in markdown
    hook = render(soc, ALERT, "")
    assert hook["type"] == "paodan.alert" and "highlights" not in hook["alert"]
    assert hook["alert"]["alert_id"] == "a1"


def test_the_rate_limit_refills_over_time():
    now = [0.0]
    limit = RateLimit(2, clock=lambda: now[0])
    assert [limit.take() for _ in range(3)] == [True, True, False]
    now[0] += 29.0
    assert not limit.take()
    now[0] += 1.5
    assert limit.take() and not limit.take()


def test_quiet_hours_and_the_rota_are_read_from_the_file(tmp_path):
    text = GOOD + ('quiet_hours: {from: "22:30", to: "07:00", timezone: Asia/Urumqi}\n'
                   "escalation: {after_minutes: 15, rota: [wanglei, lina]}\n")
    routing = load_routing(write(tmp_path, text), ENV)
    assert routing.quiet == Quiet(22 * 60 + 30, 7 * 60, "Asia/Urumqi")
    assert routing.escalation.after_s == 900 and routing.escalation.rota == ("wanglei", "lina")
    assert load_routing(write(tmp_path, GOOD), ENV).quiet is None


def test_quiet_hours_span_midnight_in_their_own_timezone():
    night = Quiet(22 * 60, 8 * 60, "Asia/Shanghai")
    midnight_shanghai = 1_764_864_000  # 2025-12-05 00:00 +08:00
    assert night.holds(midnight_shanghai) and night.holds(midnight_shanghai - 3600)   # 23:00
    assert not night.holds(midnight_shanghai + 8 * 3600)                               # 08:00
    assert not night.holds(midnight_shanghai - 2 * 3600 - 60)                          # 21:59
    lunch = Quiet(12 * 60, 13 * 60, "Asia/Urumqi")  # +06:00: 12:30 there is 14:30 in Shanghai
    assert lunch.holds(midnight_shanghai + 14 * 3600 + 1800) and not lunch.holds(midnight_shanghai + 12 * 3600 + 1800)
