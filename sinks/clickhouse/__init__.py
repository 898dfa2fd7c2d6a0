"""The ClickHouse archive (CONTRACT.md §10): schema and migrations (`schema`), record → row builders
(`rows`) and connections (`connection`). Read-side queries for investigators live in sinks.history."""

from sinks.clickhouse.connection import Archive, ClickHouseArchive, EmbeddedArchive, wait_for
from sinks.clickhouse.schema import (ALERT_ACTIONS, ALERTS, CONTACT_EVENTS, HR_EVENTS, MESSAGES, ORDERS,
                                     TABLES, Dialect, migrate)

__all__ = ["Archive", "ClickHouseArchive", "EmbeddedArchive", "wait_for", "Dialect", "migrate", "TABLES",
           "MESSAGES", "ALERTS", "CONTACT_EVENTS", "ORDERS", "HR_EVENTS", "ALERT_ACTIONS"]
