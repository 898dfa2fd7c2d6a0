"""A leaver's customers after the last day (detectors/handover.py), through the same in-memory engine as replay."""

from __future__ import annotations

import pytest

from detectors.handover import last_moment
from detectors.windows import day_start, local_day
from ingest.simulator import Employee, directory_record, hr, order
from tests.unit.test_behaviour_detectors import DAY, H, MON, World

NOTICE, LAST = MON + DAY + 10 * H, MON + 5 * DAY + 18 * H   # notice Tuesday, last day Saturday 18:00


@pytest.fixture
def w():
    world = World()
    world.carl = Employee("carl", "carl", "一组", "SH-01", "boss")
    world.send(directory_record(world.carl, MON - 30 * DAY))
    for c in ("wma1", "wma2", "wma3"):
        world.own(world.amy, c)
    for c in ("wmb1", "wmb2"):
        world.own(world.bob, c)
    for i in range(5):
        world.own(world.carl, f"wmc{i}")
    return world


def _work(w, days: range, *people) -> None:
    """Colleagues at work: each writes to a customer at 10:00 every day (their days close and reach the branch)."""
    for d in days:
        for e in people:
            w.say(e, f"wm{e.userid[0]}1", MON + d * DAY + 10 * H, True, "您好，今天的安装时间确认一下")


def test_customers_still_unassigned_days_after_the_last_day_are_reported_with_a_taker(w):
    w.send(hr(w.amy, "resignation", NOTICE, last_day=LAST))
    # One of amy's three customers is handed to bob after the last day; two stay with her.
    w.own(w.bob, "wma1", LAST + H, previous_owner_id="amy", reason="resignation")
    _work(w, range(0, 9), w.bob, w.carl)
    assert "hr.handover_unassigned" not in w.rules("amy")  # not yet: three days after the last day
    _work(w, range(9, 16), w.bob, w.carl)
    alert = w.rules("amy")["hr.handover_unassigned"]
    assert alert["severity"] == "medium"
    assert "仍有 2 位客户未分配" in alert["explanation"] and "2 customer(s) are still not assigned" in alert["explanation"]
    assert "期限 3 天" in alert["explanation"]
    # bob holds 3 customers now, carl 5: bob is the lighter load of the same team and job.
    assert "建议由同组 bob（现有客户 3 位）接替" in alert["explanation"]
    assert alert["evidence"] == [{"topic": "hr.events", "id": f"resignation:amy:{NOTICE}"}]
    assert alert["ts"] >= LAST + 3 * DAY
    assert sum(1 for a in w.alerts.values() if a["rule"] == "hr.handover_unassigned") == 1  # once, not daily


def test_a_complete_hand_over_and_customers_who_deleted_the_leaver_raise_nothing(w):
    from ingest.simulator import contact
    w.send(hr(w.amy, "resignation", NOTICE, last_day=LAST))
    w.send(contact(w.amy, "wma3", MON + 2 * DAY + 20 * H, "del_follow_user"))  # the customer left: nothing to hand over
    w.own(w.bob, "wma1", LAST + H, previous_owner_id="amy", reason="resignation")
    w.own(w.carl, "wma2", LAST + H, previous_owner_id="amy", reason="resignation")
    _work(w, range(0, 16), w.bob, w.carl)
    assert "hr.handover_unassigned" not in w.rules("amy")


def test_a_customer_who_deleted_the_leaver_and_was_assigned_after_all_is_counted_once(w):
    from ingest.simulator import contact
    w.send(hr(w.amy, "resignation", NOTICE, last_day=LAST))
    w.send(contact(w.amy, "wma3", MON + 2 * DAY + 20 * H, "del_follow_user"))
    for c, to in (("wma3", w.bob), ("wma1", w.carl)):
        w.own(to, c, LAST + H, previous_owner_id="amy", reason="resignation")
    _work(w, range(0, 16), w.bob, w.carl)
    alert = w.rules("amy")["hr.handover_unassigned"]
    assert "仍有 1 位客户未分配" in alert["explanation"]  # wma2 only


def test_the_leaver_writing_after_the_last_day_is_high_and_critical_for_a_customer_handed_over(w):
    w.send(hr(w.amy, "resignation", NOTICE, last_day=LAST))
    w.say(w.amy, "wma2", LAST - 2 * H, True, "明天我就离职了，感谢您的支持")  # still on the job
    assert "hr.after_last_day" not in w.rules("amy")
    w.say(w.amy, "wma2", LAST + DAY + 11 * H, True, "以后有需要直接加我私人微信")
    alert = w.rules("amy")["hr.after_last_day"]
    assert alert["severity"] == "high"
    assert "离职 1.5 天后仍面向 1 位客户发送消息 1 条" in alert["explanation"]
    assert "1.5 days after it they still wrote 1 message(s)" in alert["explanation"]
    w.own(w.bob, "wma1", LAST + 2 * DAY, previous_owner_id="amy", reason="resignation")
    w.say(w.amy, "wma1", LAST + 2 * DAY + 3 * H, True, "还是找我下单吧，价格更低")
    alert = w.rules("amy")["hr.after_last_day"]
    assert alert["severity"] == "critical"
    assert "其中 1 位客户已交接给 bob" in alert["explanation"] and "already handed over to bob" in alert["explanation"]
    assert len(alert["evidence"]) == 2 and all(e["topic"] == "wecom.msgaudit" for e in alert["evidence"])
    assert w.engine.risk["amy"]["score"] > 0  # weighted into the leaver's risk


def test_an_order_in_the_leavers_name_after_the_last_day_is_medium_unless_they_also_write(w):
    w.send(hr(w.amy, "resignation", NOTICE, last_day=LAST))
    w.send(order(w.amy, "SO-1", "created", LAST - H, "wma2", 800.0))
    w.send(order(w.amy, "SO-1", "paid", LAST + DAY, "wma2", 800.0))  # a payment after leaving is no new order
    assert "hr.after_last_day" not in w.rules("amy")
    w.send(order(w.amy, "SO-2", "created", LAST + DAY + 10 * H, "wma2", 1200.0))
    alert = w.rules("amy")["hr.after_last_day"]
    assert alert["severity"] == "medium" and "以其名义创建订单 1 笔" in alert["explanation"]
    assert alert["evidence"] == [{"topic": "crm.orders", "id": "SO-2:created"}]


def test_a_date_only_last_day_covers_that_whole_local_day():
    tz = "Asia/Shanghai"
    midnight = day_start(local_day(LAST, tz), tz)
    assert last_moment(midnight, tz) == midnight + DAY
    assert last_moment(LAST, tz) == LAST


def test_the_handover_limit_is_a_validated_rule(tmp_path):
    from config.rules import load_rules
    from config.settings import CONFIG_DIR
    from config.yamlfile import ConfigError
    text = (CONFIG_DIR / "rules.yaml").read_text(encoding="utf-8").replace("handover_days: 3", "handover_days: 0")
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    for lex in (CONFIG_DIR / "lexicons").iterdir():
        (tmp_path / "lexicons").mkdir(exist_ok=True)
        (tmp_path / "lexicons" / lex.name).write_bytes(lex.read_bytes())
    with pytest.raises(ConfigError) as err:
        load_rules(tmp_path / "rules.yaml")
    assert "handover_days" in str(err.value) and "rules.yaml" in str(err.value)


def test_a_customer_released_by_an_on_job_transfer_counts_as_handed_over(w):
    from ingest.simulator import contact
    w.send(hr(w.amy, "resignation", NOTICE, last_day=LAST))
    w.send(contact(w.amy, "wma3", LAST - DAY, "del_external_contact", Source="DELETE_BY_TRANSFER"))
    w.say(w.amy, "wma3", LAST + 3 * H, True, "换了顾问也可以继续找我")
    alert = w.rules("amy")["hr.after_last_day"]
    assert alert["severity"] == "critical" and "其中 1 位客户已交接，离职员工仍在联系" in alert["explanation"]
