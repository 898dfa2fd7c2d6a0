"""`/metrics` of an archive process (streams/archive.py) on PAODAN_METRICS_PORT (default 9464; the n-th
archive process of a worker on that port + n): its own batches, rows written per table, the time each
phase of a batch took, write retries, beside the pipeline's figures (metrics.pipeline)."""

from __future__ import annotations

import logging
import os

from config.settings import Settings, SettingsError, _int
from metrics.exposition import CONTENT_TYPE, Registry
from metrics.pipeline import PipelineMetrics

log = logging.getLogger(__name__)

REGISTRY = Registry()
BATCHES = REGISTRY.counter("paodan_archive_batches_total", "Batches this archive process wrote")
RECORDS = REGISTRY.counter("paodan_archive_records_total", "Kafka records this archive process took in")
ROWS = REGISTRY.counter("paodan_archive_rows_written_total", "Rows written to ClickHouse, by table")
RETRIES = REGISTRY.counter("paodan_archive_write_retries_total", "Failed ClickHouse writes, retried")
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
    env = dict(os.environ if env is None else env)
    try:
        return _int(env, "PAODAN_METRICS_PORT", 9464, 1, 65535 - 64) + n
    except SettingsError as exc:
        raise SystemExit(f"archive process: {exc}") from None


async def serve(settings: Settings, n: int) -> None:
    """Serve /metrics until cancelled; a port already taken (a second worker on the host) is logged."""
    import asyncio

    from aiohttp import web

    pipeline = PipelineMetrics(settings, REGISTRY)

    async def handle(_request: web.Request) -> web.Response:
        await pipeline.refresh()
        return web.Response(body=REGISTRY.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    where = port(n)
    try:
        await web.TCPSite(runner, os.environ.get("PAODAN_METRICS_HOST", "127.0.0.1"), where).start()
    except OSError as exc:
        log.warning("archive metrics not served on port %d: %s", where, exc)
        await runner.cleanup()
        return
    log.info("archive metrics on http://%s:%d/metrics", os.environ.get("PAODAN_METRICS_HOST", "127.0.0.1"), where)
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()
