"""Every worker follows the published rules (streams/rules_bundle.py) and runs the latest version.

- At start-up, before the worker joins its consumer group (`catch_up`, called when the rules are first
  loaded): read the rules topic to its end; if the latest bundle's version is newer than the rules
  file's, run it — so a worker started on a machine with an old file runs what was published.
- While running (`follow_published_rules`, a Faust task): each new bundle on the topic is run within
  about a second of its publication, whatever its version (publishing an older version is a rollback).
  An invalid bundle is refused with a log line and the rules in force keep running.
- Every worker reads the whole topic itself (a consumer without a group): published rules are a
  broadcast, not a workload to share out. The topic is created (compacted) if it does not exist yet.
- Each worker reports what it runs to Redis (`paodan:rules:workers:{app_id}`, refreshed every
  REPORT_INTERVAL_S) for `paodan rules published`; a Redis outage only delays that report.

The worker logs "rules feed ready" once it follows the topic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

import orjson
from aiokafka.errors import KafkaError

from streams import rules_bundle
from streams.app import app, settings

log = logging.getLogger(__name__)
STARTUP_TIMEOUT_S = 20.0
REPORT_INTERVAL_S = 10.0
REPORT_TTL_S = 24 * 3600
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# End offsets read by `catch_up`: following starts exactly there, so no bundle falls in between.
_read_up_to: dict = {}


def catch_up(holder) -> None:
    """Run the latest published bundle if its version is newer than the loaded file's."""
    try:
        value, ends = rules_bundle.run_blocking(rules_bundle.read_latest(settings.kafka, settings.rules_topic),
                                                STARTUP_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - Kafka away at start-up: the file runs, the feed retries
        log.warning("published rules not read at start-up (%s: %s); running %s until %s can be read",
                    type(exc).__name__, exc, holder.path, settings.rules_topic)
        return
    _read_up_to.update(ends)
    if value is None:
        log.info("no published rules on %s; running %s", settings.rules_topic, holder.path)
        return
    holder.apply_published(value, only_if_newer=True)


async def follow(holder) -> None:
    """Apply each bundle published from now on; report what runs."""
    if not _read_up_to:  # start-up could not read the topic: do it now
        value, ends = await rules_bundle.read_latest(settings.kafka, settings.rules_topic)
        if value is not None:
            holder.apply_published(value, only_if_newer=True)
        _read_up_to.update(ends)
    consumer = rules_bundle.consumer(settings.kafka)
    await consumer.start()
    try:
        tps = await rules_bundle.partitions(consumer, settings.rules_topic)
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:  # a partition the start-up read did not know (added since) is read from its start
            consumer.seek(tp, _read_up_to.get(tp, starts[tp]))
            await consumer.position(tp)
        log.info("rules feed ready (following %s; running version %s from the %s)", settings.rules_topic,
                 holder.rules.version, "published bundle" if holder.origin == "published" else f"file {holder.path}")
        reported, reporting = 0.0, None
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    _read_up_to[tp] = record.offset + 1
                    if record.key == rules_bundle.KEY:
                        holder.apply_published(record.value)
                        reported = 0.0  # report the change now
            # In the background: a slow or absent Redis must not delay the next bundle.
            if time.monotonic() - reported >= REPORT_INTERVAL_S and (reporting is None or reporting.done()):
                reporting, reported = asyncio.create_task(report(holder)), time.monotonic()
    finally:
        await consumer.stop()


async def report(holder) -> None:
    """Tell `paodan rules published` what this worker runs (best effort)."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    key = rules_bundle.WORKERS_KEY.format(app_id=settings.app_id)
    body = orjson.dumps({**holder.status(), "worker": WORKER_ID, "seen": int(time.time() * 1000)})
    client = aioredis.from_url(settings.redis, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.hset(key, WORKER_ID, body)
        await client.expire(key, REPORT_TTL_S)
    except (RedisError, OSError) as exc:
        log.debug("rules status not reported to Redis: %s", exc)
    finally:
        await client.aclose()


@app.task
async def follow_published_rules() -> None:
    from streams.rules_state import holder

    while True:
        try:
            await follow(holder())
        except (KafkaError, asyncio.TimeoutError, OSError) as exc:
            log.warning("rules feed: %s: %s; following %s again in 2s", type(exc).__name__, exc,
                        settings.rules_topic)
            await asyncio.sleep(2)
