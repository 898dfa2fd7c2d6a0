"""Text normalisation for matching, keeping a map back to the original text.

Matching happens on a normalised string (NFKC width folding, case folding, with whitespace and
punctuation dropped so that 加 我 微 信 and 加-我-微-信 match 加我微信). `offsets[i]` is the index in
the original text of normalised character i, so a match can be highlighted as the employee wrote it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Normalized:
    text: str
    offsets: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) covering normalised [start, end)."""
        return self.offsets[start], self.offsets[end - 1] + 1


def _dropped(ch: str) -> bool:
    cat = unicodedata.category(ch)
    # Z* separators, P* punctuation, S* symbols (emoji included), C* control/format characters.
    return cat[0] in "ZPSC"


def normalize(text: str) -> Normalized:
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        for folded in unicodedata.normalize("NFKC", ch).casefold():
            if not _dropped(folded):
                out.append(folded)
                offsets.append(i)
    return Normalized("".join(out), tuple(offsets))
