"""The schema on the real ClickHouse 18.16 server: applies to an empty database and upgrades one left by
the walking skeleton, keeping and backfilling its rows; legacy retention drops expired months."""

from __future__ import annotations

import time
from datetime import date

import pytest

from sinks.clickhouse import ClickHouseArchive
from sinks.clickhouse.rows import message_row, norm
from sinks.clickhouse.schema import MESSAGES, TABLES, apply_retention, migrate, migration_steps
from tests.live import unique

NOW_MS = int(time.time() * 1000)  # recent, so retention keeps it

pytestmark = pytest.mark.integration


@pytest.fixture()
def archive(stack):
    base = stack.clickhouse.rsplit("/", 1)[0]
    a = ClickHouseArchive(f"{base}/{unique('paodan_it_')}")
    yield a
    a.execute(f"DROP DATABASE IF EXISTS {a.database}")
    a.close()


def test_schema_applies_to_an_empty_database(archive):
    assert not archive.dialect().modern  # the Debian server the suite runs against
    assert migrate(archive) == [1, 2, 3, 4, 5, 6]
    tables = {t for (t,) in archive.execute(f"SHOW TABLES FROM {archive.database}")}
    assert tables == {t.name for t in TABLES} | {"schema_migrations"}
    names = [n for (n,) in archive.execute("SELECT name FROM system.columns WHERE database = %(db)s AND "
                                           "table = 'messages'", {"db": archive.database})]
    assert tuple(names) == MESSAGES.column_names
    assert migrate(archive) == []


def test_schema_upgrades_the_skeleton_database(archive):
    db = archive.database
    archive.execute(f"CREATE DATABASE {db}")
    for sql in migration_steps(db, archive.dialect(), 1):
        archive.execute(sql)
    old = [c for c in MESSAGES.column_names if c != "content_norm"]
    rec = {"msgid": "old-1", "action": "send", "from": "zs", "tolist": ["wmC"], "msgtime": NOW_MS,
           "msgtype": "text", "text": {"content": "去 拼多多 下单"}}
    values = dict(zip(MESSAGES.column_names, message_row(rec, rec["text"]["content"])))
    archive._insert("messages", ", ".join(old), [tuple(values[c] for c in old)])
    assert migrate(archive) == [1, 2, 3, 4, 5, 6]
    # Backfilled with the live matcher's normalisation (detectors.textnorm).
    assert archive.execute(f"SELECT msgid, content_norm FROM {db}.messages FINAL") == [("old-1", norm("去 拼多多 下单"))]


def test_legacy_retention_drops_whole_expired_months(archive):
    migrate(archive)
    rows = [message_row({"msgid": f"r{ms}", "action": "send", "from": "zs", "msgtime": ms, "msgtype": "text",
                         "text": {"content": "x"}}, "x") for ms in (1748736000000, 1764210000000)]  # 2025-06, 2025-11
    archive.insert(MESSAGES, rows)
    dropped = apply_retention(archive, 180, today=date(2026, 1, 15))  # cutoff 2025-07-19
    assert dropped == {"messages": [202506]}
    assert archive.execute(f"SELECT msgid FROM {archive.database}.messages") == [("r1764210000000",)]
