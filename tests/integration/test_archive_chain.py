"""The tamper-evident archive on the real stack: records archived by the archive consumer (from Kafka into
ClickHouse 18.16) verify; an `ALTER … UPDATE` of one row, a deleted row, a changed alert and a chain cut
short are each found and named by `paodan archive verify`'s checker, against checkpoints read back from
the compacted Kafka topic and the file."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
import time

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from config.chain import ChainSettings
from sinks.chain_checkpoints import load_private_key, read_file, read_topic
from streams.archive_verify import verify
from sinks.clickhouse import ClickHouseArchive
from streams.archive import ArchiveConsumer
from tests.live import REPO, produce, unique

pytestmark = pytest.mark.integration

SOURCES = ("wecom.msgaudit", "crm.orders", "paodan.alerts", "paodan.alert_actions")


def chat(employee: str, i: int, now: int) -> dict:
    return {"msgid": f"{employee}-m{i}", "action": "send", "from": employee, "tolist": ["wmCUST01"], "roomid": "",
            "msgtime": now + i, "msgtype": "text", "text": {"content": f"您好，第 {i} 条"}, "corpid": "wwchain",
            "seq": i}


async def _mutate(archive: ClickHouseArchive, sql: str, table: str, timeout: float = 30.0) -> None:
    """An ALTER … UPDATE/DELETE, waited for (mutations run in the background on 18.16)."""
    archive.execute(sql)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [(pending,)] = archive.execute("SELECT count() FROM system.mutations WHERE database = %(db)s AND "
                                       "table = %(t)s AND is_done = 0", {"db": archive.database, "t": table})
        if not pending:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"mutation on {table} not done in {timeout}s")


async def _until(archive: ClickHouseArchive, sql: str, want: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        [(got,)] = archive.execute(sql)
        if got >= want:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{sql}: {got} < {want}")


async def _case_file_by_cli(settings, env: dict, alert_id: str, tmp_path) -> None:
    """`paodan evidence request | approve | export | verify`, as compliance and a second admin run them."""
    from dashboard_ws.auth import issue

    def evidence(token: str | None, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "paodan", "evidence", *args], cwd=REPO,
                              env={**env, **({"PAODAN_TOKEN": token} if token else {})},
                              capture_output=True, text=True, timeout=120)

    officer = issue(settings.secret, "compliance", sub=unique("wang"))
    requested = evidence(officer, "request", "--alert", alert_id, "--reason", "劳动仲裁取证")
    assert requested.returncode == 0, requested.stderr
    rid = requested.stdout.strip()
    own = evidence(officer, "approve", rid)
    assert own.returncode == 2 and own.stderr  # the requester cannot approve their own request
    approved = evidence(issue(settings.secret, "admin", sub=unique("li")), "approve", rid)
    assert approved.returncode == 0 and rid in approved.stdout, approved.stderr
    case = tmp_path / "case.zip"
    exported = evidence(officer, "export", rid, "--out", str(case))
    assert exported.returncode == 0 and case.stat().st_size > 0, exported.stderr
    checked = evidence(None, "verify", str(case))
    assert checked.returncode == 0 and "case file verifies" in checked.stdout, checked.stdout
    body = bytearray(case.read_bytes())
    body[len(body) // 2] ^= 0x01  # one changed byte anywhere
    case.write_bytes(bytes(body))
    broken = evidence(None, "verify", str(case))
    assert broken.returncode != 0, broken.stdout


async def test_tampering_is_found_and_named(stack, tmp_path):
    settings = stack
    tag = unique("itchain")
    db = f"paodan_{tag}"
    arch_settings = dataclasses.replace(settings, clickhouse=settings.clickhouse.rsplit("/", 1)[0] + "/" + db,
                                        sink_flush_s=0.2)
    chain_settings = ChainSettings(key_file=tmp_path / "key.pem", checkpoint_file=tmp_path / "cp.jsonl",
                                   checkpoint_topic=f"{tag}.chain")
    private = {f"{tag}.{name}": name for name in SOURCES}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    await admin.start()
    await admin.create_topics([NewTopic(t, 2, 1) for t in private])
    archive = ClickHouseArchive(arch_settings.clickhouse)
    consumer = ArchiveConsumer(arch_settings, group=f"{tag}-archive", topics=private, chain_settings=chain_settings)
    task = asyncio.create_task(consumer.run())
    try:
        now = int(time.time() * 1000)
        employees = [f"{tag}e{n}" for n in range(4)]
        records = [(f"{tag}.wecom.msgaudit", e, chat(e, i, now)) for i in range(10) for e in employees]
        order = {"order_id": f"{tag}-SO1", "event": "created", "ts": now, "employee_id": employees[0],
                 "customer_id": "wmCUST01", "amount": "1299.00", "currency": "CNY", "store_id": "SH-01"}
        alert = {"alert_id": f"{tag}-a1", "rule": "chat.diversion_phrase", "severity": "high", "score": 80.0,
                 "employee_id": employees[1], "team": "华东一组", "branch": "SH-01", "ts": now,
                 "window": {"start": now - 3600_000, "end": now}, "title": "引导客户到外部平台下单",
                 "explanation": "…", "evidence": [{"topic": "wecom.msgaudit", "id": "m1"}], "rules_version": "it",
                 "detected_at": now, "schema": 1, "revision": 1}
        action = {"action_id": f"{tag}-act1", "alert_id": alert["alert_id"], "employee_id": employees[1],
                  "team": "华东一组", "action": "claim", "actor": "lisi", "actor_role": "supervisor", "ts": now + 1,
                  "status": "assigned", "detail": {}}
        records += [(f"{tag}.crm.orders", employees[0], order), (f"{tag}.paodan.alerts", employees[1], alert),
                    (f"{tag}.paodan.alert_actions", employees[1], action),
                    (f"{tag}.paodan.alerts", employees[1], {**alert, "revision": 2, "score": 91.5})]
        # Some records come twice (a producer's retry): the chain holds both, the table one row.
        records += records[:3]
        for attempt in range(60):
            with contextlib.suppress(Exception):
                archive.execute(f"SELECT 1 FROM {db}.archive_chain LIMIT 1")
                break
            await asyncio.sleep(0.5)
        await produce(settings.kafka, records)
        await _until(archive, f"SELECT sum(records) FROM {db}.archive_chain", len(records))
        await _until(archive, "SELECT count() FROM (SELECT 1 FROM " + db + ".alerts FINAL WHERE revision = 2)", 1)
        await asyncio.sleep(1.0)  # the last batch's checkpoints
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    public = load_private_key(chain_settings, create=False).public_key()
    from_kafka = await read_topic(settings.kafka, chain_settings.checkpoint_topic)
    checkpoints = read_file(chain_settings.checkpoint_file) + from_kafka
    assert from_kafka and checkpoints

    # `paodan archive verify` as an operator runs it: this archive, its key and checkpoints.
    cli_env = {**os.environ, "PAODAN_CLICKHOUSE": arch_settings.clickhouse, "PAODAN_CHAIN_KEY": str(chain_settings.key_file),
               "PAODAN_CHAIN_CHECKPOINTS": str(chain_settings.checkpoint_file),
               "PAODAN_CHAIN_TOPIC": chain_settings.checkpoint_topic}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "paodan", "archive", "verify", *args], cwd=REPO, env=cli_env,
                              capture_output=True, text=True, timeout=120)

    try:
        report = verify(archive, checkpoints, public)
        assert report.ok, [f.line() for f in report.findings]
        assert report.records == len(records) and report.stale_blocks == 0
        assert report.rows_checked["messages"] == 40 and report.rows_checked["alerts"] == 1
        intact = cli()
        assert intact.returncode == 0 and "archive intact" in intact.stdout, intact.stdout + intact.stderr
        await _case_file_by_cli(settings, cli_env, alert["alert_id"], tmp_path)

        victim = f"{employees[2]}-m4"
        await _mutate(archive, f"ALTER TABLE {db}.messages UPDATE content = '没说过' WHERE msgid = '{victim}'",
                      "messages")
        report = verify(archive, checkpoints, public)
        assert not report.ok
        assert victim in report.first().record and report.first().what.endswith("row changed: content")
        assert len(report.findings) == 1
        tampered = cli("--json")
        found = orjson.loads(tampered.stdout)
        assert tampered.returncode == 1 and not found["ok"] and victim in found["first"]["record"]
        told = cli("--no-kafka")
        assert told.returncode == 1 and "ARCHIVE TAMPERED" in told.stdout and victim in told.stdout

        gone = f"{employees[3]}-m7"
        await _mutate(archive, f"ALTER TABLE {db}.messages DELETE WHERE msgid = '{gone}'", "messages")
        report = verify(archive, checkpoints, public)
        named = {f.record: f.what for f in report.findings}
        assert any(gone in r and "deleted" in w for r, w in named.items()), named
        assert len(report.findings) == 2

        await _mutate(archive, f"ALTER TABLE {db}.alerts UPDATE title = '误报' WHERE alert_id = '{alert['alert_id']}'",
                      "alerts")
        report = verify(archive, checkpoints, public)
        assert any(alert["alert_id"] in f.record and "title" in f.what for f in report.findings)

        # Cutting the tail of a chain (its last block) leaves the signed checkpoint beyond its end.
        [(part, last)] = archive.execute(f"SELECT part, max(seq) FROM {db}.archive_chain WHERE source = 'messages' "
                                         "GROUP BY part ORDER BY part LIMIT 1")
        await _mutate(archive, f"ALTER TABLE {db}.archive_chain DELETE WHERE source = 'messages' AND part = {part} "
                      f"AND seq = {last}", "archive_chain")
        report = verify(archive, checkpoints, public)
        # (A chain of one block, when the records came in one batch, is then gone whole.)
        assert any(f.chain == f"{tag}-archive:messages/wwchain/{part}" and
                   ("tail deleted" in f.what or "whole chain was deleted" in f.what) for f in report.findings), \
            [f.line() for f in report.findings]
    finally:
        archive.execute(f"DROP DATABASE IF EXISTS {db}")
        await admin.delete_topics([*private, chain_settings.checkpoint_topic])
        await admin.close()
