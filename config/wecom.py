"""Settings of the ingest server (`paodan ingest callback`): WeCom credentials, intake token, limits.

Read from the environment and validated at start-up like config.settings: a bad or missing value
raises SettingsError naming the variable and what it should hold. The secrets (token, EncodingAESKey,
intake token) are kept out of repr() so they never end up in a log line or a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from config.settings import SettingsError, _int

_TOKEN_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
AES_KEY_RE = re.compile(r"^[A-Za-z0-9]{43}$")  # the console's EncodingAESKey

@dataclass(frozen=True)
class IngestSettings:
    # WeCom callback credentials (WECOM.md §1); empty when only intake is served.
    token: str = field(default="", repr=False)
    aes_key: str = field(default="", repr=False)
    corpid: str = ""
    # Bearer token for POST /orders and POST /hr; empty disables the intake endpoints.
    intake_token: str = field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = 8480
    # WeCom callback bodies are small XML envelopes; anything bigger is refused unread.
    max_callback_bytes: int = 64 * 1024
    max_intake_bytes: int = 8 * 1024 * 1024
    # Timestamps further than this from our clock are refused, and nonces are remembered this long.
    replay_window_s: int = 300

    @property
    def wecom_enabled(self) -> bool:
        return bool(self.token and self.aes_key and self.corpid)


def load_ingest(env: dict[str, str] | None = None, require_wecom: bool = True) -> IngestSettings:
    """IngestSettings from the environment; SettingsError names the first missing or bad variable."""
    env = dict(os.environ if env is None else env)
    token = env.get("PAODAN_WECOM_TOKEN", "")
    aes_key = env.get("PAODAN_WECOM_AES_KEY", "")
    corpid = env.get("PAODAN_WECOM_CORPID", "")
    if require_wecom or token or aes_key or corpid:
        missing = [n for n, v in (("PAODAN_WECOM_TOKEN", token), ("PAODAN_WECOM_AES_KEY", aes_key),
                                  ("PAODAN_WECOM_CORPID", corpid)) if not v]
        if missing:
            raise SettingsError(f"{', '.join(missing)} not set: copy Token, EncodingAESKey and the corp id "
                                "from the WeCom admin console (应用管理 → 接收消息 → 设置API接收)")
        if not _TOKEN_RE.match(token):
            raise SettingsError("PAODAN_WECOM_TOKEN: expected 1–32 letters and digits (the console's Token)")
        if not AES_KEY_RE.match(aes_key):
            raise SettingsError("PAODAN_WECOM_AES_KEY: expected exactly 43 letters and digits "
                                "(the console's EncodingAESKey)")
    intake = env.get("PAODAN_INTAKE_TOKEN", "")
    if intake and len(intake) < 16:
        raise SettingsError("PAODAN_INTAKE_TOKEN: expected at least 16 characters")
    return IngestSettings(
        token=token, aes_key=aes_key, corpid=corpid, intake_token=intake,
        host=env.get("PAODAN_INGEST_HOST") or "127.0.0.1",
        port=_int(env, "PAODAN_INGEST_PORT", 8480, 1, 65535),
        max_callback_bytes=_int(env, "PAODAN_WECOM_MAX_BODY", 64 * 1024, 1024, 16 * 1024 * 1024),
        max_intake_bytes=_int(env, "PAODAN_INTAKE_MAX_BODY", 8 * 1024 * 1024, 1024, 256 * 1024 * 1024),
        replay_window_s=_int(env, "PAODAN_WECOM_WINDOW", 300, 10, 3600),
    )
