"""The labelled chat corpus (chat.yaml) as records: one employee per case, in the replay format
(CONTRACT.md §8) or as Kafka records, so the same cases run offline and live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.chatmsg import T0, record

HERE = Path(__file__).resolve().parent
MEDIUM = ("medium", "high", "critical")


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    label: str  # steer | benign
    messages: tuple[dict[str, Any], ...]
    recall: int | None = None


def load(path: Path = HERE / "chat.yaml") -> list[Case]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Case(c["id"], c["family"], c["label"], tuple(c["messages"]), c.get("recall")) for c in doc["cases"]]


def employee_of(case: Case, prefix: str) -> str:
    return f"{prefix}{case.id}"


def records(case: Case, prefix: str = "corpus_", t0: int = T0) -> list[tuple[str, str, dict[str, Any]]]:
    """(topic, key, value) for one case: the employee's directory entry, then the messages."""
    employee = employee_of(case, prefix)
    customer = "wmCORPUS" + case.id.replace("-", "").upper()[:20]
    out = [("hr.events", employee, {"type": "employee", "ts": t0 - 1, "employee_id": employee, "name": case.id,
                                     "team": "华东一组", "branch": "SH-01", "role": "sales", "status": "active"})]
    for i, m in enumerate(case.messages):
        sender = customer if m.get("from") == "customer" else employee
        msgid = f"{employee}-m{i}"
        if "text" in m:
            rec = record(text=m["text"], sender=sender, msgid=msgid, t=t0 + i * 1000,
                         to=employee if sender == customer else customer)
        else:
            rec = record(m["type"], m["payload"], sender=sender, msgid=msgid, t=t0 + i * 1000,
                         to=employee if sender == customer else customer)
        out.append(("wecom.msgaudit", employee, rec))
    if case.recall is not None:
        rec = record("revoke", {"pre_msgid": f"{employee}-m{case.recall}"}, msgid=f"{employee}-r",
                     t=t0 + len(case.messages) * 1000 + 30_000, sender=employee, action="recall", to=customer)
        out.append(("wecom.msgaudit", employee, rec))
    return out


def flagged(alerts: list[dict[str, Any]]) -> set[str]:
    """Employees with an alert of severity medium or above (the corpus's notion of 'flagged')."""
    return {a["employee_id"] for a in alerts if a["severity"] in MEDIUM}
