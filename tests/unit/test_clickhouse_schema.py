"""The archive schema: migrations derived from one declaration, the modern dialect checked on current
ClickHouse (chdb, in-process), the legacy DDL rendered for 18.16, and retention by TTL or partitions."""

from __future__ import annotations

import time
from datetime import date

import pytest

from sinks.clickhouse import EmbeddedArchive
from sinks.clickhouse.rows import message_row, norm
from sinks.clickhouse.schema import (LATEST, MESSAGES, TABLES, Dialect, apply_retention, expired_months,
                                     migrate, migration_steps)

NOW_MS = int(time.time() * 1000)  # recent, so retention keeps it

LEGACY = Dialect((18, 16))
MODERN = Dialect((26, 9))


@pytest.fixture()
def modern():
    with EmbeddedArchive.scratch() as archive:
        yield archive


def test_dialect_is_chosen_from_the_server_version():
    assert not Dialect.parse("18.16.1").modern
    assert not Dialect.parse("19.17.4.11").modern
    assert Dialect.parse("20.3.1").modern and Dialect.parse("26.9.2.1").modern
    with pytest.raises(ValueError):
        Dialect.parse("banana")


def test_legacy_ddl_uses_nothing_18_16_lacks():
    ddl = "\n".join(s for v in range(1, LATEST + 1) for s in migration_steps("paodan", LEGACY, v))
    assert "CREATE TABLE IF NOT EXISTS paodan.messages" in ddl
    for modern_only in ("LowCardinality", "TTL", "INDEX", "ngrambf"):
        assert modern_only not in ddl


def test_migrations_walk_every_table_and_column_exactly_once():
    created, added = [], []
    for v in range(1, LATEST + 1):
        for sql in migration_steps("db", LEGACY, v):
            if sql.startswith("CREATE TABLE"):
                created.append(sql.split("db.")[1].split(" ")[0])
            elif " ADD COLUMN " in sql:
                added.append(sql.split(" ADD COLUMN ")[1].split(" ")[0])
    assert sorted(created) == sorted(t.name for t in TABLES)
    assert sorted(added) == sorted(c.name for t in TABLES for c in t.columns if c.since > t.since)


def test_modern_schema_on_current_clickhouse_has_lowcardinality_ngram_index_and_ttl(modern):
    assert modern.dialect().modern
    assert migrate(modern, retention_days=180) == [1, 2, 3, 4, 5, 6]
    db = modern.database
    tables = {name for (name,) in modern.execute(f"SHOW TABLES FROM {db}")}
    assert tables == {t.name for t in TABLES} | {"schema_migrations"}
    types = dict(modern.execute("SELECT name, type FROM system.columns WHERE database = %(db)s "
                                "AND table = 'messages'", {"db": db}))
    assert types["msgtype"] == "LowCardinality(String)" and types["content_norm"] == "String"
    [(create,)] = modern.execute("SELECT create_table_query FROM system.tables WHERE database = %(db)s "
                                 "AND name = 'messages'", {"db": db})
    assert "INDEX content_norm_ngrams content_norm TYPE ngrambf_v1(2, 65536, 3, 0)" in create
    assert "TTL msg_date + toIntervalDay(180)" in create
    # Columns end up in the declared order, whatever migration added them.
    names = [n for (n,) in modern.execute("SELECT name FROM system.columns WHERE database = %(db)s AND "
                                          "table = 'messages' ORDER BY position", {"db": db})]
    assert tuple(names) == MESSAGES.column_names
    assert migrate(modern, retention_days=180) == []  # idempotent


def test_changing_retention_changes_the_ttl(modern):
    migrate(modern, retention_days=180)
    apply_retention(modern, 30)
    [(create,)] = modern.execute("SELECT create_table_query FROM system.tables WHERE database = %(db)s "
                                 "AND name = 'orders'", {"db": modern.database})
    assert "TTL event_date + toIntervalDay(30)" in create


def test_skeleton_database_is_migrated_and_its_messages_backfilled(modern):
    """An archive left by the walking skeleton (messages and alerts, no schema_migrations) upgrades."""
    db = modern.database
    modern.execute(f"CREATE DATABASE {db}")
    for sql in migration_steps(db, MODERN, 1):
        modern.execute(sql)
    old_columns = [c for c in MESSAGES.column_names if c != "content_norm"]
    row = message_row({"msgid": "old-1", "action": "send", "from": "zs", "tolist": ["wmC"], "msgtime":
                       NOW_MS, "msgtype": "text", "text": {"content": "加 我 V 信"}}, "加 我 V 信")
    values = dict(zip(MESSAGES.column_names, row))
    modern._insert("messages", ", ".join(old_columns), [tuple(values[c] for c in old_columns)])
    assert migrate(modern) == [1, 2, 3, 4, 5, 6]  # 1 finds its tables there already
    rows = modern.execute(f"SELECT msgid, content, content_norm FROM {db}.messages FINAL")
    assert rows == [("old-1", "加 我 V 信", norm("加 我 V 信"))] and norm("加 我 V 信") == "加我v信"


def test_expired_months_are_those_wholly_before_the_cutoff():
    today = date(2026, 11, 27)  # cutoff for 180 days: 2026-05-31
    assert expired_months(["202604", "202605", "202606", "202611"], 180, today) == [202604]
    assert expired_months(["202605"], 179, today) == [202605]  # cutoff 2026-06-01: all of May is older
