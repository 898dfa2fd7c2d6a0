"""Decoding and validating the contract's records (CONTRACT.md §2–§6).

Every input arrives as raw bytes. `decode_*` either returns a clean value or raises RecordError with a
reason a person can act on; the worker sends such records to `paodan.deadletter` with those bytes, and
`paodan replay` reports them on stderr. Both use these same functions.
"""

from __future__ import annotations

from typing import Any

import orjson

from detectors.events import EXTERNAL_PREFIXES, ChatMessage, ChatTouch, ContactEvent, HrEvent, OrderEvent


class RecordError(ValueError):
    """A record that cannot be processed; str(exc) is the reason stored in the dead letter."""


def loads_object(raw: bytes | str | dict | None) -> dict[str, Any]:
    """The JSON object `raw` holds (a dict already parsed, e.g. a replay line's `value`, as is)."""
    if type(raw) is dict:
        return raw
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
    if type(value) is str and value:  # the usual case, first: this runs for every field of every record
        return value
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
    if type(value) is int and value >= 0:  # the usual case, first
        return value
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
    return rec, ChatMessage(msgid, employee, sender, msgtime, msgtype, action, message_text(rec),
                            _str(rec, "roomid", required=False))


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


# --- behaviour inputs: contacts, orders, HR (CONTRACT.md §3–§5) ---------------------------------------

CONTACT_CHANGES = ("add_external_contact", "edit_external_contact", "add_half_external_contact",
                   "del_external_contact", "del_follow_user", "transfer_fail", "msg_audit_approved")
ORDER_EVENTS = ("created", "submitted", "approved", "rejected", "paid", "refunded", "cancelled")


def chat_touch(rec: dict[str, Any], msg: ChatMessage) -> ChatTouch:
    """The customer a chat message is with: the external sender, or the first external recipient."""
    outbound = msg.outbound
    if outbound:
        customer = ""
        for t in rec.get("tolist") or ():
            if isinstance(t, str) and t.startswith(EXTERNAL_PREFIXES):
                customer = t
                break
    else:
        customer = msg.sender if msg.sender.startswith(EXTERNAL_PREFIXES) else ""
    return ChatTouch(msg.msgid, msg.employee_id, customer, msg.msgtime, outbound, msg.text)


def decode_contact(key: bytes | str | None, raw: bytes | str | None) -> ContactEvent:
    """Validate a `wecom.contacts` event (CONTRACT.md §3); CreateTime is seconds."""
    rec = loads_object(raw)
    change = _str(rec, "ChangeType")
    if change not in CONTACT_CHANGES:
        raise RecordError(f"field 'ChangeType' must be one of {', '.join(CONTACT_CHANGES)}, got {change!r}")
    user = _str(rec, "UserID")
    external = _str(rec, "ExternalUserID", required=change != "msg_audit_approved")
    seconds = _ms(rec, "CreateTime")
    return ContactEvent(employee_id=user, customer_id=external, change_type=change, ts=seconds * 1000,
                        evidence_id=f"{user}:{external}:{change}:{seconds}",
                        fail_reason=_str(rec, "FailReason", required=False),
                        source=_str(rec, "Source", required=False))


def _money(rec: dict[str, Any], name: str, required: bool) -> float | None:
    value = rec.get(name)
    if value is None or value == "":
        if required:
            raise RecordError(f"missing field {name!r}")
        return None
    if isinstance(value, bool):
        raise RecordError(f"field {name!r} must be a decimal string, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"field {name!r} must be a decimal string, got {value!r}") from None
    if not number == number or number < 0 or number > 1e12:  # NaN, negative or absurd
        raise RecordError(f"field {name!r} must be a non-negative amount, got {value!r}")
    return number


def decode_order(key: bytes | str | None, raw: bytes | str | None) -> OrderEvent:
    """Validate a `crm.orders` event (CONTRACT.md §4). Missing customer details are kept as a fact."""
    rec = loads_object(raw)
    event = _str(rec, "event")
    if event not in ORDER_EVENTS:
        raise RecordError(f"field 'event' must be one of {', '.join(ORDER_EVENTS)}, got {event!r}")
    customer = rec.get("customer")
    if customer is not None and not isinstance(customer, dict):
        raise RecordError("field 'customer' must be an object")
    customer_id = _str(rec, "customer_id", required=False)
    complete = False
    if customer_id and customer is not None:  # id, name, phone and address all there
        name, phone, address = customer.get("name"), customer.get("phone"), customer.get("address")
        complete = (isinstance(name, str) and name.strip() != "" and isinstance(phone, str) and phone.strip() != ""
                    and isinstance(address, str) and address.strip() != "")
    items = rec.get("items") or []
    if not isinstance(items, list):
        raise RecordError("field 'items' must be a list")
    skus = tuple([str(i.get("sku")) for i in items if isinstance(i, dict) and i.get("sku")])
    # Positional, in the order the fields were always checked (a bad record gets the same reason).
    return OrderEvent(_str(rec, "order_id"), event, _ms(rec, "ts"), _str(rec, "employee_id"), customer_id,
                      _money(rec, "amount", True), _str(rec, "store_id", required=False), complete,
                      _str(rec, "approver_id", required=False), _money(rec, "commission", False), skus)


def hr_event(rec: dict[str, Any]) -> HrEvent:
    """The detector's view of a record decode_hr accepted; checks the type's own time fields."""
    kind = rec["type"]
    if kind == "leave":
        start, end = _ms(rec, "start"), _ms(rec, "end")
        if end < start:
            raise RecordError("leave 'end' is before 'start'")
    elif kind == "resignation":
        _ms(rec, "last_day")
    fields = {k: v for k, v in rec.items() if k not in ("type", "ts", "employee_id")}
    return HrEvent(kind=kind, ts=int(rec["ts"]), employee_id=rec["employee_id"], fields=fields)
