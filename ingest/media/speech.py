"""Speech-to-text on an operator-provided model: a small interface and loaders for vosk and sherpa-onnx.

Why pluggable and empty by default: no package ships a Chinese speech model, and a company chooses (and
licenses) its own. The rules name an engine and a model directory (`media.speech_engine`,
`media.speech_model`); the engine's package is installed by the operator (`pip install vosk` or
`pip install sherpa-onnx`), not by this project, and is imported only when configured.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Protocol

from ingest.media.voice import RATE, Pcm


class SpeechToText(Protocol):
    name: str  # engine and model, stamped beside the transcript

    def transcribe(self, pcm: Pcm) -> str: ...


class SpeechUnavailable(RuntimeError):
    """The configured engine cannot run here (package not installed, model unreadable)."""


class Vosk:
    """A vosk (Kaldi) model directory, e.g. vosk-model-cn-0.22 unpacked."""

    def __init__(self, model: Path) -> None:
        try:
            from vosk import KaldiRecognizer, Model, SetLogLevel
        except ImportError as exc:
            raise SpeechUnavailable("speech engine vosk: `pip install vosk` first / 未安装 vosk") from exc
        SetLogLevel(-1)
        self._model, self._recognizer = Model(str(model)), KaldiRecognizer
        self.name = f"vosk:{model.name}"

    def transcribe(self, pcm: Pcm) -> str:
        rec = self._recognizer(self._model, RATE)
        rec.AcceptWaveform(pcm.data)
        return json.loads(rec.FinalResult()).get("text", "").replace(" ", "")


class SherpaParaformer:
    """A sherpa-onnx offline paraformer directory: `model.onnx` (or `model.int8.onnx`) and `tokens.txt`."""

    def __init__(self, model: Path, threads: int = 1) -> None:
        try:
            import sherpa_onnx
        except ImportError as exc:
            raise SpeechUnavailable("speech engine sherpa-onnx: `pip install sherpa-onnx` first "
                                    "/ 未安装 sherpa-onnx") from exc
        onnx = next((p for p in (model / "model.int8.onnx", model / "model.onnx") if p.exists()), None)
        if onnx is None or not (model / "tokens.txt").exists():
            raise SpeechUnavailable(f"{model}: needs model.onnx (or model.int8.onnx) and tokens.txt "
                                    "/ 模型目录不完整")
        self._rec = sherpa_onnx.OfflineRecognizer.from_paraformer(paraformer=str(onnx),
                                                                 tokens=str(model / "tokens.txt"),
                                                                 num_threads=threads)
        self.name = f"sherpa-onnx:{model.name}"

    def transcribe(self, pcm: Pcm) -> str:
        import numpy as np

        stream = self._rec.create_stream()
        stream.accept_waveform(RATE, np.frombuffer(pcm.data, dtype="<i2").astype(np.float32) / 32768.0)
        self._rec.decode_stream(stream)
        return stream.result.text.strip()


ENGINES: dict[str, Callable[[Path], SpeechToText]] = {"vosk": Vosk, "sherpa-onnx": SherpaParaformer}


def load(engine: str, model: Path | None) -> SpeechToText | None:
    """The configured engine, or None for `none`; SpeechUnavailable when it cannot run here."""
    if engine == "none":
        return None
    if engine not in ENGINES:
        raise SpeechUnavailable(f"unknown speech engine {engine!r} (one of none, {', '.join(ENGINES)})")
    if model is None or not model.is_dir():
        raise SpeechUnavailable(f"speech model directory {model} not found / 未找到语音模型目录")
    return ENGINES[engine](model)
