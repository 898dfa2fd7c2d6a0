"""Connections to the archive: a ClickHouse server over the native protocol (clickhouse-driver), or an
embedded current ClickHouse (chdb) used to check the modern schema and every shipped query in tests and
benchmarks. Both speak the same small interface (`Archive`), so schema, writers and history queries are
written once.

Queries use clickhouse-driver's `%(name)s` parameters, substituted on the client for both backends.
Shipped queries return plain values (numbers, strings, arrays); dates are formatted in SQL (`toString`)
where a caller needs them, so both backends give the same answers.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterable, Iterator
from urllib.parse import urlparse

from clickhouse_driver import Client
from clickhouse_driver.util.escape import escape_param

from config.settings import Settings
from sinks.clickhouse.schema import Dialect

if TYPE_CHECKING:
    from sinks.clickhouse.schema import Table


class Archive:
    """The interface shared by both backends; subclasses implement `execute` and `_insert`."""

    database: str

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        raise NotImplementedError

    def _insert(self, table: str, columns: str, rows: list[tuple]) -> None:
        raise NotImplementedError

    def insert(self, table: "Table", rows: Iterable[tuple]) -> int:
        """Insert rows built by sinks.clickhouse.rows into `table` in one batch; return the count."""
        rows = list(rows)
        if rows:
            self._insert(table.name, table.columns_sql(), rows)
        return len(rows)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        return self.execute(sql, params)

    @cached_property
    def _version(self) -> str:
        return str(self.execute("SELECT version()")[0][0])

    def server_version(self) -> str:
        return self._version

    def dialect(self) -> Dialect:
        return Dialect.parse(self.server_version())

    def now(self) -> datetime:
        """UTC wall time as stored in DateTime columns (the server runs in UTC)."""
        return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)

    def today(self) -> date:
        return self.now().date()

    def ensure_schema(self, retention_days: int | None = None) -> list[int]:
        """Apply pending migrations (sinks.clickhouse.schema); return the versions applied."""
        from sinks.clickhouse.schema import DEFAULT_RETENTION_DAYS, migrate

        return migrate(self, retention_days or DEFAULT_RETENTION_DAYS)


class ClickHouseArchive(Archive):
    """A synchronous connection to a ClickHouse server (clickhouse-driver); async callers use a thread."""

    def __init__(self, url: str):
        parsed = urlparse(url)
        self.database = parsed.path.strip("/") or "paodan"
        self._client_args = dict(host=parsed.hostname or "127.0.0.1", port=parsed.port or 9000,
                                 user=parsed.username or "default", password=parsed.password or "",
                                 connect_timeout=3, send_receive_timeout=30)
        self.client = Client(**self._client_args)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ClickHouseArchive":
        return cls(settings.clickhouse)

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        # Without parameters the SQL goes as written (a literal % needs no escaping).
        return self.client.execute(sql, params) if params else self.client.execute(sql)

    def _insert(self, table: str, columns: str, rows: list[tuple]) -> None:
        # Columnar: clickhouse-driver serialises a column at a time, about twice as fast as row-wise.
        self.client.execute(f"INSERT INTO {self.database}.{table} ({columns}) VALUES", list(zip(*rows)),
                            columnar=True)

    def reconnect(self) -> None:
        self.client.disconnect()
        self.client = Client(**self._client_args)

    def close(self) -> None:
        self.client.disconnect()


def _literal(value: Any) -> str:
    if isinstance(value, bytes):  # a String column given the bytes as received (UTF-8 JSON)
        try:
            value = value.decode()
        except UnicodeDecodeError:  # binary (the archive chain's digests)
            return f"unhex('{value.hex()}')"
    if isinstance(value, datetime):
        return f"'{value.strftime('%Y-%m-%d %H:%M:%S')}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ")"
    return str(escape_param(value, None))


def substitute(sql: str, params: dict[str, Any] | None) -> str:
    """Client-side `%(name)s` substitution with ClickHouse literals (as clickhouse-driver does)."""
    if not params:
        return sql
    return sql % {k: _literal(v) for k, v in params.items()}


class EmbeddedArchive(Archive):
    """Current ClickHouse in-process through chdb (a test and benchmark dependency, imported lazily).

    chdb runs one engine per process, so archives made with `shared()` share one session (databases
    are kept apart by name); `path` keeps the data on disk, None uses a temporary directory.
    """

    _shared_session = None

    def __init__(self, database: str = "paodan", path: str | None = None, session=None):
        import orjson
        from chdb import session as chdb_session

        self._loads = orjson.loads
        self.database = database
        self.session = session or (chdb_session.Session(path) if path else chdb_session.Session())

    @classmethod
    def shared(cls, database: str = "paodan") -> "EmbeddedArchive":
        if cls._shared_session is None:
            from chdb import session as chdb_session
            cls._shared_session = chdb_session.Session()
        return cls(database, session=cls._shared_session)

    @classmethod
    @contextmanager
    def scratch(cls, prefix: str = "paodan_scratch_") -> Iterator["EmbeddedArchive"]:
        """A shared-session archive on a database of its own, dropped afterwards (tests, benchmarks)."""
        archive = cls.shared(f"{prefix}{uuid.uuid4().hex[:10]}")
        try:
            yield archive
        finally:
            archive.execute(f"DROP DATABASE IF EXISTS {archive.database}")

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        result = self.session.query(substitute(sql, params), "JSONCompact")
        text = result.bytes() if hasattr(result, "bytes") else bytes(result)
        if not text.strip():
            return []
        return [tuple(row) for row in self._loads(text)["data"]]

    def _insert(self, table: str, columns: str, rows: list[tuple]) -> None:
        values = ",".join("(" + ",".join(_literal(v) for v in row) + ")" for row in rows)
        self.session.query(f"INSERT INTO {self.database}.{table} ({columns}) VALUES {values}")

    def close(self) -> None:
        if self.session is not self._shared_session:
            self.session.close()


def wait_for(url: str, timeout: float = 30.0) -> ClickHouseArchive:
    deadline = time.monotonic() + timeout
    while True:
        try:
            archive = ClickHouseArchive(url)
            archive.query("SELECT 1")
            return archive
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
