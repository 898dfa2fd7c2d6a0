"""The native scanner (detectors/scanner, Rust) is the pure-Python matcher, faster: the same fold, the
same match view, the same hits — checked against `str.translate` and ahocorasick-rs, which share no
code with it, on the labelled corpus and on generated text full of what evaders write."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from config.rules import load_rules
from config.settings import CONFIG_DIR
from detectors.content.lexicon import LexiconMatcher
from detectors.textnorm import _with_offsets_by_char, fold, match_view, native_fold, paodan_scanner, with_offsets
from tests import corpus

RULES = load_rules(CONFIG_DIR / "rules.yaml")
LEXICON = RULES.lexicon
WORDS = [t for t in LEXICON.terms() if t.kind in ("entity", "phrase")]
needs_native = pytest.mark.skipif(paodan_scanner is None, reason="the native scanner is not built (no cargo)")

# What evaders and ordinary people type: CJK (simplified and traditional), Latin in both widths,
# digits in every style, separators, emoji (outside the BMP), characters that fold to several
# (㎏ → kg, ß → ss), marks, and a lone surrogate (a Python str can hold one).
ALPHABET = ("拼多淘宝微信加我私人轉賬個號店铺下单便宜去搜谢哈好的一三八幺壹叁"
            "abcdxyzPDDvxＰＤＤｖｘ0123456789①③⑧⑴❶¹³１３"
            " ，。!★☆\u200b\t\n-_/" "😊👍🏻" "㎏ßﬁ½" "é\u0301" "\ud800" "𠀋")


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        text = "".join(rng.choice(ALPHABET) * rng.choice((1, 1, 1, 2, 3)) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.5:  # a term, maybe spread out or doubled
            term = rng.choice(WORDS).text
            term = rng.choice((term, " ".join(term), "★".join(term), "".join(c * 2 for c in term)))
            cut = rng.randint(0, len(text))
            text = text[:cut] + term + text[cut:]
        out.append(text)
    return out


CORPUS_TEXTS = [m["text"] for case in corpus.load() for m in case.messages if "text" in m]
GENERATED = texts(3000, seed=11)


def test_the_native_scanner_is_built_wherever_rust_is():
    if shutil.which("cargo") or (Path.home() / ".cargo/bin/cargo").exists():
        assert paodan_scanner is not None, "./dev builds detectors/scanner where cargo is: see its output"


@needs_native
@pytest.mark.parametrize("text", CORPUS_TEXTS[:40] + GENERATED[:40])
def test_the_native_fold_is_str_translate_with_the_same_table(text):
    assert native_fold()(text) == fold(text)
    assert native_fold()(text, True) == match_view(text)


@needs_native
def test_folds_agree_on_thousands_of_generated_texts():
    folder = native_fold()
    assert [folder(t) for t in GENERATED] == [fold(t) for t in GENERATED]
    assert [folder(t, True) for t in GENERATED] == [match_view(t) for t in GENERATED]


@needs_native
def test_native_offsets_map_every_view_character_back_as_python_does():
    for text in CORPUS_TEXTS + GENERATED + ["", "ﬁﬁ", "ßs", "拼拼多多多", "1111", "a" * 10_000]:
        for collapse in (True, False):
            assert with_offsets(text, collapse) == _with_offsets_by_char(text, collapse), (text, collapse)


def _found(matcher: LexiconMatcher, text: str) -> list[tuple]:
    # View offsets (vstart, vend) are left out: the native scanner always indexes the collapsed view,
    # Python the plain fold view when nothing repeats near a term — the same hits either way.
    return [(h.term.text, h.term.group, h.form, h.how, h.start, h.end, h.written) for h in matcher.find(text)]


@needs_native
def test_the_native_and_the_python_matcher_find_the_same_hits():
    native, python = LexiconMatcher(WORDS, LEXICON), LexiconMatcher(WORDS, LEXICON, native=False)
    assert native.native is not None and python.native is None
    found = 0
    for text in CORPUS_TEXTS + GENERATED:
        expected = _found(python, text)
        assert _found(native, text) == expected, text
        found += bool(expected)
    assert found > 1000  # the comparison is not between two empty lists


@needs_native
def test_hits_index_the_match_view_and_point_at_the_text_as_written():
    matcher = LexiconMatcher(WORDS, LEXICON)
    text = "亲，去 拼★拼 多 多多 下单，谢谢谢"
    raw, mapped = matcher.scan_text(text)
    assert mapped.text == match_view(text)
    [hit] = matcher.resolve(raw, mapped)
    assert (hit.written, mapped.text[hit.vstart:hit.vend]) == ("拼★拼 多 多多", "拼多")
    assert matcher.scan_text("好的谢谢，明天见") == ([], None)
