"""The archive loses nothing: ClickHouse down for a while mid-stream (the worker keeps detecting and
alerting, the archive catches up), and a worker killed with SIGKILL mid-batch (the batch is redelivered
and stored once).

These tests stop and kill things, so they own them: a PRIVATE clickhouse-server on its own port under a
tmp dir (started with paodan.stack.manager's own helpers) and private workers pointed at it. The shared
stack's ClickHouse is never touched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import time

import pytest

from paodan.stack import manager
from sinks.clickhouse import ClickHouseArchive
from tests.live import Consumer, Worker, alert_revision, free_port, produce, unique

pytestmark = pytest.mark.integration
OUTAGE_S = float(os.environ.get("PAODAN_TEST_OUTAGE_S", "12"))


def _free_port_pair() -> int:
    """A port p with p+1 free too (the private server's HTTP port)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port pair")


class PrivateClickHouse:
    """A clickhouse-server of our own, started and stopped by pid (never the shared one)."""

    def __init__(self, root, settings):
        port = _free_port_pair()
        self.svc = manager.Service("clickhouse", "127.0.0.1", port, root)
        self.settings = dataclasses.replace(settings, clickhouse=f"clickhouse://127.0.0.1:{port}/paodan")

    def url(self, database: str) -> str:
        return f"clickhouse://127.0.0.1:{self.svc.port}/{database}"

    def start(self) -> "PrivateClickHouse":
        manager._start_clickhouse(self.svc, self.settings)
        manager._wait(self.svc, lambda: manager._clickhouse_ready(self.settings), 60)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        pid = self.svc.our_pid()
        if pid is None:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + 30
        while not self._reaped(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not self._reaped(pid):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        self.svc.pid_file.unlink(missing_ok=True)

    @staticmethod
    def _reaped(pid: int) -> bool:
        """Whether our child server exited (and is reaped, so it is not left a zombie)."""
        try:
            return os.waitpid(pid, os.WNOHANG)[0] == pid
        except ChildProcessError:
            return True


@pytest.fixture(scope="module")
def private_clickhouse(stack, tmp_path_factory):
    server = PrivateClickHouse(tmp_path_factory.mktemp("clickhouse"), stack).start()
    yield server
    server.stop(signal.SIGKILL)  # private and disposable


def archiving(worker: Worker, timeout: float = 60.0) -> Worker:
    """The worker, once its archive consumer has its partitions and positions (streams.archive)."""
    deadline = time.monotonic() + timeout
    while "archive consumer ready" not in worker.log():
        assert time.monotonic() < deadline, f"archive consumer not ready:\n{worker.log()[-3000:]}"
        time.sleep(0.2)
    return worker


def keys_covering(partitions: int, prefix: str) -> list[str]:
    """Unique keys, at least one landing on each partition under Kafka's default partitioner."""
    from aiokafka.partitioner import DefaultPartitioner

    choose, every = DefaultPartitioner(), list(range(partitions))
    by_partition: dict[int, str] = {}
    while len(by_partition) < partitions:
        key = unique(prefix)
        by_partition.setdefault(choose(key.encode(), every, every), key)
    return list(by_partition.values())


def chat(employee: str, n: int, text: str = "好的，收到") -> dict:
    return {"msgid": unique(f"out-{n}-"), "action": "send", "from": employee, "tolist": ["wmCUST9"],
            "roomid": "", "msgtime": int(time.time() * 1000), "msgtype": "text", "text": {"content": text},
            "corpid": "wwtest", "seq": n}


async def archived(archive: ClickHouseArchive, employees: list[str], expected: int, timeout: float) -> tuple:
    """(rows under FINAL, distinct msgids) for these senders, once `expected` rows are there or timeout."""
    deadline = time.monotonic() + timeout
    counts = (0, 0)
    while time.monotonic() < deadline:
        try:
            [counts] = archive.query(f"SELECT count(), uniqExact(msgid) FROM {archive.database}.messages FINAL "
                                     "WHERE sender IN %(e)s", {"e": tuple(employees)})
        except Exception:  # the server may still be coming back
            archive.reconnect()
        if counts[0] >= expected:
            return counts
        await asyncio.sleep(0.5)
    return counts


async def test_clickhouse_outage_loses_nothing_and_detection_goes_on(private_clickhouse, settings, tmp_path):
    database = unique("paodan_outage_")
    worker = Worker(tmp_path, env={"PAODAN_CLICKHOUSE": private_clickhouse.url(database),
                                   "PAODAN_SINK_FLUSH": "0.5"}).start()
    archiving(worker)
    archive = ClickHouseArchive(private_clickhouse.url(database))
    employees = [unique("out_emp_") for _ in range(8)]
    try:
        before = [chat(e, i) for i, e in enumerate(employees * 5)]
        await produce(settings.kafka, [("wecom.msgaudit", r["from"], r) for r in before])
        assert await archived(archive, employees, len(before), 20) == (len(before), len(before))

        private_clickhouse.stop()
        alerts = await Consumer(settings.kafka, "paodan.alerts").start()
        during = [chat(e, i) for i, e in enumerate(employees * 5)]
        diversion = chat(employees[0], 99, "亲，这款你去拼多多下单，比这里便宜")
        await produce(settings.kafka, [("wecom.msgaudit", r["from"], r) for r in during + [diversion]])
        try:
            # Detection does not wait for the archive.
            [(_, alert)] = await alerts.until(lambda kv: kv[1]["employee_id"] == employees[0], timeout=10,
                                                  distinct=alert_revision)
        finally:
            await alerts.stop()
        assert alert["evidence"][0]["id"] == diversion["msgid"]
        await asyncio.sleep(max(0.0, OUTAGE_S - 3))

        private_clickhouse.start()
        after = [chat(e, i) for i, e in enumerate(employees * 5)]
        await produce(settings.kafka, [("wecom.msgaudit", r["from"], r) for r in after])
        total = len(before) + len(during) + 1 + len(after)
        assert await archived(archive, employees, total, 40) == (total, total)
        rows = archive.query(f"SELECT alert_id FROM {database}.alerts FINAL WHERE employee_id = %(e)s",
                             {"e": employees[0]})
        assert rows == [(alert["alert_id"],)]
        assert "failed" in worker.log() and "written after" in worker.log()  # it backed off and caught up
    finally:
        worker.stop()
        archive.close()


async def test_kill_9_mid_batch_loses_nothing_and_stores_once(private_clickhouse, settings, tmp_path):
    database = unique("paodan_kill_")
    # A long flush window: the records sit in an open batch, consumed but neither archived nor committed.
    env = {"PAODAN_CLICKHOUSE": private_clickhouse.url(database), "PAODAN_SINK_FLUSH": "6"}
    first = archiving(Worker(tmp_path, env=env, name="first").start())
    archive = ClickHouseArchive(private_clickhouse.url(database))
    try:
        # Warm up every partition so the group has committed offsets to resume from (a partition without
        # them would start at `latest` in the restarted worker and skip what the killed one left open).
        warm = keys_covering(settings.partitions, "kill_warm_")
        await produce(settings.kafka, [("wecom.msgaudit", e, chat(e, 0)) for e in warm])
        assert (await archived(archive, warm, len(warm), 30))[0] == len(warm)
        await asyncio.sleep(1.5)

        employees = [unique("kill_emp_") for _ in range(16)]
        records = [chat(e, i) for i, e in enumerate(employees * 10)]
        await produce(settings.kafka, [("wecom.msgaudit", r["from"], r) for r in records])
        await asyncio.sleep(0.5)
        assert (await archived(archive, employees, 1, 0.1))[0] == 0  # not archived yet: in the open batch
        first.stop(signal.SIGKILL)

        second = archiving(Worker(tmp_path, app_id=first.app_id, env=env, name="second").start())
        try:
            # The new member waits out the dead one's session (10 s) and a 6 s batch window: allow for a
            # loaded machine; the wait ends as soon as every record is there.
            assert await archived(archive, employees, len(records), 90) == (len(records), len(records))
            raw = archive.query(f"SELECT count() FROM {database}.messages WHERE sender IN %(e)s",
                                {"e": tuple(employees)})[0][0]
            assert raw >= len(records)  # whatever was inserted twice is still one row under FINAL
        finally:
            second.stop()
    finally:
        first.stop(signal.SIGKILL)
        archive.close()
