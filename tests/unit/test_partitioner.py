"""streams.partitioner.KeyPartitioner picks exactly the partition Kafka's default partitioner picks."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from streams.partitioner import KeyPartitioner


def test_every_key_lands_where_the_default_partitioner_puts_it():
    ours, default = KeyPartitioner(kept=50), DefaultPartitioner()
    keys = [f"emp{i}".encode() for i in range(200)] + ["客户".encode(), b"", b"wmAbC-123"]
    for partitions in ([0], list(range(8)), list(range(12))):
        for _ in range(2):  # the second round answers from the kept hashes (and after they were cleared)
            assert [ours(k, partitions, partitions) for k in keys] == [default(k, partitions, partitions) for k in keys]
    assert len(ours._hashes) <= 50


def test_a_record_without_a_key_goes_to_an_available_partition():
    assert KeyPartitioner()(None, [0, 1, 2], [2]) == 2
