"""The contract's topics (CONTRACT.md §1), all carrying raw bytes (see streams.app.RAW)."""

from __future__ import annotations

from streams.app import app, settings


def _topic(name: str):
    return app.topic(name, key_serializer="raw", value_serializer="raw", partitions=settings.partitions)


msgaudit = _topic("wecom.msgaudit")
contacts = _topic("wecom.contacts")
orders = _topic("crm.orders")
hr = _topic("hr.events")
alerts = _topic("paodan.alerts")
deadletter = _topic("paodan.deadletter")
# Triage actions written by the board (contract extension), keyed by the alert's employee like
# paodan.alerts, so one worker folds an alert's revisions and actions together (streams.archive).
alert_actions = _topic("paodan.alert_actions")
