"""The archive's schema, declared once, and the versioned migrations derived from it.

Every table is declared below with all of its columns. Each table and each column names the migration
that introduced it (`since`), so the migrations are not hand-written DDL scripts but slices of this one
declaration: migration N creates the tables introduced by N and adds the columns introduced by N to
older tables (plus an optional data step, e.g. a backfill). Walking the migrations 1..N therefore gives
every database — empty, or left by an older release — the same tables with the same columns in the same
order. Applied versions are recorded in `schema_migrations`.

Two dialects, chosen from the server's version (`SELECT version()`):

- **legacy** (ClickHouse 18.16, Debian's package and the oldest we support): plain types, no TTL, no
  data-skipping indexes. Retention is enforced by dropping whole monthly partitions that are older than
  the retention period (`apply_retention`).
- **modern** (20.3 and later): `LowCardinality(String)` for small vocabularies, an `ngrambf_v1` skip
  index over the normalised message text so that keyword search reads only the granules that can
  contain the words, and a table TTL for retention.

All event tables are ReplacingMergeTree ordered by their natural id, so a record delivered twice is
stored once as far as any query with FINAL (or `LIMIT 1 BY <id>`) can tell; the version column is the
ingestion time, or for `alerts` a counter that grows with every change.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from sinks.clickhouse.connection import Archive

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 180
MODERN_SINCE = (20, 3)


@dataclass(frozen=True)
class Dialect:
    """What the server offers, from its version."""

    version: tuple[int, int]

    @property
    def modern(self) -> bool:
        return self.version >= MODERN_SINCE

    @property
    def name(self) -> str:
        return "modern" if self.modern else "legacy"

    @classmethod
    def parse(cls, version: str) -> "Dialect":
        match = re.match(r"(\d+)\.(\d+)", version)
        if not match:
            raise ValueError(f"cannot read a ClickHouse version from {version!r}")
        return cls((int(match.group(1)), int(match.group(2))))


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    since: int = 1
    # Few distinct values (action, msgtype, rule…): LowCardinality on servers that have it.
    low_cardinality: bool = False

    def ddl(self, dialect: Dialect) -> str:
        kind = f"LowCardinality({self.type})" if self.low_cardinality and dialect.modern else self.type
        return f"{self.name} {kind}"


@dataclass(frozen=True)
class SkipIndex:
    """A data-skipping index (modern dialect only)."""

    name: str
    expr: str
    type: str
    granularity: int
    since: int

    def ddl(self) -> str:
        return f"INDEX {self.name} {self.expr} TYPE {self.type} GRANULARITY {self.granularity}"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    engine: str
    partition_by: str
    order_by: str
    since: int = 1
    # The Date column retention counts from; None keeps rows for good (alerts and their audit trail).
    retention_date: str | None = None
    indexes: tuple[SkipIndex, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def columns_sql(self) -> str:
        return ", ".join(self.column_names)

    def create_sql(self, db: str, dialect: Dialect, upto: int) -> str:
        parts = [c.ddl(dialect) for c in self.columns if c.since <= upto]
        if dialect.modern:
            parts += [i.ddl() for i in self.indexes if i.since <= upto]
        body = ",\n    ".join(parts)
        return (f"CREATE TABLE IF NOT EXISTS {db}.{self.name} (\n    {body}\n) ENGINE = {self.engine}\n"
                f"PARTITION BY {self.partition_by}\nORDER BY {self.order_by}")


def _cols(*specs: tuple) -> tuple[Column, ...]:
    return tuple(Column(*spec) if isinstance(spec, tuple) else spec for spec in specs)


LC = True  # readability in the declarations below

MESSAGES = Table(
    "messages",
    _cols(("msgid", "String"), ("corpid", "String", 1, LC), ("seq", "UInt64"), ("action", "String", 1, LC),
          ("sender", "String"), ("tolist", "Array(String)"), ("roomid", "String"), ("msgtime", "UInt64"),
          ("msg_time", "DateTime"), ("msg_date", "Date"), ("msgtype", "String", 1, LC), ("content", "String"),
          ("raw", "String"), ("ingested_at", "DateTime"),
          # 2: the text as the live matcher sees it (detectors.textnorm), so search matches what alerts match.
          ("content_norm", "String", 2)),
    engine="ReplacingMergeTree(ingested_at)", partition_by="toYYYYMM(msg_date)", order_by="(msg_date, msgid)",
    retention_date="msg_date",
    indexes=(SkipIndex("content_norm_ngrams", "content_norm", "ngrambf_v1(2, 65536, 3, 0)", 1, since=2),),
)

ALERTS = Table(
    "alerts",
    _cols(("alert_id", "String"), ("version", "UInt64"), ("revision", "UInt32"), ("rule", "String", 1, LC),
          ("severity", "String", 1, LC), ("score", "Float64"), ("employee_id", "String"), ("team", "String"),
          ("branch", "String"), ("ts", "UInt64"), ("window_start", "UInt64"), ("window_end", "UInt64"),
          ("window_date", "Date"), ("title", "String"), ("explanation", "String"), ("evidence", "String"),
          ("rules_version", "String"), ("detected_at", "UInt64"), ("status", "String", 1, LC),
          ("raw", "String"),
          # 2: triage state, folded in from paodan.alert_actions.
          ("assignee", "String", 2), ("resolution", "String", 2, LC), ("updated_at", "UInt64", 2)),
    engine="ReplacingMergeTree(version)", partition_by="toYYYYMM(window_date)", order_by="alert_id",
)

CONTACT_EVENTS = Table(
    "contact_events",
    _cols(("corpid", "String", 3, LC), ("create_time", "UInt32", 3), ("ts", "UInt64", 3),
          ("event_date", "Date", 3), ("change_type", "String", 3, LC), ("employee_id", "String", 3),
          ("external_user_id", "String", 3), ("state", "String", 3), ("welcome_code", "String", 3),
          ("source", "String", 3, LC), ("fail_reason", "String", 3, LC), ("raw", "String", 3),
          ("ingested_at", "DateTime", 3)),
    engine="ReplacingMergeTree(ingested_at)", partition_by="toYYYYMM(event_date)",
    # WeCom's own dedup key for callbacks: (ToUserName, CreateTime, ChangeType, UserID, ExternalUserID).
    order_by="(employee_id, create_time, change_type, external_user_id, corpid)",
    since=3, retention_date="event_date",
)

ORDERS = Table(
    "orders",
    _cols(("order_id", "String", 3), ("event", "String", 3, LC), ("ts", "UInt64", 3),
          ("event_time", "DateTime", 3), ("event_date", "Date", 3), ("employee_id", "String", 3),
          ("customer_id", "String", 3), ("amount", "Decimal(18, 2)", 3), ("currency", "String", 3, LC),
          ("store_id", "String", 3, LC), ("approver_id", "String", 3), ("customer", "String", 3),
          ("items", "String", 3), ("raw", "String", 3), ("ingested_at", "DateTime", 3)),
    engine="ReplacingMergeTree(ingested_at)", partition_by="toYYYYMM(event_date)",
    order_by="(employee_id, order_id, event, ts)", since=3, retention_date="event_date",
)

HR_EVENTS = Table(
    "hr_events",
    _cols(("type", "String", 3, LC), ("ts", "UInt64", 3), ("event_date", "Date", 3),
          ("employee_id", "String", 3), ("name", "String", 3), ("team", "String", 3, LC),
          ("branch", "String", 3, LC), ("manager_id", "String", 3), ("role", "String", 3, LC),
          ("status", "String", 3, LC), ("customer_id", "String", 3), ("previous_owner_id", "String", 3),
          ("reason", "String", 3, LC), ("detail", "String", 3), ("record_key", "String", 3),
          ("raw", "String", 3), ("ingested_at", "DateTime", 3)),
    engine="ReplacingMergeTree(ingested_at)", partition_by="toYYYYMM(event_date)",
    # HR events carry no id of their own: record_key is a hash of the record's canonical JSON.
    order_by="(employee_id, ts, type, record_key)", since=3, retention_date="event_date",
)

ALERT_ACTIONS = Table(
    "alert_actions",
    _cols(("action_id", "String", 3), ("alert_id", "String", 3), ("employee_id", "String", 3),
          ("team", "String", 3), ("action", "String", 3, LC), ("actor", "String", 3),
          ("actor_role", "String", 3, LC), ("ts", "UInt64", 3), ("action_date", "Date", 3),
          ("status", "String", 3, LC), ("resolution", "String", 3, LC), ("detail", "String", 3),
          ("ingested_at", "DateTime", 3)),
    engine="ReplacingMergeTree(ingested_at)", partition_by="toYYYYMM(action_date)",
    order_by="(alert_id, ts, action_id)", since=3,
)

# 4: the tamper-evident archive's hash chain (sinks/chain.py): a block per archive batch and chain,
# kept for good.
ARCHIVE_CHAIN = Table(
    "archive_chain",
    _cols(("writer", "String", 4, LC), ("source", "String", 4, LC), ("corp", "String", 4, LC), ("part", "UInt32", 4),
          ("seq", "UInt64", 4),
          ("first_offset", "UInt64", 4), ("last_offset", "UInt64", 4), ("records", "UInt32", 4),
          ("record_ids", "String", 4), ("digests", "String", 4), ("prev", "String", 4),
          ("hash", "String", 4), ("archived_at", "DateTime", 4)),
    engine="ReplacingMergeTree(archived_at)", partition_by="tuple()",
    order_by="(writer, source, corp, part, first_offset, last_offset)", since=4,
)

# 5: records the archive does not keep as valid rows (not JSON, no natural id, or refused by the
# detecting agent's decoder — dead-lettered there), kept apart with the reason, so that the tables of
# valid rows hold none of them. A record is identified by where it was read (topic, part, offset);
# `raw` holds at most RAW_LIMIT of its bytes, `size` and `sha256` are of all of them. Chained like the
# rest and kept for good (their ids carry no date for retention to go by).
REJECTED_RECORDS = Table(
    "rejected_records",
    _cols(("topic", "String", 5, LC), ("part", "UInt32", 5), ("offset", "UInt64", 5), ("reason", "String", 5),
          ("table_name", "String", 5, LC), ("corpid", "String", 5, LC), ("record_key", "String", 5),
          ("size", "UInt64", 5), ("sha256", "String", 5), ("raw", "String", 5), ("ingested_at", "DateTime", 5),
          ("ingest_date", "Date", 5)),
    engine="ReplacingMergeTree(ingested_at)", partition_by="toYYYYMM(ingest_date)",
    order_by="(topic, part, offset)", since=5,
)

# 6: what the chat archive's images and voice say, as the media agent read them (streams/media_agent.py:
# QR codes and their class, OCR text, a transcript): one row per image or voice message, keyed by the
# message's own msgid, so history search and case files find the words. Derived from a chained record
# (the message itself, in `messages`), so not chained itself.
MEDIA_TEXTS = Table(
    "media_texts",
    _cols(("msgid", "String", 6), ("kind", "String", 6, LC), ("md5sum", "String", 6), ("sender", "String", 6),
          ("tolist", "Array(String)", 6), ("msgtime", "UInt64", 6), ("msg_date", "Date", 6), ("text", "String", 6),
          ("text_norm", "String", 6), ("ingested_at", "DateTime", 6)),
    engine="ReplacingMergeTree(ingested_at)", partition_by="toYYYYMM(msg_date)", order_by="(msg_date, msgid)",
    since=6, retention_date="msg_date",
)

TABLES = (MESSAGES, ALERTS, CONTACT_EVENTS, ORDERS, HR_EVENTS, ALERT_ACTIONS, ARCHIVE_CHAIN, REJECTED_RECORDS,
          MEDIA_TEXTS)
TABLES_BY_NAME = {t.name: t for t in TABLES}

# The migrations applied to this database (not itself migrated: its shape never changes).
SCHEMA_MIGRATIONS = Table(
    "schema_migrations",
    _cols(("version", "UInt32"), ("name", "String"), ("dialect", "String"), ("server_version", "String"),
          ("applied_at", "DateTime")),
    engine="ReplacingMergeTree(applied_at)", partition_by="tuple()", order_by="version",
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    # A data step run after the DDL (e.g. a backfill of a new column); must be idempotent.
    data: Callable[["Archive"], None] | None = field(default=None, compare=False)


def _backfill_content_norm(archive: "Archive") -> None:
    """Fill `content_norm` for messages archived before it existed, by re-inserting them (a newer
    ingested_at replaces the old row)."""
    from sinks.clickhouse.renormalise import renormalise

    done = renormalise(archive, only_missing=True)
    if done:
        log.info("backfilled content_norm for %d messages", done)


MIGRATIONS = (
    Migration(1, "messages and alerts (the walking skeleton's tables)"),
    Migration(2, "normalised message text for keyword search; alert triage state",
              data=_backfill_content_norm),
    Migration(3, "contact events, orders, HR events and the alert audit trail"),
    Migration(4, "the archive's hash chain (tamper evidence)"),
    Migration(5, "rejected records kept apart from the valid rows"),
    Migration(6, "what chat images and voice say (QR codes, OCR text, transcripts)"),
)
LATEST = MIGRATIONS[-1].version


def migration_steps(db: str, dialect: Dialect, version: int) -> list[str]:
    """The DDL of migration `version` on `dialect` (ALTERs are guarded by the caller)."""
    steps = []
    for table in TABLES:
        if table.since == version:
            steps.append(table.create_sql(db, dialect, version))
        elif table.since < version:
            for col in table.columns:
                if col.since == version:
                    steps.append(f"ALTER TABLE {db}.{table.name} ADD COLUMN {col.ddl(dialect)}")
            if dialect.modern:
                for index in table.indexes:
                    if index.since == version:
                        steps.append(f"ALTER TABLE {db}.{table.name} ADD {index.ddl()}")
                        steps.append(f"ALTER TABLE {db}.{table.name} MATERIALIZE INDEX {index.name}")
    return steps


def applied_versions(archive: "Archive") -> set[int]:
    rows = archive.execute(f"SELECT version FROM {archive.database}.schema_migrations FINAL")
    return {int(v) for (v,) in rows}


def _existing_columns(archive: "Archive", table: str) -> set[str]:
    rows = archive.execute("SELECT name FROM system.columns WHERE database = %(db)s AND table = %(t)s",
                           {"db": archive.database, "t": table})
    return {name for (name,) in rows}


def _needed(archive: "Archive", sql: str) -> bool:
    """Whether an ALTER step still has something to do (two workers may start at once)."""
    match = re.match(r"ALTER TABLE \S+\.(\w+) ADD COLUMN (\w+)", sql)
    if match:
        return match.group(2) not in _existing_columns(archive, match.group(1))
    match = re.match(r"ALTER TABLE \S+\.(\w+) ADD INDEX (\w+)", sql)
    if match:
        rows = archive.execute("SELECT create_table_query FROM system.tables WHERE database = %(db)s "
                               "AND name = %(t)s", {"db": archive.database, "t": match.group(1)})
        return not rows or f"INDEX {match.group(2)} " not in rows[0][0]
    return True


def migrate(archive: "Archive", retention_days: int = DEFAULT_RETENTION_DAYS) -> list[int]:
    """Bring the archive's database to the latest schema and apply retention; return the versions applied.

    Safe to run from several workers at once: every step is idempotent and checked before it runs.
    """
    db = archive.database
    dialect = archive.dialect()
    archive.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    archive.execute(SCHEMA_MIGRATIONS.create_sql(db, dialect, 1))
    done = applied_versions(archive)
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        log.info("applying ClickHouse migration %d (%s) on %s, %s dialect", migration.version,
                 migration.name, db, dialect.name)
        for sql in migration_steps(db, dialect, migration.version):
            if _needed(archive, sql):
                archive.execute(sql)
        if migration.data is not None:
            migration.data(archive)
        archive.insert(SCHEMA_MIGRATIONS, [(migration.version, migration.name, dialect.name,
                                            archive.server_version(), archive.now())])
        applied.append(migration.version)
    apply_retention(archive, retention_days)
    return applied


# --- retention ---------------------------------------------------------------------------------

def ttl_clause(table: Table, days: int) -> str:
    return f"TTL {table.retention_date} + INTERVAL {days} DAY"


def expired_months(partitions: list[str], days: int, today: date) -> list[int]:
    """Monthly partitions (YYYYMM) whose every day is older than the retention period."""
    cutoff = today - timedelta(days=days)
    out = []
    for p in partitions:
        month = int(str(p).strip("'"))
        year, mon = divmod(month, 100)
        first_of_next = date(year + mon // 12, mon % 12 + 1, 1)
        if first_of_next <= cutoff:
            out.append(month)
    return sorted(out)


def apply_retention(archive: "Archive", days: int, today: date | None = None) -> dict[str, list[int]]:
    """Enforce the retention period on the event tables: a table TTL on modern servers, else drop the
    monthly partitions that lie wholly before the cutoff. Returns the partitions dropped per table."""
    if days <= 0:
        raise ValueError("retention must be a positive number of days")
    db = archive.database
    dialect = archive.dialect()
    dropped: dict[str, list[int]] = {}
    for table in TABLES:
        if table.retention_date is None:
            continue
        if dialect.modern:
            [(engine_full,)] = archive.execute("SELECT engine_full FROM system.tables WHERE database = %(db)s "
                                               "AND name = %(t)s", {"db": db, "t": table.name})
            if f"toIntervalDay({days})" not in engine_full:
                archive.execute(f"ALTER TABLE {db}.{table.name} MODIFY {ttl_clause(table, days)}")
            continue
        parts = archive.execute("SELECT DISTINCT partition FROM system.parts WHERE database = %(db)s "
                                "AND table = %(t)s AND active", {"db": db, "t": table.name})
        months = expired_months([p for (p,) in parts], days, today or archive.today())
        for month in months:
            archive.execute(f"ALTER TABLE {db}.{table.name} DROP PARTITION {month}")
        if months:
            log.info("retention %d days: dropped %s partitions %s", days, table.name, months)
            dropped[table.name] = months
    return dropped
