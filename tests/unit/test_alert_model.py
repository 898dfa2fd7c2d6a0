"""The alert model: the state form detectors keep an alert in round-trips to the same alert, and the
alert id depends on what the alert is about, never on when it was computed."""

from detectors.alert import Alert, Evidence, alert_id, as_state, from_state


def sample(**over) -> Alert:
    fields = dict(alert_id=alert_id("chat.diversion_phrase", "emp1", 0, 3_600_000), rule="chat.diversion_phrase",
                  severity="high", score=80.0, employee_id="emp1", team="T", branch="SH-01", ts=1_000,
                  window_start=0, window_end=3_600_000, title="引导客户", explanation="命中「加我微信」",
                  evidence=[Evidence("wecom.msgaudit", "m1"), Evidence("wecom.msgaudit", "m2")],
                  rules_version="2026-11-27.1", revision=3,
                  highlights=[{"id": "m1", "start": 2, "end": 6, "text": "加我微信"}], detected_at=99)
    fields.update(over)
    return Alert(**fields)


def test_state_form_round_trips_without_the_wall_clock():
    alert = sample()
    state = as_state(alert)
    assert "detected_at" not in state
    back = from_state(state)
    assert back.to_dict() == {**alert.to_dict(), "detected_at": 0}


def test_state_form_is_a_copy():
    alert = sample()
    state = as_state(alert)
    state["highlights"][0]["end"] = 99
    state["evidence"].append({"topic": "x", "id": "y"})
    assert alert.highlights[0]["end"] == 6 and len(alert.evidence) == 2


def test_alert_id_is_about_rule_employee_and_window():
    a = alert_id("r", "e", 0, 10)
    assert a == alert_id("r", "e", 0, 10)
    assert len({a, alert_id("r2", "e", 0, 10), alert_id("r", "e2", 0, 10), alert_id("r", "e", 1, 10)}) == 4
