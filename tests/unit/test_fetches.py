"""streams.fetches: the detection agent's batches, as the consumer's fetches hand them over.

A real Faust app and consumer object (not started: the queue is fed as the consumer's `getmany`
feeds it); what Kafka does with the acks is covered by the worker's recovery and takeover tests.
"""

from __future__ import annotations

from contextlib import aclosing
from types import SimpleNamespace

import pytest
from faust.types import TP, Message

from streams.app import App


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
    # Faust's consumer goes round the topic-partitions, so a fetch interleaves them whatever their times.
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
