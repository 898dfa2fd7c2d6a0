"""Finding labels without what the message itself supplied, for viewers who may not read chat content.

The content pipeline labels some findings `name（detail from the message）` (detectors/content/pipeline.py
`_findings`): a card's company, a mini-program's name, a red packet's amount. Those details are chat
content; the name alone says what was found. The board (sinks/privacy.py) and the history
queries (sinks/history.py) show supervisors the masked form.
"""

from __future__ import annotations

import re

# Labels written as `name（detail from the message）` by detectors/content/pipeline.py `_findings`.
_DETAILED_LABEL = re.compile(r"^(其他企业名片|竞品小程序|非公司小程序|外部红包|红包)（.*）$", re.S)


def mask_label(label: str) -> str:
    """A finding's label without the details the message itself supplied."""
    match = _DETAILED_LABEL.match(label or "")
    return match.group(1) if match else label


def mask_title(title: str) -> str:
    """An alert title `规则标题：label` with its label masked (titles of other shapes are kept)."""
    head, sep, label = (title or "").partition("：")
    return head + sep + mask_label(label) if sep else title
