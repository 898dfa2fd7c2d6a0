"""Classify what a QR code in a chat-archive image points at (pure; no I/O).

Why: a picture of a personal WeChat or payment code is the easiest way round the text detectors, so each decoded
QR payload is named here and the image's read text is handed to the same content pipeline as a message.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from config.media_rules import is_own

# (class, host, path prefix); the scheme-only payment code is handled separately.
_TARGETS = (
    ("personal_wechat", "u.wechat.com", "/"),
    ("wechat_group", "weixin.qq.com", "/g/"),
    ("payment", "wx.tenpay.com", "/f2f"),
    ("payment", "payapp.weixin.qq.com", "/qr/"),
    ("wecom_contact", "work.weixin.qq.com", "/"),
    ("wecom_contact", "wecom.work", "/"),
)

SEVERITY = {"personal_wechat": "high", "payment": "high", "wechat_group": "medium", "wecom_other": "medium",
            # Links and plain text are handed on too: the content pipeline knows shops, own channels, numbers.
            "url": "info", "text": "info"}


def classify_qr(payload: str, own: tuple[str, ...] = ()) -> str:
    """Return the target class of one QR payload: personal_wechat, wechat_group, payment,
    wecom_own, wecom_other, url or text. `own` is the rules' media.own_wecom_codes."""
    text = payload.strip()
    if text.lower().startswith("wxp://"):
        return "payment"
    parts = urlsplit(text if "://" in text else "https://" + text)
    host = (parts.hostname or "").lower()
    path = parts.path or "/"
    for name, want_host, prefix in _TARGETS:
        if host == want_host and path.startswith(prefix):
            if name == "wecom_contact":
                return "wecom_own" if is_own(text, own) else "wecom_other"
            return name
    if "://" in text and host:
        return "url"
    return "text"


def qr_findings(payloads: list[str], own: tuple[str, ...] = ()) -> list[dict]:
    """Each payload with its class and severity; the company's own codes are left out."""
    out = []
    for p in payloads:
        kind = classify_qr(p, own)
        if kind in SEVERITY:
            out.append({"class": kind, "payload": p, "severity": SEVERITY[kind]})
    return out


# How a finding is worded for the content pipeline, so the lexicon and intent rules read it like a message.
WORDS = {"personal_wechat": "个人微信二维码", "payment": "私人收款码 私下付款", "wechat_group": "微信群二维码",
         "wecom_other": "其他企业的企业微信二维码"}
# A neutral payload is handed on without the word 二维码, which the intent rules read as a private channel.
NEUTRAL = {"url": "图片中的链接", "text": "图片中的文字"}


def image_text(findings: list[dict], ocr_text: str = "") -> str:
    """The words an image says: each risky QR target (class words and payload) and any text read in it."""
    parts = [f"图片二维码：{WORDS[f['class']]} {f['payload']}" if f["class"] in WORDS
             else f"{NEUTRAL[f['class']]}：{f['payload']}" for f in findings]
    if ocr_text.strip():
        parts.append(f"图片文字：{ocr_text.strip()}")
    return "\n".join(parts)


def voice_text(transcript: str) -> str:
    return f"语音转写：{transcript.strip()}" if transcript.strip() else ""


def media_of(record: dict) -> tuple[str, str] | None:
    """(kind, md5sum) of an image or voice record's file; None for any other record."""
    kind = record.get("msgtype")
    if kind not in ("image", "voice") or not isinstance(record.get(kind), dict):
        return None
    return kind, str(record[kind].get("md5sum") or "").lower()


def image_as_text_record(record: dict, ocr_text: str, kind: str = "image") -> dict:
    """A copy of an image (or voice) record that the content pipeline reads as a text message; the evidence
    keeps the record's msgid and md5sum and says the words were read from the media."""
    media = record.get(kind) or {}
    out = {k: v for k, v in record.items() if k != kind}
    out["msgtype"] = "text"
    out["text"] = {"content": ocr_text}
    source = "text in image (QR/OCR) / 图片中读出的文字" if kind == "image" else "speech in voice / 语音转写"
    out["media"] = {"kind": kind, "md5sum": media.get("md5sum"), "source": source}
    return out
