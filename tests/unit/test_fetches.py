"""faustkit.fetches: the detection agent's batches, as the consumer's fetches hand them over.

A real Faust app and consumer object (not started: the queue is fed as the consumer's `getmany`
feeds it); what Kafka does with the acks is covered by the worker's recovery and takeover tests.
"""

from __future__ import annotations

from contextlib import aclosing
from types import SimpleNamespace

import pytest
from faust.types import TP, Message

from faustkit.app import App


def msg(topic: str, partition: int, offset: int, ts: float = 0.0, generation: int = 0) -> Message:
    return Message(topic, partition, offset, ts, 0, None, b"emp", b"{}", None, tp=TP(topic, partition),
                   generation_id=generation)


@pytest.fixture()
def app():
    app = App("paodan-fetches-test", batch_max=4, broker="kafka://127.0.0.1:1", store="memory://")
    app.flow_control.resume()  # as after the first assignment
    return app


def where(batch: list[Message]) -> list[tuple[str, int, int]]:
    return [(m.topic, m.partition, m.offset) for m in batch]


async def test_a_fetch_becomes_batches_of_at_most_batch_max_in_write_order_by_partition(app):
    stream = SimpleNamespace(channel=app.topic("in-a", "in-b"))
    # A fetch holds each topic-partition's records up to a size, whatever their times.
    await app.fetches.put([msg("in-a", 1, 10, ts=1.0), msg("in-a", 0, 20, ts=2.0), msg("in-b", 1, 5, ts=0.5),
                           msg("in-a", 1, 11, ts=3.0), msg("in-a", 0, 21, ts=4.0), msg("in-b", 0, 7, ts=5.0),
                           msg("in-b", 1, 6, ts=2.5)])
    async with aclosing(app.fetches.batches(stream)) as batches:
        it = aiter(batches)
        first = await anext(it)
        assert app.fetches.topics == {"in-a", "in-b"}  # what the consumer now takes out of its fetches
        # The four written first; by partition, and within one in the order written, across topics.
        assert where(first) == [("in-a", 0, 20), ("in-b", 1, 5), ("in-a", 1, 10), ("in-b", 1, 6)]
        assert not any(m.acked for m in first)  # in flight while the loop body works on them
        assert first[-1] in app.consumer.unacked  # so a rebalance or a stop waits for the batch
        second = await anext(it)
        assert all(m.acked for m in first)  # the body finished with them: their offsets may be committed
        assert where(second) == [("in-a", 0, 21), ("in-b", 0, 7), ("in-a", 1, 11)]


async def test_a_topic_partitions_offset_order_wins_over_its_timestamps(app):
    stream = SimpleNamespace(channel=app.topic("in-a", "in-b"))
    await app.fetches.put([msg("in-a", 0, 1, ts=5.0), msg("in-b", 0, 1, ts=3.0)])
    await app.fetches.put([msg("in-a", 0, 2, ts=1.0), msg("in-b", 0, 2, ts=4.0)])  # a producer's clock went back
    async with aclosing(app.fetches.batches(stream)) as batches:
        batch = await anext(aiter(batches))
    assert where(batch) == [("in-b", 0, 1), ("in-b", 0, 2), ("in-a", 0, 1), ("in-a", 0, 2)]


async def test_records_of_an_earlier_generation_are_dropped_untouched(app):
    stream = SimpleNamespace(channel=app.topic("in-a"))
    stale = [msg("in-a", 0, 1, generation=1), msg("in-a", 0, 2, generation=1)]
    app.consumer_generation_id = 2  # a rebalance happened after they were fetched
    await app.fetches.put(stale + [msg("in-a", 0, 1, generation=2)])
    async with aclosing(app.fetches.batches(stream)) as batches:
        batch = await anext(aiter(batches))
        assert where(batch) == [("in-a", 0, 1)] and batch[0].generation_id == 2
    # Never acked: after the rebalance the consumer reads them again from the committed offset.
    assert not any(m.acked for m in stale)


async def test_a_loop_body_that_raises_leaves_its_batch_unacked_and_crashes_the_worker(app):
    stream = SimpleNamespace(channel=app.topic("in-a"))
    fetched = [msg("in-a", 0, 1), msg("in-a", 0, 2)]
    await app.fetches.put(fetched)
    with pytest.raises(RuntimeError, match="effects failed"):
        async with aclosing(app.fetches.batches(stream)) as batches:
            async for _ in batches:
                raise RuntimeError("effects failed")  # e.g. Kafka refused an alert
    # Acking would let the offsets past them be committed: their alerts would never be sent.
    assert not any(m.acked for m in fetched)
    assert app.crashed  # so that they are redelivered (to this worker restarted, or to another)


async def test_the_consumer_takes_the_agents_records_out_of_a_fetch_and_hands_faust_the_rest(app, monkeypatch):
    from aiokafka.structs import ConsumerRecord
    from faust.transport.drivers import aiokafka as faust_aiokafka

    def record(topic: str, partition: int, offset: int) -> ConsumerRecord:
        return ConsumerRecord(topic, partition, offset, offset * 10, 0, b"emp", b"{}", None, 3, 2, ())

    a0, a1, a2, other = TP("in-a", 0), TP("in-a", 1), TP("in-a", 2), TP("team", 0)
    fetched = {a0: [record("in-a", 0, o) for o in (4, 5, 6, 9)],  # 7-8 missing: compacted away
               a1: [record("in-a", 1, 0)], a2: [record("in-a", 2, 3)],
               other: [record("team", 0, 1)]}

    async def faust_fetch(self, timeout):
        return fetched, {a0, a1, other}  # in-a 2 was paused since the fetch began

    monkeypatch.setattr(faust_aiokafka.Consumer, "_wait_next_records", faust_fetch)
    consumer = app.consumer
    consumer.highwater = lambda tp: 10
    consumer._read_offset[a0] = 5  # records before the read offset were handed out already
    app.fetches.topics = frozenset({"in-a"})
    app.topics._acking_topics.add("in-a")  # as once the agent's stream subscribed (acks on: gaps matter)
    rest, active = await consumer._wait_next_records(1.0)
    assert rest == {other: fetched[other]}  # Faust's own loop hands this one out, as before
    taken = app.fetches.queue.get_nowait()
    assert where(taken) == [("in-a", 0, 5), ("in-a", 0, 6), ("in-a", 0, 9), ("in-a", 1, 0)]
    assert all(isinstance(m, Message) and m.generation_id == app.consumer_generation_id for m in taken)
    assert taken[0].timestamp == 0.05  # Kafka's milliseconds, as Faust's seconds
    assert consumer._read_offset[a0] == 9 and consumer._read_offset[a1] == 0
    assert a2 not in consumer._read_offset or consumer._read_offset[a2] is None
    # Offsets 7-8 recorded as a gap (Faust's interval, end excluded), so commits can step over it.
    assert [(i.begin, i.end) for i in consumer._gap[a0]] == [(7, 10)]
