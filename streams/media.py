"""Media for the chat detectors: an image record's QR codes and read text as a text record.

Why here and not in the text path's own module: replay and the live worker (streams/media_agent.py) share
it, and a missing or bad file only yields a reason, so the text path is never held up or stopped by media.
The steps (read, QR, OCR) are separate so that the worker can run each in its own bounded pool; replay
runs them in turn (`as_text_record`).
"""
from __future__ import annotations

import sys
import threading
from typing import Any

from config.media_rules import MediaRule
from detectors.content.media import image_as_text_record, image_text, qr_findings
from ingest.media.qr import decode_qr
from ingest.media.store import MediaRead, MediaStore


def image_md5(record: dict[str, Any]) -> str | None:
    """The md5sum of an image record's file (None for any other record)."""
    if record.get("msgtype") != "image" or not isinstance(record.get("image"), dict):
        return None
    return str(record["image"].get("md5sum") or "").lower()


class _Lru:
    """A bounded md5 → result map shared by the reading threads (the lock keeps eviction consistent)."""

    def __init__(self, size: int) -> None:
        self.size, self.items, self.lock = size, {}, threading.Lock()

    def get(self, key: str):
        with self.lock:
            return self.items.get(key)

    def put(self, key: str, value) -> None:
        with self.lock:
            if key not in self.items and len(self.items) >= self.size:
                self.items.pop(next(iter(self.items)))
            self.items[key] = value


class MediaReader:
    """Reads each md5 once: the same QR sent to a hundred customers is decoded once. Only what was read is
    cached; a missing file is looked up again, since the media puller may write it later."""

    def __init__(self, store: MediaStore, config: MediaRule | None = None, cache_size: int = 10000):
        self.store, self.config = store, config or MediaRule()
        self.qr_cache, self.ocr_cache = _Lru(cache_size), _Lru(cache_size)
        self.problems = 0

    def read(self, md5: str) -> MediaRead:
        return self.store.read(md5, "image", self.config.max_bytes)

    def qr(self, md5: str, data: bytes) -> tuple[list[dict], str | None]:
        """(findings of the image's QR codes, problem or None); cached by md5."""
        if not self.config.qr:
            return [], None
        got = self.qr_cache.get(md5)
        if got is None:
            payloads, reason = decode_qr(data)
            got = (qr_findings(payloads, self.config.own_wecom_codes), reason)
            self.qr_cache.put(md5, got)
        return got

    def ocr(self, md5: str, data: bytes) -> tuple[str, str | None]:
        """(the image's text, a line each; problem or None); cached by md5."""
        got = self.ocr_cache.get(md5)
        if got is None:
            from ingest.media.ocr import read_lines, text_of

            lines, reason = read_lines(data, self.config.ocr_min_score, self.config.ocr_threads)
            got = (text_of(lines), reason)
            self.ocr_cache.put(md5, got)
        return got

    @staticmethod
    def text_record(record: dict[str, Any], findings: list[dict], ocr_text: str) -> dict[str, Any] | None:
        """The image record as a text record when its image says anything; None otherwise."""
        text = image_text(findings, ocr_text)
        return image_as_text_record(record, text) if text else None

    def as_text_record(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Replay's path: read, QR and OCR in turn. None when the image says nothing (or could not be read:
        the problem is printed to stderr and counted)."""
        md5 = image_md5(record)
        if md5 is None or not self.config.enabled:
            return None
        got = self.read(md5)
        findings, ocr_text, reasons = [], "", [got.reason]
        if got.data is not None:
            findings, qr_reason = self.qr(md5, got.data)
            reasons.append(qr_reason)
            if self.config.ocr:
                ocr_text, ocr_reason = self.ocr(md5, got.data)
                reasons.append(ocr_reason)
        for reason in filter(None, reasons):
            self.problems += 1
            print(f"[media] {record.get('msgid')} {md5}: {reason}", file=sys.stderr)
        return self.text_record(record, findings, ocr_text)
