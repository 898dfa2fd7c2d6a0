"""Normalisation before matching, with a map back into the original text.

Evasion works by writing the same word differently: 拼 多 多, ＰＤＤ, 拼★多★多, 拼拼多多多, 轉賬, a phone
number as ①③⑧ or 一三八. Matching therefore runs on a *folded* view of the message in which

- full-width forms become half-width, letters lose case and accents (NFKD + casefold; marks dropped:
  pīn duō duō is pin duo duo),
- traditional characters become simplified (OpenCC's t2s data, character by character),
- every digit style becomes an ASCII digit (①, ⑴, ⒈, ❶, superscripts, 〇一二…九, 幺, 壹贰叁…),
- spaces, punctuation, symbols, emoji, control and combining characters disappear,

and a *match* view in which runs of the same non-digit character collapse to one (拼拼多多多 → 拼多; terms
are collapsed the same way, so 拼多多 → 拼多 still matches; digits are kept so that 13888888888 stays a
phone number).

Speed matters: most messages contain nothing, so the folded view is built with `str.translate` over a
per-code-point table (a list: C speed), and the offsets back into the original — needed only to highlight a
hit — are computed afterwards, for the few messages that hit, by `with_offsets()`, which applies the
very same table character by character. Where the native scanner is built (detectors/scanner, Rust),
`native_fold()` applies the table there: the lexicon automaton folds and scans in the same pass, and
`with_offsets()` is one native pass too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import compress

import opencc

try:  # the native fold-and-scan (detectors/scanner); without a Rust toolchain Python does the same, slower
    import paodan_scanner
except ImportError:  # pragma: no cover - depends on the machine
    paodan_scanner = None

_T2S = opencc.OpenCC("t2s")

# Chinese numerals as people write digits in phone numbers and codes (大写 forms included).
CHINESE_DIGITS = {
    "〇": "0", "零": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "贰": "2", "貳": "2", "三": "3",
    "叁": "3", "參": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6", "陸": "6",
    "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9",
}
_DROPPED_CATEGORIES = ("Z", "P", "S", "C", "M")  # separators, punctuation, symbols, control, marks


def fold_char(ch: str) -> str:
    """The folded form of one character: "" when it is dropped, else one or more characters."""
    if ch in CHINESE_DIGITS:
        return CHINESE_DIGITS[ch]
    out = []
    for c in unicodedata.normalize("NFKD", ch).casefold():
        if c in CHINESE_DIGITS:
            out.append(CHINESE_DIGITS[c])
            continue
        cat = unicodedata.category(c)
        if cat[0] in _DROPPED_CATEGORIES:
            continue
        if cat == "No":  # ⓵ ❶ ➀ …: keep the digit they stand for, drop other number signs
            d = unicodedata.digit(c, None)
            if d is not None:
                out.append(str(d))
            continue
        if ord(c) > 0x2E7F:  # CJK and beyond: traditional → simplified
            c = _T2S.convert(c) or c
            c = CHINESE_DIGITS.get(c, c)
        out.append(c)
    return "".join(out)


TABLE_SIZE = 0x20000  # the BMP and plane 1 (emoji); rarer planes fold one character at a time
_TABLE: list[str] = []


def _table() -> list[str]:
    """`str.translate` table as a list indexed by code point (faster than a dict); built on first
    use, in about 0.2 s. Code points past its end are left unchanged by `translate`."""
    if not _TABLE:
        _TABLE.extend("" if 0xD800 <= i < 0xE000 else fold_char(chr(i)) for i in range(TABLE_SIZE))
    return _TABLE


_NATIVE: list = []


def native_fold():
    """The fold table as a native `paodan_scanner.Fold` (built once), or None without the extension."""
    if paodan_scanner is None:
        return None
    if not _NATIVE:
        _NATIVE.append(paodan_scanner.Fold(_TABLE or _table()))
    return _NATIVE[0]


_REPEATS = re.compile(r"([^0-9])\1+")


def fold(text: str) -> str:
    return text.translate(_TABLE or _table())


def collapse(folded: str) -> str:
    """Runs of one non-digit character become one character (拼拼多多多 → 拼多)."""
    # Searching first is cheaper than substituting when, as usual, there is nothing to collapse.
    return _REPEATS.sub(r"\1", folded) if _REPEATS.search(folded) else folded


def match_view(text: str) -> str:
    """What the lexicon automaton searches: fold, then collapse repeats."""
    return collapse(text.translate(_TABLE or _table()))


@dataclass(frozen=True)
class Mapped:
    """A view of a text: view character i comes from original characters [starts[i], ends[i])
    (more than one when a run of repeats was collapsed into it)."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) covering view [start, end)."""
        return self.starts[start], self.ends[end - 1]

    def written(self, start: int, end: int) -> str:
        s, e = self.span(start, end)
        return self.original[s:e]


_LENGTHS: list[str] = []


def _lengths() -> list[str]:
    """Per code point, how many characters it folds to, as a character: "\x00", "\x01" or "\x02" (two
    or more). `translate` with it gives a text's fold lengths in one pass."""
    if not _LENGTHS:
        _LENGTHS.extend(chr(min(len(f), 2)) for f in _TABLE or _table())
    return _LENGTHS


def with_offsets(text: str, collapse_repeats: bool = True) -> Mapped:
    """The match view (or, without collapsing, the fold view) of `text` with offsets into `text`.

    Equal, character for character, to `match_view(text)` (or `fold(text)`), by construction.
    """
    native = native_fold()
    if native is not None:  # the same, in one native pass (detectors/scanner)
        view, starts, ends = native.offsets(text, collapse_repeats)
        return Mapped(text, view, starts, ends)
    return with_offsets_python(text, collapse_repeats)


def with_offsets_python(text: str, collapse_repeats: bool = True) -> Mapped:
    """with_offsets() without the native scanner: CPython's C-speed passes (translate, compress) where
    they can, else one character at a time."""
    lengths = text.translate(_LENGTHS or _lengths())
    if not lengths.isascii() or "\x02" in lengths:
        return _with_offsets_by_char(text, collapse_repeats)  # a character folding to several, or past the table
    # Every character folds to one character or none: view character i comes from the i-th one kept,
    # found in C (itertools.compress) rather than by a Python loop over the text.
    keep = lengths.encode("ascii")
    view = text.translate(_TABLE)
    starts = list(compress(range(len(text)), keep))
    ends = list(compress(range(1, len(text) + 1), keep))
    if collapse_repeats and _REPEATS.search(view):
        # A run of one non-digit character is one view character spanning the whole run.
        run_starts: list[int] = []
        run_ends: list[int] = []
        done = 0
        for m in _REPEATS.finditer(view):
            a, b = m.span()
            run_starts += starts[done:a + 1]
            run_ends += ends[done:a]
            run_ends.append(ends[b - 1])
            done = b
        starts = run_starts + starts[done:]
        ends = run_ends + ends[done:]
        view = _REPEATS.sub(r"\1", view)
    return Mapped(text, view, tuple(starts), tuple(ends))


def _with_offsets_by_char(text: str, collapse_repeats: bool) -> Mapped:
    """with_offsets() for any text: applies the fold table character by character, as translate does."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    table = _TABLE or _table()
    for i, ch in enumerate(text):
        code = ord(ch)
        for c in (table[code] if code < TABLE_SIZE else ch):  # as translate does
            if collapse_repeats and chars and c == chars[-1] and not "0" <= c <= "9":
                ends[-1] = i + 1
                continue
            chars.append(c)
            starts.append(i)
            ends.append(i + 1)
    return Mapped(text, "".join(chars), tuple(starts), tuple(ends))


def normalize(text: str) -> Mapped:
    """The match view of `text` with offsets: what the lexicon automaton sees (and ClickHouse's
    `content_norm` stores, so a search finds what the alerts found)."""
    return with_offsets(text)
