"""aiokafka internals the project needs outside Faust (faustkit/UPGRADING.md)."""

from __future__ import annotations


async def cluster_metadata(consumer):
    """Every topic's partitions in one metadata request, without subscribing (`consumer.topics()`
    fetches the same but returns only the names): aiokafka's ClusterMetadata."""
    return await consumer._client.fetch_all_metadata()


async def refresh_metadata(consumer) -> None:
    """Have the consumer fetch the cluster's metadata now, so that `partitions_for_topic` knows a topic
    created since it started (sinks/chain_checkpoints.py). aiokafka has no public call that updates the
    metadata the consumer answers from (`consumer.topics()` fetches it and throws it away), hence its
    client's `force_metadata_update()`. On upgrade, check that it still exists and still updates
    `consumer._client.cluster`, which `partitions_for_topic` reads (faustkit/UPGRADING.md)."""
    await consumer._client.force_metadata_update()
