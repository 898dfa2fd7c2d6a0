"""Replay with --media: an image whose QR is a personal WeChat raises an alert that cites it."""
import io
import json
from pathlib import Path

import pytest

pytest.importorskip("zxingcpp")

from config.media_rules import MediaRule  # noqa: E402
from config.rules import load_rules  # noqa: E402
from ingest.media.store import MediaStore  # noqa: E402
from streams.media import MediaReader  # noqa: E402
from streams.replay import Replay  # noqa: E402
from tests.unit.test_media_qr import _qr_png  # noqa: E402


def _image_record(msgid, md5, t):
    return {"topic": "wecom.msgaudit", "key": "zs", "value": {
        "msgid": msgid, "action": "send", "from": "zs", "tolist": ["wmCustomer01"], "roomid": "",
        "msgtime": 1764210000000 + t, "msgtype": "image",
        "image": {"md5sum": md5, "filesize": 100, "sdkfileid": "x"}}}


def _run(tmp_path, payload):
    src = tmp_path / "qr.png"
    src.write_bytes(_qr_png(payload))
    store = MediaStore(tmp_path / "store")
    md5 = store.put(src)
    lines = tmp_path / "in.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in [
        _image_record("img1", md5, 0), _image_record("img2", "0" * 32, 1000)]) + "\n")
    out, err = io.BytesIO(), io.StringIO()
    replay = Replay(load_rules(Path(__file__).parents[2] / "config" / "rules.yaml"), out, err)
    replay.media = MediaReader(store, MediaRule(ocr=False))  # QR only here; OCR: test_media_ocr.py
    replay.run([str(lines)], parallel=False)
    return [json.loads(x) for x in out.getvalue().splitlines()], replay, md5


def test_personal_wechat_qr_alerts(tmp_path, capsys):
    alerts, replay, md5 = _run(tmp_path, "https://u.wechat.com/EFxPersonal")
    assert alerts, "a personal WeChat QR must raise an alert"
    assert any("u.wechat.com/EFxPersonal" in a["explanation"] or "个人微信" in a["explanation"] for a in alerts)
    assert any(e["id"] == "img1" for a in alerts for e in a["evidence"])
    assert replay.media.problems == 1  # the second image is missing: reported, not fatal
    assert "missing" in capsys.readouterr().err


def test_ordinary_qr_no_alert(tmp_path):
    alerts, _, _ = _run(tmp_path, "https://shop.example.com/product/42")
    assert alerts == []


@pytest.mark.parametrize("payload", ["wxp://f2f0PayCode123", "https://weixin.qq.com/g/AbCdGroup"])
def test_payment_and_group_codes_alert(tmp_path, payload):
    alerts, _, _ = _run(tmp_path, payload)
    assert any(payload in a["explanation"] for a in alerts)
