"""The worker's producer partitioner: Kafka's default (murmur2 of the key), each key's hash kept.

aiokafka computes murmur2 in pure Python (2–3 µs for an employee or customer id here) for every keyed
record the worker sends without a partition: alerts, risk updates, internal notices, team summaries,
customer-owner changelog records — about one for every six records read. The same few thousand keys
come back all day, so their hashes are kept. The partition chosen is exactly the default
partitioner's, so records keyed by an employee still land where every other Kafka client (and the
contract's co-partitioning) expects them.
"""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner, murmur2


class KeyPartitioner:
    """A drop-in for aiokafka's DefaultPartitioner (Faust's `producer_partitioner` setting)."""

    def __init__(self, kept: int = 200_000) -> None:
        self.kept = kept
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:  # no key: the default spreads them at random
            return DefaultPartitioner()(key, all_partitions, available)
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self.kept:
                self._hashes.clear()  # keys of a day long gone: recomputing them costs little
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]
