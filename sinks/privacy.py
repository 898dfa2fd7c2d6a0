"""What a viewer without content permission sees of an alert: everything except the chat's words.

Chat content is personal data: a supervisor's token has no content permission (`Claims.can_read_content`),
so the board redacts on the server, before anything is framed — a supervisor's socket and API answers
never carry the words — and so do notifications (sinks/notify.py: a group robot reaches people who may
not read them). A chat-content alert quotes them in three places (detectors/content/alerting.py):

- `highlights[*]`: `text` (the span as written) and `term` (its normalised form — a phone number, a
  WeChat id) are dropped; `source` keeps only the lexicon line (its second word is the matched form);
  offsets, kind, severity and label stay, so the board can still say what was found and where.
- `explanation`: the detector renders it from the highlights with `alerting.explain()`. We render it
  again with masked highlights, after checking that rendering the alert's own highlights gives exactly
  the explanation it carries — so precisely the quoted spans are replaced and nothing is guessed. An
  explanation that does not re-render (behaviour alerts carry counts and no quotes; a hand-made or
  older alert) has every 「…」 and “…” quote and every highlight's text masked instead.
- `title`: `规则标题：label`.

Labels are group titles and judgements (引导到私人渠道（引导行为）, 个人手机号), except those
`pipeline._findings` writes with the message's own details in brackets — a card's company, a
mini-program's name, a red packet's amount: those keep their name and lose the detail.

A redacted alert carries `"content_redacted": true` (an extension of CONTRACT §6) so the page can say why.
"""

from __future__ import annotations

import re
from typing import Any

from detectors.content.alerting import explain
from detectors.content.labels import mask_label, mask_title

MASK = "＊＊＊"
_QUOTES = (re.compile(r"「[^」]*」"), re.compile(r"“[^”]*”"))
_CONTENT_KEYS = ("text", "term")


def _masked_highlight(h: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in h.items() if k not in _CONTENT_KEYS}
    if "label" in out:
        out["label"] = mask_label(out["label"])
    if isinstance(out.get("source"), str):
        out["source"] = out["source"].split(" ")[0]
    return out


def _render(alert: dict[str, Any], highlights: list[dict[str, Any]]) -> str | None:
    """The explanation the content detectors write for `alert` with these highlights; None if the alert
    lacks what the rendering needs."""
    window = alert.get("window") or {}
    try:
        return explain(alert["rule"], alert["employee_id"], highlights, len(alert.get("evidence", ())),
                       (window["end"] - window["start"]) // 60_000, alert["rules_version"])
    except (KeyError, TypeError):
        return None


def _mask_quotes(text: str, highlights: list[dict[str, Any]]) -> str:
    for h in highlights:
        for key in _CONTENT_KEYS:
            if isinstance(h.get(key), str) and h[key]:
                text = text.replace(h[key], MASK)
        label = h.get("label")
        if isinstance(label, str) and label:
            text = text.replace(label, mask_label(label))
    for pattern in _QUOTES:
        text = pattern.sub(lambda m: m.group(0)[0] + MASK + m.group(0)[-1], text)
    return text


def redact_explanation(alert: dict[str, Any]) -> str:
    highlights = [h for h in alert.get("highlights") or () if isinstance(h, dict)]
    explanation = alert.get("explanation") or ""
    if highlights:
        masked = [{**h, "text": MASK if h.get("text") else "", "term": "",
                   "label": mask_label(h.get("label", ""))} for h in highlights]
        if _render(alert, highlights) == explanation:
            rendered = _render(alert, masked)
            if rendered is not None:
                return rendered
    return _mask_quotes(explanation, highlights)


def redact(alert: dict[str, Any]) -> dict[str, Any]:
    """The alert as a viewer without content permission may see it (the same object if nothing to hide)."""
    out = dict(alert)
    if isinstance(alert.get("title"), str):
        out["title"] = mask_title(alert["title"])
    if isinstance(alert.get("explanation"), str):
        out["explanation"] = redact_explanation(alert)
    if isinstance(alert.get("highlights"), list):
        out["highlights"] = [_masked_highlight(h) if isinstance(h, dict) else h for h in alert["highlights"]]
    if out == alert:
        return alert
    out["content_redacted"] = True
    return out
