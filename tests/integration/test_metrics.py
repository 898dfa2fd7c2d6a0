"""`/metrics` on the board and on the ingest server, read by Prometheus' own parser: each server's figures
(requests by route and status, websocket clients) beside the pipeline's, read live from Kafka and
ClickHouse (records per topic, archive rows, chain heads)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ingest_server import IngestServer
from tests.live import REPO, free_port, wait_listening

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            return r.status, r.headers.get("Content-Type", ""), await r.text()


def _pipeline_ok(found: dict[str, list]) -> None:
    up = {s.labels["source"]: s.value for s in found["paodan_metrics_source_up"]}
    assert up == {"kafka": 1.0, "clickhouse": 1.0}
    topics = {s.labels["topic"] for s in found["paodan_topic_records_total"]}
    assert {"wecom.msgaudit", "paodan.alerts", "paodan.deadletter"} <= topics
    assert {s.labels["table"] for s in found["paodan_archive_rows"]} >= {"messages", "alerts"}
    assert "paodan_deadletters_total" in found


async def test_the_ingest_server_serves_parsable_metrics(stack, tmp_path):
    server = IngestServer(tmp_path / "ingest.log", env={"PAODAN_INTAKE_TOKEN": "t" * 24}).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.url}/orders", data=b"{}") as r:
                assert r.status == 401  # no token
        status, ctype, text = await _get(f"{server.url}/metrics")
    finally:
        server.stop()
    assert status == 200 and ctype.startswith("text/plain") and "version=0.0.4" in ctype
    found = samples(text)
    requests = {(s.labels["route"], s.labels["status"]): s.value for s in found["paodan_ingest_requests_total"]}
    assert requests[("/orders", "401")] == 1.0
    assert [s.value for s in found["paodan_ingest_request_seconds_count"] if s.labels["route"] == "/orders"] == [1.0]
    _pipeline_ok(found)


async def test_the_board_serves_parsable_metrics(stack, tmp_path):
    port = free_port()
    log = tmp_path / "board.log"
    proc = subprocess.Popen([sys.executable, "-m", "paodan", "board", "--port", str(port)], cwd=REPO,
                            env=dict(os.environ), stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_listening(proc, port, 30, "board", log)
        status, ctype, text = await _get(f"http://127.0.0.1:{port}/metrics")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    assert status == 200 and "version=0.0.4" in ctype
    found = samples(text)
    assert [s.value for s in found["paodan_board_websocket_clients"]] == [0.0]
    _pipeline_ok(found)


async def test_the_archive_and_detection_processes_serve_their_own_metrics(stack, tmp_path):
    import asyncio
    import time

    from tests.live import Worker, produce, unique

    port, detection = free_port(), free_port()
    worker = Worker(tmp_path, env={"PAODAN_METRICS_PORT": str(port),
                                   "PAODAN_DETECTION_METRICS_PORT": str(detection)}).start()
    try:
        employee = unique("it_metrics_")
        await produce(stack.kafka, [("wecom.msgaudit", employee, {
            "msgid": unique("m-"), "action": "send", "from": employee, "tolist": ["wmC"], "roomid": "",
            "msgtime": int(time.time() * 1000), "msgtype": "text", "text": {"content": "你好"}, "corpid": "ww1",
            "seq": 1})])
        deadline = time.monotonic() + 30
        rows = 0.0
        while time.monotonic() < deadline:
            status, ctype, text = await _get(f"http://127.0.0.1:{port}/metrics")
            found = samples(text)
            rows = sum(s.value for s in found.get("paodan_archive_rows_written_total", [])
                       if s.labels["table"] == "messages")
            # Rows count when written, the batch once its offsets are committed: wait for both.
            if rows and found.get("paodan_archive_batches_total"):
                break
            await asyncio.sleep(0.5)
        assert status == 200 and "version=0.0.4" in ctype and rows >= 1
        assert found["paodan_archive_batches_total"][0].value >= 1
        assert {s.labels["phase"] for s in found["paodan_archive_batch_seconds_count"]} >= {"insert", "commit"}
        assert "paodan_live_redis_retries_total" in text  # the live feed runs in the first archive process
        _pipeline_ok(found)

        # The detection process: its batches timed, records counted by topic.
        while time.monotonic() < deadline + 30:
            status, _, text = await _get(f"http://127.0.0.1:{detection}/metrics")
            found = samples(text)
            if any(s.labels.get("topic") == "wecom.msgaudit" for s in found.get("paodan_detection_processed_total", [])):
                break
            await asyncio.sleep(0.5)
        assert status == 200 and found["paodan_detection_batch_seconds_count"][0].value >= 1
        assert found["paodan_detection_batch_records_count"][0].value >= 1
        _pipeline_ok(found)
    finally:
        worker.stop()


async def test_the_detection_agents_records_rate_and_lag_are_on_metrics(stack):
    """The detection agent's consumer group (the app id) committing offsets shows as records processed,
    a rate between two reads, and lag, per input topic."""
    import asyncio
    import dataclasses

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from metrics.exposition import Registry
    from metrics.pipeline import PipelineMetrics
    from tests.live import unique

    tag = unique("itmetrics")
    topic = f"{tag}.input"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 2, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await producer.start()
    member = AIOKafkaConsumer(bootstrap_servers=stack.kafka, group_id=tag, enable_auto_commit=False)
    try:
        for i in range(40):
            await producer.send_and_wait(topic, b"{}", partition=i % 2)
        await member.start()
        tps = [TopicPartition(topic, p) for p in (0, 1)]
        member.assign(tps)
        await member.commit({tps[0]: 10, tps[1]: 5})
        registry = Registry()
        pipeline = PipelineMetrics(dataclasses.replace(stack, app_id=tag), registry, ttl_s=0.0)
        await pipeline.refresh()
        found = samples(registry.render().decode())
        mine = lambda name: [s.value for s in found.get(name, []) if s.labels.get("topic") == topic]  # noqa: E731
        assert mine("paodan_detection_records_total") == [15.0]
        assert mine("paodan_detection_lag_records") == [25.0]
        await member.commit({tps[0]: 20, tps[1]: 15})
        await asyncio.sleep(0.5)
        await pipeline.refresh()
        found = samples(registry.render().decode())
        assert mine("paodan_detection_records_total") == [35.0] and mine("paodan_detection_lag_records") == [5.0]
        [rate] = mine("paodan_detection_records_per_second")
        assert 0 < rate <= 20 / 0.5
    finally:
        await member.stop()
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
