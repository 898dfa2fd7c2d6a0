"""The media agent: chat-archive images (and voice, with an operator's speech model) read beside chat
detection, never in its way.

The detection agent hands each image record to `submit` (which never waits: past the queue limit the image
is skipped and counted). Reader tasks read the file and decode its QR codes in a thread pool; images that
OCR wants go on to a second, smaller queue and pool, so a slow OCR never holds up QR codes and neither ever
holds up text; voice messages, where a speech engine is configured, share the slow pool. What an image says
becomes a text record with the image's msgid (streams/media.py), sent to `{app_id}-media-text` keyed by
employee; the detection agent consumes that topic and runs the record through
the same chat detectors, with the same state, as `paodan replay --media` does — so the same alert ids.

A file the media puller has not written yet is looked for again, with growing pauses, for the rules'
`media.missing_retry_minutes`; a missing, expired, oversized or mislabelled file is logged and counted,
never raised. Queued jobs live in memory: a worker that stops loses the images it had not read yet (the
counts it logs say how many were waiting).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from config.media_rules import MediaRule
from detectors.content.media import media_of
from formats import topics
from ingest.media.store import MediaStore
from metrics import detection as detection_metrics
from streams.app import app, settings
from streams.media import MediaReader

log = logging.getLogger(__name__)
TOPIC = topics.media_text(settings.app_id)
RETRY_FIRST_S, RETRY_MAX_S = 2.0, 60.0  # pauses between looks for a missing file: doubling, capped
LOG_EVERY_S = 10.0  # at most one log line per problem kind this often (the counts carry the rest)


@dataclass
class Job:
    employee: str
    record: dict[str, Any]
    kind: str  # image or voice
    md5: str
    since: float  # monotonic time of the first submit
    tries: int = 0
    findings: list = field(default_factory=list)


class MediaAgent:
    def __init__(self, send: Callable, store: MediaStore | None, clock: Callable[[], float] = time.monotonic):
        self.send, self.store, self.clock = send, store, clock
        self.reader: MediaReader | None = None
        self.jobs: deque[Job] = deque()
        self.ocr_jobs: deque[Job] = deque()
        self.waiting = 0  # jobs sleeping until their next look for a missing file
        self.counts: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._wake_ocr = asyncio.Event()
        self._logged: dict[str, float] = {}

    # --- the text path's side: never waits -------------------------------------------------------

    def config(self, cfg: MediaRule) -> MediaReader | None:
        """The reader for the rules now in force (rules are reloaded while the worker runs)."""
        if self.store is None or not cfg.enabled:
            return None
        if self.reader is None or self.reader.config != cfg:
            self.reader = MediaReader(self.store, cfg)  # fresh caches: the own-code list may have changed
        return self.reader

    def submit(self, employee: str, record: dict[str, Any], cfg: MediaRule) -> bool:
        """Queue an image (or voice) record to be read; False when media are off or the queue is full (counted)."""
        got = media_of(record)
        if got is None:
            return False
        kind, md5 = got
        reader = self.config(cfg)
        if reader is None or (kind == "voice" and not reader.hears):
            self.counts[f"{kind}_off"] += 1
            return False
        if len(self.jobs) + self.waiting >= cfg.queue:
            self._problem("queue_full", record, md5, f"media queue full ({cfg.queue}): image not read "
                          "/ 图片队列已满，未读取")
            return False
        self.counts["media_queued"] += 1
        self.jobs.append(Job(employee, record, kind, md5, self.clock()))
        self._wake.set()
        return True

    # --- the readers -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Reader and OCR tasks until cancelled (the pools' sizes are read once, at start)."""
        from streams.rules_state import current_rules

        cfg: MediaRule = current_rules().rule("media")
        pool = ThreadPoolExecutor(cfg.workers, thread_name_prefix="media-read", initializer=_yield_cpu, initargs=(10,))
        ocr_pool = ThreadPoolExecutor(cfg.ocr_workers, thread_name_prefix="media-ocr", initializer=_yield_cpu,
                                      initargs=(19,))
        tasks = [asyncio.ensure_future(self._reading(pool)) for _ in range(cfg.workers)]
        tasks += [asyncio.ensure_future(self._ocring(ocr_pool)) for _ in range(cfg.ocr_workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            ocr_pool.shutdown(wait=False, cancel_futures=True)

    async def _next(self, jobs: deque[Job], wake: asyncio.Event) -> Job:
        while not jobs:
            wake.clear()
            await wake.wait()
        return jobs.popleft()

    async def _reading(self, pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self._next(self.jobs, self._wake)
            try:
                await self._read(job, loop, pool)
            except Exception as exc:  # noqa: BLE001 - one image must never stop the readers
                self._problem("failed", job.record, job.md5, f"{type(exc).__name__}: {exc}")

    async def _read(self, job: Job, loop, pool) -> None:
        reader = self.reader
        if reader is None:
            return
        cfg = reader.config
        cached = reader.qr_cache.get(job.md5) if job.kind == "image" and cfg.qr else None
        if cached is not None:  # read, checked and decoded before: the same image sent again
            self.counts["media_cached"] += 1
            if cached[1]:
                self._problem("unreadable", job.record, job.md5, cached[1])
            else:
                job.findings = cached[0]
                await self._after_qr(job, cfg)
            return
        got = await loop.run_in_executor(pool, reader.read, job.md5, job.kind)
        if got.data is None:
            if got.missing and self.clock() - job.since < cfg.missing_retry_ms / 1000:
                self._retry(job, loop)
            else:
                waited = f" after {self.clock() - job.since:.0f} s" if got.missing else ""
                self._problem(got.reason.split(" ")[0], job.record, job.md5, f"{got.reason}{waited}")
            return
        self.counts["media_read"] += 1
        if job.kind == "voice":  # speech to text is slow like OCR: the same small pool and queue
            if len(self.ocr_jobs) < cfg.ocr_queue:
                self.ocr_jobs.append(job)
                self._wake_ocr.set()
            else:
                self._problem("speech_skipped", job.record, job.md5, f"slow queue full ({cfg.ocr_queue}): "
                              "voice not transcribed / 队列已满，语音未转写")
            return
        job.findings, reason = await loop.run_in_executor(pool, reader.qr, job.md5, got.data)
        if reason:
            self._problem("unreadable", job.record, job.md5, reason)
            return
        await self._after_qr(job, cfg)

    async def _after_qr(self, job: Job, cfg: MediaRule) -> None:
        if cfg.ocr:
            if len(self.ocr_jobs) < cfg.ocr_queue:
                self.ocr_jobs.append(job)
                self._wake_ocr.set()
                return
            self._problem("ocr_skipped", job.record, job.md5, f"OCR queue full ({cfg.ocr_queue}): QR codes only "
                          "/ 文字识别队列已满，仅读取二维码")
        await self._emit(job, "")

    def _retry(self, job: Job, loop) -> None:
        pause = min(RETRY_FIRST_S * 2 ** job.tries, RETRY_MAX_S)
        job.tries += 1
        self.waiting += 1
        self.counts["media_retried"] += 1
        if job.tries == 1:
            self._log("missing_yet", f"media {job.record.get('msgid')} ({job.md5}) of {job.employee} not in the "
                      f"store yet; looking again for up to {self.reader.config.missing_retry_ms // 60000} min "
                      "/ 媒体文件尚未到达，稍后重试")
        loop.call_later(pause, self._again, job)

    def _again(self, job: Job) -> None:
        self.waiting -= 1
        self.jobs.append(job)
        self._wake.set()

    async def _ocring(self, pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self._next(self.ocr_jobs, self._wake_ocr)
            try:
                reader = self.reader
                cache = reader.voice_cache if job.kind == "voice" else reader.ocr_cache
                text, reason = cache.get(job.md5) or await self._slow_read(job, reader, loop, pool)
                done = "speech" if job.kind == "voice" else "ocr"
                if reason:
                    self._problem(f"{done}_failed", job.record, job.md5, reason)
                else:
                    self.counts[f"media_{done}"] += 1
                await self._emit(job, text)
            except Exception as exc:  # noqa: BLE001 - one image must never stop OCR
                self._problem("failed", job.record, job.md5, f"{type(exc).__name__}: {exc}")

    @staticmethod
    async def _slow_read(job: Job, reader: MediaReader, loop, pool) -> tuple[str, str | None]:
        got = await loop.run_in_executor(pool, reader.read, job.md5, job.kind)  # bytes not kept queued: memory
        if got.data is None:
            return "", got.reason
        step = reader.voice if job.kind == "voice" else reader.ocr
        return await loop.run_in_executor(pool, step, job.md5, got.data)

    async def _emit(self, job: Job, text: str) -> None:
        text_record = MediaReader.voice_record(job.record, text) if job.kind == "voice" else \
            MediaReader.text_record(job.record, job.findings, text)
        if text_record is None:
            self.counts["media_silent"] += 1  # nothing in the image to read: an ordinary photo
            return
        await self.send(TOPIC, job.employee, text_record)
        self.counts["media_sent"] += 1

    # --- reporting -------------------------------------------------------------------------------

    def _problem(self, kind: str, record: dict, md5: str, reason: str) -> None:
        self.counts[f"media_{kind}"] += 1
        self._log(kind, f"media {record.get('msgid')} ({md5}): {reason}")

    def _log(self, kind: str, line: str) -> None:
        now = self.clock()
        if now - self._logged.get(kind, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged[kind] = now
            log.warning("%s", line)

    def depth(self) -> dict[str, int]:
        return {"queued": len(self.jobs), "ocr_queued": len(self.ocr_jobs), "waiting_missing": self.waiting}

    def oldest_wait(self) -> float:
        """Seconds the oldest job still queued has waited since it was submitted (the agent's lag)."""
        since = min((j.since for queue in (self.jobs, self.ocr_jobs) for j in queue), default=None)
        return max(0.0, self.clock() - since) if since is not None else 0.0


def _yield_cpu(niceness: int) -> None:
    """Lower this reading thread's scheduling priority (Linux nices threads one by one, and onnxruntime's
    own threads, made from it, inherit it): on a small machine OCR takes whole cores, and the text path's
    thread must get them first."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at the worker's priority
        pass


async def _send(topic: str, key: str, value: dict) -> None:
    await (await app.producer.send(topic, key.encode(), orjson.dumps(value), None, None, None))


agent = MediaAgent(_send, MediaStore.from_env())


@app.task
async def media_readers() -> None:
    if agent.store is None:
        log.info("PAODAN_MEDIA not set: chat-archive images are not read / 未配置媒体目录，不读取图片")
        return
    await agent.run()


@app.timer(interval=5.0)
async def media_metrics() -> None:
    detection_metrics.media(agent.counts, agent.depth(), agent.oldest_wait())


@app.timer(interval=60.0)
async def log_media() -> None:
    if agent.counts:
        depth = ", ".join(f"{k} {v}" for k, v in agent.depth().items())
        log.info("media: %s; %s", ", ".join(f"{k} {v}" for k, v in sorted(agent.counts.items())), depth)
