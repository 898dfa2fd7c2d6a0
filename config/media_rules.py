"""The `media` section of the rules file: how the live worker and replay read chat-archive images.

    rules:
      media:
        enabled: true              # read images at all (the worker also needs PAODAN_MEDIA)
        qr: true                   # decode QR codes (zxing-cpp)
        ocr: true                  # read the text in images (rapidocr); slow, so bounded below
        max_megabytes: 20          # larger files are reported, not read
        workers: 2                 # images read (file + QR) at once, in threads
        queue: 1000                # images waiting to be read; past this, new ones are skipped (counted)
        ocr_workers: 1             # OCRs at once, in threads
        ocr_queue: 50              # images waiting for OCR; past this, an image is read for QR codes only
        ocr_threads: 1             # onnxruntime threads per OCR (the machine's cores are shared with text)
        ocr_min_score: 0.5         # OCR lines read with less confidence are dropped
        missing_retry_minutes: 10  # a file the media puller has not written yet is looked for this long
        own_wecom_codes:           # the company's own WeCom contact / group codes: never flagged
          - https://work.weixin.qq.com/ca/cawcde0a1b2c       # one code exactly
          - https://work.weixin.qq.com/u/vc_paodan_*         # or every code starting so
        speech_engine: none        # none, vosk or sherpa-onnx: voice to text on the operator's model
        speech_model: /opt/models/vosk-model-cn-0.22   # its directory (relative: to this file's)

Registered in config.rules.RULE_PARSERS; a bad value fails with the file and line like the rest.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from config.chat_rules import _bool, _int
from config.lexicon import _choice, _expect, _keys, _strings
from config.yamlfile import line_of

# Hosts of WeCom contact and group codes (detectors/content/media.py classifies them).
WECOM_CODE_HOSTS = ("work.weixin.qq.com", "wecom.work")
# A prefix entry must name more than a code family (e.g. `/u/`): this many characters past its first segment.
MIN_PREFIX_TAIL = 4
SPEECH_ENGINES = ("none", "vosk", "sherpa-onnx")  # ingest/media/speech.py


@dataclass(frozen=True)
class MediaRule:
    enabled: bool = True
    qr: bool = True
    ocr: bool = True
    max_bytes: int = 20 * 1024 * 1024
    workers: int = 2
    queue: int = 1000
    ocr_workers: int = 1
    ocr_queue: int = 50
    ocr_threads: int = 1
    ocr_min_score: float = 0.5
    missing_retry_ms: int = 600_000
    own_wecom_codes: tuple[str, ...] = ()  # normalised; a trailing * makes an entry a prefix
    speech_engine: str = "none"
    speech_model: Path | None = None


def normalise_code(text: str) -> str:
    """A QR payload as compared with the allow-list: host lower-case, any scheme (or none) read as https."""
    t = text.strip()
    _, sep, rest = t.partition("://")
    host, slash, tail = (rest if sep else t).partition("/")
    return f"https://{host.lower()}{slash}{tail}"


def is_own(payload: str, own: tuple[str, ...]) -> bool:
    """Whether a QR payload is on the company's allow-list (entries as `parse` normalised them)."""
    code = normalise_code(payload)
    return any(code.startswith(e[:-1]) if e.endswith("*") else code == e for e in own)


def _own_code(entry: str, path: Path, line: int | None) -> str:
    prefix = entry.endswith("*")
    code = normalise_code(entry.rstrip("*"))
    parts = urlsplit(code)
    _expect(parts.hostname in WECOM_CODE_HOSTS, path, line,
            f"media.own_wecom_codes: {entry!r} is not a WeCom code (host one of {', '.join(WECOM_CODE_HOSTS)}) "
            "/ 不是企业微信二维码")
    first, _, tail = parts.path.lstrip("/").partition("/")
    _expect(not prefix or len(tail) >= MIN_PREFIX_TAIL, path, line,
            f"media.own_wecom_codes: {entry!r} is too short a prefix: it would allow every /{first}/ code "
            "/ 前缀过短")
    _expect(prefix or bool(parts.path.strip("/")), path, line,
            f"media.own_wecom_codes: {entry!r} names no code / 未指明二维码")
    return code + ("*" if prefix else "")


def parse(section: dict, path: Path) -> MediaRule:
    _keys(section, {"enabled", "qr", "ocr", "max_megabytes", "workers", "queue", "ocr_workers", "ocr_queue",
                    "ocr_threads", "ocr_min_score", "missing_retry_minutes", "own_wecom_codes", "speech_engine",
                    "speech_model"}, path, "media")
    engine = _choice(section.get("speech_engine", "none"), SPEECH_ENGINES, path, line_of(section, "speech_engine"),
                     "media.speech_engine")
    model = section.get("speech_model")
    _expect(model is None or (isinstance(model, str) and model.strip()), path, line_of(section, "speech_model"),
            "media.speech_model must be a directory path")
    model_dir = (path.parent / model.strip()).resolve() if model else None
    _expect(engine == "none" or model_dir is not None, path, line_of(section, "speech_engine"),
            f"media.speech_engine {engine} needs media.speech_model (its directory) / 需指定语音模型目录")
    _expect(engine == "none" or model_dir.is_dir(), path, line_of(section, "speech_model"),
            f"media.speech_model {model_dir} is not a directory / 语音模型目录不存在")
    score = section.get("ocr_min_score", 0.5)
    _expect(isinstance(score, (int, float)) and not isinstance(score, bool) and 0 <= score <= 1, path,
            line_of(section, "ocr_min_score"), "media.ocr_min_score must be a number from 0 to 1")
    line = line_of(section, "own_wecom_codes")
    raw = section.get("own_wecom_codes") or []
    own = tuple(_own_code(e, path, line_of(raw, i) or line)
                for i, e in enumerate(_strings(raw, path, line, "media.own_wecom_codes")))
    return MediaRule(
        enabled=_bool(section, "enabled", True, path), qr=_bool(section, "qr", True, path),
        ocr=_bool(section, "ocr", True, path),
        max_bytes=_int(section, "max_megabytes", 20, 1, 1024, path) * 1024 * 1024,
        workers=_int(section, "workers", 2, 1, 64, path), queue=_int(section, "queue", 1000, 1, 1_000_000, path),
        ocr_workers=_int(section, "ocr_workers", 1, 1, 64, path),
        ocr_queue=_int(section, "ocr_queue", 50, 0, 100_000, path),
        ocr_threads=_int(section, "ocr_threads", 1, 1, 64, path), ocr_min_score=float(score),
        missing_retry_ms=_int(section, "missing_retry_minutes", 10, 0, 10_080, path) * 60_000,
        own_wecom_codes=own, speech_engine=engine, speech_model=model_dir)


PARSERS = {"media": parse}
