"""The time arguments of `paodan history` and `paodan rules backtest`."""

from __future__ import annotations

import argparse

import pytest

from paodan.history_cmd import parse_when

NOW = 1_795_775_400_000


def test_durations_count_back_from_now_and_dates_are_utc():
    assert parse_when("30d", NOW) == NOW - 30 * 86_400_000
    assert parse_when("12h", NOW) == NOW - 12 * 3_600_000
    assert parse_when("90m", NOW) == NOW - 90 * 60_000
    assert parse_when("2w", NOW) == NOW - 14 * 86_400_000
    assert parse_when("2026-11-01") == 1_793_491_200_000
    assert parse_when("2026-11-01T08:00+08:00") == 1_793_491_200_000
    assert parse_when(None) is None


def test_a_bad_time_says_what_is_expected():
    with pytest.raises(argparse.ArgumentTypeError, match="30d"):
        parse_when("last tuesday")
