"""What a chat-archive record says, by message type (WECOM.md §3): text to scan and typed findings.

A record's payload lives under a key named after its msgtype (with WeCom's exceptions:
`external_redpacket` → `redpacket`, `docmsg` → `doc`, `markdown`/`news` → `info`). This module turns
any payload into
- `Part`s: named pieces of text the word and number detectors scan (`text`, `link.title`,
  `chatrecord[2].content`, …), and
- `Finding`s: what the type itself means — a 名片 (`card`), a mini-program (`weapp`), a red packet, a
  link URL — which the pipeline grades against the allow-lists.

`chatrecord` (forwarded chat history) and `mixed` (several items in one message) carry their items'
payloads as JSON strings; we look inside, one level of nesting at a time, up to a bound, so a
competitor link forwarded inside a chat record is still seen. Unknown types yield nothing: they are
archived, never rejected, and never crash detection.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

import orjson

from detectors.frozen import record

PAYLOAD_KEY = {"external_redpacket": "redpacket", "docmsg": "doc", "markdown": "info", "news": "info"}
# Fields of each type that hold free text worth scanning.
TEXT_FIELDS = {
    "text": ("content",), "link": ("title", "description"), "weapp": ("title", "description", "displayname"),
    "redpacket": ("wish",), "external_redpacket": ("wish",), "todo": ("title", "content"),
    "file": ("filename",), "docmsg": ("title",), "markdown": ("content",), "news": ("title", "description"),
    "location": ("title", "address"), "sphfeed": ("feed_desc", "sph_name"), "card": (),
}
MAX_ITEMS = 200  # items looked at inside one chatrecord/mixed message
MAX_DEPTH = 3
MAX_PARTS = 1000  # text parts of one record, however deeply nested


@record
class Part:
    name: str
    text: str


@record
class Finding:
    kind: str  # card, weapp, redpacket, external_redpacket, url
    part: str
    fields: dict[str, Any] = field(default_factory=dict)


def _s(payload: dict, key: str) -> str:
    value = payload.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def payload_of(record: dict[str, Any], msgtype: str) -> dict[str, Any]:
    payload = record.get(PAYLOAD_KEY.get(msgtype, msgtype))
    return payload if isinstance(payload, dict) else {}


def _item_type(raw: Any) -> str:
    """chatrecord items say ChatRecordText, ChatRecordLink…; mixed items say text, image…"""
    t = raw.lower() if isinstance(raw, str) else ""
    return t[len("chatrecord"):] if t.startswith("chatrecord") else t


def _items(msgtype: str, payload: dict, prefix: str, depth: int, parts: list[Part],
           findings: list[Finding]) -> None:
    items = payload.get("item")
    if not isinstance(items, list):
        return
    for i, item in enumerate(items[:MAX_ITEMS]):
        if not isinstance(item, dict) or len(parts) >= MAX_PARTS:
            continue
        name = f"{prefix}[{i}]"
        content = item.get("content")
        if isinstance(content, str):
            try:
                content = orjson.loads(content)
            except orjson.JSONDecodeError:
                parts.append(Part(f"{name}.content", content))  # plain text content
                continue
        if not isinstance(content, dict):
            continue
        inner = _item_type(item.get("type"))
        if inner in TEXT_FIELDS or inner in ("chatrecord", "mixed"):
            collect(inner, content, name, depth + 1, parts, findings)
        else:  # a type we do not know: scan whatever text it holds
            for key, value in content.items():
                if isinstance(value, str) and value:
                    parts.append(Part(f"{name}.{key}", value))


def collect(msgtype: str, payload: dict[str, Any], prefix: str = "", depth: int = 0,
            parts: list[Part] | None = None, findings: list[Finding] | None = None
            ) -> tuple[list[Part], list[Finding]]:
    """Parts and findings of one payload (`prefix` names nested items)."""
    parts = [] if parts is None else parts
    findings = [] if findings is None else findings
    if depth > MAX_DEPTH:
        return parts, findings
    base = prefix or msgtype
    for key in TEXT_FIELDS.get(msgtype, ()):
        value = _s(payload, key)
        if value:
            parts.append(Part("text" if base == "text" and key == "content" else f"{base}.{key}", value))
    if msgtype == "card" and _s(payload, "userid"):  # a card without a userid points nowhere
        findings.append(Finding("card", base, {"corpname": _s(payload, "corpname"), "userid": _s(payload, "userid")}))
    elif msgtype == "weapp":
        findings.append(Finding("weapp", base, {k: _s(payload, k) for k in ("title", "displayname", "username")}))
    elif msgtype in ("redpacket", "external_redpacket"):
        findings.append(Finding(msgtype, base, {"totalamount": _s(payload, "totalamount"),
                                                "totalcnt": _s(payload, "totalcnt"), "wish": _s(payload, "wish")}))
    elif msgtype in ("link", "docmsg"):
        url = _s(payload, "link_url")
        if url:
            parts.append(Part(f"{base}.link_url", url))
    elif msgtype in ("chatrecord", "mixed"):
        if msgtype == "chatrecord" and _s(payload, "title"):
            parts.append(Part(f"{base}.title", _s(payload, "title")))
        _items(msgtype, payload, base, depth, parts, findings)
    return parts, findings


def of_record(record: dict[str, Any], msgtype: str) -> tuple[list[Part], list[Finding]]:
    if msgtype == "text":
        # Nearly every record: one text part and no findings, what `collect` answers for it without its
        # generality (a content that is not a non-empty string takes the general path below).
        payload = record.get("text")
        content = payload.get("content") if type(payload) is dict else None
        if type(content) is str and content:
            return [Part("text", content)], []
    return collect(msgtype, payload_of(record, msgtype))


KNOWN_TYPES = frozenset(TEXT_FIELDS) | {"chatrecord", "mixed", "revoke", "image", "voice", "video", "emotion",
                                        "collect", "vote", "meeting", "calendar", "meeting_voice_call",
                                        "voip_doc_share", "info"}


def skipped(record: dict[str, Any], limit: int) -> str | None:
    """Why detection saw less than the whole record, for the worker's counters: `unknown_type`
    (archived, not inspected) or `truncated` (a text longer than `limit` scanned up to it)."""
    msgtype = record.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in KNOWN_TYPES:
        return "unknown_type" if record.get("action") == "send" else None
    content = payload_of(record, msgtype).get("content")
    return "truncated" if isinstance(content, str) and len(content) > limit else None
