"""Normalisation folds every way of writing a word to one form and keeps offsets into the original."""

from __future__ import annotations

import pytest

from detectors.textnorm import fold, match_view, with_offsets


@pytest.mark.parametrize("written, folded", [
    ("拼 多 多", "拼多"),            # spaces between characters (repeats collapse: 多多 → 多, in terms too)
    ("拼★多☆多", "拼多"),           # symbols
    ("拼😊多\u200b多", "拼多"),      # emoji and zero-width characters
    ("ＰＤＤ", "pd"),                # full width and case
    ("轉賬給我", "转账给我"),         # traditional → simplified
    ("pīn duō duō", "pinduoduo"),    # pinyin with tone marks
    ("拼拼拼多多多", "拼多"),         # repeated characters
    ("①③⑧", "138"), ("⑴⑶⑻", "138"), ("⒈⒊⒏", "138"), ("❶❸❽", "138"),  # circled and bracketed digits
    ("¹³⁸", "138"), ("１３８", "138"),  # superscripts and full-width digits
    ("一三八幺", "1381"), ("壹叁捌", "138"), ("〇零", "00"),  # Chinese numerals
    ("13888888888", "13888888888"),  # digits never collapse: a phone number stays a phone number
])
def test_evasions_fold_to_one_form(written, folded):
    assert match_view(written) == folded


def test_offsets_point_at_the_text_as_written():
    text = "亲，去 拼★拼 多 多多 下单"
    m = with_offsets(text)
    assert m.text == match_view(text)
    i = m.text.index("拼多")
    assert m.written(i, i + 2) == "拼★拼 多 多多"
    # Every view character maps back to an original character that folds to it.
    for k, c in enumerate(m.text):
        assert c in fold(text[m.starts[k]:m.ends[k]])


def test_fold_without_collapse_keeps_repeats():
    assert with_offsets("拼多多", collapse_repeats=False).text == fold("拼多多") == "拼多多"


def test_odd_input_does_not_break_normalisation():
    for text in ("", "\x00\x01", "\ud800", "🙂" * 1000, "a" * 100_000):
        m = with_offsets(text)
        assert m.text == match_view(text)


def test_offsets_are_the_same_whichever_way_they_are_computed():
    """with_offsets() maps ordinary text in C-speed passes and falls back to one character at a time
    (a character folding to several, or past the fold table): both must give the very same view. (The
    native scanner's pass is held to the same in tests/unit/test_scanner.py.)"""
    import random

    from detectors.textnorm import _with_offsets_by_char, with_offsets_python

    rng = random.Random(11)
    alphabet = list("拼多夕微信薇Vv信 　，。！?★❤️😀①③⑧一三八幺壹ＰＤＤpdd138-_.") + ["½", "㎏", "ﬁ", "𠀀", "\u0301", "\u200b"]
    texts = ["", "拼拼多多多", "拼 多 多", "a½b", "ﬁﬁ", "𠀀拼多多", "138 1234 5678", "1111"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))) for _ in range(3000)]
    for text in texts:
        for collapse in (True, False):
            assert with_offsets_python(text, collapse) == _with_offsets_by_char(text, collapse), (text, collapse)
