"""Event time for the behaviour detectors: local days, working time, the watermark and daily counters.

Everything here takes its time from events (epoch ms) — never from a clock — so the worker and
`paodan replay` see the same windows. A day is the employee's *local* calendar day (directory
timezone, default Asia/Shanghai), numbered as days since 1970-01-01 local.

Per-employee state keeps one short list of integers per local day (`DAY_FIELDS` names the slots)
for the last `history_days` days: that is what personal baselines are computed from, and it keeps the
state small (a day is ~40 bytes of JSON).
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DEFAULT_TZ = "Asia/Shanghai"

# Slots of a day's counter list. Append new slots at the end only: stored state keeps old lengths.
DAY_FIELDS = (
    "orders",          # orders created (credited to the employee)
    "amount",          # their amount, yuan
    "incomplete",      # of which with incomplete customer details
    "deleted",         # customers the employee deleted (del_external_contact)
    "deleted_by",      # customers who deleted the employee (del_follow_user)
    "transfer_fail",   # customer transfers that failed
    "followed",        # distinct own customers the employee wrote to
    "owned",           # own customers at day close (snapshot)
    "new_added",       # new customers added/assigned
    "new_bought",      # new customers' first purchases
    "repeat",          # paid orders of existing own customers
    "timeouts",        # customer questions left unanswered past the limit
    "on_leave_orders",  # orders created while on leave
    "outbound",        # chat messages written to customers
    "others",          # distinct customers of other employees written to
    "paid",            # orders paid
    "others_orders",   # orders credited on customers owned by other employees
    "questions",       # customer questions answered (or given up on) that day
    "reply_med",       # the day's median reply delay, working minutes
    "stalled",         # orders found stalled at the day's close
    "max_amount",      # the day's largest order, yuan
    "reply_log",       # Σ of the day's reply delays as round(100·ln(1 + minutes))
    "reply_log2",      # Σ of their squares / 100: with reply_log, the employee's own spread
    "on_leave_outbound",  # chat messages the employee wrote to customers while on leave
)
F = {name: i for i, name in enumerate(DAY_FIELDS)}


@lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


# UTC offset (ms) by hour since the epoch, one dict per zone: a plain dict look-up per event is about
# half the cost of an lru_cache keyed on (tz, hour). Offsets depend on the zone only (never on rules),
# so nothing here can go stale; each dict is emptied when it grows past MAX_CACHED_HOURS (~11 years).
_HOUR_OFFSETS: dict[str, dict[int, int]] = {}
MAX_CACHED_HOURS = 100_000
MAX_CACHED_ZONES = 64
_NONE: dict[int, int] = {}


def offset_ms(ts: int, tz: str) -> int:
    """The zone's UTC offset at `ts` (cached per hour, so DST changes are honoured)."""
    hour = ts // HOUR_MS
    cache = _HOUR_OFFSETS.get(tz)
    if cache is None:
        if len(_HOUR_OFFSETS) >= MAX_CACHED_ZONES:  # timezones come from HR records: bounded all the same
            _HOUR_OFFSETS.clear()
        cache = _HOUR_OFFSETS[tz] = {}
    offset = cache.get(hour)
    if offset is None:
        if len(cache) >= MAX_CACHED_HOURS:
            cache.clear()
        dt = datetime.fromtimestamp(hour * 3600, timezone.utc).astimezone(_zone(tz))
        offset = cache[hour] = int(dt.utcoffset().total_seconds() * 1000)
    return offset


def local_day(ts: int, tz: str = DEFAULT_TZ) -> int:
    offset = _HOUR_OFFSETS.get(tz, _NONE).get(ts // HOUR_MS)  # offset_ms's cache, inlined: called per event
    if offset is None:
        offset = offset_ms(ts, tz)
    return (ts + offset) // DAY_MS


def day_start(day: int, tz: str = DEFAULT_TZ) -> int:
    """UTC ms of the local midnight that starts `day`."""
    guess = day * DAY_MS
    return guess - offset_ms(guess, tz)


def day_window(day: int, tz: str = DEFAULT_TZ) -> tuple[int, int]:
    return day_start(day, tz), day_start(day + 1, tz)


def weekday(day: int) -> int:
    """Monday = 0 (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


def is_working_day(day: int, weekend: tuple = (5, 6)) -> bool:
    return weekday(day) not in weekend


def working_ms_between(a: int, b: int, tz: str, start_h: int, end_h: int, weekend: tuple = (5, 6)) -> int:
    """Working time (ms) between event times a and b: only weekday hours [start_h, end_h) count."""
    if b <= a:
        return 0
    total = 0
    day = first = local_day(a, tz)
    last = local_day(b, tz)
    while day <= last and day - first < 60:
        if is_working_day(day, weekend):
            d0 = day_start(day, tz)
            lo, hi = max(a, d0 + start_h * HOUR_MS), min(b, d0 + end_h * HOUR_MS)
            if hi > lo:
                total += hi - lo
        day += 1
    return total


# --- daily counters -------------------------------------------------------------------------------

def bump(state: dict, day: int, field: str, n: float = 1) -> int:
    days = state.get("d")
    if days is None:  # not setdefault("d", {}): that builds an empty dict on every call
        days = state["d"] = {}
    key = str(day)
    row = days.get(key)
    if row is None:
        row = days[key] = [0] * len(DAY_FIELDS)
    elif len(row) < len(DAY_FIELDS):
        row.extend([0] * (len(DAY_FIELDS) - len(row)))
    i = F[field]
    row[i] = round(row[i] + n, 2) if isinstance(n, float) else row[i] + n
    return row[i]


def get(state: dict, day: int, field: str) -> float:
    row = state.get("d", {}).get(str(day))
    i = F[field]
    return row[i] if row is not None and i < len(row) else 0


def total(state: dict, first: int, last: int, field: str) -> float:
    """Sum of a counter over local days first..last inclusive."""
    return totals(state, first, last, (field,))[0]


def totals(state: dict, first: int, last: int, fields: tuple[str, ...]) -> list[float]:
    """Sums of several counters over local days first..last inclusive, in one pass over the days
    (day closes ask for several counters of the same window)."""
    index = [F[f] for f in fields]
    out = [0] * len(index)
    for key, row in state.get("d", {}).items():
        if first <= int(key) <= last:
            n = len(row)
            for j, i in enumerate(index):
                if i < n:
                    out[j] += row[i]
    return out


def active_days(state: dict, first: int, last: int) -> list[int]:
    """Days in first..last on which the employee did anything (wrote to customers or took orders)."""
    o, w = F["orders"], F["outbound"]
    out = []
    for key, row in state.get("d", {}).items():
        day = int(key)
        if first <= day <= last and ((o < len(row) and row[o]) or (w < len(row) and row[w])):
            out.append(day)
    return sorted(out)


def prune(state: dict, today: int, keep_days: int) -> None:
    """Forget days beyond the history; closed days keep their counters without trailing zeros."""
    days = state.get("d")
    if days:
        oldest = today - keep_days
        for key in list(days):
            day = int(key)
            if day < oldest:
                del days[key]
            elif day <= today:
                row = days[key]
                while row and not row[-1]:
                    row.pop()


def accept(state: dict, source: str, ts: int, lateness_ms: int) -> bool:
    """Advance the watermark of one input (`source`: chat, contacts, orders or HR); False for an event
    older than that input's watermark − lateness (out of order within its own topic: dropped).

    Each input keeps its own watermark because Kafka orders records within a partition, not across
    topics: a worker catching up may read an employee's HR records hours of event time ahead of their
    chat, and that must not drop the chat as late."""
    marks = state.get("tw")
    if marks is None:  # not setdefault("tw", {}): that builds an empty dict for every event
        marks = state["tw"] = {}
    mark = marks.get(source, 0)
    if ts < mark - lateness_ms:
        return False
    if ts > mark:
        marks[source] = ts
    if ts > state.get("wm", 0):
        state["wm"] = ts
    return True


def clock(state: dict) -> int:
    """Event time the employee's inputs have reached (the latest of them). Days close
    `day_close_grace_minutes` after midnight by this clock, so that grace is also the skew between
    topics a worker may show when catching up (see docs/detection-behaviour.md)."""
    return state.get("wm", 0)
