"""Record-at-a-time processing shared by the live worker and `paodan replay`.

The worker keeps `state` in a Faust table and replay keeps it in a dict; both call these functions
with the same rules, so both raise the same alerts with the same ids.
"""

from __future__ import annotations

from typing import Any

from config.rules import Rules
from detectors.content import pipeline as chat_content
from detectors.alert import Alert
from detectors.events import ChatMessage
from detectors import behaviour, chat_notice, peers
from detectors.context import BehaviourRules, Ctx
from formats.records import (RecordError, chat_touch, decode_contact, decode_hr, decode_msgaudit, decode_order,
                             hr_event, loads_object)
from formats.topics import CONTACTS, HR, MSGAUDIT, NOTICES, ORDERS


def process_msgaudit(key: bytes | str | None, raw: bytes | str | None, state: dict[str, Any] | None,
                     rules: Rules, directory: dict[str, Any] | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any] | None, list[Alert]]:
    """Decode one `wecom.msgaudit` record and run the chat detectors on it.

    Returns (record, new_state or None when unchanged, alerts). Raises RecordError for a record the
    dead-letter topic should get.
    """
    record, msg = decode_msgaudit(key, raw)
    if msg is None:
        return record, None, []
    new_state, alerts = detect_chat(msg, record, state, rules, directory)
    return record, new_state, alerts


def detect_chat(msg: ChatMessage, record: dict[str, Any], state: dict[str, Any] | None, rules: Rules,
                directory: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, list[Alert]]:
    """The chat detectors on a record decode_msgaudit accepted: (new state or None, alerts)."""
    try:
        new_state, alerts = chat_content.detect(state, msg, record, rules, directory)
    except Exception as exc:  # a detector bug must not stop the stream: dead-letter the record
        raise RecordError(f"chat content detectors failed: {type(exc).__name__}: {exc}") from exc
    return (new_state if new_state != (state or {}) else None), alerts


# --- behaviour (contacts, orders, HR, chat as contact; detectors/behaviour.py) ----------------------

BEHAVIOUR_TOPICS = (MSGAUDIT, CONTACTS, ORDERS, HR, NOTICES)


def decode_behaviour(topic: str, key: bytes | str | None, raw: bytes | str | None) -> tuple[str, Any, dict | None]:
    """(employee, detector event or notice, directory upsert or None) for a record of BEHAVIOUR_TOPICS.

    Raises RecordError for a bad record. Returns event None for records the engine does not use
    (archive `switch` records, colleague-to-colleague chat)."""
    if topic == MSGAUDIT:
        return chat_contact(*decode_msgaudit(key, raw))
    if topic == CONTACTS:
        ev = decode_contact(key, raw)
        return ev.employee_id, ev, None
    if topic == ORDERS:
        ev = decode_order(key, raw)
        return ev.employee_id, ev, None
    if topic == HR:
        rec = decode_hr(key, raw)
        upsert = directory_entry(rec) if rec["type"] == "employee" else None
        return rec["employee_id"], hr_event(rec), upsert
    if topic == NOTICES:
        notice = loads_object(raw)
        employee = notice.get("employee_id")
        if not isinstance(employee, str) or notice.get("kind") not in ("lost_customer", "signal"):
            raise RecordError(f"a {NOTICES} notice needs `employee_id` and `kind`")
        return employee, notice, None
    raise RecordError(f"no behaviour processing for topic {topic!r}")


def chat_notices(alerts: list[Alert], record: dict[str, Any], msg: ChatMessage) -> list[dict]:
    """The behaviour engine's notices of one message's chat alerts (detectors/chat_notice.py)."""
    return chat_notice.notices(alerts, msg.msgid, chat_touch(record, msg).customer_id, msg.outbound) if alerts else []


def chat_contact(record: dict[str, Any], msg: ChatMessage | None) -> tuple[str, Any, None]:
    """decode_behaviour's answer for a decoded `wecom.msgaudit` record: the chat as customer contact."""
    touch = chat_touch(record, msg) if msg is not None else None
    return (touch.employee_id, touch if touch.customer_id else None, None) if touch else ("", None, None)


def directory_entry(rec: dict[str, Any]) -> dict[str, Any]:
    """The directory's view of an `employee` HR event (CONTRACT.md §5)."""
    return {k: rec.get(k) for k in DIRECTORY_FIELDS if rec.get(k) is not None}


DIRECTORY_FIELDS = ("name", "team", "branch", "manager_id", "role", "status", "timezone")


def process_behaviour(employee: str, event: Any, state: dict | None, rules: Rules, directory: dict | None,
                      owner_of) -> behaviour.Outcome:
    """Run the behaviour engine for one decoded event (see decode_behaviour)."""
    ctx = Ctx(employee, BehaviourRules.of(rules), directory or {}, owner_of)
    try:
        return behaviour.process(state, event, ctx)
    except Exception as exc:  # a detector bug must not stop the stream: dead-letter the record
        raise RecordError(f"behaviour detectors failed: {type(exc).__name__}: {exc}") from exc


def process_team(raw: bytes | str, team_state: dict | None, rules: Rules) -> tuple[dict, list]:
    """One member's closed-day summary into its team's aggregate (detectors/peers.py)."""
    body = loads_object(raw)
    if not isinstance(body.get("e"), str) or not isinstance(body.get("d"), int):
        raise RecordError("a team-day summary needs `e` (employee) and `d` (day)")
    return peers.on_summary(team_state, body, BehaviourRules.of(rules))
