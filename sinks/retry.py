"""Retrying a sink write until it succeeds, with capped exponential backoff.

Sinks are fed from Kafka and the offsets of a batch are committed only after the batch was written, so
a sink that is down must hold the batch and retry rather than drop it: Kafka keeps everything behind it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


async def until_written(write: Callable[[], Awaitable[T]], what: str, *, first_delay: float = 0.2,
                        max_delay: float = 10.0, on_error: Callable[[], None] | None = None) -> T:
    delay = first_delay
    failures = 0
    while True:
        try:
            result = await write()
            if failures:
                log.warning("%s: written after %d failed attempts", what, failures)
            return result
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the sink is retried
            failures += 1
            if failures == 1 or failures % 10 == 0:
                log.warning("%s failed (%s: %s); retrying in %.1fs (attempt %d)", what,
                            type(exc).__name__, exc, delay, failures)
            if on_error is not None:
                on_error()
            await asyncio.sleep(delay)
            delay = min(max_delay, delay * 2)
