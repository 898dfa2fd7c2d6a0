"""After the normaliser changed, `renormalise` brings every archived message's `content_norm` to what the
live matcher now makes of its text, once, without losing or duplicating a message (current ClickHouse,
chdb; the 18.16 server runs the same code in migration 2's backfill, tests/integration/test_archive_schema)."""

from __future__ import annotations

import time

import pytest

from detectors.textnorm import match_view
from sinks.clickhouse import EmbeddedArchive
from sinks.clickhouse.renormalise import renormalise
from sinks.clickhouse.rows import message_row
from sinks.clickhouse.schema import MESSAGES, migrate

DAY_MS = 86_400_000
NOW_MS = int(time.time() * 1000)


@pytest.fixture()
def archive():
    with EmbeddedArchive.scratch() as a:
        migrate(a)
        yield a


def archived(archive, msgid: str, text: str, ms: int, stored_norm: str) -> None:
    """A message as an older release archived it: `stored_norm` as its normaliser made it, a day ago."""
    rec = {"msgid": msgid, "action": "send", "from": "zs", "tolist": ["wmC"], "msgtime": ms, "msgtype": "text",
           "text": {"content": text}}
    row = list(message_row(rec, text, ingested_at=int(time.time()) - 86_400))
    row[MESSAGES.column_names.index("content_norm")] = stored_norm
    archive.insert(MESSAGES, [tuple(row)])


def test_stale_normal_forms_are_rederived_once_and_nothing_else_changes(archive):
    archived(archive, "old-form", "加 我 ＶＸ，拼拼多多", NOW_MS - 2 * DAY_MS, "加我ＶＸ拼拼多多")  # an older fold
    archived(archive, "current", "好的，收到", NOW_MS - 2 * DAY_MS, match_view("好的，收到"))
    archived(archive, "missing", "轉賬給我", NOW_MS - 40 * DAY_MS, "")  # from before the column existed
    archived(archive, "no-text", "", NOW_MS - DAY_MS, "")
    days = []
    assert renormalise(archive, progress=lambda day, changed, seen: days.append((changed, seen))) == 2
    assert sorted(days) == [(1, 1), (1, 2)]
    db = archive.database
    assert archive.execute(f"SELECT msgid, content_norm FROM {db}.messages FINAL ORDER BY msgid") == [
        ("current", match_view("好的，收到")), ("missing", match_view("轉賬給我")), ("no-text", ""),
        ("old-form", match_view("加 我 ＶＸ，拼拼多多"))]
    assert renormalise(archive) == 0  # idempotent: a second run finds nothing to do


def test_since_and_only_missing_limit_what_is_rederived(archive):
    archived(archive, "recent", "加 我 ＶＸ", NOW_MS - DAY_MS, "stale")
    archived(archive, "older", "加 我 ＶＸ", NOW_MS - 40 * DAY_MS, "stale")
    archived(archive, "empty", "加 我 ＶＸ", NOW_MS - 40 * DAY_MS, "")
    assert renormalise(archive, only_missing=True) == 1
    assert renormalise(archive, since_ms=NOW_MS - 7 * DAY_MS) == 1
    assert archive.execute(f"SELECT msgid, content_norm FROM {archive.database}.messages FINAL ORDER BY msgid") \
        == [("empty", "加我vx"), ("older", "stale"), ("recent", "加我vx")]
