"""Evidence steps are links of the hash chain on the real stack: `paodan evidence`'s publisher produces
each step's audit record to Kafka, the archive consumer archives it into ClickHouse 18.16 and chains it,
and verification holds it with the rest."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from config.chain import ChainSettings
from sinks import evidence
from sinks.chain_checkpoints import load_private_key, read_file
from sinks.clickhouse import ClickHouseArchive
from sinks.history import Caller
from streams.archive import ArchiveConsumer
from streams.archive_verify import read_blocks, verify
from tests.integration.test_archive_rejected import _until
from tests.live import unique

pytestmark = pytest.mark.integration


async def test_evidence_steps_published_to_kafka_are_chained(stack, tmp_path):
    settings = stack
    tag = unique("itevid")
    db = f"paodan_{tag}"
    arch_settings = dataclasses.replace(settings, clickhouse=settings.clickhouse.rsplit("/", 1)[0] + "/" + db,
                                        sink_flush_s=0.2)
    chain_settings = ChainSettings(key_file=tmp_path / "key.pem", checkpoint_file=tmp_path / "cp.jsonl",
                                   checkpoint_topic=f"{tag}.chain", flush_s=0.5)
    topic = f"{tag}.paodan.alert_actions"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 2, 1)])
    archive = ClickHouseArchive(arch_settings.clickhouse)
    task = asyncio.create_task(ArchiveConsumer(arch_settings, group=f"{tag}-archive",
                                               topics={topic: "paodan.alert_actions"},
                                               chain_settings=chain_settings).run())
    try:
        await _until(archive, f"SELECT count() FROM {db}.archive_chain", 0)  # migrated
        publish = evidence.kafka_publisher(settings.kafka, topic)
        rid = secrets.token_hex(8)
        for step, who in (("evidence_request", Caller("wang", "compliance")), ("evidence_approve", Caller("li", "admin"))):
            await asyncio.to_thread(evidence._audit, archive, who, step, rid, {}, "", "zs", publish)
        await _until(archive, f"SELECT sum(records) FROM {db}.archive_chain WHERE source = 'alert_actions'", 2)
        await asyncio.sleep(1.0)  # the checkpoints after the blocks
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    try:
        key = load_private_key(chain_settings, create=False).public_key()
        report = verify(archive, read_file(chain_settings.checkpoint_file), key)
        assert report.ok and report.records == 2, [f.line() for f in report.findings]
        steps = archive.execute(f"SELECT action_id, action FROM {db}.alert_actions FINAL ORDER BY ts")
        chained = {orjson.loads(r)[2] for b in read_blocks(archive) for r, _, _ in b.records()}
        assert [a for _, a in steps] == ["evidence_request", "evidence_approve"]
        assert {i for i, _ in steps} == chained  # the rows written at once are the chained records
    finally:
        await admin.delete_topics([topic, chain_settings.checkpoint_topic])
        await admin.close()
        archive.execute(f"DROP DATABASE IF EXISTS {db}")
