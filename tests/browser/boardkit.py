"""Helpers for the board's browser and integration tests: a real `paodan board` subprocess, alerts put
into Redis exactly as the worker puts them (sinks.redis_live), and headless Chromium (Debian's package,
installed by `./dev test`) driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from tests.live import REPO, free_port, unique, wait_listening

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class BoardProcess:
    """`paodan board` on a free port, with its own log; `env` overrides (e.g. a private Redis)."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None, name: str = "board"):
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.env = dict(os.environ, **(env or {}))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 20) -> "BoardProcess":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "paodan", "board", "--port", str(self.port)],
                                     cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_listening(self.proc, self.port, timeout, "board", self.log_path)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def make_alert(team: str, *, employee: str | None = None, severity: str = "high", score: float = 80.0,
               title: str = "引导客户到外部平台下单", explanation: str = "命中引导话术「去拼多多下单」",
               rule: str = "chat.diversion_phrase", ts: int | None = None, evidence: list | None = None,
               highlights: list | None = None) -> dict:
    """An alert shaped like the worker's (CONTRACT §6 plus revision and highlights)."""
    ts = ts or int(time.time() * 1000)
    employee = employee or unique("emp_")
    return {"alert_id": unique("ta"), "rule": rule, "severity": severity, "score": score,
            "employee_id": employee, "team": team, "branch": "SH-01", "ts": ts,
            "window": {"start": ts - 3_600_000, "end": ts}, "title": title, "explanation": explanation,
            "evidence": evidence or [], "rules_version": "test", "detected_at": ts, "schema": 1,
            "revision": 1, "highlights": highlights or []}


async def launch_chromium(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


class PrivateRedis:
    """A redis-server of the test's own on a free port (never the shared one), persisting to `data_dir`
    on shutdown as a production Redis with RDB snapshots does, so a restart keeps its data."""

    def __init__(self, data_dir: Path):
        self.port = free_port()
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> "PrivateRedis":
        log = open(self.data_dir / "redis.log", "ab")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--dir", str(self.data_dir), "--save", "3600 1", "--appendonly", "no",
                                      "--protected-mode", "yes"],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_listening(self.proc, self.port, timeout, "private redis-server", self.data_dir / "redis.log")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Redis saves its RDB snapshot, then exits
            self.proc.wait(15)


class WsClient:
    """A board websocket client that collects every message in the background (a scripted viewer)."""

    def __init__(self, url: str):
        self.url = url
        self.messages: list[dict] = []
        self.ws = None
        self._reader = None
        self.closed: asyncio.Future | None = None

    async def __aenter__(self) -> "WsClient":
        from websockets.asyncio.client import connect

        self.ws = await connect(self.url, max_size=None)
        self.closed = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        await self.until(lambda m: m["type"] in ("snapshot", "snapshot_more", "resume") and not m.get("more"))
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        self._reader.cancel()

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                self.messages.append(orjson.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(self.ws.close_code)

    def of(self, kind: str) -> list[dict]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def seq(self) -> int:
        return max((m["seq"] for m in self.messages if isinstance(m.get("seq"), int)), default=0)

    @property
    def epoch(self) -> str:
        return next(m["epoch"] for m in self.messages if m["type"] in ("snapshot", "resume"))

    async def until(self, predicate, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for m in self.messages[seen:]:
                if predicate(m):
                    return m
            seen = len(self.messages)
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no matching message within {timeout}s; last: {self.messages[-3:]}")

    async def act(self, action: str, alert_id: str | None = None, **detail) -> dict:
        request_id = unique("r")
        await self.ws.send(orjson.dumps({"type": "action", "action": action, "alert_id": alert_id,
                                         "detail": detail, "request_id": request_id}).decode())
        return await self.until(lambda m: m["type"] == "action_result" and m["request_id"] == request_id)
