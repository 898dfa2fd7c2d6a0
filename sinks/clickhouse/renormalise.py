"""Re-deriving `messages.content_norm` after the live matcher's normaliser changed (detectors/textnorm.py).

`content_norm` holds a message's text as the live matcher saw it when the message was archived, so that
a keyword search finds what the alerts found. A change to the normaliser (a new fold, a new digit style…)
leaves older rows in the old form: `renormalise` finds, day by day, every message whose stored form is
not what the current normaliser makes of its text and inserts it again with the new form and a newer
`ingested_at` (the table's replacing version), so the new row replaces the old one.

It reads only (msgid, content, content_norm) to decide and the whole rows of the messages that change,
so a day of millions of messages is never held in memory at once. A second run finds nothing to do
(idempotent), an interrupted run is resumed by running it again, and the archive may be written
meanwhile (what the worker writes already has the current form). `paodan history renormalise` runs it;
migration 2 uses it to fill `content_norm` in archives from before the column existed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from sinks.clickhouse.rows import norm
from sinks.clickhouse.schema import MESSAGES

if TYPE_CHECKING:
    from sinks.clickhouse.connection import Archive

log = logging.getLogger(__name__)
CHUNK = 10_000  # messages re-read and re-inserted at a time


def renormalise(archive: "Archive", since_ms: int | None = None, only_missing: bool = False,
                progress: Callable[[str, int, int], None] | None = None) -> int:
    """Bring `content_norm` of the messages sent since `since_ms` (all when None) to the current
    normaliser — only those without one with `only_missing`. Calls `progress(day, changed, messages)`
    after each day; returns how many messages were re-inserted."""
    db = archive.database
    where = "content != ''" + (" AND content_norm = ''" if only_missing else "")
    if since_ms is not None:
        where += f" AND msgtime >= {int(since_ms)}"
    days = archive.execute(f"SELECT DISTINCT toString(msg_date) AS d FROM {db}.messages WHERE {where} ORDER BY d")
    changed = 0
    for (day,) in days:
        found = archive.execute(f"SELECT msgid, content, content_norm FROM {db}.messages FINAL "
                                f"WHERE msg_date = %(day)s AND {where}", {"day": day})
        stale = [msgid for msgid, content, stored in found if norm(content) != stored]
        for start in range(0, len(stale), CHUNK):
            _reinsert(archive, day, stale[start:start + CHUNK])
        changed += len(stale)
        if progress is not None:
            progress(day, len(stale), len(found))
    return changed


def _reinsert(archive: "Archive", day: str, msgids: list[str]) -> None:
    """Insert these messages of `day` again with the current normal form and a newer version."""
    names = MESSAGES.column_names
    at, content, normal = names.index("ingested_at"), names.index("content"), names.index("content_norm")
    rows = archive.execute(f"SELECT {MESSAGES.columns_sql()} FROM {archive.database}.messages FINAL "
                           "WHERE msg_date = %(day)s AND msgid IN %(ids)s", {"day": day, "ids": tuple(msgids)})
    stamp = archive.now()
    archive.insert(MESSAGES, [tuple(stamp if i == at else norm(row[content]) if i == normal else value
                                    for i, value in enumerate(row)) for row in rows])
