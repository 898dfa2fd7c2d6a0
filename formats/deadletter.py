"""The dead-letter record (CONTRACT.md §1): what `paodan.deadletter` holds for a record that cannot be
processed, whoever rejected it (the worker, the archive, the callback receiver, the archive loader)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

# A dead letter must always fit under the broker's and producer's size limits (1 MB by default), or
# one oversized record stops the stream; the full bytes stay in the source topic at `offset`.
DEAD_LETTER_RAW_LIMIT = 64 * 1024
DEAD_LETTER_ERROR_LIMIT = 2048
TRUNCATED_MARK = "…[truncated]"


def dead_letter(topic: str, partition: int | None, offset: int | None, error: str,
                raw: bytes | None, limit: int = DEAD_LETTER_RAW_LIMIT) -> dict[str, Any]:
    """CONTRACT.md §1 dead-letter value: raw as UTF-8 text when it is, else base64, at most `limit`
    bytes of the original (then `raw_truncated` is true); `raw_size` and `raw_sha256` describe the
    original bytes whole."""
    if raw is None:
        raw = b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    truncated = len(raw) > limit
    head = raw[:limit] if truncated else raw
    try:
        text, encoding = head.decode("utf-8"), "text"
    except UnicodeDecodeError as exc:
        if truncated and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            text, encoding = head[:exc.start].decode("utf-8"), "text"
        else:
            text, encoding = base64.b64encode(head).decode("ascii"), "base64"
    if len(error) > DEAD_LETTER_ERROR_LIMIT:
        error = error[:DEAD_LETTER_ERROR_LIMIT] + TRUNCATED_MARK
    return {"topic": topic, "partition": partition, "offset": offset, "error": error, "raw": text,
            "raw_encoding": encoding, "raw_size": len(raw), "raw_truncated": truncated,
            "raw_sha256": hashlib.sha256(raw).hexdigest()}


# An oversized key would make the dead letter itself too large to send.
KEY_LIMIT = 1024


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The key a dead letter is sent under: the rejected record's own, cut to KEY_LIMIT bytes."""
    return key[:KEY_LIMIT] if key is not None and len(key) > KEY_LIMIT else key
