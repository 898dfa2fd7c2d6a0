"""The detection agent's records, handed over a fetch at a time instead of one by one.

Faust moves every record on its own from the consumer to a stream: a race of four new tasks against
the flow-control event, a lock, the producer-buffer and flow-control checks, a queue, then the
stream's own bookkeeping. On this machine that alone tops out at about 12,500 records/s for an agent
that does nothing, while aiokafka fetches and decodes over 300,000/s. The detection agent already
works in batches, so it takes what it reads the way Kafka delivers it: a fetch at a time.

How, keeping Faust's guarantees:
- `Consumer` is Faust's aiokafka consumer with one change in its fetch: records of the topics the
  detection agent reads are taken out of each fetch, passed the checks Faust's drain loop makes
  (read offset, offset gaps), and put into a bounded queue as one list. Every other record
  (changelogs while restoring, the team topic) goes on through Faust as before.
- `Fetches.batches` gives the agent what the queue holds (several fetches merged, up to a limit).
  Like Faust's stream taking an event, it marks the records as in flight, so a rebalance or a stop
  waits for them, and acks them once the agent's loop body has finished with them: their offsets
  are committed only after the batch's effects. A batch left unfinished (the agent crashed) is not
  acked, and the worker crashes so that its records are redelivered rather than skipped. Faust's
  sensors (its monitor: the web view, statsd) do not count these records; the agent counts them
  itself (streams.detection `counts`).
- Rebalances: the queue belongs to Faust's flow control, which empties it when partitions are
  revoked, as it empties the agents' buffers. Records of an earlier generation still taken from it
  are dropped untouched (never marked in flight, never acked): after the rebalance the consumer
  reads again from the committed offsets. A delivery blocked on a full queue gives way when Faust
  stops the flow, as Faust's own does.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import logging
import time
import weakref
from collections import deque
from contextlib import contextmanager
from operator import attrgetter, itemgetter
from typing import AsyncIterator

from faust.streams import _current_event  # private: Faust has no public way to set it (see `during`)
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.queues import FlowControlQueue

log = logging.getLogger(__name__)
_partition = attrgetter("partition")
_time = itemgetter(0)
# How long, and up to how many batches' worth, records wait for the partitions behind them; and how
# long after its fetch a record no longer waits for partitions read to their end.
HOLD_S = 1.0
HOLD_MAX = 4
SETTLE_S = 0.3


class Current:
    """What Faust's tables use of the current event (faust.streams._current_event): its message,
    whose partition decides the RocksDB store and the changelog partition of a read or write."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, message) -> None:
        self.message = message


@contextmanager
def during(message):
    """Make an event of `message` Faust's current event, as during `stream.events()`: table reads and
    writes then use its partition (RocksDB sub-store, changelog partition). The batches here are
    handed over without Faust setting one."""
    current = Current(message)  # held here: Faust keeps only a weak reference
    token = _current_event.set(weakref.ref(current))
    try:
        yield
    finally:
        _current_event.reset(token)


class Fetches:
    """The queue between the consumer and the detection agent, and the agent's side of it."""

    def __init__(self, app, batch_max: int, queued: int = 4) -> None:
        self.app = app
        self.batch_max = batch_max
        self.topics: frozenset[str] = frozenset()
        self._clock: dict = {}  # topic-partition -> the time of its latest record taken (see _in_time_order)
        self._clock_generation = -1
        self._offsets: dict = {}  # topic-partition -> the offset of its latest record taken
        self._fetched: deque = deque()  # (when, latest record time) of the fetches not yet settled
        self._settled = 0.0  # the latest record time of the fetches taken at least SETTLE_S ago
        self.aligned: frozenset[str] = frozenset()  # topics whose partitions are taken in step (see below)
        # Fetches, not records: at most `queued` fetches wait while the agent works on a batch.
        self.queue = FlowControlQueue(maxsize=queued, flow_control=app.flow_control, clear_on_resume=True)

    async def batches(self, stream) -> AsyncIterator[list]:
        """Batches of the stream's records (Faust ConsumerMessages), grouped by partition, each
        partition's in the order they were written (see `_in_time_order`), each acked once the loop
        body that got it has finished.

        Call it once per agent, with the agent's stream, under `contextlib.aclosing`: a loop body that
        raises then closes it at once, and the worker stops instead of carrying on with a hole in its
        offsets. The stream is not iterated: its topics are subscribed to and their records taken
        from the consumer."""
        app = self.app
        channel = stream.channel.clone(is_iterator=True)
        self.topics = frozenset(channel.topics)
        app.topics.add(channel)  # subscribe, as Faust does when a stream is iterated
        consumer, queue, most = app.consumer, self.queue, self.batch_max
        pending: list = []  # (time, message) taken from the queue, in time order, not yet in a batch
        while True:
            if not pending:
                pending = self._in_time_order(pending, await queue.get())
            while len(pending) < most and not queue.empty():
                pending = self._in_time_order(pending, queue.get_nowait())
            ready = self._written_before_all(pending)
            held = time.monotonic() + HOLD_S
            while not ready and len(pending) < HOLD_MAX * most and time.monotonic() < held:
                try:  # wait for the partitions behind, or until what was fetched has settled
                    pending = self._in_time_order(pending, await asyncio.wait_for(queue.get(), SETTLE_S / 4))
                except asyncio.TimeoutError:
                    pass
                ready = self._written_before_all(pending)
            take = min(most, ready or len(pending))
            batch, pending = [m for _, m in pending[:take]], pending[take:]
            if not app.flow_control.is_active():
                pending = []
                continue  # a rebalance is under way: these are read again from the committed offsets
            generation = app.consumer_generation_id
            if any(m.generation_id != generation for m in batch):
                batch = [m for m in batch if m.generation_id == generation]
                if not batch:
                    continue
            # In flight: a rebalance or a stop waits until Faust's unacked set is empty. Its last record
            # stands for the whole batch (all are acked together): one weak reference, not 10,000.
            consumer.unacked.add(batch[-1])
            # Grouped by partition, so that the current event changes once per partition, not per record;
            # within a partition, in time order across its topics (they are co-partitioned).
            batch.sort(key=_partition)
            finished = False
            try:
                yield batch
                finished = True
            finally:
                if finished:
                    for message in batch:
                        consumer.ack(message)
                elif not app.should_stop:
                    log.error("a batch of %d records was left unfinished; stopping the worker so that "
                              "they are redelivered instead of skipped", len(batch))
                    await app.crash(RuntimeError("detection batch left unfinished"))

    def _written_before_all(self, pending: list) -> int:
        """How many of `pending` (in time order) were written before what every partition of the
        `aligned` topics still has to deliver: a fetch can bring one partition's records far beyond
        another's, and the detection agent must take them in the order they were written (it applies
        some effects to other partitions' states at once). A partition counts while the consumer has
        not read up to its end; all of `pending` without `aligned` topics or with every partition read."""
        if not self.aligned or not pending:
            return len(pending)
        consumer, inf = self.app.consumer, float("inf")
        behind = every = inf  # the earliest latest record of a partition with more to read; of any partition
        for tp, last in self._clock.items():
            if tp.topic in self.aligned:
                every = min(every, last)
                end = consumer.highwater(tp)
                if end is not None and self._offsets.get(tp, -1) + 1 < end:
                    behind = min(behind, last)
        # A partition read to its end may still get records written before others' latest (a producer
        # sends each partition's batch on its own): they are waited for until the fetch settles.
        now, fetched = time.monotonic(), self._fetched
        while fetched and fetched[0][0] <= now - SETTLE_S:
            self._settled = max(self._settled, fetched.popleft()[1])
        upto = min(behind, max(every, self._settled))
        return len(pending) if upto == inf else bisect.bisect_right(pending, upto, key=_time)

    def _in_time_order(self, pending: list, fetch: list) -> list:
        """`pending` and a new fetch as one sequence of (time, message) in the order the records were
        written (their Kafka timestamps), each topic-partition's records in offset order.

        Why: a fetch brings each topic-partition's records up to a size, one topic-partition after
        another, so a backlog would hand the agent a day of orders beside an hour of chat.
        The behaviour engine closes an employee's day by the latest event time of any of their inputs
        (with a grace for the skew between topics), so the order decides what a day holds. In write
        order, a record is processed in the same place among the others however the records were
        fetched: live, or again after a crash. A timestamp earlier than one before it in the same
        topic-partition counts as that one's: offset order wins."""
        generation = self.app.consumer_generation_id
        if generation != self._clock_generation:  # after a rebalance the records are read again
            self._clock, self._offsets, self._clock_generation = {}, {}, generation
            self._fetched, self._settled = deque(), 0.0
        by_tp: dict = {}
        for message in fetch:
            by_tp.setdefault(message.tp, []).append(message)
        clock, runs, latest = self._clock, [pending] if pending else [], 0.0
        for tp in sorted(by_tp):  # ties go to the earlier run, then in topic-partition order
            last, run = clock.get(tp, 0.0), []
            for message in by_tp[tp]:
                last = max(last, message.timestamp or 0.0)
                run.append((last, message))
            clock[tp] = last
            self._offsets[tp] = by_tp[tp][-1].offset
            latest = max(latest, last)
            runs.append(run)
        if self.aligned:
            self._fetched.append((time.monotonic(), latest))
        return runs[0] if len(runs) == 1 else list(heapq.merge(*runs, key=_time))

    async def put(self, batch: list) -> None:
        await self.queue.put(batch)


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, handing the records of `app.fetches.topics` over a fetch at a time."""

    async def _wait_next_records(self, timeout: float):
        """Faust's fetch, with the detection agent's records taken out of it before Faust's `getmany`
        hands out the rest one by one. Faust's `getmany` would, for each record, run its round-robin
        scheduler, its flow, generation and active-partition checks, a high-water look-up and an async
        generator step; here each topic-partition's records are checked and converted as one list."""
        records, active = await super()._wait_next_records(timeout)
        topics = self.app.fetches.topics
        if not records or not topics or not self.flow_active or self.should_stop:
            return records, active  # as they are: Faust's getmany deals with a stopped flow (it seeks back)
        rest, taken = {}, []
        to_message, read_offset, buffered = self._to_message, self._read_offset, self._buffered_partitions
        for tp, fetched in records.items():
            if tp.topic not in topics:
                rest[tp] = fetched
                continue
            if active is not None and tp not in active and tp not in buffered:
                continue  # as Faust's getmany: a partition paused meanwhile is read again when resumed
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            # Faust's drain loop's checks (read offset, offset gaps), made here for the records it will not see.
            last = read_offset[tp]
            for record in fetched:
                offset = record.offset
                if last is None or offset >= last:
                    if last and offset - last > 1 and self.app.topics.acks_enabled_for(tp.topic):
                        await self._add_gap(tp, last + 1, offset)
                    last = offset
                    taken.append(to_message(tp, record))
            read_offset[tp] = last
        if taken:
            await self.wait_first(self.app.fetches.put(taken), self.suspend_flow.wait())
        return rest, active


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
