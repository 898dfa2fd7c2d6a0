"""The ClickHouse archive: schema and batched writers (CONTRACT.md §10 names).

Tables are ReplacingMergeTree keyed by the record's natural id, so a record delivered twice is stored
once as far as any query with FINAL (or after a merge) can tell. The DDL here is valid on ClickHouse
18.16, the oldest server we support (Debian's package); newer servers accept it unchanged.

Times are kept as epoch milliseconds (UInt64, as in the contract) next to a DateTime/Date for
partitioning and for analysts' convenience.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import Any, Iterable
from urllib.parse import urlparse

import orjson
from clickhouse_driver import Client

from config.settings import Settings

MESSAGES_DDL = """
CREATE TABLE IF NOT EXISTS {db}.messages (
    msgid String,
    corpid String,
    seq UInt64,
    action String,
    sender String,
    tolist Array(String),
    roomid String,
    msgtime UInt64,
    msg_time DateTime,
    msg_date Date,
    msgtype String,
    content String,
    raw String,
    ingested_at DateTime
) ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(msg_date)
ORDER BY (msg_date, msgid)
"""

ALERTS_DDL = """
CREATE TABLE IF NOT EXISTS {db}.alerts (
    alert_id String,
    version UInt64,
    revision UInt32,
    rule String,
    severity String,
    score Float64,
    employee_id String,
    team String,
    branch String,
    ts UInt64,
    window_start UInt64,
    window_end UInt64,
    window_date Date,
    title String,
    explanation String,
    evidence String,
    rules_version String,
    detected_at UInt64,
    status String,
    raw String
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_date)
ORDER BY alert_id
"""

SCHEMA = (MESSAGES_DDL, ALERTS_DDL)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).replace(tzinfo=None)


def _day(ms: int) -> date:
    return _utc(ms).date()


def message_row(rec: dict[str, Any], content: str) -> tuple:
    """One `messages` row from a validated chat-archive record (switch records use `time`)."""
    ms = int(rec.get("msgtime") or rec.get("time") or 0)
    tolist = rec.get("tolist") if isinstance(rec.get("tolist"), list) else []
    seq = rec.get("seq")
    return (
        str(rec.get("msgid", "")), str(rec.get("corpid") or ""),
        int(seq) if isinstance(seq, int) and seq >= 0 else 0,
        str(rec.get("action", "")), str(rec.get("from") or rec.get("user") or ""),
        [str(t) for t in tolist], str(rec.get("roomid") or ""),
        ms, _utc(ms), _day(ms), str(rec.get("msgtype") or ""), content,
        orjson.dumps(rec).decode(), datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0),
    )


def alert_row(alert: dict[str, Any]) -> tuple:
    revision = int(alert.get("revision", 1))
    return (
        alert["alert_id"], revision, revision, alert["rule"], alert["severity"], float(alert["score"]),
        alert["employee_id"], alert.get("team", ""), alert.get("branch", ""), int(alert["ts"]),
        int(alert["window"]["start"]), int(alert["window"]["end"]), _day(int(alert["window"]["start"])),
        alert["title"], alert["explanation"], orjson.dumps(alert.get("evidence", [])).decode(),
        alert["rules_version"], int(alert.get("detected_at", 0)), alert.get("status", "open"),
        orjson.dumps(alert).decode(),
    )


MESSAGE_COLUMNS = ("msgid, corpid, seq, action, sender, tolist, roomid, msgtime, msg_time, msg_date, "
                   "msgtype, content, raw, ingested_at")
ALERT_COLUMNS = ("alert_id, version, revision, rule, severity, score, employee_id, team, branch, ts, "
                 "window_start, window_end, window_date, title, explanation, evidence, rules_version, "
                 "detected_at, status, raw")


class ClickHouseArchive:
    """A synchronous connection to the archive (clickhouse-driver); callers run it in a thread."""

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

    def ensure_schema(self) -> None:
        self.client.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        for ddl in SCHEMA:
            self.client.execute(ddl.format(db=self.database))

    def insert(self, table: str, columns: str, rows: Iterable[tuple]) -> int:
        rows = list(rows)
        if rows:
            self.client.execute(f"INSERT INTO {self.database}.{table} ({columns}) VALUES", rows)
        return len(rows)

    def insert_messages(self, rows: Iterable[tuple]) -> int:
        return self.insert("messages", MESSAGE_COLUMNS, rows)

    def insert_alerts(self, rows: Iterable[tuple]) -> int:
        return self.insert("alerts", ALERT_COLUMNS, rows)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        return self.client.execute(sql, params or {})

    def reconnect(self) -> None:
        self.client.disconnect()
        self.client = Client(**self._client_args)


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
