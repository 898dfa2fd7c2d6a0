"""An alert id's revisions only ever grow, so one (id, revision) always names one body (issue 19)."""

from detectors import hygiene
from detectors.hygiene import Signal

DAY = 86_400_000
COOLDOWN = 24 * 3_600_000


def _signal(n: int, ts: int) -> Signal:
    return Signal(rule="followup.reply_timeouts", severity="medium", ts=ts, window=(0, DAY),
                  title="回复超时", explanation=f"当天有 {n} 条客户消息超时", evidence=[("t", str(n))])


def test_a_window_checked_again_after_its_alert_was_forgotten_continues_its_revisions():
    state: dict = {}
    seen: dict[tuple[str, int], str] = {}
    first = hygiene.apply(state, _signal(4, DAY), "e1", {}, "v1", COOLDOWN, 20)
    seen[(first.alert_id, first.revision)] = first.explanation
    hygiene.expire(state, 3 * DAY, COOLDOWN)  # the day's alert is forgotten after its cooldown
    again = hygiene.apply(state, _signal(5, 4 * DAY), "e1", {}, "v1", COOLDOWN, 20)
    assert again.alert_id == first.alert_id
    assert again.revision > first.revision
    assert seen.get((again.alert_id, again.revision), again.explanation) == again.explanation


def test_an_alert_replaced_after_its_cooldown_also_continues():
    state: dict = {}
    first = hygiene.apply(state, _signal(4, DAY), "e1", {}, "v1", COOLDOWN, 20)
    again = hygiene.apply(state, _signal(5, 5 * DAY), "e1", {}, "v1", COOLDOWN, 20)
    assert (again.alert_id, again.revision) == (first.alert_id, first.revision + 1)


def test_forgotten_revisions_are_themselves_forgotten_in_time():
    state: dict = {}
    hygiene.apply(state, _signal(4, DAY), "e1", {}, "v1", COOLDOWN, 20)
    hygiene.expire(state, 3 * DAY, COOLDOWN)
    assert state["ar"]
    hygiene.expire(state, DAY + hygiene.RETIRED_KEEP_MS + DAY, COOLDOWN)
    assert not state["ar"]
