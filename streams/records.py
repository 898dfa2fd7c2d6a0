"""Decoding and validating the contract's records (CONTRACT.md §2–§6).

Every input arrives as raw bytes. `decode_*` either returns a clean value or raises RecordError with a
reason a person can act on; the worker sends such records to `paodan.deadletter` with those bytes, and
`paodan replay` reports them on stderr. Both use these same functions.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from detectors.events import ChatMessage


class RecordError(ValueError):
    """A record that cannot be processed; str(exc) is the reason stored in the dead letter."""


def loads_object(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None:
        raise RecordError("empty record (no value)")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RecordError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _str(rec: dict[str, Any], name: str, required: bool = True) -> str:
    value = rec.get(name)
    if value is None or value == "":
        if required:
            raise RecordError(f"missing field {name!r}")
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # WeCom ids sometimes arrive numeric-looking
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} must be a string, got {type(value).__name__}")
    return value


def _ms(rec: dict[str, Any], name: str) -> int:
    value = rec.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RecordError(f"field {name!r} must be epoch milliseconds, got {value!r}")
    try:
        ms = int(value)
    except ValueError:
        raise RecordError(f"field {name!r} must be epoch milliseconds, got {value!r}") from None
    if ms < 0:
        raise RecordError(f"field {name!r} must not be negative")
    return ms


def message_text(rec: dict[str, Any]) -> str:
    """The searchable text of a chat-archive record's payload ("" when the type carries none)."""
    msgtype = rec.get("msgtype")
    payload = rec.get(msgtype) if isinstance(msgtype, str) else None
    if msgtype == "text" and isinstance(payload, dict):
        content = payload.get("content")
        return content if isinstance(content, str) else ""
    return ""


def decode_msgaudit(key: bytes | str | None, raw: bytes | str | None) -> tuple[dict[str, Any], ChatMessage | None]:
    """Validate a `wecom.msgaudit` record; return it and, for chat messages, the detector's view.

    `switch` records (a member switching the archive on/off) are valid but carry no message.
    Unknown msgtypes are valid (archived, never rejected).
    """
    rec = loads_object(raw)
    msgid = _str(rec, "msgid")
    action = _str(rec, "action")
    employee = key.decode("utf-8", "replace") if isinstance(key, bytes) else (key or "")
    if action == "switch":
        _ms(rec, "time")
        return rec, None
    if action not in ("send", "recall"):
        raise RecordError(f"field 'action' must be send, recall or switch, got {action!r}")
    sender = _str(rec, "from")
    msgtime = _ms(rec, "msgtime")
    msgtype = _str(rec, "msgtype")
    tolist = rec.get("tolist", [])
    if not isinstance(tolist, list):
        raise RecordError("field 'tolist' must be a list")
    if msgtype == "text" and not isinstance(rec.get("text"), dict):
        raise RecordError("msgtype 'text' without a 'text' object")
    if not employee:
        # Keyless records (direct producers that forgot the key): the sender is the best guess.
        employee = sender
    return rec, ChatMessage(msgid=msgid, employee_id=employee, sender=sender, msgtime=msgtime,
                            msgtype=msgtype, action=action, text=message_text(rec),
                            roomid=_str(rec, "roomid", required=False))


HR_TYPES = ("employee", "assignment", "checkin", "leave", "resignation")


def decode_hr(key: bytes | str | None, raw: bytes | str | None) -> dict[str, Any]:
    """Validate an `hr.events` record (CONTRACT.md §5): `type`, `ts` and `employee_id` at least."""
    rec = loads_object(raw)
    kind = _str(rec, "type")
    if kind not in HR_TYPES:
        raise RecordError(f"field 'type' must be one of {', '.join(HR_TYPES)}, got {kind!r}")
    _ms(rec, "ts")
    rec["employee_id"] = _str(rec, "employee_id")
    if kind == "assignment":
        _str(rec, "customer_id")
    return rec


def dead_letter(topic: str, partition: int | None, offset: int | None, error: str,
                raw: bytes | None) -> dict[str, Any]:
    """CONTRACT.md §1 dead-letter value: raw as UTF-8 text when it is, else base64."""
    if raw is None:
        text, encoding = "", "text"
    else:
        try:
            text, encoding = raw.decode("utf-8"), "text"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return {"topic": topic, "partition": partition, "offset": offset, "error": error, "raw": text,
            "raw_encoding": encoding}
