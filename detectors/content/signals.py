"""What a content detector found in one message, before it becomes (part of) an alert.

A Signal is one finding — a lexicon hit graded by intent, a phone number, a shop link, a 名片 — with the
rule it belongs to, its severity, and where it is: the span as written (offsets into the message part
it came from) and its normalised form, so that the explanation can quote both and the board can
highlight the span.
"""

from __future__ import annotations


from detectors.alert import SEVERITY_RANK
from detectors.frozen import record

SEVERITIES = tuple(SEVERITY_RANK)


@record
class Signal:
    rule: str  # the alert rule it feeds, e.g. chat.private_contact
    kind: str  # what it is: entity, phrase, phone, wechat_id, bank_card, shop_link, card, weapp, …
    severity: str
    label: str  # zh-CN: what was found (group title, 个人手机号, 外部店铺链接 …)
    written: str = ""  # the span exactly as written ("" for a message type such as a 名片)
    normalized: str = ""  # the matched form after normalisation (term, digits, host)
    part: str = "text"  # which part of the message: text, link.link_url, chatrecord[2].content, …
    start: int = -1  # offsets into that part ([-1, -1) when there is no span)
    end: int = -1
    contact: bool = False  # carries contact details (a recall of it is itself a signal)
    source: str = ""  # where the rule came from: lexicon file:line, or the rule section
    refers_to: str = ""  # another message this one is about (a recall: the recalled message's id)
    channel: str = ""  # a second channel target it names (a 名片's corp: corp:<name>; detectors/channels.py)

    def at_least(self, severity: str) -> bool:
        return SEVERITY_RANK[self.severity] >= SEVERITY_RANK[severity]


def bump(severity: str, steps: int = 1) -> str:
    """The severity `steps` levels up, capped at critical."""
    return SEVERITIES[min(len(SEVERITIES) - 1, SEVERITY_RANK[severity] + steps)]


def rank(severity: str) -> int:
    return SEVERITY_RANK[severity]
