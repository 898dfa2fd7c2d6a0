"""The company's own WeCom codes, from its own QR images to the rules file: its own code raises nothing in
replay, another company's code does."""
import io
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("zxingcpp")

from config.media_rules import MediaRule  # noqa: E402
from config.rules import load_rules  # noqa: E402
from config.settings import CONFIG_DIR  # noqa: E402
from ingest.media.cli import own_codes  # noqa: E402
from ingest.media.store import MediaStore  # noqa: E402
from streams.media import MediaReader  # noqa: E402
from streams.replay import Replay  # noqa: E402
from tests.unit.test_media_qr import _qr_png  # noqa: E402

OURS, THEIRS = "https://work.weixin.qq.com/ca/cawcdeOurSales01", "https://work.weixin.qq.com/ca/cawcdeRival777"


def _rules_with(tmp_path, own_lines: str) -> Path:
    shutil.copytree(CONFIG_DIR / "lexicons", tmp_path / "lexicons")
    text = (CONFIG_DIR / "rules.yaml").read_text(encoding="utf-8")
    assert "    own_wecom_codes: []" in text
    out = tmp_path / "rules.yaml"
    out.write_text(text.replace("    own_wecom_codes: []", own_lines.rstrip("\n")), encoding="utf-8")
    return out


def test_own_code_images_become_the_allow_list(tmp_path, capsys):
    ours = tmp_path / "ours.png"
    ours.write_bytes(_qr_png(OURS))
    plain = tmp_path / "shop.png"
    plain.write_bytes(_qr_png("https://shop.example.com/p/1"))
    assert own_codes([str(ours), str(plain)]) == 0
    printed = capsys.readouterr()
    assert "not a WeCom code" in printed.err
    rules = load_rules(_rules_with(tmp_path, printed.out))
    assert rules.rule("media").own_wecom_codes == (OURS,)

    store = MediaStore(tmp_path / "store")
    theirs = tmp_path / "theirs.png"
    theirs.write_bytes(_qr_png(THEIRS))
    lines = tmp_path / "in.jsonl"
    lines.write_text("".join(json.dumps({"topic": "wecom.msgaudit", "key": emp, "value": {
        "msgid": msgid, "action": "send", "from": emp, "tolist": ["wmCustomer01"], "roomid": "",
        "msgtime": 1764210000000, "msgtype": "image",
        "image": {"md5sum": store.put(path), "filesize": 1, "sdkfileid": "x"}}}) + "\n"
        for emp, msgid, path in (("ours_emp", "own1", ours), ("theirs_emp", "rival1", theirs))))
    out = io.BytesIO()
    replay = Replay(rules, out, io.StringIO())
    replay.media = MediaReader(store, MediaRule(ocr=False, own_wecom_codes=rules.rule("media").own_wecom_codes))
    replay.run([str(lines)], parallel=False)
    alerts = [json.loads(x) for x in out.getvalue().splitlines()]
    assert {a["employee_id"] for a in alerts} == {"theirs_emp"}
    assert any(THEIRS in a["explanation"] for a in alerts)


def test_an_image_without_a_code_fails(tmp_path, capsys):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (100, 100), 255).save(blank)
    assert own_codes([str(blank), str(tmp_path / "nope.png")]) == 1
    assert "no QR code" in capsys.readouterr().err
