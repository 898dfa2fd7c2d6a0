"""The media agent's queueing without Kafka: submit never waits, a full queue skips and counts, a missing
file is looked for again and then reported, an ordinary photo sends nothing. (On the real stack:
tests/integration/test_media_live.py.)"""
import asyncio

import pytest

pytest.importorskip("zxingcpp")

from config.media_rules import MediaRule  # noqa: E402
from ingest.media.store import MediaStore  # noqa: E402
from streams import media_agent  # noqa: E402
from tests.unit.test_media_qr import _qr_png  # noqa: E402


def _image(msgid, md5):
    return {"msgid": msgid, "action": "send", "from": "zs", "tolist": ["wmC"], "roomid": "", "msgtime": 1,
            "msgtype": "image", "image": {"md5sum": md5}}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


async def _agent(tmp_path, cfg):
    sent = []

    async def send(topic, key, value):
        sent.append((topic, key, value))

    clock = Clock()
    agent = media_agent.MediaAgent(send, MediaStore(tmp_path), clock)
    agent.config(cfg)
    return agent, sent, clock


async def _drain(agent, cfg, until, timeout=10.0):
    task = asyncio.ensure_future(agent.run())
    try:
        for _ in range(int(timeout / 0.05)):
            if until():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"not done: {agent.counts}")
    finally:
        task.cancel()


async def test_qr_image_is_sent_as_text_and_read_once(tmp_path, monkeypatch):
    cfg = MediaRule(ocr=False)
    monkeypatch.setattr("streams.rules_state.current_rules", lambda: type("R", (), {"rule": lambda s, n: cfg})())
    agent, sent, _ = await _agent(tmp_path, cfg)
    src = tmp_path / "q.png"
    src.write_bytes(_qr_png("https://u.wechat.com/EFxAgent"))
    md5 = MediaStore(tmp_path).put(src)
    plain = tmp_path / "p.png"
    from PIL import Image

    Image.new("L", (200, 200), 200).save(plain)
    plain_md5 = MediaStore(tmp_path).put(plain)
    assert agent.submit("zs", _image("a", md5), cfg) and agent.submit("zs", _image("b", md5), cfg)
    assert agent.submit("zs", _image("c", plain_md5), cfg)
    assert not agent.submit("zs", {"msgtype": "text", "text": {"content": "x"}}, cfg)
    await _drain(agent, cfg, lambda: len(sent) == 2 and agent.counts["media_silent"] == 1)
    assert sorted((t, k, v["msgid"], v["msgtype"]) for t, k, v in sent) == [
        (media_agent.TOPIC, "zs", "a", "text"), (media_agent.TOPIC, "zs", "b", "text")]
    assert all("u.wechat.com/EFxAgent" in v["text"]["content"] and v["media"]["md5sum"] == md5 for _, _, v in sent)
    assert agent.counts["media_read"] + agent.counts["media_cached"] == 3
    assert len(agent.reader.qr_cache.items) == 2  # decoded once per md5


async def test_full_queue_skips_and_counts(tmp_path):
    cfg = MediaRule(queue=2)
    agent, _, _ = await _agent(tmp_path, cfg)
    results = [agent.submit("zs", _image(str(i), "a" * 32), cfg) for i in range(3)]
    assert results == [True, True, False] and agent.counts["media_queue_full"] == 1


async def test_queue_depth_lag_and_outcomes_reach_metrics(tmp_path):
    from metrics import detection as detection_metrics
    from tests.integration.test_metrics import samples

    cfg = MediaRule(queue=2)
    agent, _, clock = await _agent(tmp_path, cfg)
    for i in range(3):
        agent.submit("zs", _image(str(i), "a" * 32), cfg)
    clock.now += 42.0  # nobody read them yet: the oldest has waited 42 s
    detection_metrics.media(agent.counts, agent.depth(), agent.oldest_wait())
    found = samples(detection_metrics.REGISTRY.render().decode())
    assert {s.labels["queue"]: s.value for s in found["paodan_media_queue"]}["queued"] == 2
    assert found["paodan_media_oldest_wait_seconds"][0].value == 42.0
    outcomes = {s.labels["outcome"]: s.value for s in found["paodan_media_total"]}
    assert outcomes["queued"] == 2 and outcomes["queue_full"] == 1


async def test_missing_is_retried_then_reported(tmp_path, monkeypatch, caplog):
    cfg = MediaRule(ocr=False, missing_retry_ms=60_000)
    monkeypatch.setattr("streams.rules_state.current_rules", lambda: type("R", (), {"rule": lambda s, n: cfg})())
    monkeypatch.setattr(media_agent, "RETRY_FIRST_S", 0.01)
    agent, sent, clock = await _agent(tmp_path, cfg)
    agent.submit("zs", _image("gone", "b" * 32), cfg)
    await _drain(agent, cfg, lambda: agent.counts["media_retried"] >= 2)
    assert agent.counts["media_missing"] == 0 and "not in the store yet" in caplog.text
    clock.now = 61.0  # past missing_retry_minutes
    await _drain(agent, cfg, lambda: agent.counts["media_missing"] == 1)
    assert sent == [] and agent.depth() == {"queued": 0, "ocr_queued": 0, "waiting_missing": 0}
    assert "gone" in caplog.text and "after 61 s" in caplog.text


async def test_media_off_sends_nothing(tmp_path):
    cfg = MediaRule(enabled=False)
    agent, _, _ = await _agent(tmp_path, cfg)
    assert not agent.submit("zs", _image("x", "c" * 32), cfg)
    assert agent.counts["image_off"] == 1
