"""The contract's topics as the Faust app's channels, all carrying raw bytes (see streams.app.RAW);
their names and shapes are formats/topics.py's."""

from __future__ import annotations

from formats import topics as names
from streams.app import app, settings


def _topic(name: str):
    return app.topic(name, key_serializer="raw", value_serializer="raw", partitions=settings.partitions)


msgaudit = _topic(names.MSGAUDIT)
contacts = _topic(names.CONTACTS)
orders = _topic(names.ORDERS)
hr = _topic(names.HR)
alerts = _topic(names.ALERTS)
deadletter = _topic(names.DEADLETTER)
# Triage actions written by the board, keyed by the alert's employee like paodan.alerts, so one
# worker folds an alert's revisions and actions together (streams.archive).
alert_actions = _topic(names.ALERT_ACTIONS)
