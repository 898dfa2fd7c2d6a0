"""Absence is not slowness: reply delays and stalled orders count only the employee's own working time."""

from __future__ import annotations

from detectors.windows import get, local_day
from ingest.simulator import order
from tests.unit.test_behaviour_detectors import DAY, MON, H, World


def test_a_rest_day_between_a_question_and_its_answer_is_absence_not_slowness():
    w = World()
    w.own(w.amy, "wmd1")
    w.own(w.amy, "wmd2")
    tue, thu = MON + DAY, MON + 3 * DAY
    w.say(w.amy, "wmd2", tue + 16 * H, True)
    w.say(w.amy, "wmd1", tue + 17 * H, False, "这个型号有现货吗？")
    w.say(w.amy, "wmd2", tue + 17 * H + 30 * 60_000, True)   # at work after the question: it waits on her
    w.say(w.amy, "wmd1", thu + 9 * H + 30 * 60_000, True, "有的")  # Wednesday is her day off (a rota)
    replies = w.engine.states["amy"]["ry"][str(local_day(thu + 9 * H))]
    assert [m for m, _ in replies] == [60]  # Tuesday 17:30–18:00 and Thursday 09:00–09:30


def test_an_order_stalls_after_the_employees_working_days_not_over_a_weekend():
    w = World()
    w.own(w.amy, "wms1")
    w.own(w.amy, "wms2")
    fri = MON + 4 * DAY
    w.send(order(w.amy, "SO-91", "created", fri + 15 * H, "wms1", 800.0))  # nobody writes to wms1 since
    for d in (3, 4, 5, 6):  # Monday to Thursday she works (writes to another customer); the weekend she rests
        w.say(w.amy, "wms2", fri + d * DAY + 10 * H, True)
    state = w.engine.states["amy"]
    mon, wed = local_day(fri + 3 * DAY), local_day(fri + 5 * DAY)
    assert get(state, mon, "stalled") == 0 and get(state, mon + 1, "stalled") == 0  # one, two working days
    assert get(state, wed, "stalled") == 1                                           # the third
