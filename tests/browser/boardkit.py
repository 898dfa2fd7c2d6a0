"""Helpers for the board's browser and integration tests: a real `paodan board` subprocess, alerts put
into Redis exactly as the worker puts them (sinks.redis_live), and headless Chromium (Debian's package,
installed by `./dev test`) driven by Playwright."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.live import REPO, unique

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"board exited:\n{self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"board not listening within {timeout}s")

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
