"""Contract records (CONTRACT.md §2–5, WECOM.md §3) as a generated company's systems would send them.

Each builder returns the record's value; `Sink` collects (arrival, topic, key, value) and hands them
out in arrival order, numbering the chat archive's `seq` as the loader would. Arrival is the event time
plus how late each system delivers: the chat archive is pulled every few minutes, HR enters some leave
after the fact (the record's `ts` is then the entry time).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import orjson

from formats.topics import MSGAUDIT


def external_id(*parts: object) -> str:
    """A WeCom external-contact id (`wm` + 30 characters of [A-Za-z0-9_-] in WeCom's shape)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "wm" + "".join(alphabet[b % 62] for b in digest[:30])


def chat(corpid: str, msgid: str, sender: str, tolist: list[str], ts: int, msgtype: str, payload: dict,
         roomid: str = "") -> dict[str, Any]:
    return {"msgid": msgid, "action": "send", "from": sender, "tolist": tolist, "roomid": roomid, "msgtime": ts,
            "msgtype": msgtype, msgtype: payload, "corpid": corpid}


def contact(corpid: str, userid: str, customer: str, ts: int, change: str, **extra: str) -> dict[str, Any]:
    value = {"ToUserName": corpid, "FromUserName": "sys", "CreateTime": ts // 1000, "MsgType": "event",
             "Event": "change_external_contact", "ChangeType": change, "UserID": userid,
             "ExternalUserID": customer}
    value.update(extra)
    return value


def money(x: float) -> str:
    return f"{x:.2f}"


def hr(kind: str, ts: int, employee: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ts": ts, "employee_id": employee, **fields}


@dataclass
class Sink:
    corpid: str
    rows: list[tuple[int, int, str, str, dict]] = field(default_factory=list)
    _n: int = 0

    def put(self, arrival: int, topic: str, key: str, value: dict) -> None:
        self._n += 1
        self.rows.append((arrival, self._n, topic, key, value))

    def records(self) -> Iterator[tuple[str, str, dict]]:
        """(topic, key, value) in arrival order; chat records get the archive's running `seq`."""
        seq = 0
        for _, _, topic, key, value in sorted(self.rows, key=lambda r: (r[0], r[1])):
            if topic == MSGAUDIT:
                seq += 1
                value["seq"] = seq
            yield topic, key, value

    def lines(self) -> Iterator[bytes]:
        for topic, key, value in self.records():
            yield orjson.dumps({"topic": topic, "key": key, "value": value})
