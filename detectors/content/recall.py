"""Recall after a hit: the employee said it, then took it back.

WeCom lets a sender recall a message for a short while; the archive still has the original, and the
recall arrives as its own record (`action: recall`, `msgtype: revoke`, `revoke.pre_msgid`). Someone
who recalls a message that carried a lure or contact details knows what they did, so:

- a recall within `recall_minutes` of a message that raised any content signal raises a
  `chat.recall_after_hit` signal one severity level above the original's;
- when the recalled message carried contact details (phone, WeChat id, bank card, 名片) the recall is
  at least `high`, whatever the original's grade.

To recognise the recalled message the employee's state remembers recent messages with signals:
`[msgid, msgtime, severity, contact, summary]`, at most `remember` of them and none older than the
recall window — bounded, whatever the traffic.
"""

from __future__ import annotations

from typing import Any

from config.chat_rules import ChatRule
from detectors.content.signals import Signal, bump, rank

RULE = "chat.recall_after_hit"


def remember(recent: list[list[Any]], msgid: str, msgtime: int, signals: list[Signal], cfg: ChatRule
             ) -> list[list[Any]]:
    """`recent` with this message's signals added (the strongest one summarised), pruned."""
    if not signals or any(r[0] == msgid for r in recent):
        return recent
    top = max(signals, key=lambda s: rank(s.severity))
    summary = "；".join(f"「{s.written}」（{s.label}）" if s.written else s.label for s in signals[:3])
    entry = [msgid, msgtime, top.severity, any(s.contact for s in signals), summary]
    horizon = msgtime - cfg.recall_ms
    kept = [r for r in recent if r[1] >= horizon]
    kept.append(entry)
    return kept[-cfg.remember:]


def recalled(recent: list[list[Any]], pre_msgid: str, recall_time: int, cfg: ChatRule) -> Signal | None:
    """The signal for recalling `pre_msgid` at `recall_time`, if it was a recent hit."""
    for msgid, msgtime, severity, contact, summary in recent:
        if msgid != pre_msgid:
            continue
        delay = recall_time - msgtime
        if delay < 0 or delay > cfg.recall_ms:
            return None
        new = bump(severity)
        if contact and rank(new) < rank("high"):
            new = "high"
        minutes = f"{delay / 60_000:.1f}"
        what = "含联系方式的消息" if contact else "命中的消息"
        return Signal(RULE, "recall", new, f"撤回{what}（{minutes} 分钟后）", written=summary,
                      part="revoke", contact=contact, source=RULE, refers_to=pre_msgid)
    return None
