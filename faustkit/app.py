"""Faust's app with the consumer of faustkit/fetches.py, and a crash that always ends the process."""

from __future__ import annotations

import logging
import os
import threading

import faust
from faust import Worker  # noqa: F401 - `paodan worker` runs the app through it (streams/worker.py)

from faustkit.fetches import Fetches, Transport


class App(faust.App):
    """Faust's app, whose consumer hands the detection agent its records a fetch at a time
    (faustkit/fetches.py); everything else as in Faust."""

    def __init__(self, *args, batch_max: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fetches = Fetches(self, batch_max)
        self.exit_on_crash = False  # streams.worker.run sets it

    def _new_transport(self) -> Transport:  # private (faustkit/UPGRADING.md)
        return Transport(self.conf.broker_consumer, self)

    async def crash(self, reason: BaseException) -> None:
        """Crash as Faust does, but make sure the process then ends, non-zero: Faust's stop can wait
        forever on a producer or consumer that is stuck, and a supervisor restarts only a process
        that has exited. Only in `paodan worker` (`exit_on_crash`), not where the app is a library."""
        if self.exit_on_crash:
            threading.Thread(target=_exit_after, args=(CRASH_GRACE_S,), name="crash-exit", daemon=True).start()
        await super().crash(reason)


def raise_producer_buffer(app: faust.App, max_messages: int) -> None:
    """Let up to `max_messages` records wait in Faust's producer buffer before Faust throttles: past
    the limit it stops the consumer and drains the buffer a record at a time, warning each time. Faust
    has no setting for it, only `ProducerBuffer.max_messages`, an undocumented attribute; on upgrade,
    check that the buffer still reads it (renamed, it would be ignored silently; faustkit/UPGRADING.md)."""
    app.producer.buffer.max_messages = max_messages


# Long enough for a clean stop to flush logs and close the consumer, short enough for a quick restart.
CRASH_GRACE_S = 10.0


def _exit_after(seconds: float) -> None:
    threading.Event().wait(seconds)
    logging.getLogger(__name__).critical("the worker crashed and did not stop within %.0f s; exiting", seconds)
    logging.shutdown()
    os._exit(70)  # EX_SOFTWARE
