"""Working colleagues' customers (detectors/others.py): a burst in a day, an unusual week, orders booked on
them — and what is not it: covering a colleague on leave, customers handed over, a group where it is usual."""

from __future__ import annotations

import pytest

from config.rules import load_rules
from config.yamlfile import ConfigError
from detectors import others, peers
from detectors.context import BehaviourRules
from detectors.windows import get, local_day
from ingest.simulator import hr, order
from tests.unit.test_behaviour_detectors import DAY, MON, RULES, H, World

ENGINE = BehaviourRules.of(RULES)


def close(w: World, e, day: int) -> None:
    """Something the employee does on `day` (a check-in): the days before it close."""
    w.send(hr(e, "checkin", MON + day * DAY + 9 * H, checkin_type="上班打卡", exception_type=""))


def history(w: World, e, days: range) -> None:
    """An ordinary stretch: the employee writes to their own customers every day."""
    w.own(e, f"wm-own-{e.userid}")
    for d in days:
        w.say(e, f"wm-own-{e.userid}", MON + d * DAY + 10 * H, True, "您好，最近用得怎么样？")


def leave(e, first_day: int, last_day: int, entered: int) -> tuple:
    return hr(e, "leave", entered, start=MON + first_day * DAY + 9 * H, end=MON + last_day * DAY + 18 * H,
              leave_type="年假")


# --- a burst in a day -----------------------------------------------------------------------------

def eight_of_bobs(w: World, prefix: str, at: int, text: str = "在吗？", meanwhile: tuple | None = None) -> None:
    """amy writes to eight of bob's customers a minute apart from `at`; `meanwhile` is sent after bob's
    customers are his (an HR record of his older than his last one would be dropped as late)."""
    for i in range(8):
        w.own(w.bob, f"{prefix}{i}")
    if meanwhile:
        w.send(meanwhile)
    for i in range(8):
        w.say(w.amy, f"{prefix}{i}", at + i * 60_000, True, text)


def test_covering_a_colleague_on_leave_is_not_working_others_customers():
    w = World()
    eight_of_bobs(w, "wmv", MON + 2 * DAY + 10 * H, "同事这几天休假，有需要先找我",
                  meanwhile=leave(w.bob, 2, 4, MON + DAY + 11 * H))  # entered the day before
    close(w, w.amy, 3)
    assert "followup.others_customers" not in w.rules("amy")


def test_the_same_day_without_a_leave_is_a_burst():
    w = World()
    eight_of_bobs(w, "wmv", MON + 2 * DAY + 10 * H)
    close(w, w.amy, 3)
    alert = w.rules("amy")["followup.others_customers"]
    assert alert["severity"] == "medium" and "24 小时内联系了 8 位归属其他员工的客户" in alert["explanation"]
    assert "wrote to 8 customers owned by 1 other employees within 24 hours" in alert["explanation"]
    assert len(alert["evidence"]) == 8


def test_a_sick_leave_entered_the_day_after_still_covers_that_day():
    w = World()
    history(w, w.bob, range(0, 2))  # bob works, so the branch waits for him before judging a day
    eight_of_bobs(w, "wmv", MON + 2 * DAY + 10 * H, "同事今天病了，我先帮您看看")
    close(w, w.amy, 3)
    w.send(hr(w.bob, "leave", MON + 3 * DAY + 9 * H, start=MON + 2 * DAY + 9 * H, end=MON + 2 * DAY + 18 * H,
              leave_type="病假"))
    history(w, w.amy, range(3, 7))  # days pass; the branch judges day 2 knowing bob was away
    close(w, w.amy, 8)
    assert "followup.others_customers" not in w.rules("amy")


# --- an unusual week ------------------------------------------------------------------------------

def two_a_day(w: World, first_day: int, days: int, orders: dict[int, str] | None = None) -> None:
    """amy writes to two of bob's customers a day (never a burst), and to her own customer, in time order
    (an event far behind the employee's clock is dropped as late); `orders`: day -> bob's customer."""
    for i in range(2 * days):
        w.own(w.bob, f"wmw{i}")
    for d in range(first_day, first_day + days + 1):
        w.say(w.amy, f"wm-own-{w.amy.userid}", MON + d * DAY + 10 * H, True)
        if d < first_day + days:
            for i in (2 * (d - first_day), 2 * (d - first_day) + 1):
                w.say(w.amy, f"wmw{i}", MON + d * DAY + 11 * H + i * H, True, "找我下单优惠更多")
        if orders and d in orders:
            w.send(order(w.amy, f"SO-7{d}", "created", MON + d * DAY + 18 * H, orders[d], 900.0))
    close(w, w.amy, first_day + days + 2)


def test_a_few_colleagues_customers_a_day_for_days_is_unusual_for_the_employee():
    w = World()
    history(w, w.amy, range(0, 10))
    two_a_day(w, 10, 4)
    alert = w.rules("amy")["followup.others_customers"]
    text = alert["explanation"]
    assert alert["severity"] == "medium"
    assert "近 7 天" in text and "联系或下单了 8 位归属其他员工的客户（1 名同事名下" in text
    assert "本人此前 8 个活跃日的常态折合约 0.0 位" in text and "至少 4 位，且为两者的 3 倍" in text
    assert "in the last 7 days" in text and "own norm 0.0" in text
    assert len(alert["evidence"]) == 8


def test_no_unusual_week_before_the_employee_has_a_history():
    w = World()
    history(w, w.amy, range(0, 3))  # a new hire: three days of their own
    two_a_day(w, 3, 4)
    assert "followup.others_customers" not in w.rules("amy")


def test_orders_on_colleagues_customers_make_the_week_high():
    w = World()
    history(w, w.amy, range(0, 10))
    two_a_day(w, 10, 3, orders={10: "wmw0", 12: "wmw5"})
    alert = w.rules("amy")["followup.others_customers"]
    assert alert["severity"] == "high" and "其中 2 位有订单" in alert["explanation"]
    assert "orders.others_customer" not in w.rules("amy")  # one a day: not the day rule


# --- the week judged at the branch: own norm and peers --------------------------------------------

T0 = 20_000 * DAY + 2 * H  # 10:00 on local day 20 000 in Shanghai


def _row(e: str, customers: int, norm: float = 0.0, history_days: int = 12, team: str = "一组") -> dict:
    owner = "zoe" if e != "zoe" else "yan"
    return {"e": e, "d": 20_000, "tz": "Asia/Shanghai", "t": team, "xk": history_days, "xn": norm, "xa": 5,
            "xw": [[20_000 - i % 5, 1000 + i, owner, others.CHAT, T0 - i % 5 * DAY + i * 60_000, f"m-{e}-{i}", 20_000]
                   for i in range(customers)]}  # one or two a day: never a burst


def _found(rows: list[dict], st: dict | None = None) -> list[tuple[str, str]]:
    return [(e, sig.rule) for e, sig in others.evaluate(rows, 20_000, (0, DAY), ENGINE, peers.Peers(rows, ENGINE),
                                                        st or {})]


def test_the_week_is_judged_against_the_own_norm_and_the_peer_group():
    quiet = [_row(e, 0) for e in ("bob", "cat", "dan")]
    assert _found([_row("amy", 5)] + quiet) == [("amy", "followup.others_customers")]
    assert not _found([_row("amy", 3)] + quiet)                      # a handful: under `others_min`
    assert not _found([_row("amy", 5, norm=2.0)] + quiet)            # she does this every week (a manager)
    busy = [_row(e, 2) for e in ("bob", "cat", "dan")]
    assert not _found([_row("amy", 5)] + busy)                       # the team shares its customers
    assert not _found([_row("amy", 5, history_days=4)] + quiet)      # too short a history to know her norm


def test_what_half_the_group_does_is_its_norm():
    rows = [_row(e, 6) for e in ("amy", "bob", "cat")] + [_row("dan", 0)]
    assert not _found(rows)


def test_a_leave_reaches_the_branch_and_excludes_the_owners_customers():
    st = others.on_leave_row(None, {"kind": others.LEAVE_KIND, "e": "zoe", "d": 20_000,
                                    "s": T0 - 5 * DAY, "en": T0 + 2 * H, "ts": T0 - 6 * DAY})
    quiet = [_row(e, 0) for e in ("bob", "cat", "dan")]
    assert _found([_row("amy", 5)] + quiet) and not _found([_row("amy", 5)] + quiet, st)


# --- handovers --------------------------------------------------------------------------------------

def test_orders_on_customers_the_employee_handed_over_are_not_others():
    w = World()
    for i in range(3):
        w.own(w.amy, f"wmq{i}")
        w.own(w.bob, f"wmq{i}", MON + 8 * H, previous_owner_id="amy", reason="resignation")
        w.send(order(w.amy, f"SO-8{i}", "created", MON + 10 * H + i * H, f"wmq{i}", 500.0))
    close(w, w.amy, 1)
    assert "orders.others_customer" not in w.rules("amy")


def test_a_customer_handed_to_the_employee_later_that_day_is_theirs():
    w = World()
    eight_of_bobs(w, "wmp", MON + 10 * H, "之后由我为您服务")
    for i in range(8):  # the assignment recorded after the hello
        w.own(w.amy, f"wmp{i}", MON + 12 * H, previous_owner_id="bob", reason="handover")
    close(w, w.amy, 1)
    assert "followup.others_customers" not in w.rules("amy")


# --- the rules file ---------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value", [("others_days", 1), ("others_min", 0), ("others_ratio", 0.5)])
def test_the_weeks_settings_are_validated_with_the_line(tmp_path, key, value):
    path = tmp_path / "rules.yaml"
    path.write_text(f'version: "v1"\nrules:\n  followup:\n    others_min: 4\n    {key}: {value}\n'
                    if key != "others_min" else f'version: "v1"\nrules:\n  followup:\n    others_days: 7\n    {key}: {value}\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert err.value.line == 5 and f"followup.{key}" in err.value.message
    path.write_text('version: "v1"\nrules:\n  followup:\n    others_days: 14\n    others_min: 6\n', encoding="utf-8")
    assert load_rules(path).rule("followup").others_days == 14


# --- a colleague's customer's questions -------------------------------------------------------------

def test_a_question_from_a_colleagues_customer_waits_on_its_owner_not_on_the_manager():
    w = World()
    w.own(w.amy, "wmg1")
    w.own(w.boss, "wmg2")
    for e in (w.boss, w.amy):  # the customer writes in a group with amy and her manager: both receive it
        w.say(e, "wmg1", MON + 10 * H, False, "这款什么时候能到货？")
    w.say(w.boss, "wmg2", MON + 11 * H, True, "您好")  # the manager is at work, answering his own
    w.say(w.amy, "wmg1", MON + 14 * H, True, "明天就到")
    close(w, w.amy, 1)
    close(w, w.boss, 1)
    day = local_day(MON + 10 * H)
    assert get(w.engine.states["amy"], day, "questions") == 1   # amy's to answer: her reply time counts
    assert get(w.engine.states["boss"], day, "questions") == 0  # not the manager's: never "unanswered"

