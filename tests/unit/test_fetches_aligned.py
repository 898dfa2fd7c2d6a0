"""faustkit.fetches with `aligned` topics: the detection agent takes records in the order they were
written, even when a fetch brings one partition far beyond another (the driver applies notices at once
to other partitions' states, streams/driver.py). Kafka's end offsets stand in for the broker here
(`highwater`); the real consumer and broker are covered by tests/integration/test_live_equals_replay.py.
"""

from __future__ import annotations

from contextlib import aclosing
from types import SimpleNamespace

import pytest
from faust.types import TP

from faustkit.app import App
from tests.unit.test_fetches import msg, where


@pytest.fixture()
def app():
    app = App("paodan-aligned-test", batch_max=100, broker="kafka://127.0.0.1:1", store="memory://")
    app.flow_control.resume()
    app.fetches.aligned = frozenset({"in-a"})
    return app


async def test_a_partition_ahead_waits_for_the_one_behind(app, monkeypatch):
    from faustkit import fetches

    monkeypatch.setattr(fetches, "SETTLE_S", 0.05)
    ends = {TP("in-a", 0): 4, TP("in-a", 1): 3}
    app.consumer.highwater = lambda tp: ends.get(tp)
    stream = SimpleNamespace(channel=app.topic("in-a"))
    # The first fetch brings partition 0 up to time 4 but partition 1 only to time 1 (it has 3 records).
    await app.fetches.put([msg("in-a", 0, o, ts=o + 1.0) for o in range(4)] + [msg("in-a", 1, 0, ts=0.5)])
    async with aclosing(app.fetches.batches(stream)) as batches:
        it = aiter(batches)
        first = await anext(it)
        # Only what was written before partition 1's latest record: the rest waits for partition 1.
        assert where(first) == [("in-a", 1, 0)]
        await app.fetches.put([msg("in-a", 1, 1, ts=2.5), msg("in-a", 1, 2, ts=3.5)])
        # Partition 1 is read to its end: what both wrote before its latest (grouped by partition, as
        # every batch is) ...
        assert where(await anext(it)) == [("in-a", 0, 0), ("in-a", 0, 1), ("in-a", 0, 2), ("in-a", 1, 1),
                                          ("in-a", 1, 2)]
        # ... and, once the fetch has settled with nothing earlier in flight, the rest.
        assert where(await anext(it)) == [("in-a", 0, 3)]


async def test_without_news_from_the_partition_behind_the_others_go_on_after_a_while(app, monkeypatch):
    from faustkit import fetches

    monkeypatch.setattr(fetches, "HOLD_S", 0.05)
    app.consumer.highwater = lambda tp: 100  # partition 1 has more, but it does not come
    stream = SimpleNamespace(channel=app.topic("in-a"))
    await app.fetches.put([msg("in-a", 1, 0, ts=0.5), msg("in-a", 0, 0, ts=1.0), msg("in-a", 0, 1, ts=2.0)])
    async with aclosing(app.fetches.batches(stream)) as batches:
        it = aiter(batches)
        assert where(await anext(it)) == [("in-a", 1, 0)]
        assert where(await anext(it)) == [("in-a", 0, 0), ("in-a", 0, 1)]  # not held for ever
