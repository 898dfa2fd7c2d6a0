"""`/metrics` of the worker's detection process (streams/detection.py) on PAODAN_DETECTION_METRICS_PORT
(default 9463): how long each batch took from its records to its effects sent and states written, how
big batches are, records by topic, and the records dead-lettered or found poisonous — beside the
pipeline's figures (metrics.pipeline), which read the agent's progress from its committed offsets —
and the media agent's (streams/media_agent.py) queues, how long the oldest image has waited, and what
became of the images by outcome."""

from __future__ import annotations

from config.settings import Settings
from metrics import servers
from metrics.exposition import Registry
from metrics.servers import port_from

REGISTRY = Registry()
BATCH_SECONDS = REGISTRY.histogram("paodan_detection_batch_seconds", "Time to process one detection batch "
                                   "(records in, effects sent and acknowledged, states written)",
                                   buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
BATCH_RECORDS = REGISTRY.histogram("paodan_detection_batch_records", "Records per detection batch",
                                   buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000))
RECORDS = REGISTRY.counter("paodan_detection_processed_total", "Records this detection process handled, by topic")
OUTCOMES = REGISTRY.counter("paodan_detection_outcomes_total", "Records dead-lettered, re-keyed or found "
                            "poisonous (failed twice), by outcome")

MEDIA_QUEUE = REGISTRY.gauge("paodan_media_queue", "Media jobs waiting, by queue (queued: to read and decode QR; "
                             "ocr_queued: for OCR or speech; waiting_missing: for a file not in the store yet)")
MEDIA_OLDEST = REGISTRY.gauge("paodan_media_oldest_wait_seconds", "How long the oldest waiting media job has waited")
MEDIA = REGISTRY.counter("paodan_media_total", "Media records by what became of them (queued, read, sent, silent, "
                         "cached, skipped, missing, …)")


def media(counts: dict[str, int], depth: dict[str, int], oldest_s: float) -> None:
    """The media agent's figures as it holds them (totals since start)."""
    for outcome, n in counts.items():
        MEDIA.set(n, outcome=outcome.removeprefix("media_"))
    for queue, n in depth.items():
        MEDIA_QUEUE.set(n, queue=queue)
    MEDIA_OLDEST.set(oldest_s)


def batch(messages, seconds: float) -> None:
    BATCH_SECONDS.observe(seconds)
    BATCH_RECORDS.observe(len(messages))
    by_topic: dict[str, int] = {}
    for m in messages:
        by_topic[m.topic] = by_topic.get(m.topic, 0) + 1
    for topic, n in by_topic.items():
        RECORDS.inc(n, topic=topic)


def port(env: dict[str, str] | None = None) -> int:
    return port_from("PAODAN_DETECTION_METRICS_PORT", 9463, 0, env)


async def serve(settings: Settings) -> None:
    await servers.serve(settings, REGISTRY, port(), "detection")
