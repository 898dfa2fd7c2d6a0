"""Local time of a branch: the company's calendar day `d` at an hour, as epoch ms in that branch's zone.

Branches may sit in other time zones (IANA names, DST-aware through zoneinfo); day 0 is the same
calendar date everywhere, so "the promotion on day 12" is one date for the whole company.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_MS = 60_000


@lru_cache(maxsize=None)
def midnight(start_date: dt.date, tz: str, day: int) -> int:
    """Epoch ms of local midnight of calendar day `day` after `start_date` in zone `tz`."""
    date = start_date + dt.timedelta(days=day)
    return int(dt.datetime(date.year, date.month, date.day, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def at(start_date: dt.date, tz: str, day: int, hour: float) -> int:
    """Epoch ms of local `hour` (fractional, may exceed 24) on calendar day `day`."""
    return midnight(start_date, tz, day) + int(hour * HOUR_MS)


def weekday(start_date: dt.date, day: int) -> int:
    """Monday = 0 … Sunday = 6."""
    return (start_date + dt.timedelta(days=day)).weekday()
