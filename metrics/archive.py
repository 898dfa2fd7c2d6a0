"""`/metrics` of an archive process (streams/archive.py) on PAODAN_METRICS_PORT (default 9464; the n-th
archive process of a worker on that port + n): its own batches, rows written per table, the time each
phase of a batch took, write retries — and, in the first one, the live feed's Redis retries —
beside the pipeline's figures (metrics.pipeline)."""

from __future__ import annotations

from config.settings import Settings
from metrics import servers
from metrics.exposition import Registry
from metrics.servers import port_from

REGISTRY = Registry()
BATCHES = REGISTRY.counter("paodan_archive_batches_total", "Batches this archive process wrote")
RECORDS = REGISTRY.counter("paodan_archive_records_total", "Kafka records this archive process took in")
ROWS = REGISTRY.counter("paodan_archive_rows_written_total", "Rows written to ClickHouse, by table")
RETRIES = REGISTRY.counter("paodan_archive_write_retries_total", "Failed ClickHouse writes, retried")
REDIS_RETRIES = REGISTRY.counter("paodan_live_redis_retries_total", "Failed writes of the live feed to Redis "
                                 "(alerts, risk, offsets), retried")
PHASES = REGISTRY.histogram("paodan_archive_batch_seconds", "Time per batch phase (oldest record's age when the "
                            "batch closed, queued, rows, insert, commit)",
                            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 120.0))


def batch(records: int, took: dict[str, float]) -> None:
    BATCHES.inc()
    RECORDS.inc(records)
    for phase, seconds in took.items():
        PHASES.observe(seconds, phase=phase)


def written(rows: dict[str, int]) -> None:
    for table, n in rows.items():
        if n:
            ROWS.inc(n, table=table)


def port(n: int, env: dict[str, str] | None = None) -> int:
    return port_from("PAODAN_METRICS_PORT", 9464, n, env)


async def serve(settings: Settings, n: int) -> None:
    """Serve /metrics until cancelled; a port already taken (a second worker on the host) is logged."""
    await servers.serve(settings, REGISTRY, port(n), "archive")
