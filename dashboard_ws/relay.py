"""Relay triage actions from the Redis outbox to the Kafka topic `paodan.alert_actions`.

An action is committed to Redis together with an outbox entry (sinks.redis_live), so the viewer's click
never waits for Kafka. This task, one per board process, reads the outbox stream as a member of one
consumer group, produces each payload (key: employee_id) and only then acknowledges and deletes the
entry. Kafka down → the entries stay pending and are retried with backoff; a board process that died
with entries in flight → another process claims them after `stale_ms`. Delivery is at-least-once;
`action_id` lets the archive drop duplicates. An entry with a topic of its own (`t`: the assignments
dashboard_ws.transfers writes on `hr.events`) goes there instead.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from redis.exceptions import ResponseError

from config.settings import Settings
from formats.topics import ALERT_ACTIONS as TOPIC
from sinks.redis_live import OUTBOX, LiveAlerts

log = logging.getLogger("paodan.board.relay")
GROUP = "kafka-relay"


class ActionRelay:
    def __init__(self, settings: Settings, live: LiveAlerts, *, stale_ms: int = 30_000):
        self.settings = settings
        self.live = live
        self.stale_ms = stale_ms
        self.consumer = f"board-{secrets.token_hex(4)}"
        self.produced = 0

    async def _ensure_topic(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka, request_timeout_ms=10_000)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(TOPIC, self.settings.partitions, 1)])
        except TopicAlreadyExistsError:
            pass
        finally:
            await admin.close()

    async def _ensure_group(self) -> None:
        try:
            await self.live.redis.xgroup_create(OUTBOX, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _batch(self) -> list[tuple[bytes, dict]]:
        """Entries to produce: ours still pending, else stale ones of a dead process, else new ones."""
        redis = self.live.redis
        mine = await redis.xreadgroup(GROUP, self.consumer, {OUTBOX: "0"}, count=500)
        if mine and mine[0][1]:
            return mine[0][1]
        _, claimed, *_ = await redis.xautoclaim(OUTBOX, GROUP, self.consumer, self.stale_ms, "0-0", count=500)
        if claimed:
            return claimed
        new = await redis.xreadgroup(GROUP, self.consumer, {OUTBOX: ">"}, count=500, block=1000)
        return new[0][1] if new else []

    async def run(self) -> None:
        producer: AIOKafkaProducer | None = None
        delay = 0.2
        while True:
            try:
                if producer is None:
                    await self._ensure_topic()
                    producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka, acks="all",
                                                enable_idempotence=True, linger_ms=5, request_timeout_ms=10_000)
                    await producer.start()
                await self._ensure_group()
                batch = await self._batch()
                gone = [eid for eid, fields in batch if not fields]  # deleted after a crash mid-ack
                if gone:
                    await self.live.redis.xack(OUTBOX, GROUP, *gone)
                entries = [(eid, fields) for eid, fields in batch if fields]
                if not entries:
                    continue
                sends = []
                for _, fields in entries:
                    key = orjson.loads(fields[b"p"]).get("employee_id") or None
                    topic = fields.get(b"t", b"").decode() or TOPIC
                    sends.append(await producer.send(topic, fields[b"p"], key=key.encode() if key else None))
                await asyncio.gather(*sends)
                ids = [eid for eid, _ in entries]
                await self.live.redis.xack(OUTBOX, GROUP, *ids)
                await self.live.redis.xdel(OUTBOX, *ids)
                self.produced += len(ids)
                delay = 0.2
            except asyncio.CancelledError:
                if producer is not None:
                    await producer.stop()
                raise
            except Exception as exc:  # noqa: BLE001 - Kafka or Redis away: keep the entries, retry
                log.warning("relaying actions to %s failed (%s: %s); retrying in %.1fs", TOPIC,
                            type(exc).__name__, exc, delay)
                if producer is not None:
                    try:
                        await producer.stop()
                    except Exception:  # noqa: BLE001
                        pass
                    producer = None
                await asyncio.sleep(delay)
                delay = min(10.0, delay * 2)
