"""A chat alert as a notice to the employee's behaviour state: how chat evidence joins risk and sequences.

The content detectors (detectors/content/) and the behaviour engine keep separate state, but both are
keyed by the employee and run on the same record, in the live worker (streams/detection.py) and in
replay (streams/replay.py, streams/replay_split.py) alike. So each chat alert revision a message set
off is handed to the engine right after that message's own contact event, as a notice dict:

    {"kind": "chat_alert", "employee_id", "ts", "id", "rule", "sev", "customer", "msgid", "quote", "out"}

`customer` is the external party of the message that made this revision (a chat alert's window may
span several customers; the engine gathers them), `quote` the words it highlighted in that message,
`out` whether the employee wrote it (a customer's words never count as the employee steering).
The engine folds it into the risk score (detectors/risk.py) and watches the customer
(detectors/diverted.py). Every revision is sent, whatever its severity: one that falls below the
line withdraws what an earlier one contributed.
"""

from __future__ import annotations

from typing import Any, Iterable

from detectors.alert import Alert

KIND = "chat_alert"
FAMILY = "chat."
QUOTE_CHARS = 40


def _quote(alert: Alert, msgid: str) -> str:
    words = [h.get("text") or h.get("term") or h.get("label") or "" for h in alert.highlights if h.get("id") == msgid]
    return "…".join(w for w in words if w)[:QUOTE_CHARS]


def notices(alerts: Iterable[Alert], msgid: str, customer: str, outbound: bool) -> list[dict[str, Any]]:
    """The notices for the chat alerts one message (`msgid`, with `customer`) set off."""
    return [{"kind": KIND, "employee_id": a.employee_id, "ts": a.ts, "id": a.alert_id, "rule": a.rule,
             "sev": a.severity, "customer": customer, "msgid": msgid, "quote": _quote(a, msgid), "out": outbound}
            for a in alerts if a.rule.startswith(FAMILY)]
