"""Counts judged in the company's own terms: a rule compares a count with the employee's own norm and
the peer group's, and asks whether that many (or that few) would happen by chance there — here the
tail probabilities (detectors/stats.py) and conversion.repeat_drop: a week away expects fewer repeat
purchases, a handful of orders says little, a trade whose repeat business swings for everyone has that
as its norm."""

from __future__ import annotations

from detectors import conversion, peers
from detectors.context import BehaviourRules, Ctx
from detectors.stats import binomial_tail, both, dispersion, low_share
from detectors.windows import bump
from tests.unit.test_behaviour_detectors import DAY, RULES

BR = BehaviourRules.of(RULES)


def test_the_tail_probabilities():
    assert abs(binomial_tail(3, 4, 0.5) - 5 / 16) < 1e-12
    assert abs(binomial_tail(0, 5, 0.3) - 1.0) < 1e-9
    # Few of many, against a high share: improbable; against the same share: about even.
    assert low_share(2, 40, 0.5) < 1e-6 and 0.4 < low_share(20, 40, 0.5) < 0.6
    # Counts that vary more than binomial ones make the same shortfall less surprising.
    assert low_share(12, 40, 0.5, dispersion=4.0) > 10 * low_share(12, 40, 0.5)
    assert dispersion([(20, 40, 0.5), (21, 40, 0.5), (19, 40, 0.5)]) == 1.0
    assert dispersion([(5, 40, 0.5), (35, 40, 0.5), (12, 40, 0.5), (30, 40, 0.5)]) > 10
    assert both(0.01, 0.02) == 0.01 * 0.02


# --- conversion.repeat_drop -------------------------------------------------------------------------

def _window(worked: int, repeat: int, first: int, book: int = 100) -> dict:
    """A state with a baseline week (5 days at work, 20 repeat purchases) and a window of `worked` days."""
    state: dict = {}
    for d in range(first - 7, first - 2):
        bump(state, d, "outbound", 5)
        bump(state, d, "owned", 100)
        bump(state, d, "repeat", 4)
    for i, d in enumerate(range(first, first + worked)):
        bump(state, d, "outbound", 5)
        bump(state, d, "owned", book)
        bump(state, d, "repeat", repeat // worked + (1 if i < repeat % worked else 0))
        bump(state, d, "new_added", 2)
        bump(state, d, "new_bought", 2)
    return state


def _figures(state: dict, day: int) -> dict:
    return conversion.figures(state, day, Ctx("amy", BR, {}, lambda c: None))


def test_repeat_purchases_are_expected_for_the_days_at_work_and_the_book():
    first = 20_000
    # Two days at work this week (leave the rest): 5 repeat purchases are what 20 in five days expect.
    away = _figures(_window(2, 5, first), first + 6)
    assert away["rb"] == 20 and away["re"] == 8.0
    # At work all week with the same book: 20 expected, and 5 is a quarter of it.
    assert _figures(_window(5, 5, first), first + 6)["re"] == 20.0
    # Half the book handed over: half the repeat purchases expected.
    assert _figures(_window(5, 5, first, book=50), first + 6)["re"] == 10.0


def _conv_row(e: str, nn: int, nb: int, rr: float, rb: float, re: float | None = None) -> dict:
    return {"e": e, "d": 20_000, "tz": "Asia/Shanghai", "t": "一组", "nn": nn, "nb": nb, "rr": rr, "rb": rb,
            "re": rb if re is None else re}


def _conv(rows: list[dict]) -> list[str]:
    return [e for e, _ in conversion.evaluate(rows, 20_000, (0, DAY), BR, peers.Peers(rows, BR))]


def test_a_repeat_drop_is_flagged_only_when_chance_would_rarely_make_it():
    team = [_conv_row(e, 20, 4, 20, 20) for e in ("bob", "cat", "dan", "eve")]
    # New customers convert at 90 % against the team's 20 %, repeat purchases fall from 30 to 2.
    assert _conv([_conv_row("amy", 20, 18, 2, 30)] + team) == ["amy"]
    # The same shares on a handful: 3 of 4 converting and 1 repeat purchase against 4 happen by chance.
    assert _conv([_conv_row("amy", 4, 3, 1, 4)] + team) == []
    # A week mostly away: the drop is what her days at work expect.
    assert _conv([_conv_row("amy", 20, 18, 2, 30, re=4)] + team) == []


def test_a_repeat_drop_within_the_peers_own_ups_and_downs_is_their_norm():
    # Repeat purchases in this company swing week to week far more than chance alone would.
    swinging = [_conv_row(e, 20, 12, rr, 40) for e, rr in (("bob", 8), ("cat", 70), ("dan", 40), ("eve", 15),
                                                            ("fay", 60))]
    steady = [_conv_row(e, 20, 12, rr, 40) for e, rr in (("bob", 38), ("cat", 42), ("dan", 40), ("eve", 39),
                                                          ("fay", 41))]
    amy = _conv_row("amy", 20, 15, 14, 40)  # 75 % converting against the team's 60 %: not alone telling
    assert _conv([amy] + steady) == ["amy"]
    assert _conv([amy] + swinging) == []



def test_a_persisting_drop_is_also_counted_since_it_began():
    first = 20_000
    state = _window(5, 20, first)                     # a baseline week, then an ordinary week
    for d in range(first + 7, first + 21):            # then two weeks at work without a repeat purchase
        bump(state, d, "outbound", 5)
        bump(state, d, "owned", 100)
        bump(state, d, "new_added", 1)
        bump(state, d, "new_bought", 1)
    seen = [_figures(state, d) for d in range(first + 6, first + 21)]
    assert "rs" not in seen[0]
    nn, nb, rr, re, days = seen[-1]["rs"]             # since the window the drop was found in
    assert days > 7 and nn >= days and re > 2 * seen[-1]["re"] and rr < 0.4 * re
    # A week that alone could be chance (4 of 5 converting where half do; 1 repeat purchase against 6),
    # but the same for two weeks running is not.
    team = [_conv_row(e, 20, 10, 20, 20) for e in ("bob", "cat", "dan", "eve")]
    week = _conv_row("amy", 5, 4, 1, 6)
    assert _conv([week] + team) == []
    assert _conv([dict(week, rs=[14, 14, 1, 12, 14])] + team) == ["amy"]
