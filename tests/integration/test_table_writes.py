"""faustkit.tables.Documents.write does what Faust's own table write does, without its per-write cost.

Two Faust tables on real RocksDB stores and a real Kafka broker take the same documents, one through
Faust (`table[key] = value` inside an event of the input partition), the other through `write`. Both
must end up the same: the same bytes in the same partition's store, the same changelog records in the
same changelog partitions, and the changelog offset kept for a restart to restore from.
"""

from __future__ import annotations

import asyncio

import faust
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP, Message

from formats.topics import create_topics
from faustkit.fetches import during
from streams.partitioner import KeyPartitioner
from faustkit.tables import Documents
from tests.live import delete_app_topics, unique
from tests.unit.test_tables import changelog as changelog_record

pytestmark = pytest.mark.integration

DOCS = [("emp1", {"n": 1, "名": "张三"}, 0), ("emp2", {"n": 2}, 3), ("emp1", {"n": 3}, 0),
        ("客户1", {"o": "emp2"}, 1)]  # a key written twice: its last document wins, both are in the log


def input_message(partition: int) -> Message:
    return Message("in", partition, 0, 0.0, 0, None, b"k", b"v", 0, tp=TP("in", partition))


@pytest.fixture()
def app(stack, tmp_path):
    app_id = unique("paodan-writes-")
    app = faust.App(app_id, broker=f"kafka://{stack.kafka}", store="rocksdb://", datadir=str(tmp_path),
                    producer_partitioner=KeyPartitioner(), topic_allow_declare=False)
    app.by_faust = app.Table("by_faust", default=None, value_type=bytes, partitions=4)
    app.by_write = app.Table("by_write", default=None, value_type=bytes, partitions=4)
    app.owners = app.GlobalTable("owners", default=None, value_type=bytes, partitions=1, use_partitioner=True)
    create_topics(stack, compacted={t.changelog_topic.get_topic_name(): t.partitions
                                    for t in (app.by_faust, app.by_write, app.owners)})
    yield app
    asyncio.run(delete_app_topics(stack.kafka, app_id))


async def changelog(bootstrap: str, topic: str, partitions: int, count: int) -> list[tuple[int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        records: list = []
        async with asyncio.timeout(20):
            while len(records) < count:
                for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                    records += [(tp.partition, m.key, m.value) for m in messages]
        return sorted(records, key=lambda r: (r[0], r[1]))
    finally:
        await consumer.stop()


async def test_write_stores_and_logs_what_faust_would(app, stack):
    await app.producer.start()
    try:
        for key, doc, partition in DOCS:
            with during(input_message(partition)):
                app.by_faust[key] = orjson.dumps(doc)
        docs = Documents(app.by_write, cached=100)
        await docs.write(DOCS)
        await docs.confirm()
        # Faust's own writes wait in its producer buffer until a background task sends them: drain it.
        await app.producer.buffer.flush()
        await app.producer.flush()
    finally:
        await app.producer.stop()

    faust_store, our_store = app.by_faust.data, app.by_write.data
    for key, _, partition in DOCS:
        key_bytes = faust_store._encode_key(key)  # Faust's own key encoding
        assert our_store._dbs[partition].get(key_bytes) == faust_store._dbs[partition].get(key_bytes)
        assert our_store._dbs[partition].get(key_bytes) is not None
    assert docs.get("emp1") == {"n": 3}

    theirs = await changelog(stack.kafka, app.by_faust.changelog_topic.get_topic_name(), 4, len(DOCS))
    ours = await changelog(stack.kafka, app.by_write.changelog_topic.get_topic_name(), 4, len(DOCS))
    assert ours == theirs
    assert {p for p, _, _ in ours} == {0, 1, 3}
    # The offsets kept for a restart: the last record of each changelog partition written.
    for partition, last in ((0, 1), (1, 0), (3, 0)):
        tp = TP(app.by_write.changelog_topic.get_topic_name(), partition)
        assert our_store.persisted_offset(tp) == last


async def test_a_global_tables_write_goes_where_the_partitioner_says_and_its_echo_keeps_it(app, stack):
    await app.producer.start()
    try:
        owners = Documents(app.owners, cached=100)
        await owners.write([("客户1", {"o": "emp1"}, 2), ("客户1", {"o": "emp2"}, 2)])
        await owners.confirm()
    finally:
        await app.producer.stop()
    records = await changelog(stack.kafka, app.owners.changelog_topic.get_topic_name(), 1, 2)
    assert [(p, orjson.loads(v)) for p, _, v in records] == [(0, {"o": "emp1"}), (0, {"o": "emp2"})]
    # Its own first write coming back is older than what it holds: the echo does not replace it.
    app.owners.apply_changelog_batch([changelog_record(0, 0, "客户1", {"o": "emp1"})])
    assert owners.get("客户1") == {"o": "emp2"}
