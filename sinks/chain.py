"""The archive's hash chain: every archived chat record, contact change, order, HR event, alert revision
and triage action is in it, so that a changed or deleted row is found (streams/archive_verify.py).

A chain is one (source table, corp, Kafka partition) in the order the archive consumer reads it, per
writer (the archive's consumer group: two deployments archiving the same topics into one database keep
a chain each, over the same records). The
partition is part of the chain because it is the only order that exists without one writer for all of
a corp: each partition is owned by one archive process at a time.

Each archive batch adds one block per chain it touches, a row of `archive_chain`: the Kafka offsets it
covers (`first_offset`..`last_offset`, the batch's range of the partition), the ids of its records in
their tables (the tables' ORDER BY values, as JSON column by column: `[[first values…], [second values…]]`,
which makes no object per record) and their digests (32 bytes each, concatenated); and
    hash = SHA-256(writer ":" source "/" corp "/" part "/" seq "/" first "/" last "\\n" prev body)
    body = SHA-256(record_ids "\\n" digests)
with prev the hash of the block before (32 zero bytes for the first). One row per block rather than
per record keeps the chain's cost to a hash per record: a row per record doubled the archive's inserts.

Records kept apart as invalid (`rejected_records`) are chained per topic partition (`rejected_part`),
their digest of the bytes kept (`raw`, at most 64 KiB).

A record's digest is SHA-256 of its original bytes as received (`raw`), for the event tables; their
other columns are what the archive's row builders make of those bytes, and verification rebuilds them.
Triage actions have no raw bytes: their digest covers their row (canonical JSON of its columns, without
`ingested_at`). Alerts: the revision as published, as JSON with sorted keys (the `alerts` table keeps
only the latest revision, with triage folded in).

A batch read again after a crash or a rebalance (its offsets were not committed) is chained again from
the head before its first offset; if the new batch's boundaries differ, the blocks of the first attempt
stay behind, off the chain: verification follows the chain by its hashes and requires such blocks to
hold only records the chain holds with the same digests.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from sinks.clickhouse.schema import (ALERT_ACTIONS, ARCHIVE_CHAIN, CONTACT_EVENTS, HR_EVENTS, MESSAGES, ORDERS,
                                     REJECTED_RECORDS, Table)

GENESIS = bytes(32)
# Columns the archive itself rewrites after the fact (`paodan history renormalise`), or stamps.
UNCHAINED_COLUMNS = frozenset({"ingested_at", "content_norm"})
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, Decimal):  # the server gives 1299 for 1299.00
        return format(value.normalize(), "f")
    raise TypeError(f"cannot encode {type(value).__name__}")


def read_back(table: Table, row: tuple) -> tuple:
    """A row as a query returns it, in the types the row builders use: a server over the native protocol
    gives those already; chdb's JSON gives 64-bit integers, dates and decimals as text or floats."""
    out = list(row)
    for i, col in enumerate(table.columns):
        value = out[i]
        if col.type.startswith("Decimal") and isinstance(value, (str, float, int)):
            out[i] = Decimal(str(value))
        elif not isinstance(value, str) or col.type == "String":
            continue
        elif col.type.startswith(("UInt", "Int")):
            out[i] = int(value)
        elif col.type == "DateTime":
            out[i] = calendar.timegm(datetime.strptime(value, "%Y-%m-%d %H:%M:%S").timetuple())
        elif col.type == "Date":
            out[i] = date.fromisoformat(value)
    return tuple(out)


@dataclass(frozen=True)
class Source:
    """How rows of one table are chained: their id, corp and digest."""

    table: Table

    def __post_init__(self) -> None:
        names = self.table.column_names
        keep = [i for i, n in enumerate(names) if n not in UNCHAINED_COLUMNS]
        set_ = object.__setattr__
        set_(self, "_keep", keep)
        set_(self, "_datetimes", [j for j, i in enumerate(keep) if self.table.columns[i].type == "DateTime"])
        order = re.sub(r"[()\s]", "", self.table.order_by).split(",")
        set_(self, "key_columns", tuple(order))
        set_(self, "_key", [names.index(c) for c in order])
        set_(self, "_corp", names.index("corpid") if "corpid" in names else None)
        date_col = self.table.retention_date
        set_(self, "_date", names.index(date_col) if date_col else None)
        set_(self, "_raw", names.index("raw") if "raw" in names else None)

    @property
    def name(self) -> str:
        return self.table.name

    def read_back(self, row: tuple) -> tuple:
        return read_back(self.table, row)

    def encode(self, row: tuple) -> bytes:
        """The canonical bytes of a row's columns (but `ingested_at`, `content_norm`), whether built by
        sinks.clickhouse.rows or read back (`read_back`): DateTime as epoch seconds, raw bytes as text,
        decimals as their digits."""
        values = [row[i] for i in self._keep]
        for j in self._datetimes:
            if isinstance(values[j], datetime):
                values[j] = calendar.timegm(values[j].timetuple())
        return orjson.dumps(values, default=_default)

    def digest(self, row: tuple) -> bytes:
        """The record's digest: of its raw bytes where the table keeps them, else of its row."""
        if self._raw is None:
            return hashlib.sha256(self.encode(row)).digest()
        raw = row[self._raw]
        return hashlib.sha256(raw if isinstance(raw, bytes) else raw.encode()).digest()

    def key(self, row: tuple) -> list:
        """The row's ORDER BY values (its id in its table)."""
        return [row[i] for i in self._key]

    def record_id(self, row: tuple) -> str:
        return orjson.dumps(self.key(row), default=_default).decode()

    def corp(self, row: tuple) -> str:
        return row[self._corp] if self._corp is not None else ""

    def day_of_key(self, key: list) -> int | None:
        """The record's day (days since 1970, the one retention goes by) from its ORDER BY values as
        JSON gives them back; None where the table keeps its rows for good."""
        if self._date is None:
            return None
        values = dict(zip(self.key_columns, key))
        if self.table.retention_date in values:
            return date.fromisoformat(values[self.table.retention_date]).toordinal() - _EPOCH_ORDINAL
        if "ts" in values:
            return int(values["ts"]) // 86_400_000
        if "create_time" in values:
            return int(values["create_time"]) // 86_400
        return None


SOURCES = {t.name: Source(t) for t in (MESSAGES, CONTACT_EVENTS, ORDERS, HR_EVENTS, ALERT_ACTIONS, REJECTED_RECORDS)}


def rejected_part(topic: str, partition: int) -> int:
    """The chain `part` of the records rejected from one topic partition: rejected records of every
    topic share a table, and a chain follows one partition's offsets, so the topic is folded into the
    number (stable: a hash of its name)."""
    return zlib.crc32(topic.encode()) % 4096 * 100_000 + partition

@dataclass
class Pending:
    """Records waiting for their blocks, as the chain sees them: from one partition of one source, in
    order, each with its corp, its ORDER BY values and its digest."""

    source: str
    part: int
    corps: list[str]
    ids: list[list]  # one list per ORDER BY column
    digests: list[bytes]


def pending_rows(source: Source, part: int, rows: list[tuple]) -> Pending:
    """The chain's view of rows just built from partition `part`'s records (a hash each). List
    comprehensions, not a loop: this runs for every archived chat record."""
    sha256, raw_i, corp_i = hashlib.sha256, source._raw, source._corp
    if raw_i is None:
        digests = [source.digest(row) for row in rows]
    else:
        # The row builders keep the record's bytes as received (bytes), so no conversion here.
        digests = [sha256(r[raw_i]).digest() for r in rows]
    ids = [[r[k] for r in rows] for k in source._key]
    return Pending(source.name, part, [r[corp_i] for r in rows] if corp_i is not None else [""] * len(rows), ids,
                   digests)


def alert_digest(alert: dict[str, Any]) -> bytes:
    """An alert revision's digest: its JSON with sorted keys."""
    return hashlib.sha256(orjson.dumps(alert, option=orjson.OPT_SORT_KEYS)).digest()


def alert_record_id(alert_id: str, revision: int) -> str:
    return orjson.dumps([alert_id, int(revision)]).decode()


ChainKey = tuple[str, str, int]  # (source, corp, part)


def body_hash(record_ids: str, digests: bytes) -> bytes:
    return hashlib.sha256(record_ids.encode() + b"\n" + digests).digest()


def block_hash(key: ChainKey, seq: int, first: int, last: int, prev: bytes, body: bytes, writer: str = "") -> bytes:
    source, corp, part = key
    return hashlib.sha256(f"{writer}:{source}/{corp}/{part}/{seq}/{first}/{last}\n".encode() + prev + body).digest()


@dataclass(frozen=True)
class Head:
    seq: int
    hash: bytes
    last_offset: int


class Chainer:
    """Adds a batch's blocks onto its chains' heads. Heads are remembered between batches of one
    consumer, and read from `archive_chain` when a partition's records do not follow on from the last
    batch (a new assignment, a redelivery): the head is then the last block before the batch."""

    def __init__(self, writer: str = "") -> None:
        self.writer = writer
        self._heads: dict[ChainKey, Head] = {}
        self._next: dict[tuple[str, int], int] = {}  # (source, part) → offset after the last batch

    def _head(self, archive, key: ChainKey, first_offset: int) -> Head | None:
        source, corp, part = key
        rows = archive.execute(
            f"SELECT seq, hash, last_offset FROM {archive.database}.{ARCHIVE_CHAIN.name} WHERE writer = %(w)s "
            "AND source = %(s)s AND corp = %(c)s AND part = %(p)s AND last_offset < %(o)s "
            "ORDER BY last_offset DESC, first_offset ASC, archived_at DESC LIMIT 1",
            {"w": self.writer, "s": source, "c": corp, "p": part, "o": first_offset})
        if not rows:
            return None
        seq, hexhash, last = rows[0]
        return Head(int(seq), bytes.fromhex(hexhash), int(last))

    def link(self, archive, pending: list[Pending], ranges: dict[tuple[str, int], tuple[int, int]],
             archived_at: int) -> tuple[list[tuple], dict[ChainKey, Head]]:
        """`archive_chain` rows (one block per chain) for `pending`, whose (source, part) covered the
        offsets `ranges[(source, part)]`, and the chains' new heads; nothing is remembered until
        `commit` (the insert may fail and be retried)."""
        blocks: dict[ChainKey, tuple[list, list]] = {}  # id columns, digests
        for p in pending:
            corps = set(p.corps)
            for corp in corps:
                ids, digests = blocks.setdefault((p.source, corp, p.part), ([[] for _ in p.ids], []))
                if len(corps) == 1:
                    for column, values in zip(ids, p.ids):
                        column += values
                    digests += p.digests
                    continue
                mine = [i for i, c in enumerate(p.corps) if c == corp]
                for column, values in zip(ids, p.ids):
                    column += [values[i] for i in mine]
                digests += [p.digests[i] for i in mine]
        rows, heads = [], {}
        for key, (ids, digests) in blocks.items():
            source, corp, part = key
            first, last = ranges[(source, part)]
            cached = self._heads.get(key)
            head = cached if cached is not None and self._next.get((source, part)) == first else \
                self._head(archive, key, first)
            seq = head.seq + 1 if head else 1
            prev = head.hash if head else GENESIS
            id_text = orjson.dumps(ids, default=_default).decode()
            digest_bytes = b"".join(digests)  # binary in a String column: read back with hex()
            h = block_hash(key, seq, first, last, prev, body_hash(id_text, digest_bytes), self.writer)
            heads[key] = Head(seq, h, last)
            rows.append((self.writer, source, corp, part, seq, first, last, len(digests), id_text, digest_bytes,
                         prev.hex(), h.hex(), archived_at))
        return rows, heads

    def commit(self, heads: dict[ChainKey, Head], next_offsets: dict[tuple[str, int], int]) -> None:
        self._heads.update(heads)
        self._next.update(next_offsets)
