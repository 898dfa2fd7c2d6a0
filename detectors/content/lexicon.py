"""Lexicon matching: every term, in all the ways people write it, found in one pass.

At build time each lexicon term is expanded into the forms an evader uses — the term itself, its
variants and homophones (微信 → 薇信, V信, vx; from the lexicon's `variants` and the term's own), its
full pinyin (pinduoduo) and its initials (pdd) where the group asks for them — and every form is put,
normalised exactly like message text (detectors.textnorm), into one Aho-Corasick automaton.
Matching a message is then one pass over it, whatever the number of terms; nothing in Python runs per
term. Two implementations, found equal by tests/unit/test_scanner.py:

- native (detectors/scanner, Rust, built by ./dev wherever cargo is): one call makes the match view
  (fold and collapse) straight from the Python string's storage and scans it with a character-wise
  double-array automaton (daachorse). No Python object is made for a message without a hit: about
  0.4 µs for a 70-byte message with 5,000 terms, a quarter of the Python path. A hit's offsets come
  from one native pass too (textnorm.with_offsets).
- Python: one `str.translate` and one scan with ahocorasick-rs (Rust's aho-corasick crate as a
  contiguous NFA). Collapsing repeated characters costs as much as the scan itself and is rarely
  needed, so the automaton also holds every doubled character of the terms' alphabet (多多, 信信) as
  a marker, and only a message in which a marker shows up is collapsed and scanned again. (A term
  never contains a doubled character — terms are collapsed too — so without a marker the plain fold
  view finds exactly what the collapsed one would.)

Only when the automaton reports something do we pay for offsets (`with_offsets`), for the word-edge
check of Latin forms (pdd must not match inside "ipddx"), and for overlap resolution (the longest
match wins, so 加我私人微信 is reported rather than 微信 inside it).
"""

from __future__ import annotations


import ahocorasick_rs

from config.lexicon import Lexicon, Term
from detectors.textnorm import (Mapped, collapse, fold, match_view, native_fold, paodan_scanner, with_offsets,
                                with_offsets_python)
from detectors.frozen import record

MAX_FORMS_PER_TERM = 64


@record
class Hit:
    term: Term
    form: str  # the normalised form that matched (e.g. "pdd")
    how: str  # text, variant, pinyin or initials
    start: int  # offsets into the original text
    end: int
    written: str  # the span as written
    vstart: int  # offsets into the match view (for distances between hits)
    vend: int


def _has_cjk(s: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in s)


def _forms(term: Term, variants: tuple[tuple[str, tuple[str, ...]], ...]) -> list[tuple[str, str]]:
    """(raw form, how) for one term: itself, variant substitutions, its own variants, pinyin."""
    forms: dict[str, str] = {term.text: "text"}
    for canonical, alternatives in variants:
        for existing in list(forms):
            if canonical in existing:
                for alt in alternatives:
                    if len(forms) < MAX_FORMS_PER_TERM:
                        forms.setdefault(existing.replace(canonical, alt), "variant")
    for v in term.variants:
        forms.setdefault(v, "variant")
    if _has_cjk(term.text):
        from pypinyin import Style, lazy_pinyin  # here, not at import: loading its dictionaries takes 0.3 s

        if "full" in term.pinyin:
            forms.setdefault("".join(lazy_pinyin(term.text)), "pinyin")
        if "initials" in term.pinyin:
            forms.setdefault("".join(lazy_pinyin(term.text, style=Style.FIRST_LETTER)), "initials")
    return list(forms.items())


def _ascii_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


class LexiconMatcher:
    """An Aho-Corasick automaton over all forms of a set of terms. Built once per rules version."""

    def __init__(self, terms: list[Term], lexicon: Lexicon, min_chars: int = 2, native: bool = True):
        """`native=False` keeps to the pure-Python path even where the native scanner is built (for
        comparing the two)."""
        self.patterns = 0
        entries: dict[str, list[tuple[Term, str]]] = {}
        for term in terms:
            for raw, how in _forms(term, lexicon.variants):
                key = match_view(raw)
                if len(key) < min_chars:
                    continue  # a one-letter form would match everywhere
                entries.setdefault(key, []).append((term, how))
        keys: list[str] = []
        # What each automaton pattern stands for: (key, its owners, word edges), or None for a marker.
        self.values: list[tuple | None] = []
        for key, owners in entries.items():
            # Word edges are checked for forms that begin or end with a Latin letter or digit.
            edges = (_ascii_alnum(key[0]), _ascii_alnum(key[-1]))
            keys.append(key)
            self.values.append((key, tuple(owners), edges))
        self.patterns = len(entries)
        # All matches, overlapping ones included (resolve() picks among them), as (key index, start, end).
        self.native = paodan_scanner.Scanner(keys, native_fold()) if keys and native and paodan_scanner else None
        # The pure-Python path maps hits back in Python too, so that it stands for a machine without cargo.
        self._offsets = with_offsets if self.native is not None else with_offsets_python
        if self.native is None and keys:
            for ch in sorted({c for key in entries for c in key if not "0" <= c <= "9"}):
                keys.append(ch + ch)  # a repeat marker (see the module's docstring)
                self.values.append(None)
            automaton = ahocorasick_rs.AhoCorasick(
                keys, matchkind=ahocorasick_rs.MatchKind.Standard,
                implementation=ahocorasick_rs.Implementation.ContiguousNFA)
            # find(view, True): all matches, overlapping ones too (positional: a keyword costs 0.3 µs a call)
            self._find_in_view = automaton.find_matches_as_indexes

    def _raw(self, found: list[tuple[int, int, int]], markers: bool = True) -> list[tuple[int, tuple | None]]:
        """Automaton matches as (view index of the last character, value), by end then longest first."""
        values = self.values
        found.sort(key=lambda m: (m[2], m[1]))
        return [(end - 1, values[i]) for i, _start, end in found if markers or values[i] is not None]

    def scan_text(self, text: str) -> tuple[list, Mapped | None]:
        """Raw hits in `text`, and the match view they index with its offsets into `text` (None when
        nothing matched). Cheap when nothing matches, so callers can skip all further work then.

        Natively: one call makes the match view (fold, collapse) and scans it. In Python: the fold view
        is scanned, and only a message in which a repeat marker shows up is collapsed and scanned again.
        """
        if self.native is not None:
            found = self.native.find(text)
            return (self._raw(found), with_offsets(text)) if found else ([], None)
        if not self.patterns:
            return [], None
        folded = fold(text)
        found = self._find_in_view(folded, True)
        if not found:
            return [], None
        raw = self._raw(found)
        if any(value is None for _, value in raw):
            raw = self.scan_view(collapse(folded))
            return (raw, self._offsets(text, True)) if raw else ([], None)
        return raw, self._offsets(text, False)

    def scan_view(self, view: str) -> list:
        """Raw hits on a view as it is (for cues, scanned on the view the words were found in)."""
        if not self.patterns:
            return []
        found = self.native.find(view, True) if self.native is not None else self._find_in_view(view, True)
        return self._raw(found, markers=False) if found else []

    def resolve(self, raw_hits: list, mapped: Mapped, longest_only: bool = True) -> list[Hit]:
        """Turn raw hits into Hits with original offsets; check word edges; keep the longest."""
        text = mapped.original
        hits: list[Hit] = []
        for end_idx, (key, owners, (left_edge, right_edge)) in raw_hits:
            vstart, vend = end_idx - len(key) + 1, end_idx + 1
            start, end = mapped.span(vstart, vend)
            if left_edge and start > 0 and _ascii_alnum(text[start - 1]):
                continue
            if right_edge and end < len(text) and _ascii_alnum(text[end]):
                continue
            for term, how in owners:
                hits.append(Hit(term, key, how, start, end, text[start:end], vstart, vend))
        if not longest_only:
            return hits
        hits.sort(key=lambda h: (h.vstart, -(h.vend - h.vstart)))
        kept: list[Hit] = []
        for h in hits:
            if not kept or h.vstart >= kept[-1].vend:
                kept.append(h)
            elif (h.vstart, h.vend) == (kept[-1].vstart, kept[-1].vend) and h.term.group != kept[-1].term.group:
                kept.append(h)  # the same words in two groups: both groups learn of it
        return kept

    def find(self, text: str) -> list[Hit]:
        """All hits in `text` (scan + resolve)."""
        raw, mapped = self.scan_text(text)
        return self.resolve(raw, mapped) if raw else []
