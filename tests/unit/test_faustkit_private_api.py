"""The private parts of Faust and aiokafka that faustkit uses are still there (faustkit/UPGRADING.md).

A faust-streaming or aiokafka upgrade that renames one fails here, by name, rather than somewhere
inside a running worker."""

from __future__ import annotations

import inspect
from contextvars import ContextVar
from importlib.metadata import version

import faust
import faust.streams
import faust.transport.producer
from aiokafka import AIOKafkaConsumer
from faust.stores import rocksdb
from faust.tables.base import Collection
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

# The version faustkit/UPGRADING.md was last checked against: raise it only after going through it.
CHECKED = "0.15.3"


def test_the_installed_faust_is_the_one_the_notes_were_checked_against():
    assert version("faust-streaming") == CHECKED


def test_the_consumer_fetch_faustkit_overrides_keeps_its_shape():
    params = list(inspect.signature(faust_aiokafka.Consumer._wait_next_records).parameters)
    assert params == ["self", "timeout"]
    for name in ("_to_message", "_add_gap", "flow_active", "wait_first", "highwater", "ack"):
        assert hasattr(Consumer, name), name
    init = inspect.getsource(Consumer.__init__)
    for name in ("self._read_offset", "self._buffered_partitions", "self.suspend_flow", "self._unacked_messages"):
        assert name in init, name
    # Fetches.batches adds to the set itself: it must be the very set a rebalance or a stop waits on.
    assert "return cast(Set[Message], self._unacked_messages)" in inspect.getsource(Consumer.unacked.fget)


def test_the_current_event_is_a_context_variable():
    assert isinstance(faust.streams._current_event, ContextVar)


def test_the_app_builds_its_transport_through_the_overridden_method():
    assert "_new_transport" in inspect.getsource(faust.App)
    assert list(inspect.signature(faust.App._new_transport).parameters) == ["self"]


def test_tables_and_the_rocksdb_store_keep_what_documents_write_uses():
    assert list(inspect.signature(Collection.apply_changelog_batch).parameters) == ["self", "batch"]
    assert hasattr(rocksdb.Store, "_db_for_partition") and hasattr(rocksdb.Store, "set_persisted_offset")
    assert "self._key_index" in inspect.getsource(rocksdb.Store)


def test_the_producer_buffer_still_has_the_limit_the_worker_raises():
    assert "self.max_messages" in inspect.getsource(faust.transport.producer.ProducerBuffer)


def test_aiokafka_consumers_still_fetch_and_refresh_metadata_through_their_client():
    assert "self._client" in inspect.getsource(AIOKafkaConsumer.__init__)
    from aiokafka.client import AIOKafkaClient
    assert hasattr(AIOKafkaClient, "fetch_all_metadata")
    assert list(inspect.signature(AIOKafkaClient.force_metadata_update).parameters) == ["self"]
    # faustkit.kafka.refresh_metadata relies on partitions_for_topic answering from the client's cluster.
    assert "self._client.cluster" in inspect.getsource(AIOKafkaConsumer.partitions_for_topic)


# The private names faustkit/UPGRADING.md lists: only faustkit may touch them.
PRIVATE = {"_wait_next_records", "_to_message", "_read_offset", "_buffered_partitions", "_add_gap",
           "_unacked_messages", "_current_event", "_new_transport", "apply_changelog_batch", "_key_index",
           "_db_for_partition", "max_messages", "_client", "fetch_all_metadata", "force_metadata_update"}


def test_no_code_outside_faustkit_touches_faust_or_aiokafka_private_parts():
    import ast

    from tests.sources import parsed

    found = []
    for rel, tree in parsed(skip=("faustkit/",)):
        for node in ast.walk(tree):
            # An object's own attribute of the same name (`self._client`) is not Faust's or aiokafka's.
            if (isinstance(node, ast.Attribute) and node.attr in PRIVATE
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self")):
                found.append(f"{rel}:{node.lineno}: .{node.attr}")
    assert not found, "go through a named function in faustkit/ (faustkit/UPGRADING.md):\n" + "\n".join(found)
