"""The ingest side's Kafka producer: acks=all, idempotent, started lazily, failing fast and loudly.

The HTTP endpoints answer 200 only after Kafka acknowledged what they produce, so a sender that gets
an error (WeCom, a CRM) retries and nothing is lost. For that the producer must never hang a request:
it is started on first use (the server comes up and answers 503 while the broker is down), every
delivery is awaited with a deadline, and any failure surfaces as `BrokerUnavailable`. A producer that
failed to start is thrown away and a fresh one is tried on the next request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Iterable, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

log = logging.getLogger("paodan.ingest")


class BrokerUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; the caller answers 503 so the sender retries."""


class Record(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class Producer:
    def __init__(self, bootstrap: str, timeout_s: float = 4.0, linger_ms: int = 0):
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                    linger_ms=self.linger_ms, request_timeout_ms=int(self.timeout_s * 1000),
                    retry_backoff_ms=100)
                try:
                    await asyncio.wait_for(producer.start(), self.timeout_s)
                except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                    await producer.stop()
                    log.warning("kafka at %s unavailable: %s", self.bootstrap, type(exc).__name__)
                    raise BrokerUnavailable(f"kafka unavailable ({type(exc).__name__})") from None
                self._producer = producer
        return self._producer

    async def send_all(self, records: Iterable[Record]) -> None:
        """Produce every record and return once all are acknowledged; BrokerUnavailable otherwise."""
        producer = await self._started()
        try:
            futures = [await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers))
                       for r in records]
        except KafkaError as exc:
            raise BrokerUnavailable(f"kafka refused the record ({type(exc).__name__})") from None
        if not futures:
            return
        done, pending = await asyncio.wait(futures, timeout=self.timeout_s)
        if pending:
            raise BrokerUnavailable("kafka did not acknowledge in time")
        for fut in done:
            if fut.exception() is not None:
                raise BrokerUnavailable(f"kafka did not acknowledge ({type(fut.exception()).__name__})")

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
