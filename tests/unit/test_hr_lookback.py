"""The resignation look-back (detectors/hr.py): deletions spread below the day's line are a pattern too."""

from __future__ import annotations

from ingest.simulator import contact, hr
from tests.unit.test_behaviour_detectors import DAY, H, MON, World


def _deletions(w, e, days, per_day, prefix):
    for d in days:
        for i in range(per_day):
            w.send(contact(e, f"wm{prefix}{d}x{i}", MON + d * DAY + 15 * H + i * 600_000, "del_external_contact"))


def test_a_few_deletions_a_day_before_the_notice_add_up_to_a_critical_look_back():
    w = World()
    _deletions(w, w.amy, range(30, 34), 3, "a")           # 3 a day for 4 days: each day below the line of 5
    assert not w.rules("amy")
    w.send(hr(w.amy, "resignation", MON + 34 * DAY + 10 * H, last_day=MON + 48 * DAY))
    alert = w.rules("amy")["hr.resignation_lookback"]
    assert alert["severity"] == "critical"
    assert "回溯期内共删除客户 12 次（阈值 5，本人此前同期通常 0.0 次）" in alert["explanation"]


def test_deletions_at_the_employees_usual_rate_are_not_a_look_back_finding():
    w = World()
    for d in range(0, 34):                                # someone who tidies one contact away a day
        w.say(w.amy, "wmk", MON + d * DAY + 10 * H, True, "您好")
        _deletions(w, w.amy, [d], 1, "u")
    w.send(hr(w.amy, "resignation", MON + 34 * DAY + 10 * H, last_day=MON + 48 * DAY))
    assert "hr.resignation_lookback" not in w.rules("amy")


def _lookback(per_day: int, burst: int) -> dict:
    w = World()
    for d in range(0, 34):
        w.say(w.amy, "wmk", MON + d * DAY + 10 * H, True, "您好")
        n = burst if d == 20 else per_day
        for i in range(n):
            w.send(contact(w.amy, f"wmd{d}x{i}", MON + d * DAY + 15 * H + i * 600_000, "del_follow_user"))
    w.send(hr(w.amy, "resignation", MON + 34 * DAY + 10 * H, last_day=MON + 48 * DAY))
    return w.rules("amy")


def test_customers_leaving_at_the_employees_usual_rate_are_no_look_back_finding():
    # A large book: a customer deletes amy most days; one day two did.
    assert "hr.resignation_lookback" not in _lookback(1, 2)
    # Nobody ever deletes amy, then three customers on one day before her notice.
    found = _lookback(0, 3)["hr.resignation_lookback"]
    assert "第 -14 天被客户删除 3 次" in found["explanation"]
