"""The local stack's Redis keeps what it acknowledged across a kill -9 (issue 19: a killed Redis came back
from its last snapshot and the board lost the alerts published since).

A Redis of its own, on a spare port, started from the very config file `paodan stack` renders — the shared
stack's Redis stays untouched for the other tests.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from paodan.stack import manager


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(conf: Path, port: int) -> tuple[subprocess.Popen, redis.Redis]:
    proc = subprocess.Popen([shutil.which("redis-server"), str(conf)])
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            return proc, client
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the test's own redis-server did not start")


def test_alerts_written_after_the_last_snapshot_survive_a_kill(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = _free_port()
    data, logs = tmp_path / "data", tmp_path / "log"
    data.mkdir()
    logs.mkdir()
    conf = manager._render("redis.conf", tmp_path / "redis.conf", port=port, data_dir=data, log_dir=logs)
    proc, client = _start(conf, port)
    try:
        client.save()  # a snapshot first: what follows is only in the append-only file
        for i in range(500):
            client.set(f"paodan:alert:a{i}", f'{{"revision": {i}}}')
        time.sleep(1.5)  # appendfsync everysec: one second's writes may be in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc, client = _start(conf, port)
        assert len(client.keys("paodan:alert:*")) == 500
        assert client.get("paodan:alert:a499") == b'{"revision": 499}'
    finally:
        proc.kill()
        proc.wait(10)
