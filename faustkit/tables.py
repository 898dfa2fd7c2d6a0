"""Faust tables of JSON documents, stored and restored as bytes and kept decoded between batches.

Every table here holds a JSON document per key (an employee's state, a directory entry, a customer's
owner). Two things Faust would do for each of them cost more than the detection itself:

- Faust's JSON codec would decode each value wherever the bytes pass through it — including every
  changelog record read while a worker restores its tables, although the RocksDB store then writes
  the record's raw bytes and throws the decoded value away: a third of a restore's time. So the
  tables are declared with raw values, and `Documents` encodes and decodes them itself, with orjson.
  Keys keep Faust's JSON encoding (`"emp1"`), and the value bytes are the same JSON as before, so
  stores and changelogs written either way read the same.
- A read is a RocksDB look-up (on a global table, one per partition until the key is found) and a
  decode; every batch reads the state of each employee in it and the owner of each customer. So
  `Documents` keeps up to `cached` decoded documents between batches. What it keeps stays right:
  its own writes update it, and every changelog record Faust applies to the store — a restore after
  a rebalance, a standby partition, another worker's write to a global table — drops that key from
  it, unless this worker wrote the key of a global table later in the log's order (then what it
  keeps is newer). Only the worker that owns a partition writes its keys, so nothing else changes
  them.

A third cost is Faust's path for each write: the key encoded through its codec registry, a future
message and a producer-buffer entry, and a RocksDB write of the changelog offset for every record once
Kafka has it. The detection agent writes a batch's documents at its end, thousands at a time, so
`Documents.write` does just what Faust's write does for each (the same store, key index, changelog
record and partition) and keeps the changelog offsets once per partition per batch: 61–67 µs per
1.9 KB document against Faust's 124–128 µs, in one run here (20,000 writes each, 8 partitions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import orjson

_MISSING = object()


class Documents:
    """A Faust table of JSON documents (`.table`), read and written through `get` and `put`."""

    def __init__(self, table, cached: int) -> None:
        self.table = table
        self.cached = cached
        self._docs: dict[str, Any] = {}
        # A global table's changelog comes back to every worker, the one that wrote it too. Its own
        # writes still to come back (key -> the bytes it wrote last) are the latest in the log's order:
        # a record applied before the last of them is older (Faust's store holds it until then, so a
        # read from the store would go back in time), and the last one is what is kept already.
        self._echoes: dict[str, bytes] | None = {} if table.is_global else None
        self._unconfirmed: list = []  # changelog records `write` sent that Kafka has not confirmed yet
        apply = table.apply_changelog_batch

        def apply_changelog_batch(batch) -> None:  # Faust's recovery calls this with each buffer
            apply(batch)
            docs, echoes = self._docs, self._echoes
            if docs or echoes:
                for event in batch:
                    key = orjson.loads(event.message.key)
                    ours = echoes.get(key) if echoes else None
                    if ours is None:
                        docs.pop(key, None)
                    elif ours == event.message.value:
                        del echoes[key]

        table.apply_changelog_batch = apply_changelog_batch

    def get(self, key: str) -> Any:
        """The document under `key`, or None. Inside an agent (the current event decides the partition
        of a partitioned table). A document read is shared: change it only to `put` it back."""
        doc = self._docs.get(key, _MISSING)
        if doc is _MISSING:
            # One store look-up: Faust's `Table.get` asks the store whether the key is there and then
            # reads it (two RocksDB reads; four for a global table, which also probes the bloom filter).
            raw = self.table.data.get(key)
            doc = None if raw is None else orjson.loads(raw)
            self._keep(key, doc)
        return doc

    def put(self, key: str, document: Any) -> None:
        """Store `document` under `key` and send it to the table's changelog. Inside an agent only: the
        current event decides the partition."""
        raw = self.table[key] = orjson.dumps(document)
        self._keep(key, document)
        if self._echoes is not None:
            self._echo(key, raw)

    async def write(self, documents: Iterable[tuple[str, Any, int]]) -> None:
        """Store each (key, document, partition) and send it to the table's changelog, as `put` would
        inside an agent whose current event is from that partition of the input topics: the document
        goes to that partition's RocksDB store, and its changelog record to the same partition (to the
        one the producer's partitioner picks for a global table, as Faust does).

        First waits for the changelog records of the previous `write`, long sent by then: a record
        Kafka refused raises here (the batch fails and is redelivered), and the offsets they reached
        are kept in the stores, as Faust keeps them, so a restart restores only what came after."""
        await self.confirm()
        table = self.table
        store = table.data  # Faust's RocksDB store: its key index and partition stores (no public way)
        index, send = store._key_index, table.app.producer.send
        topic = table.changelog_topic.get_topic_name()
        own_partition = not table.use_partitioner
        unconfirmed, echoes = self._unconfirmed, self._echoes
        for key, document, partition in documents:
            raw, key_bytes = orjson.dumps(document), orjson.dumps(key)  # Faust's JSON key: same bytes
            index[key_bytes] = partition
            store._db_for_partition(partition).put(key_bytes, raw)
            self._keep(key, document)
            if echoes is not None:
                self._echo(key, raw)
            unconfirmed.append(await send(topic, key_bytes, raw, partition if own_partition else None, None, None))

    async def confirm(self) -> None:
        """Wait until Kafka has every changelog record `write` sent; keep the offsets they reached."""
        if not self._unconfirmed:
            return
        sent, self._unconfirmed = self._unconfirmed, []
        reached: dict = {}
        for metadata in await asyncio.gather(*sent):
            reached[metadata.topic_partition] = max(metadata.offset, reached.get(metadata.topic_partition, -1))
        for tp, offset in reached.items():
            self.table.data.set_persisted_offset(tp, offset)

    def _echo(self, key: str, raw: bytes) -> None:
        if len(self._echoes) >= self.cached:
            self._echoes.clear()  # echoes that never came: forgetting them only costs look-ups
        self._echoes[key] = raw

    def _keep(self, key: str, doc: Any) -> None:
        docs = self._docs
        if key not in docs and len(docs) >= self.cached:
            del docs[next(iter(docs))]  # the oldest kept: enough to stay bounded
        docs[key] = doc
