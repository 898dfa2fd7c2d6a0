"""Typed detector inputs, built from contract records by streams/records.py.

Detectors see these rather than raw dicts so that every detector agrees on what "the employee",
"the time" and "the text" of a record are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatMessage:
    msgid: str
    employee_id: str  # the internal party this copy of the record is keyed by (CONTRACT.md §2)
    sender: str
    msgtime: int  # event time, epoch ms
    msgtype: str
    action: str
    text: str  # the searchable text of the payload ("" for types without text)
    roomid: str = ""

    @property
    def outbound(self) -> bool:
        """Sent by the employee (as opposed to received from a customer or colleague)."""
        return self.sender == self.employee_id
