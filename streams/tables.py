"""The worker's tables: JSON documents in Faust tables of the worker's app (faustkit/tables.py)."""

from __future__ import annotations

from typing import Any

from faustkit.tables import Documents
from streams.app import app, settings


def table(name: str, **options: Any) -> Documents:
    """A changelog-backed table of JSON documents (partitioned like the input topics), keeping
    PAODAN_TABLE_CACHE of them decoded."""
    return Documents(app.Table(name, default=None, value_type=bytes, **options), settings.table_cache)


def global_table(name: str, **options: Any) -> Documents:
    """A table of JSON documents every worker holds in full, keeping ten times PAODAN_TABLE_CACHE of them
    decoded (a customer's owner is a small document, read for every chat)."""
    return Documents(app.GlobalTable(name, default=None, value_type=bytes, **options), 10 * settings.table_cache)
