"""Building chat-archive records (WECOM.md §3) and their detector view for content tests."""

from __future__ import annotations

from typing import Any

from detectors.events import ChatMessage

T0 = 1_764_210_000_000  # 2025-11-27 02:20 UTC
EMPLOYEE = "zhangsan"
CUSTOMER = "wmCUSTOMER0001"


def record(msgtype: str = "text", payload: Any = None, *, text: str | None = None, sender: str = EMPLOYEE,
           msgid: str = "m1", t: int = T0, action: str = "send", to: str | None = None) -> dict[str, Any]:
    """A decrypted chat-archive record; `text=` is shorthand for a text message."""
    if text is not None:
        msgtype, payload = "text", {"content": text}
    key = {"external_redpacket": "redpacket", "docmsg": "doc"}.get(msgtype, msgtype)
    to = to or (CUSTOMER if sender == EMPLOYEE else EMPLOYEE)
    return {"msgid": msgid, "action": action, "from": sender, "tolist": [to], "roomid": "", "msgtime": t,
            "msgtype": msgtype, key: payload if payload is not None else {}, "corpid": "wwtest", "seq": 1}


def recall(pre_msgid: str, *, msgid: str = "r1", t: int = T0 + 30_000, sender: str = EMPLOYEE) -> dict[str, Any]:
    return record("revoke", {"pre_msgid": pre_msgid}, msgid=msgid, t=t, sender=sender, action="recall")


def view(rec: dict[str, Any], employee: str = EMPLOYEE) -> ChatMessage:
    """The detector's view of a record, as formats.records builds it."""
    from formats.records import decode_msgaudit
    import orjson

    _rec, msg = decode_msgaudit(employee, orjson.dumps(rec))
    assert msg is not None
    return msg
