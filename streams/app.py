"""The worker's Faust application (faustkit.App): one consumer group, settings from config/,
RocksDB-backed tables.

Importing this module builds the app from the environment (config.settings). Agents register
themselves on import of their modules; `streams.worker.run()` imports them all and starts the worker.
"""

from __future__ import annotations

from config import settings as settings_mod
from faustkit.app import App
from streams.partitioner import KeyPartitioner

settings = settings_mod.load()


app = App(
    settings.app_id,
    batch_max=settings.batch_max,
    broker=[f"kafka://{server}" for server in settings.kafka.split(",")],
    store="rocksdb://",  # faust-streaming uses rocksdict when python-rocksdb is absent
    datadir=str(settings.data_dir),
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    # The worker creates every topic it reads or writes before Faust starts (streams.worker
    # create_own_topics), so Faust declares none: its declarations re-ask the broker for each of them
    # one by one, about two seconds of every start. No agent runs `on_leader`, so no leader topic.
    topic_allow_declare=False,
    topic_disable_leader=True,
    web_enabled=False,
    # At-least-once in: offsets are committed after every agent acked the event (after its effects).
    broker_commit_interval=settings.commit_interval_s,
    stream_buffer_maxsize=settings.stream_buffer,
    producer_acks=-1,
    producer_linger_ms=settings.producer_linger_ms,
    producer_partitioner=KeyPartitioner(),
    consumer_auto_offset_reset=settings.offset_reset,
    # A worker that dies is noticed within 10 s, so its partitions (and their state) move quickly.
    broker_session_timeout=10.0,
    broker_heartbeat_interval=2.0,
    table_cleanup_interval=60.0,
    # Restoring tables reads changelogs of ~2.5 KB records: larger fetches, fewer round trips.
    consumer_max_fetch_size=4 * 1024**2,
    # Keys and values stay bytes end to end: we decode ourselves (formats.records) so that a malformed
    # record can be dead-lettered with its original bytes instead of crashing a codec inside Faust.
    key_serializer="raw",
    value_serializer="raw",
)
