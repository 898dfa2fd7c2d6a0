"""Contract records → archive rows, one builder per table, each returning a tuple in the column order of
the table's declaration (sinks.clickhouse.schema). A builder returns None for a record that lacks its
natural id: such a record is dead-lettered by the agent that detects on its topic, not archived.

Times are epoch milliseconds (UInt64, as in the contract) next to a DateTime/Date kept for partitioning
and for analysts' convenience, all in UTC.
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import orjson

from detectors.textnorm import match_view


_EPOCH = datetime(1970, 1, 1)
_EPOCH_DATE = _EPOCH.date()
# ClickHouse DateTime ends in 2106: times beyond (typos, garbage) are archived as they are in the ms
# columns and clamped here, so one odd record can never make a whole batch fail.
MAX_MS = 4_102_444_799_000  # 2099-12-31 23:59:59 UTC
MAX_UINT32 = 2**32 - 1
MAX_INT = 2**63 - 1  # what `uint` accepts by default


def utc(ms: int) -> datetime:
    """Naive UTC DateTime (second precision, as ClickHouse's DateTime) of epoch milliseconds."""
    return _EPOCH + timedelta(seconds=min(max(ms, 0), MAX_MS) // 1000)


def day(ms: int) -> date:
    return utc(ms).date()


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _s(value: Any) -> str:
    """A column string from an optional JSON value (None → "", numbers as written)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def uint(value: Any, limit: int = MAX_INT) -> int | None:
    """A non-negative integer (epoch ms, seq, revision…) from a JSON value, else None."""
    if isinstance(value, bool):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return n if 0 <= n <= limit else None


_ms = uint


def norm(content: str) -> str:
    """The searchable form of a text: exactly what the live matcher matches on (detectors.textnorm)."""
    return match_view(content) if content else ""


def _all_str(items: list) -> bool:
    """Whether every item is a str (str.join checks that in C, much faster than a Python loop)."""
    try:
        "".join(items)
    except TypeError:
        return False
    return True


@lru_cache(maxsize=4096)
def _date_of_day(n: int) -> date:
    return _EPOCH_DATE + timedelta(days=n)


def message_row(rec: dict[str, Any], content: str, ingested_at: datetime | int | None = None,
                raw: bytes | None = None) -> tuple | None:
    """One `messages` row from a chat-archive record and its text (formats.records.message_text);
    `raw` is the record's JSON bytes as received, stored as they are (else the record is serialised).

    Switch records carry `time` instead of `msgtime`. The archive builds about a hundred thousand of
    these a second, so each field takes a quick branch when it has the contract's type and the general
    conversion (`_s`, `uint`) only for odd values; times go to ClickHouse as epoch seconds (both
    DateTime and `ingested_at` accept them), saving clickhouse-driver a datetime conversion per value.
    """
    get = rec.get
    msgid = get("msgid")
    if type(msgid) is not str or not msgid:
        return None
    ms = get("msgtime", get("time"))
    if type(ms) is not int or not 0 <= ms <= MAX_INT:
        ms = _ms(ms) or 0
    seconds = min(ms, MAX_MS) // 1000
    tolist = get("tolist")
    if type(tolist) is not list:
        tolist = []
    elif not _all_str(tolist):
        tolist = [_s(t) for t in tolist]
    seq = get("seq")
    if type(seq) is not int or not 0 <= seq <= MAX_INT:
        seq = _ms(seq) or 0
    corpid, action, sender = get("corpid"), get("action"), get("from") or get("user")
    roomid, msgtype = get("roomid"), get("msgtype")
    return (
        msgid, corpid if type(corpid) is str else _s(corpid), seq,
        action if type(action) is str else _s(action), sender if type(sender) is str else _s(sender),
        tolist, roomid if type(roomid) is str else _s(roomid), ms, seconds, _date_of_day(seconds // 86400),
        msgtype if type(msgtype) is str else _s(msgtype), content, raw or orjson.dumps(rec),
        ingested_at or now(), norm(content),
    )


def media_text_row(rec: dict[str, Any], ingested_at: datetime | int | None = None) -> tuple | None:
    """One `media_texts` row from a media-text record (detectors/content/media.image_as_text_record: the
    image or voice message as text, its `media` saying which file and how it was read)."""
    msgid, media = rec.get("msgid"), rec.get("media")
    text = (rec.get("text") or {}).get("content") if isinstance(rec.get("text"), dict) else None
    ms = _ms(rec.get("msgtime"))
    if type(msgid) is not str or not msgid or not isinstance(media, dict) or not isinstance(text, str) or ms is None:
        return None
    tolist = [_s(t) for t in rec.get("tolist") or []] if isinstance(rec.get("tolist"), list) else []
    seconds = min(ms, MAX_MS) // 1000
    return (msgid, _s(media.get("kind")), _s(media.get("md5sum")), _s(rec.get("from")), tolist, ms,
            _date_of_day(seconds // 86400), text, norm(text), ingested_at or now())


def contact_row(rec: dict[str, Any], ingested_at: datetime | int | None = None,
                raw: bytes | None = None) -> tuple | None:
    """One `contact_events` row (CONTRACT §3; WeCom's CreateTime is seconds)."""
    seconds = uint(rec.get("CreateTime"), MAX_UINT32)
    employee = _s(rec.get("UserID"))
    change = _s(rec.get("ChangeType"))
    if seconds is None or not employee or not change:
        return None
    ms = seconds * 1000
    return (
        _s(rec.get("ToUserName")), seconds, ms, day(ms), change, employee, _s(rec.get("ExternalUserID")),
        _s(rec.get("State")), _s(rec.get("WelcomeCode")), _s(rec.get("Source")), _s(rec.get("FailReason")),
        raw or orjson.dumps(rec), ingested_at or now(),
    )


def _amount(value: Any) -> Decimal | None:
    """A Decimal(18, 2) amount, or None for what is not a decimal or does not fit."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 16:
        return None
    return amount.quantize(Decimal("0.01"))


def order_row(rec: dict[str, Any], ingested_at: datetime | int | None = None,
              raw: bytes | None = None) -> tuple | None:
    """One `orders` row per order event (CONTRACT §4), natural id (order_id, event, ts)."""
    ms = _ms(rec.get("ts"))
    order_id, event, employee = _s(rec.get("order_id")), _s(rec.get("event")), _s(rec.get("employee_id"))
    amount = _amount(rec.get("amount"))
    if ms is None or not order_id or not event or not employee or amount is None:
        return None
    return (
        order_id, event, ms, utc(ms), day(ms), employee, _s(rec.get("customer_id")), amount,
        _s(rec.get("currency")), _s(rec.get("store_id")), _s(rec.get("approver_id")),
        _s(rec.get("customer") or {}), _s(rec.get("items") or []), raw or orjson.dumps(rec),
        ingested_at or now(),
    )


_HR_COLUMNS = ("type", "ts", "employee_id", "name", "team", "branch", "manager_id", "role", "status",
               "customer_id", "previous_owner_id", "reason")


def record_key(rec: dict[str, Any]) -> str:
    """A stable id for a record without one: hash of its canonical JSON (same record → same key)."""
    return hashlib.sha256(orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]


def hr_row(rec: dict[str, Any], ingested_at: datetime | int | None = None,
           raw: bytes | None = None) -> tuple | None:
    """One `hr_events` row (CONTRACT §5); type-specific fields beyond the columns stay in `detail`."""
    ms = _ms(rec.get("ts"))
    kind, employee = _s(rec.get("type")), _s(rec.get("employee_id"))
    if ms is None or not kind or not employee:
        return None
    detail = {k: v for k, v in rec.items() if k not in _HR_COLUMNS}
    return (
        kind, ms, day(ms), employee, _s(rec.get("name")), _s(rec.get("team")), _s(rec.get("branch")),
        _s(rec.get("manager_id")), _s(rec.get("role")), _s(rec.get("status")), _s(rec.get("customer_id")),
        _s(rec.get("previous_owner_id")), _s(rec.get("reason")), orjson.dumps(detail).decode(),
        record_key(rec), raw or orjson.dumps(rec), ingested_at or now(),
    )


RESOLUTIONS = ("true_positive", "false_positive", "benign")


def action_row(rec: dict[str, Any], ingested_at: datetime | None = None) -> tuple | None:
    """One `alert_actions` row from a `paodan.alert_actions` record (or a locally written audit row)."""
    ms = _ms(rec.get("ts"))
    action_id, action = _s(rec.get("action_id")), _s(rec.get("action"))
    if ms is None or not action_id or not action:
        return None
    resolution = _s(rec.get("resolution"))
    return (
        action_id, _s(rec.get("alert_id")), _s(rec.get("employee_id")), _s(rec.get("team")), action,
        _s(rec.get("actor")), _s(rec.get("actor_role")), ms, day(ms), _s(rec.get("status")),
        resolution if resolution in RESOLUTIONS else "", _s(rec.get("detail") or {}), ingested_at or now(),
    )


# Bytes of a rejected record kept in `rejected_records.raw`: the whole record stays in Kafka; a
# record of any size never makes an archive insert too large.
RAW_LIMIT = 64 * 1024


def rejected_row(topic: str, part: int, offset: int, key: bytes | None, value: bytes | None, reason: str,
                 table: str = "", ingested_at: int | None = None) -> tuple:
    """One `rejected_records` row: where the record was read, why it is not a valid row, its first
    RAW_LIMIT bytes with the size and SHA-256 of all of them."""
    raw = value or b""
    corpid = ""
    if raw[:1] == b"{" and len(raw) <= RAW_LIMIT:
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError:
            rec = None
        if isinstance(rec, dict):
            corpid = _s(rec.get("corpid") or rec.get("ToUserName"))
    stamp = int(time.time()) if ingested_at is None else ingested_at
    return (topic, part, offset, reason[:1000], table, corpid, (key or b"").decode("utf-8", "replace")[:256],
            len(raw), hashlib.sha256(raw).hexdigest(), raw[:RAW_LIMIT], stamp, _date_of_day(stamp // 86400))
