"""`paodan ingest callback` as a subprocess with fresh WeCom credentials, for tests and benchmarks."""

from __future__ import annotations

import os
import secrets
import signal
import string
import subprocess
import sys
from pathlib import Path

from ingest.wecom_crypto import WecomCrypto
from tests.live import REPO, free_port, unique, wait_listening


class IngestServer:
    """Starts on a free port with a random Token, EncodingAESKey and corp id (plus `env` overrides)."""

    def __init__(self, log_path: Path | None = None, env: dict[str, str] | None = None):
        alnum = string.ascii_letters + string.digits
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, PAODAN_WECOM_TOKEN=secrets.token_hex(8), PAODAN_WECOM_CORPID=unique("ww"),
                        PAODAN_WECOM_AES_KEY="".join(secrets.choice(alnum) for _ in range(43)), **(env or {}))
        self.crypto = WecomCrypto(self.env["PAODAN_WECOM_TOKEN"], self.env["PAODAN_WECOM_AES_KEY"], self.corpid)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def corpid(self) -> str:
        return self.env["PAODAN_WECOM_CORPID"]

    def start(self, timeout: float = 20.0) -> "IngestServer":
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, "-m", "paodan", "ingest", "callback", "--port", str(self.port)],
                                     cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_listening(self.proc, self.port, timeout, "ingest server", self.log_path)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
