"""The company's own channels: proposed by share of active senders across teams, decided by admins."""

from detectors import channels
from detectors.content.signals import Signal


def sig(kind="weapp", value="gh_own01", severity="medium"):
    return Signal("chat.external_shop", kind, severity, "非公司小程序", normalized=value)


def company(n_staff: int, senders: int, teams_of_senders: int, target="weapp:gh_own01", day=100):
    """`n_staff` active employees; the first `senders` of them (spread over teams) sent `target`."""
    agg: dict = {}
    for i in range(n_staff):
        team = f"T{i % teams_of_senders}" if i < senders else "T9"
        sent = [target] if i < senders else ["phone:13800000000" if i == senders else "weapp:gh_other"]
        channels.add_day(agg, channels.day_row(f"e{i:03d}", team, day + i % 3, sent if i < senders else [],
                                               example=f"m{i}"))
    return agg


def test_target_names_kind_and_normalised_value():
    assert channels.target(sig()) == "weapp:gh_own01"
    assert channels.target(sig("phone", "13812345678")) == "phone:13812345678"
    assert channels.target(sig("bank_card", "6222020000000000")) is None  # a payment, never a channel


def test_many_senders_across_teams_are_proposed_and_info():
    agg = company(40, senders=12, teams_of_senders=3)
    standing = channels.evaluate(agg, {})
    assert standing["weapp:gh_own01"]["status"] == channels.PROPOSED
    assert standing["weapp:gh_own01"]["employees"] == 12 and standing["weapp:gh_own01"]["teams"] == 3
    own = channels.own(standing)
    assert channels.is_own(sig(), own)
    assert channels.as_info(sig()).severity == "info"


def test_one_team_alone_never_makes_a_channel_the_companys():
    agg = company(40, senders=12, teams_of_senders=1)
    assert "weapp:gh_own01" not in channels.evaluate(agg, {})


def test_threshold_is_a_share_of_active_senders():
    # 12 senders are a crowd among 40, not among 500.
    assert "weapp:gh_own01" in channels.evaluate(company(40, 12, 3), {})
    assert "weapp:gh_own01" not in channels.evaluate(company(500, 12, 3), {})
    # A company of 10: the floor, not a share of less than one person.
    assert channels.needed(10) == channels.MIN_SENDERS
    assert "weapp:gh_own01" not in channels.evaluate(company(10, 2, 2), {})
    assert "weapp:gh_own01" in channels.evaluate(company(10, 3, 2), {})


def test_rejected_flags_again_confirmed_stays_own():
    agg = company(40, 12, 3)
    rejected = channels.evaluate(agg, {"weapp:gh_own01": channels.REJECTED})
    assert not channels.is_own(sig(), channels.own(rejected))
    confirmed = channels.evaluate(agg, {"weapp:gh_own01": channels.CONFIRMED})
    assert channels.is_own(sig(), channels.own(confirmed))


def test_order_of_delivery_does_not_change_the_result():
    rows = [channels.day_row(f"e{i}", f"T{i % 2}", 100 + i % 4, ["domain:own.example"], f"m{i}") for i in range(9)]
    a, b = {}, {}
    for r in rows:
        channels.add_day(a, r)
    for r in reversed(rows):
        channels.add_day(b, r)
    assert channels.evaluate(a, {}) == channels.evaluate(b, {})


def test_old_days_leave_the_window():
    agg = company(40, 12, 3, day=100)
    channels.add_day(agg, channels.day_row("late", "T1", 100 + channels.WINDOW_DAYS + 5, []))
    assert "weapp:gh_own01" not in channels.evaluate(agg, {})


def test_alerts_resting_only_on_own_channels_are_revised():
    own = channels.own(channels.evaluate(company(40, 12, 3), {}))
    by_alert = {"a1": [sig()], "a2": [sig(), sig("phone", "13912345678", "high")]}
    assert channels.revise(by_alert, own) == ["a1"]


# --- through the content pipeline, with the channels in the rules file ---------------------------

import shutil  # noqa: E402

import pytest  # noqa: E402

from config.rules import ConfigError, load_rules  # noqa: E402
from config.settings import CONFIG_DIR  # noqa: E402
from detectors.content.pipeline import analyse, detect  # noqa: E402
from tests.chatmsg import record, view  # noqa: E402

OWN_WEAPP = {"title": "某某官方商城", "username": "gh_own01@app", "displayname": "某某官方商城"}


def rules_with(tmp_path, extra: str):
    shutil.copytree(CONFIG_DIR / "lexicons", tmp_path / "lexicons")
    text = (CONFIG_DIR / "rules.yaml").read_text(encoding="utf-8")
    anchor = "    own_corpname: 跑单科技\n"
    assert anchor in text
    (tmp_path / "rules.yaml").write_text(text.replace(anchor, anchor + extra), encoding="utf-8")
    return load_rules(tmp_path / "rules.yaml")


def alerts_for(rec, rules):
    _, alerts = detect(None, view(rec), rec, rules, {"team": "T1"})
    return alerts


@pytest.mark.parametrize("key", ["own_channels", "proposed_channels"])
def test_own_or_proposed_channel_never_flags(tmp_path, key):
    rec = record("weapp", OWN_WEAPP)
    shipped = load_rules(CONFIG_DIR / "rules.yaml")
    assert [a.rule for a in alerts_for(rec, shipped)] == ["chat.external_shop"]
    rules = rules_with(tmp_path, f"    {key}: [weapp:gh_own01@app, phone:13912345678]\n")
    assert alerts_for(rec, rules) == []
    assert alerts_for(record(text="加我电话 139 1234 5678"), rules) == []
    sigs = analyse(view(rec), rec, rules)
    assert ("weapp", "info", "channels") in [(s.kind, s.severity, s.source) for s in sigs]
    assert all(s.severity == "info" for s in sigs)
    # Another number still flags.
    assert [a.rule for a in alerts_for(record(text="加我电话 139 0000 1111"), rules)] == ["chat.private_contact"]


def test_rejected_channel_flags_again_and_a_decision_wins_over_a_proposal(tmp_path):
    rules = rules_with(tmp_path, "    proposed_channels: [weapp:gh_own01@app]\n"
                                 "    rejected_channels: [weapp:gh_own01@app]\n")
    assert [a.rule for a in alerts_for(record("weapp", OWN_WEAPP), rules)] == ["chat.external_shop"]


def test_bad_channel_is_refused_with_file_and_line(tmp_path):
    with pytest.raises(ConfigError) as exc:
        rules_with(tmp_path, "    own_channels: [shop-without-kind]\n")
    assert "rules.yaml" in str(exc.value) and "kind:value" in str(exc.value)


def test_a_card_names_its_company_as_a_channel(tmp_path):
    card = record("card", {"corpname": "驰远汽车", "userid": "jie.song"})
    shipped = load_rules(CONFIG_DIR / "rules.yaml")
    sigs = analyse(view(card), card, shipped)
    assert channels.targets(sigs) == ["card:jie.song", "corp:驰远汽车"]
    rules = rules_with(tmp_path, "    proposed_channels: [corp:驰远汽车]\n")
    assert alerts_for(card, rules) == []
    other = record("card", {"corpname": "别家车行", "userid": "x.y"})
    assert [a.rule for a in alerts_for(other, rules)] == ["chat.private_contact"]
