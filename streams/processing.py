"""Record-at-a-time processing shared by the live worker and `paodan replay`.

The worker keeps `state` in a Faust table and replay keeps it in a dict; both call these functions
with the same rules, so both raise the same alerts with the same ids.
"""

from __future__ import annotations

from typing import Any

from config.rules import Rules
from detectors.content import pipeline as chat_content
from detectors.alert import Alert
from streams.records import RecordError, decode_msgaudit


def process_msgaudit(key: bytes | str | None, raw: bytes | str | None, state: dict[str, Any] | None,
                     rules: Rules, directory: dict[str, Any] | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any] | None, list[Alert]]:
    """Decode one `wecom.msgaudit` record and run the chat detectors on it.

    Returns (record, new_state or None when unchanged, alerts). Raises RecordError for a record the
    dead-letter topic should get.
    """
    record, msg = decode_msgaudit(key, raw)
    if msg is None:
        return record, None, []
    try:
        new_state, alerts = chat_content.detect(state, msg, record, rules, directory)
    except Exception as exc:  # a detector bug must not stop the stream: dead-letter the record
        raise RecordError(f"chat content detectors failed: {type(exc).__name__}: {exc}") from exc
    return record, (new_state if new_state != (state or {}) else None), alerts
