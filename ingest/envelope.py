"""Raw `GetChatData` entries → decrypted chat-archive records (WECOM.md §3).

An entry carries `encrypt_random_key` — a per-message key encrypted with the archive's RSA public key
(PKCS#1 v1.5, as every SDK does it) — and `encrypt_chat_msg`, which only Tencent's native finance SDK
(`DecryptData`) can open. We do the RSA step here and hand the SDK step to a pluggable command, so a
site that has the SDK wires it in with a few lines of glue:

    --decrypt-command "python sdk_glue.py"

The command runs for the whole load and speaks JSON lines: it reads one request per line,
`{"seq": 7, "msgid": "…", "random_key": "<decrypted key>", "encrypt_chat_msg": "…"}`, and writes one
line back: the decrypted record (what `DecryptData` returns, on one line), or `{"error": "why"}`.
"""

from __future__ import annotations

import base64
import binascii
import shlex
import subprocess
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from formats.records import RecordError


class DecryptCommandError(RuntimeError):
    """The decrypt command is missing or died; the message says what to check."""


def load_private_key(path: Path):
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise DecryptCommandError(f"{path}: not a readable unencrypted PEM RSA private key "
                                  f"({type(exc).__name__})") from None


class EnvelopeDecryptor:
    """Callable: a GetChatData entry (dict) → the decrypted record's JSON bytes, or RecordError."""

    def __init__(self, private_key_path: Path, command: str):
        self._key = load_private_key(private_key_path)
        try:
            self._proc = subprocess.Popen(shlex.split(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            raise DecryptCommandError(f"cannot start --decrypt-command {command!r}: {exc}") from None

    def random_key(self, entry: dict) -> str:
        try:
            sealed = base64.b64decode(entry.get("encrypt_random_key") or "", validate=True)
            return self._key.decrypt(sealed, padding.PKCS1v15()).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise RecordError(f"encrypt_random_key does not open with this private key "
                              f"(publickey_ver {entry.get('publickey_ver')!r})") from None

    def __call__(self, entry: dict) -> bytes:
        request = {"seq": entry.get("seq"), "msgid": entry.get("msgid"), "random_key": self.random_key(entry),
                   "encrypt_chat_msg": entry.get("encrypt_chat_msg")}
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(orjson.dumps(request) + b"\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline()
        except BrokenPipeError:
            answer = b""
        if not answer:
            raise DecryptCommandError(f"the decrypt command exited (status {self._proc.poll()}); "
                                      "run it by hand on one request line to see why")
        try:
            value = orjson.loads(answer)
        except orjson.JSONDecodeError:
            raise RecordError("the decrypt command answered something that is not JSON") from None
        if isinstance(value, dict) and set(value) == {"error"}:
            raise RecordError(f"decrypt command: {value['error']}")
        return answer.rstrip(b"\n")

    def close(self) -> None:
        if self._proc.stdin:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:  # it already exited; its status was reported
                pass
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
