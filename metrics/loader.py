"""`/metrics` of the chat-archive loader (`paodan ingest archive`, ingest/archive_loader.py) on
PAODAN_METRICS_PORT (default 9464; on a host that also runs a worker, give one of them another port):
lines read, records produced, lines skipped as already loaded, lines dead-lettered, the last `seq`
loaded and when, and how long each batch took to be acknowledged — beside the pipeline's figures."""

from __future__ import annotations

import time

from config.settings import Settings
from metrics import servers
from metrics.exposition import Registry
from metrics.servers import port_from

REGISTRY = Registry()
COUNTS = {field: REGISTRY.counter(name, text) for field, name, text in (
    ("lines", "paodan_loader_lines_total", "Chat-archive lines the loader read"),
    ("produced", "paodan_loader_records_produced_total",
     "Records acknowledged on wecom.msgaudit (one per employee a message concerns)"),
    ("skipped", "paodan_loader_skipped_total", "Lines, or copies of a line, skipped as already loaded"),
    ("dead", "paodan_loader_dead_letters_total", "Lines dead-lettered (malformed, or not decryptable)"))}
SEQ = REGISTRY.gauge("paodan_loader_seq", "The last chat-archive seq loaded, by corp")
LOADED_AT = REGISTRY.gauge("paodan_loader_last_batch_time_seconds", "When the loader last finished a batch (epoch s)")
BATCH_SECONDS = REGISTRY.histogram("paodan_loader_batch_seconds", "Time from a batch's first line to its records "
                                   "acknowledged and the checkpoint saved",
                                   buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))


def batch(before, after, corp: str, seq: int, seconds: float) -> None:
    """Count one batch from the loader's Stats before and after it."""
    for field, counter in COUNTS.items():
        delta = getattr(after, field) - getattr(before, field)
        if delta > 0:
            counter.inc(delta)
    SEQ.set(seq, corp=corp)
    LOADED_AT.set(time.time())
    BATCH_SECONDS.observe(seconds)


def port(env: dict[str, str] | None = None) -> int:
    return port_from("PAODAN_METRICS_PORT", 9464, 0, env)


async def serve(settings: Settings) -> None:
    await servers.serve(settings, REGISTRY, port(), "loader")
