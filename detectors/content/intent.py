"""Intent, not mentions: grading lexicon hits by who wrote them and what the sentence does.

Naming a competitor is not steering. A customer who writes 拼多多上更便宜 is telling us about the
market; an employee who writes 那些拼多多上的都是假货，别去买 is protecting the company. Steering is the
employee *pointing the customer elsewhere*: an entity (a platform, a private channel, a payment
channel) next to a call to act (去/搜/加/转/拍/下单/扫…), or next to a way to get there (a number, an id,
a link, a code in the same message). So, for each hit:

- a term whose `direction` does not match who wrote the message is ignored;
- a term outside its `scope` (teams, branches, employees) is ignored;
- a warning cue (别, 不要, 谨防, 假冒…) in the same clause makes it `info` — a warning, not a lure;
- an entity with an act cue within `act_distance` characters in the same clause, or in a message that
  also carries contact details, a link or a code, takes the term's `severity`; otherwise its
  `mention` severity (info/low);
- a phrase (加我私人微信, 转账给我) is a call to act by itself and takes its `severity`.

Clauses are split at punctuation (not at spaces: pin duo duo 上拍 is one clause), except where the pieces are single characters — 去，拼，
多，多 is one clause written to dodge exactly this.
"""

from __future__ import annotations

from config.chat_rules import ChatRule
from detectors.content.lexicon import Hit
from detectors.textnorm import Mapped
from detectors.content.signals import Signal

RULE = "chat.diversion_phrase"
BOUNDARY = set("，,。.！!？?；;：:～~…、\n\r")


def clause_ids(mapped: Mapped) -> list[int]:
    """The clause number of every character of the match view."""
    text, n = mapped.original, len(mapped.text)
    view_starts, view_ends = mapped.starts, mapped.ends
    starts = [0]
    for i in range(1, n):
        gap = text[view_ends[i - 1]:view_starts[i]]
        if gap and not BOUNDARY.isdisjoint(gap):  # a boundary character in the gap (a set test, in C)
            starts.append(i)
    starts.append(n)
    # A piece of one character is glued to its neighbour: separators between single characters
    # are evasion, not sentence structure.
    merged = [starts[0]]
    for a, b in zip(starts, starts[1:]):
        if b - a > 1 or a == 0:
            if a != merged[-1]:
                merged.append(a)
    # Clause k covers view characters merged[k] up to the next clause's start.
    ids: list[int] = []
    for cid, (a, b) in enumerate(zip(merged, merged[1:] + [n])):
        ids.extend([cid] * (b - a))
    return ids


def _allowed(term, outbound: bool) -> bool:
    return term.direction == "any" or (term.direction == "employee") == outbound


def grade(hits: list[Hit], cues: list[Hit], mapped: Mapped, outbound: bool, has_pointer: bool,
          rule: ChatRule, who: tuple[str, str, str], titles: dict[str, str], part: str) -> list[Signal]:
    """Signals for the lexicon hits of one message part. `who` = (employee, team, branch)."""
    words = [h for h in hits if h.term.kind in ("entity", "phrase") and _allowed(h.term, outbound)
             and h.term.scope.covers(*who)]
    if not words:
        return []
    ids = clause_ids(mapped)
    warnings = [c for c in cues if c.term.kind == "warning"]
    acts = [c for c in cues if c.term.kind == "act"]
    out: list[Signal] = []
    for h in words:
        clause = ids[h.vstart]
        title = titles.get(h.term.group, h.term.group)
        warned = any(ids[c.vstart] == clause for c in warnings)
        if warned:
            severity, label = "info", f"{title}（警示语境）"
        elif h.term.kind == "phrase":
            severity, label = h.term.severity, title
        elif outbound and (has_pointer or any(
                ids[c.vstart] == clause and (0 <= h.vstart - c.vend <= rule.act_distance
                                             or 0 <= c.vstart - h.vend <= rule.act_distance)
                for c in acts)):
            severity, label = h.term.severity, f"{title}（引导行为）"
        else:
            severity, label = h.term.mention, f"{title}（提及）"
        out.append(Signal(RULE, h.term.kind, severity, label, h.written, h.term.text, part, h.start, h.end,
                          source=f"{h.term.source} {h.how}:{h.form}" if h.how != "text" else h.term.source))
    return out
