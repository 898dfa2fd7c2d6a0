"""Decode every QR code in an image's bytes with zxing-cpp; unreadable images give a reason, not an exception."""
from __future__ import annotations

import io


def decode_qr(data: bytes) -> tuple[list[str], str | None]:
    """Return (payloads, reason); reason is set when the image could not be read at all."""
    try:
        import zxingcpp
        from PIL import Image
    except ImportError as exc:
        return [], f"QR decoder not installed ({exc.name}) / 未安装二维码解码"
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            results = zxingcpp.read_barcodes(img.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return [], f"unreadable image ({exc}) / 图片无法读取"
    return [r.text for r in results if r.valid], None
