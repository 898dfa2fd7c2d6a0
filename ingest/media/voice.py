"""Voice messages of the chat archive to 16 kHz mono PCM: WeChat's silk (silk-python) or AMR (PyAV).

Why sniff and not trust the record: the archive says `voice` and WeCom writes silk, but files re-encoded by
a puller come as AMR; the header decides. A file that is neither, or does not decode, gives a reason.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

RATE = 16_000  # what speech-to-text models take
SILK_RATE = 24_000  # silk's decoder output rate here (WeChat records at 24 kHz)


@dataclass(frozen=True)
class Pcm:
    data: bytes  # signed 16-bit little-endian, mono, RATE Hz
    codec: str

    @property
    def seconds(self) -> float:
        return len(self.data) / 2 / RATE


def sniff_voice(data: bytes) -> str | None:
    """`silk` (with or without WeChat's leading 0x02), `amr` (narrow or wide band), or None."""
    if data.startswith(b"#!SILK") or data.startswith(b"\x02#!SILK"):
        return "silk"
    if data.startswith(b"#!AMR"):
        return "amr"
    return None


def resample(pcm: bytes, rate: int, to: int = RATE) -> bytes:
    """s16 mono from `rate` to `to` Hz (linear interpolation: enough for speech, no extra dependency)."""
    if rate == to:
        return pcm
    import numpy as np

    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    if x.size == 0:
        return b""
    n = int(round(x.size * to / rate))
    y = np.interp(np.linspace(0, x.size - 1, n), np.arange(x.size), x)
    return np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()


def _silk(data: bytes) -> bytes:
    import pysilk

    raw = data[1:] if data.startswith(b"\x02") else data  # WeChat's marker byte is not part of the stream
    out = io.BytesIO()
    pysilk.decode(io.BytesIO(raw), out, SILK_RATE)
    return resample(out.getvalue(), SILK_RATE)


def _amr(data: bytes) -> bytes:
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    chunks = []
    with av.open(io.BytesIO(data), format="amr") as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(bytes(out.planes[0])[: out.samples * 2])
    for out in resampler.resample(None):  # what the resampler still holds
        chunks.append(bytes(out.planes[0])[: out.samples * 2])
    return b"".join(chunks)


def decode_voice(data: bytes) -> tuple[Pcm | None, str | None]:
    """(16 kHz mono PCM, None) or (None, reason)."""
    codec = sniff_voice(data)
    if codec is None:
        return None, "not silk or AMR / 不是 silk 或 AMR 语音"
    try:
        pcm = _silk(data) if codec == "silk" else _amr(data)
    except ImportError as exc:
        return None, f"voice decoder not installed ({exc.name}) / 未安装语音解码"
    except Exception as exc:  # noqa: BLE001 - a decoder's error on a bad file is the file's, not ours
        return None, f"undecodable {codec} ({type(exc).__name__}: {exc}) / 语音无法解码"
    if not pcm:
        return None, f"empty {codec} / 语音为空"
    return Pcm(pcm, codec), None
