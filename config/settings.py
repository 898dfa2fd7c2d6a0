"""Typed runtime settings, read once from the environment and validated at start-up.

Every process (worker, board, ingest, stack manager, tests) gets its endpoints and knobs from here, so
there is one place that knows the variable names and their defaults. The defaults match what
`paodan stack up` starts on loopback, so a fresh checkout needs no environment at all.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from formats import topics

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(__file__).resolve().parent

DEFAULT_KAFKA = "127.0.0.1:19092"
DEFAULT_REDIS = "redis://127.0.0.1:16379/0"
DEFAULT_CLICKHOUSE = "clickhouse://127.0.0.1:19000/paodan"


class SettingsError(ValueError):
    """A setting is present but unusable; the message names the variable and what is expected."""


@dataclass(frozen=True)
class Settings:
    kafka: str = DEFAULT_KAFKA
    redis: str = DEFAULT_REDIS
    clickhouse: str = DEFAULT_CLICKHOUSE
    # Faust application id: also the consumer group and the prefix of the changelog topics.
    app_id: str = "paodan"
    partitions: int = 8
    rules_file: Path = CONFIG_DIR / "rules.yaml"
    # Compacted topic of published rules bundles (`paodan rules publish`); every worker follows it.
    rules_topic: str = topics.RULES
    stack_dir: Path = REPO_ROOT / ".stack"
    data_dir: Path = REPO_ROOT / ".stack" / "worker"
    board_host: str = "127.0.0.1"
    board_port: int = 8765
    # Signs board access tokens. Read from PAODAN_SECRET or a file kept beside the stack's data;
    # never printed or logged.
    secret: bytes = field(default=b"", repr=False)
    # Where a new consumer group starts: "earliest" in production (nothing missed), "latest" for tests
    # that start a fresh worker against long-lived topics.
    offset_reset: str = "earliest"
    # Worker tuning that the benchmark reports.
    stream_buffer: int = 4096
    commit_interval_s: float = 1.0
    # The detection agent takes what the consumer has fetched, up to `batch_max` records at a time
    # (faustkit/fetches.py): under load each employee's state is then read and written once per batch
    # rather than once per event; at low rates a batch is whatever has arrived, with no wait.
    batch_max: int = 10000
    # Decoded documents each worker table keeps between batches (faustkit/tables.py; global tables ten
    # times as many). An employee's behaviour state is about 13 KB decoded: 10,000 of them ~130 MB.
    table_cache: int = 10000
    producer_linger_ms: int = 5
    sink_batch_rows: int = 20000
    sink_flush_s: float = 1.0
    # How long the archive keeps events (messages, contact changes, orders, HR events); alerts and their
    # audit trail are kept. TTL on current ClickHouse, dropped monthly partitions on 18.16.
    retention_days: int = 180
    # Archive consumer processes per worker (each takes a share of the partitions; streams/archive.py).
    archive_processes: int = 1

    @property
    def clickhouse_database(self) -> str:
        return urlparse(self.clickhouse).path.strip("/") or "paodan"

    def env_lines(self) -> list[str]:
        """The endpoint variables as `paodan stack status` prints them (shell-sourceable)."""
        return [
            f"PAODAN_KAFKA={self.kafka}",
            f"PAODAN_REDIS={self.redis}",
            f"PAODAN_CLICKHOUSE={self.clickhouse}",
        ]


def _number(env: dict[str, str], name: str, default, lo, hi, kind=int):
    """`name` as an int (or `kind`) within [lo, hi]; SettingsError naming the variable otherwise."""
    what = "an integer" if kind is int else "a number"
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected {what} between {lo} and {hi}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value}: expected {what} between {lo} and {hi}")
    return value


def _int(env: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    return _number(env, name, default, lo, hi)


def _float(env: dict[str, str], name: str, default: float, lo: float, hi: float) -> float:
    return _number(env, name, default, lo, hi, float)


def _choice(env: dict[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


def _url(env: dict[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = env.get(name) or default
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise SettingsError(f"{name}={value!r}: expected a URL like {default}")
    return value


def _kafka(env: dict[str, str]) -> str:
    value = env.get("PAODAN_KAFKA") or DEFAULT_KAFKA
    for server in value.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise SettingsError(f"PAODAN_KAFKA={value!r}: expected host:port[,host:port…]")
    return value


def _secret(env: dict[str, str], stack_dir: Path) -> bytes:
    raw = env.get("PAODAN_SECRET")
    if raw:
        if len(raw) < 16:
            raise SettingsError("PAODAN_SECRET: expected at least 16 characters")
        return raw.encode()
    path = stack_dir / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def load(env: dict[str, str] | None = None) -> Settings:
    """Build Settings from the environment; raise SettingsError naming the first bad variable."""
    env = dict(os.environ if env is None else env)
    stack_dir = Path(env.get("PAODAN_STACK_DIR") or REPO_ROOT / ".stack")
    rules = Path(env.get("PAODAN_RULES") or CONFIG_DIR / "rules.yaml")
    return Settings(
        kafka=_kafka(env),
        redis=_url(env, "PAODAN_REDIS", DEFAULT_REDIS, ("redis", "rediss")),
        clickhouse=_url(env, "PAODAN_CLICKHOUSE", DEFAULT_CLICKHOUSE, ("clickhouse", "clickhouses")),
        app_id=env.get("PAODAN_APP_ID") or "paodan",
        partitions=_int(env, "PAODAN_PARTITIONS", 8, 1, 1024),
        rules_file=rules,
        rules_topic=env.get("PAODAN_RULES_TOPIC") or topics.RULES,
        stack_dir=stack_dir,
        data_dir=Path(env.get("PAODAN_DATA_DIR") or stack_dir / "worker"),
        board_host=env.get("PAODAN_BOARD_HOST") or "127.0.0.1",
        board_port=_int(env, "PAODAN_BOARD_PORT", 8765, 1, 65535),
        secret=_secret(env, stack_dir),
        offset_reset=_choice(env, "PAODAN_OFFSET_RESET", "earliest", ("earliest", "latest")),
        stream_buffer=_int(env, "PAODAN_STREAM_BUFFER", 4096, 1, 1_000_000),
        commit_interval_s=_float(env, "PAODAN_COMMIT_INTERVAL", 1.0, 0.05, 60.0),
        batch_max=_int(env, "PAODAN_BATCH_MAX", 10000, 1, 100_000),
        table_cache=_int(env, "PAODAN_TABLE_CACHE", 10000, 1, 10_000_000),
        producer_linger_ms=_int(env, "PAODAN_LINGER_MS", 5, 0, 10_000),
        sink_batch_rows=_int(env, "PAODAN_SINK_BATCH", 20_000, 1, 1_000_000),
        sink_flush_s=_float(env, "PAODAN_SINK_FLUSH", 1.0, 0.05, 60.0),
        retention_days=_int(env, "PAODAN_RETENTION_DAYS", 180, 1, 36_500),
        archive_processes=_int(env, "PAODAN_ARCHIVE_PROCESSES", 1, 1, 64),
    )
