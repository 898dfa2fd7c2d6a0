"""Media for the chat detectors: an image record's QR codes and read text (or a voice record's transcript,
where an operator configured a speech model) as a text record.

Why here and not in the text path's own module: replay and the live worker (streams/media_agent.py) share
it, and a missing or bad file only yields a reason, so the text path is never held up or stopped by media.
The steps (read, QR, OCR) are separate so that the worker can run each in its own bounded pool; replay
runs them in turn (`as_text_record`).
"""
from __future__ import annotations

import sys
import threading
from typing import Any, Callable

from config.media_rules import MediaRule
from detectors.content.media import image_as_text_record, image_text, media_of, qr_findings, voice_text
from ingest.media.qr import decode_qr
from ingest.media.store import MediaRead, MediaStore


def image_md5(record: dict[str, Any]) -> str | None:
    """The md5sum of an image record's file (None for any other record)."""
    got = media_of(record)
    return got[1] if got and got[0] == "image" else None


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
        self.qr_cache, self.ocr_cache, self.voice_cache = _Lru(cache_size), _Lru(cache_size), _Lru(cache_size)
        self.problems = 0
        self._speech = None  # the speech engine, loaded on the first voice record

    def read(self, md5: str, kind: str = "image") -> MediaRead:
        return self.store.read(md5, kind, self.config.max_bytes)

    @property
    def hears(self) -> bool:
        """Whether voice records are transcribed (an operator configured a speech engine)."""
        return self.config.enabled and self.config.speech_engine != "none"

    def voice(self, md5: str, data: bytes) -> tuple[str, str | None]:
        """(the voice message's transcript, problem or None); cached by md5."""
        got = self.voice_cache.get(md5)
        if got is None:
            from ingest.media.speech import SpeechUnavailable, load
            from ingest.media.voice import decode_voice

            pcm, reason = decode_voice(data)
            if pcm is None:
                return "", reason
            try:
                if self._speech is None:
                    self._speech = load(self.config.speech_engine, self.config.speech_model)
                if self._speech is None:  # the rules were reloaded without an engine
                    return "", "no speech engine configured / 未配置语音识别"
                got = (self._speech.transcribe(pcm), None)
            except SpeechUnavailable as exc:
                return "", str(exc)
            self.voice_cache.put(md5, got)
        return got

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

    @staticmethod
    def voice_record(record: dict[str, Any], transcript: str) -> dict[str, Any] | None:
        text = voice_text(transcript)
        return image_as_text_record(record, text, "voice") if text else None

    def as_text_record(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Replay's path: read, QR and OCR in turn. None when the image says nothing (or could not be read:
        the problem is printed to stderr and counted)."""
        return self.said(record)[1]

    def said(self, record: dict[str, Any]) -> tuple[bytes | None, dict[str, Any] | None]:
        """An image or voice record's file (None when not read) and its text record (as_text_record)."""
        kind, md5 = media_of(record) or (None, None)
        if kind is None or not self.config.enabled or (kind == "voice" and not self.hears):
            return None, None
        got = self.read(md5, kind)
        if kind == "voice":
            transcript, reason = self.voice(md5, got.data) if got.data is not None else ("", got.reason)
            self._report(record, md5, [reason])
            return got.data, self.voice_record(record, transcript)
        findings, ocr_text, reasons = [], "", [got.reason]
        if got.data is not None:
            findings, qr_reason = self.qr(md5, got.data)
            reasons.append(qr_reason)
            if self.config.ocr:
                ocr_text, ocr_reason = self.ocr(md5, got.data)
                reasons.append(ocr_reason)
        self._report(record, md5, reasons)
        return got.data, self.text_record(record, findings, ocr_text)

    def _report(self, record: dict[str, Any], md5: str, reasons: list[str | None]) -> None:
        for reason in filter(None, reasons):
            self.problems += 1
            print(f"[media] {record.get('msgid')} {md5}: {reason}", file=sys.stderr)


def case_file_media(rules_media: MediaRule | None = None) -> Callable[[dict[str, Any]], tuple[bytes | None, str]] | None:
    """What an evidence case file holds of an image or voice record (sinks/evidence.py): the file's bytes
    from PAODAN_MEDIA and the words read from it, as detection reads them; None without a media store."""
    store = MediaStore.from_env()
    if store is None:
        return None
    reader = MediaReader(store, rules_media)

    def read(record: dict[str, Any]) -> tuple[bytes | None, str]:
        data, said = reader.said(record)
        return data, (said or {}).get("text", {}).get("content", "")

    return read
