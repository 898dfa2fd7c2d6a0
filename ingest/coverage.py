"""`paodan ingest coverage`: who is archived and which customers consented — the blind spots of alerts.

Detection only sees what reaches `wecom.msgaudit`. An employee outside the chat-archive licence, or a
customer who never agreed to archiving (`msg_audit_approved`), produces no chat records and so no chat
alerts: silence that looks like good behaviour. This report makes the gaps visible, per employee:

- archived: chat-archive records keyed to the employee in the window (and the last one's time);
- customers: external contacts the employee has per `wecom.contacts` (added and not deleted), and how
  many of them consented — a `msg_audit_approved` event, or chats with them already in the archive.

It reads `hr.events` (the directory), `wecom.msgaudit` and `wecom.contacts` from Kafka, so it covers
the topics' retention (7 days on the local stack). `Coverage` is the pure aggregation; `collect()`
feeds it from the topics.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from formats.topics import CONTACTS, HR, MSGAUDIT

ADDED = ("add_external_contact", "add_half_external_contact")
REMOVED = ("del_external_contact", "del_follow_user")


@dataclass
class EmployeeCoverage:
    employee_id: str
    name: str = ""
    team: str = ""
    status: str = ""
    in_directory: bool = False
    archived: int = 0
    last_archived_ms: int = 0
    customers: set[str] = field(default_factory=set)

    def row(self, consented: set[str]) -> dict[str, Any]:
        ok = self.customers & consented
        return {"employee_id": self.employee_id, "name": self.name, "team": self.team, "status": self.status,
                "in_directory": self.in_directory, "archived": self.archived,
                "last_archived_ms": self.last_archived_ms or None, "customers": len(self.customers),
                "consented": len(ok), "not_consented": sorted(self.customers - ok)}


class Coverage:
    def __init__(self, since_ms: int = 0):
        self.since_ms = since_ms
        self.employees: dict[str, EmployeeCoverage] = {}
        self.consented: set[str] = set()

    def _employee(self, userid: str) -> EmployeeCoverage:
        emp = self.employees.get(userid)
        if emp is None:
            emp = self.employees[userid] = EmployeeCoverage(userid)
        return emp

    def add_hr(self, event: dict[str, Any]) -> None:
        if event.get("type") != "employee" or not isinstance(event.get("employee_id"), str):
            return
        emp = self._employee(event["employee_id"])
        emp.in_directory = True
        emp.name = str(event.get("name") or emp.name)
        emp.team = str(event.get("team") or emp.team)
        emp.status = str(event.get("status") or emp.status or "active")

    def add_message(self, key: str, record: dict[str, Any]) -> None:
        at = record.get("msgtime") or record.get("time") or 0
        at = at if isinstance(at, int) else 0
        if at and at < self.since_ms:
            return
        emp = self._employee(key)
        emp.archived += 1
        emp.last_archived_ms = max(emp.last_archived_ms, at)
        # A customer whose messages are archived has consented, whatever the events say.
        if record.get("action") != "switch":
            for uid in [record.get("from"), *(record.get("tolist") or [])]:
                if isinstance(uid, str) and uid.startswith(("wo", "wm")):
                    self.consented.add(uid)

    def add_contact(self, event: dict[str, Any]) -> None:
        change, user, customer = event.get("ChangeType"), event.get("UserID"), event.get("ExternalUserID")
        if not isinstance(customer, str) or not customer:
            return
        if change == "msg_audit_approved":
            self.consented.add(customer)
        if not isinstance(user, str) or not user:
            return
        if change in ADDED or change == "msg_audit_approved":
            self._employee(user).customers.add(customer)
        elif change in REMOVED:
            self._employee(user).customers.discard(customer)

    def report(self) -> dict[str, Any]:
        rows = [e.row(self.consented) for e in sorted(self.employees.values(), key=lambda e: (e.team, e.employee_id))
                if e.in_directory or e.archived or e.customers]
        active = [r for r in rows if r["in_directory"] and r["status"] != "resigned"]
        customers = set().union(*(e.customers for e in self.employees.values())) if self.employees else set()
        return {
            "employees_active": len(active),
            "employees_archived": sum(1 for r in active if r["archived"]),
            "not_archived": [r["employee_id"] for r in active if not r["archived"]],
            "customers": len(customers),
            "customers_consented": len(customers & self.consented),
            "employees": rows,
        }


def render(report: dict[str, Any]) -> str:
    """The report as text for a terminal (zh-CN first, English after)."""
    lines = [f"存档覆盖 / archive coverage: {report['employees_archived']} / {report['employees_active']} "
             f"在职员工有存档 (active employees archived); {report['customers_consented']} / "
             f"{report['customers']} 客户已同意存档 (customers consented)"]
    if report["not_archived"]:
        lines.append("未覆盖员工 / not archived: " + ", ".join(report["not_archived"]))
    lines.append(f"{'employee':<20} {'team':<12} {'status':<9} {'archived':>8} {'customers':>9} {'consented':>9}")
    for r in report["employees"]:
        lines.append(f"{r['employee_id']:<20} {r['team'][:12]:<12} {(r['status'] or '-'):<9} {r['archived']:>8} "
                     f"{r['customers']:>9} {r['consented']:>9}")
    return "\n".join(lines)


async def collect(kafka: str, since_ms: int = 0) -> Coverage:
    """Read the directory, the archive and the contact events from Kafka into a Coverage."""
    from ingest.archive_loader import scan_topic

    cov = Coverage(since_ms)

    def parsed(msg) -> dict[str, Any] | None:
        try:
            value = orjson.loads(msg.value)
        except (orjson.JSONDecodeError, TypeError):
            return None
        return value if isinstance(value, dict) else None

    def on_hr(msg) -> None:
        if (v := parsed(msg)) is not None:
            cov.add_hr(v)

    def on_message(msg) -> None:
        if (v := parsed(msg)) is not None and msg.key:
            cov.add_message(msg.key.decode("utf-8", "replace"), v)

    def on_contact(msg) -> None:
        if (v := parsed(msg)) is not None:
            cov.add_contact(v)

    await scan_topic(kafka, HR, None, on_hr, timeout_s=300)
    await asyncio.gather(scan_topic(kafka, MSGAUDIT, None, on_message, timeout_s=600),
                         scan_topic(kafka, CONTACTS, None, on_contact, timeout_s=300))
    return cov
