"""Notification routing: the file is validated with file:line, routes pick targets by rule, team and
severity, messages never carry chat content, and each target keeps to its rate."""

from __future__ import annotations

import pytest

from config.yamlfile import ConfigError
from sinks.notify import RateLimit, Route, load_routing, render

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
