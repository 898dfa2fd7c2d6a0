"""aiokafka internals the project needs outside Faust (faustkit/UPGRADING.md)."""

from __future__ import annotations


async def cluster_metadata(consumer):
    """Every topic's partitions in one metadata request, without subscribing (`consumer.topics()`
    fetches the same but returns only the names): aiokafka's ClusterMetadata."""
    return await consumer._client.fetch_all_metadata()
