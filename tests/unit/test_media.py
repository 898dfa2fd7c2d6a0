import hashlib

import pytest

from detectors.content.media import classify_qr, image_as_text_record, qr_findings
from ingest.media.store import MediaStore

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10


@pytest.mark.parametrize("payload,want", [
    ("https://u.wechat.com/EFx3abc", "personal_wechat"),
    ("https://weixin.qq.com/g/AbCdEf", "wechat_group"),
    ("wxp://f2f0abcdef", "payment"),
    ("https://wx.tenpay.com/f2f?t=abc", "payment"),
    ("https://payapp.weixin.qq.com/qr/AQHx", "payment"),
    ("https://work.weixin.qq.com/u/vc123", "wecom_other"),
    ("https://example.com/shop", "url"),
    ("hello", "text"),
    ("https://weixin.qq.com/r/abc", "url"),
])
def test_classify_qr(payload, want):
    assert classify_qr(payload) == want


def test_own_company_code_is_not_a_finding():
    own = ("https://work.weixin.qq.com/u/ours*", "https://work.weixin.qq.com/ca/exact1")
    assert classify_qr("https://work.weixin.qq.com/u/ours123", own) == "wecom_own"
    assert classify_qr("HTTP://Work.Weixin.QQ.com/ca/exact1", own) == "wecom_own"
    assert classify_qr("https://work.weixin.qq.com/ca/exact12", own) == "wecom_other"  # exact means exact
    assert classify_qr("https://work.weixin.qq.com/u/theirs", own) == "wecom_other"
    found = qr_findings(["https://work.weixin.qq.com/u/ours123", "https://u.wechat.com/x"], own)
    assert [f["class"] for f in found] == ["personal_wechat"]


def test_image_as_text_record_keeps_identity():
    rec = {"msgid": "m1", "msgtype": "image", "from": "zs", "image": {"md5sum": "ab" * 16}}
    out = image_as_text_record(rec, "加我私人微信")
    assert out["msgtype"] == "text" and out["text"]["content"] == "加我私人微信"
    assert out["msgid"] == "m1" and out["media"]["md5sum"] == "ab" * 16
    assert "image" not in out and rec["msgtype"] == "image"


def test_store_roundtrip_and_reasons(tmp_path):
    src = tmp_path / "a.png"
    src.write_bytes(PNG)
    store = MediaStore(tmp_path / "store", max_bytes=1000)
    md5 = store.put(src)
    assert md5 == hashlib.md5(PNG).hexdigest()
    assert store.read(md5, "image").data == PNG
    assert "header" in store.read(md5, "voice").reason
    assert "missing" in store.read("0" * 32, "image").reason
    (tmp_path / "store" / ("1" * 32 + ".err")).write_text('{"errcode": 10010}')
    assert "10010" in store.read("1" * 32, "image").reason
    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"x" * 2000)
    assert "oversized" in store.read(store.put(big), "image").reason
    (tmp_path / "store" / ("2" * 32)).write_bytes(PNG)
    assert "mismatch" in store.read("2" * 32, "image").reason


def test_store_put_rejects_wrong_name(tmp_path):
    src = tmp_path / ("f" * 32)
    src.write_bytes(PNG)
    with pytest.raises(ValueError):
        MediaStore(tmp_path / "s").put(src)


def test_ingest_media_command(tmp_path, capsys):
    from ingest.media.cli import ingest_paths

    good = tmp_path / "g.png"
    good.write_bytes(PNG)
    assert ingest_paths([str(good)], str(tmp_path / "s")) == 0
    assert hashlib.md5(PNG).hexdigest() in capsys.readouterr().out
    assert ingest_paths([str(good), str(tmp_path / "nope")], str(tmp_path / "s")) == 1
    assert ingest_paths([str(good)], None) == 2
