import io

import pytest

zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")

from detectors.content.media import qr_findings  # noqa: E402
from ingest.media.qr import decode_qr  # noqa: E402


def _qr_png(*texts: str) -> bytes:
    """Side-by-side QR codes rendered by zxing-cpp, on a white canvas like a screenshot."""
    tiles = []
    for t in texts:
        bc = zxingcpp.create_barcode(t, zxingcpp.BarcodeFormat.QRCode)
        tiles.append(Image.fromarray(bc.to_image(scale=6)).convert("L"))
    canvas = Image.new("L", (sum(t.width for t in tiles) + 40 * (len(tiles) + 1), 400), 255)
    x = 40
    for t in tiles:
        canvas.paste(t, (x, 40))
        x += t.width + 40
    buf = io.BytesIO()
    canvas.save(buf, "PNG")
    return buf.getvalue()


def test_decodes_every_code_and_classifies():
    data = _qr_png("https://u.wechat.com/EFxPersonal", "wxp://f2f0PayCode")
    payloads, reason = decode_qr(data)
    assert reason is None
    assert sorted(payloads) == ["https://u.wechat.com/EFxPersonal", "wxp://f2f0PayCode"]
    assert sorted(f["class"] for f in qr_findings(payloads)) == ["payment", "personal_wechat"]


def test_plain_image_has_no_codes_and_garbage_is_a_reason():
    buf = io.BytesIO()
    Image.new("L", (200, 200), 128).save(buf, "PNG")
    assert decode_qr(buf.getvalue()) == ([], None)
    payloads, reason = decode_qr(b"\x89PNG not really")
    assert payloads == [] and "unreadable" in reason
