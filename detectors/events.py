"""Typed detector inputs, built from contract records by formats/records.py.

Detectors see these rather than raw dicts so that every detector agrees on what "the employee",
"the time" and "the text" of a record are.
"""

from __future__ import annotations

from detectors.frozen import record

EXTERNAL_PREFIXES = ("wo", "wm")  # WeCom's external-contact id shapes (WECOM.md §3): a customer, not staff


@record
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


# --- behaviour events (contacts, orders, HR); see detectors/behaviour.py -----------------------------

@record
class ChatTouch:
    """A chat message seen as contact between an employee and one external customer."""
    msgid: str
    employee_id: str
    customer_id: str  # the external party ("" when the message is between colleagues)
    ts: int
    outbound: bool    # the employee wrote it
    text: str


@record
class ContactEvent:
    """A `wecom.contacts` change (CONTRACT.md §3). `ts` is CreateTime converted to ms."""
    employee_id: str
    customer_id: str
    change_type: str
    ts: int
    evidence_id: str  # contacts carry no id of their own: UserID:ExternalUserID:ChangeType:CreateTime
    fail_reason: str = ""
    source: str = ""  # `Source`: DELETE_BY_TRANSFER when an on-job transfer removed the customer


@record
class OrderEvent:
    """A `crm.orders` event (CONTRACT.md §4); amounts and commission in yuan."""
    order_id: str
    event: str
    ts: int
    employee_id: str
    customer_id: str
    amount: float
    store_id: str
    details_complete: bool  # customer id, name, phone and address all present
    approver_id: str
    commission: float | None
    skus: tuple[str, ...] = ()

    @property
    def evidence_id(self) -> str:
        return f"{self.order_id}:{self.event}"


@record
class HrEvent:
    """An `hr.events` record (CONTRACT.md §5): the common fields plus the type's own fields."""
    kind: str
    ts: int
    employee_id: str
    fields: dict

    @property
    def evidence_id(self) -> str:
        return f"{self.kind}:{self.employee_id}:{self.ts}"
