"""Media for the chat detectors: an image record's QR codes (and read text) as a text record.

Why here and not in the text path's own module: replay and the worker share it, and a missing or bad file
only yields a reason, so the text path is never held up or stopped by media.
"""
from __future__ import annotations

import sys
from typing import Any

from detectors.content.media import image_as_text_record, image_text, qr_findings
from ingest.media.qr import decode_qr
from ingest.media.store import MediaStore


class MediaReader:
    """Reads each md5 once: the same QR sent to a hundred customers is decoded once."""

    def __init__(self, store: MediaStore, own_prefixes: tuple[str, ...] = (), cache_size: int = 10000):
        self.store, self.own, self.cache_size = store, own_prefixes, cache_size
        self.cache: dict[str, tuple[str, str | None]] = {}
        self.problems = 0

    def text_of(self, md5sum: str | None) -> tuple[str, str | None]:
        key = (md5sum or "").lower()
        if key in self.cache:
            return self.cache[key]
        got = self.store.read(key, "image")
        if got.data is None:
            out = ("", got.reason)
        else:
            payloads, reason = decode_qr(got.data)
            out = (image_text(qr_findings(payloads, self.own)), reason)
        if len(self.cache) >= self.cache_size:
            self.cache.pop(next(iter(self.cache)))
        self.cache[key] = out
        return out

    def as_text_record(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The image record as text when its image says something risky; None otherwise (problem reported)."""
        if record.get("msgtype") != "image" or not isinstance(record.get("image"), dict):
            return None
        md5 = record["image"].get("md5sum")
        text, reason = self.text_of(md5)
        if reason:
            self.problems += 1
            print(f"[media] {record.get('msgid')} {md5}: {reason}", file=sys.stderr)
        return image_as_text_record(record, text) if text else None
