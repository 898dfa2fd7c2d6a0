"""Read the text in an image with rapidocr (PP-OCR models shipped inside its wheel, run by onnxruntime).

Why one engine per thread: the engine is large to build (seconds) and is not documented as safe to share,
so each reading thread builds its own once and keeps it. An unreadable image or a missing engine gives a
reason, never an exception, like the QR decoder.
"""
from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass

_local = threading.local()


@dataclass(frozen=True)
class Line:
    text: str
    box: tuple[tuple[int, int], ...]  # the line's corners in the image, clockwise from top-left
    score: float


def engine(threads: int = 1):
    """This thread's OCR engine (built on first use), with `threads` onnxruntime threads per run."""
    eng = getattr(_local, "engine", None)
    if eng is None or _local.threads != threads:
        from rapidocr import RapidOCR

        logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # it logs every model file it opens, and empty reads
        eng = RapidOCR(params={"Global.log_level": "error",
                               "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                               "EngineConfig.onnxruntime.inter_op_num_threads": 1})
        _local.engine, _local.threads = eng, threads
    return eng


def read_lines(data: bytes, min_score: float = 0.5, threads: int = 1) -> tuple[list[Line], str | None]:
    """Return (lines in reading order, reason); reason is set when the image could not be read."""
    try:
        from PIL import Image
        eng = engine(threads)
    except ImportError as exc:
        return [], f"OCR not installed ({exc.name}) / 未安装文字识别"
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rgb = img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return [], f"unreadable image ({exc}) / 图片无法读取"
    import numpy as np

    out = eng(np.asarray(rgb)[:, :, ::-1])  # the engine takes OpenCV's BGR order
    if out.txts is None:
        return [], None
    # The engine answers in reading order already (top to bottom, left to right within a row).
    return [Line(t.strip(), tuple((int(x), int(y)) for x, y in box), float(s))
            for t, s, box in zip(out.txts, out.scores, out.boxes) if s >= min_score and t.strip()], None


def text_of(lines: list[Line]) -> str:
    """The lines as one text, a line each: what the content pipeline reads."""
    return "\n".join(ln.text for ln in lines)
