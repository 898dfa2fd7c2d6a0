"""Voice decode (ingest/media/voice.py): Mandarin spoken by espeak-ng, encoded here to WeChat silk and to AMR,
comes back as 16 kHz PCM of about the same length whatever the file is named; other bytes give a reason.
(Speech-to-text itself needs an operator's model: ingest/media/speech.py, not run here.)"""
import io
import shutil
import subprocess
import wave

import pytest

pysilk = pytest.importorskip("pysilk")
av = pytest.importorskip("av")

from ingest.media.voice import RATE, decode_voice, resample, sniff_voice  # noqa: E402


@pytest.fixture(scope="module")
def speech() -> tuple[bytes, int]:
    """(s16 mono PCM, rate) of 「加我私人微信」 from espeak-ng."""
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is not installed: no speech to encode")
    wav = subprocess.run(["espeak-ng", "-v", "cmn", "--stdout", "加我私人微信，电话一三八零零一三八零零零"],
                         capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.readframes(w.getnframes()), w.getframerate()


def _silk(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    pysilk.encode(io.BytesIO(resample(pcm, rate, 24_000)), out, 24_000, 24_000, tencent=True)
    return out.getvalue()


def _amr(pcm: bytes, rate: int) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="amr") as out:
        stream = out.add_stream("libopencore_amrnb", rate=8000, layout="mono")
        stream.bit_rate = 12_200
        frame = av.AudioFrame.from_ndarray(
            __import__("numpy").frombuffer(resample(pcm, rate, 8000), dtype="<i2").reshape(1, -1), format="s16",
            layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.mark.parametrize("codec", ["silk", "amr"])
def test_decodes_to_16k_pcm_of_the_same_length(speech, codec):
    pcm, rate = speech
    data = _silk(pcm, rate) if codec == "silk" else _amr(pcm, rate)
    assert sniff_voice(data) == codec
    got, reason = decode_voice(data)
    assert reason is None and got.codec == codec
    spoken = len(pcm) / 2 / rate
    assert abs(got.seconds - spoken) < 0.25, (got.seconds, spoken)
    import numpy as np

    samples = np.frombuffer(got.data, dtype="<i2")
    assert np.abs(samples).max() > 1000  # speech, not silence
    assert len(got.data) % 2 == 0 and RATE == 16_000


def test_the_header_decides_and_bad_bytes_give_a_reason(speech):
    assert decode_voice(b"RIFF....WAVEfmt ")[1].startswith("not silk or AMR")
    assert decode_voice(b"#!SILK_V3" + b"\x00\xff" * 50)[0] is None
    assert sniff_voice(b"#!AMR-WB\n") == "amr"


class Operators:
    """Stands in for the operator's speech model (none ships): what it heard and what it says back."""

    def __init__(self, model):
        self.name, self.heard = f"test:{model.name}", []

    def transcribe(self, pcm):
        self.heard.append(pcm)
        return "加我私人微信 wx: abc_123"


def test_a_voice_record_goes_through_the_configured_engine_and_the_pipeline(speech, tmp_path, monkeypatch):
    import json
    from pathlib import Path

    from config.media_rules import MediaRule
    from config.rules import load_rules
    from ingest.media import speech as speech_mod
    from ingest.media.store import MediaStore
    from streams.media import MediaReader
    from streams.replay import Replay

    engines = []
    monkeypatch.setitem(speech_mod.ENGINES, "vosk", lambda model: engines.append(Operators(model)) or engines[-1])
    pcm, rate = speech
    src = tmp_path / "v.silk"
    src.write_bytes(_silk(pcm, rate))
    store = MediaStore(tmp_path / "store")
    md5 = store.put(src)
    lines = tmp_path / "in.jsonl"
    lines.write_text(json.dumps({"topic": "wecom.msgaudit", "key": "zs", "value": {
        "msgid": "voice1", "action": "send", "from": "zs", "tolist": ["wmCustomer01"], "roomid": "",
        "msgtime": 1764210000000, "msgtype": "voice",
        "voice": {"md5sum": md5, "voice_size": 1, "play_length": 3, "sdkfileid": "x"}}}) + "\n")
    out = io.BytesIO()
    replay = Replay(load_rules(Path(__file__).parents[2] / "config" / "rules.yaml"), out, io.StringIO())
    (tmp_path / "model").mkdir()
    replay.media = MediaReader(store, MediaRule(speech_engine="vosk", speech_model=tmp_path / "model"))
    replay.run([str(lines)], parallel=False)
    alerts = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [p.codec for p in engines[0].heard] == ["silk"]
    assert abs(engines[0].heard[0].seconds - len(pcm) / 2 / rate) < 0.25
    assert any("abc_123" in a["explanation"] for a in alerts)
    assert all([e["id"] for e in a["evidence"]] == ["voice1"] for a in alerts)


async def test_the_worker_agent_transcribes_in_its_slow_pool(speech, tmp_path, monkeypatch):
    from config.media_rules import MediaRule
    from ingest.media import speech as speech_mod
    from ingest.media.store import MediaStore
    from streams import media_agent
    from tests.unit.test_media_agent import _drain

    monkeypatch.setitem(speech_mod.ENGINES, "vosk", Operators)
    (tmp_path / "model").mkdir()
    cfg = MediaRule(speech_engine="vosk", speech_model=tmp_path / "model")
    monkeypatch.setattr("streams.rules_state.current_rules", lambda: type("R", (), {"rule": lambda s, n: cfg})())
    pcm, rate = speech
    src = tmp_path / "v.amr"
    src.write_bytes(_amr(pcm, rate))
    store = MediaStore(tmp_path / "store")
    md5 = store.put(src)
    sent = []

    async def send(topic, key, value):
        sent.append(value)

    agent = media_agent.MediaAgent(send, store)
    record = {"msgid": "v2", "action": "send", "from": "zs", "tolist": ["wmC"], "roomid": "", "msgtime": 1,
              "msgtype": "voice", "voice": {"md5sum": md5}}
    assert not agent.submit("zs", record, MediaRule())  # no engine configured: voice is not queued
    assert agent.submit("zs", record, cfg)
    await _drain(agent, cfg, lambda: sent)
    assert sent[0]["msgid"] == "v2" and sent[0]["text"]["content"] == "语音转写：加我私人微信 wx: abc_123"
    assert sent[0]["media"]["kind"] == "voice" and agent.counts["media_speech"] == 1
