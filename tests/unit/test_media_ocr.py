"""OCR of chat-archive images (ingest/media/ocr.py, rapidocr offline): lines with boxes, and the text read
through the content pipeline in replay. Fixtures are rendered here with Pillow — Chinese with the machine's
CJK font (fc-list), Latin and digits with Pillow's own font when there is none."""
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("rapidocr")
Image = pytest.importorskip("PIL.Image")
from PIL import ImageDraw, ImageFont  # noqa: E402

from config.media_rules import MediaRule  # noqa: E402
from config.rules import load_rules  # noqa: E402
from ingest.media.ocr import read_lines, text_of  # noqa: E402
from ingest.media.store import MediaStore  # noqa: E402
from streams.media import MediaReader  # noqa: E402
from streams.replay import Replay  # noqa: E402

RULES = Path(__file__).parents[2] / "config" / "rules.yaml"


def cjk_font() -> str | None:
    """The first installed font that covers Chinese (fc-list :lang=zh), or None."""
    if not shutil.which("fc-list"):
        return None
    out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True).stdout.split("\n")
    files = [line.split(":")[0].strip() for line in out if line.strip()]
    return files[0] if files else None


FONT = cjk_font()


def render(*lines: str, cjk: bool = True) -> bytes:
    """A screenshot-like PNG: black lines of text on white."""
    font = ImageFont.truetype(FONT, 40) if cjk and FONT else ImageFont.load_default(size=40)
    img = Image.new("RGB", (900, 90 + 110 * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((30, 40 + 110 * i), line, fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


LATIN = ("wx: abc_123", "tel 138 0013 8000")


def test_latin_and_digits_are_read_with_boxes():
    data = render(*LATIN, cjk=False)
    lines, reason = read_lines(data)
    assert reason is None
    text = text_of(lines)
    assert "abc_123" in text and "13800138000" in text.replace(" ", "")
    w, h = Image.open(io.BytesIO(data)).size
    assert all(len(ln.box) == 4 and all(0 <= x <= w and 0 <= y <= h for x, y in ln.box) for ln in lines)
    assert lines[0].box[0][1] < lines[-1].box[0][1]  # reading order


def test_garbage_is_a_reason():
    assert read_lines(b"\x89PNG broken")[1].startswith("unreadable")


def _replay(tmp_path, data: bytes) -> list[dict]:
    src = tmp_path / "shot.png"
    src.write_bytes(data)
    store = MediaStore(tmp_path / "store")
    md5 = store.put(src)
    lines = tmp_path / "in.jsonl"
    lines.write_text(json.dumps({"topic": "wecom.msgaudit", "key": "zs", "value": {
        "msgid": "shot1", "action": "send", "from": "zs", "tolist": ["wmCustomer01"], "roomid": "",
        "msgtime": 1764210000000, "msgtype": "image", "image": {"md5sum": md5, "filesize": 1, "sdkfileid": "x"}}}) + "\n")
    out = io.BytesIO()
    replay = Replay(load_rules(RULES), out, io.StringIO())
    replay.media = MediaReader(store, MediaRule(qr=False))
    replay.run([str(lines)], parallel=False)
    return [json.loads(x) for x in out.getvalue().splitlines()]


@pytest.mark.skipif(FONT is None, reason="no CJK font here (fc-list :lang=zh is empty): Chinese is not rendered")
def test_screenshot_text_alerts_quoting_it_with_the_image_msgid(tmp_path):
    alerts = _replay(tmp_path, render("加我私人微信 wx: abc_123", "电话 138 0013 8000"))
    by_rule = {a["rule"]: a for a in alerts}
    assert "chat.private_contact" in by_rule
    contact = by_rule["chat.private_contact"]
    assert "abc_123" in contact["explanation"] and "13800138000" in contact["explanation"]
    assert all([e["id"] for e in a["evidence"]] == ["shot1"] for a in alerts)
    assert any(h["text"] and h["id"] == "shot1" for h in contact["highlights"])


@pytest.mark.skipif(FONT is None, reason="no CJK font here (fc-list :lang=zh is empty): Chinese is not rendered")
def test_an_ordinary_product_photo_raises_nothing(tmp_path):
    assert _replay(tmp_path, render("新款上市 全场八折", "纯棉T恤 尺码 S M L")) == []


@pytest.mark.skipif(FONT is None, reason="no CJK font here (fc-list :lang=zh is empty): Chinese is not rendered")
def test_a_screenshot_of_a_private_shop_alerts(tmp_path):
    alerts = _replay(tmp_path, render("我的淘宝小店 item.taobao.com/62", "拼多多搜 小陈优选 更便宜"))
    rules = {a["rule"] for a in alerts}
    assert rules & {"chat.external_shop", "chat.diversion_phrase"}, alerts
    quoted = " ".join(a["explanation"] for a in alerts)
    assert "taobao" in quoted or "拼多多" in quoted
