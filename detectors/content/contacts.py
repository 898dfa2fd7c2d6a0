"""Contact details and off-platform pointers that are not words: numbers, ids, links, codes.

- Personal mobile numbers (1[3-9] + 9 digits), however written: 138 1234 5678, 138-1234-5678,
  ①③⑧…, 一三八幺…, +86 … — found in the match view, where every digit style is already an ASCII digit
  and separators are gone. The company's 400/95 numbers are not mobile numbers; allow-listed numbers
  (the company's own service phones) are skipped.
- Bank-card numbers: 16–19 digits passing the Luhn check.
- WeChat ids: `wxid_…`, or an id after a prefix such as vx: / 微信号 / v信 (from the rule's list), and
  QQ numbers after qq / 扣扣 — read with emoji and symbols between the characters removed (薇❤️信).
- Links whose host is a shop platform (yangkeduo.com, taobao.com, jd.com …, subdomains included; also
  written with 点 or 。 for the dot), and other links; allow-listed hosts (the company's own shop) skipped.
- Tao-passwords: ￥AbCd1234Ef￥ and the other currency-sign wrappers Taobao uses.

Ids, links and codes are ASCII, so they are searched in the original text with full-width forms folded
and emoji/symbols dropped (offsets mapped back to the original text).
"""

from __future__ import annotations

import re

from config.lexicon import Allow
from detectors.textnorm import Mapped
from detectors.frozen import record

PHONE = re.compile(r"(?<![0-9])(?:0{0,2}86)?(1[3-9][0-9]{9})(?![0-9])")
BANK_CARD = re.compile(r"(?<![0-9])([1-9][0-9]{15,18})(?![0-9])")
DIGIT_HINT = re.compile(r"[0-9]{11}")
LONG_RUN = re.compile(r"[0-9]{12,30}")
PHONE_SHAPE = re.compile(r"1[3-9][0-9]{9}")

# Full-width ASCII (！ to ～) and the ideographic space, folded one-for-one.
WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
WIDTH[0x3000] = 0x20

URL = re.compile(
    r"(?:(https?)://)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.|。|点))+[a-z]{2,10})(?![a-z0-9])(?::[0-9]{2,5})?"
    r"(/[\x21-\x7e]*)?", re.IGNORECASE)
TAO_PASSWORD = re.compile(r"[￥¥$€₤₳¢₰₴₵]((?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{8,14})[￥¥$€₤₳¢₰₴₵/]")
ASCII_HINT = re.compile(r"[0-9A-Za-z０-９Ａ-Ｚａ-ｚ]")
LINK_HINT = re.compile(r"[.。点][a-z]{2}|[￥¥$€₤₳¢₰₴₵]", re.IGNORECASE)


@record
class Found:
    kind: str  # phone, bank_card, wechat_id, shop_link, link, tao_password
    start: int  # offsets into the original text
    end: int
    written: str
    normalized: str


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def numbers(mapped: Mapped, allow: Allow, known: frozenset[str] = frozenset()) -> list[Found]:
    """Mobile numbers and bank cards in the match view, with spans in the original text.

    `known`: numbers the customer gave in this conversation (an employee confirming the delivery
    phone is not handing out their own)."""
    out: list[Found] = []
    view = mapped.text
    spans = [(m.start(1), m.end(1)) for m in PHONE.finditer(view)] + _phones_in_runs(mapped)
    for vs, ve in spans:
        number = view[vs:ve]
        if number in allow.numbers or number in known:
            continue
        s, e = mapped.span(vs, ve)
        out.append(Found("phone", s, e, mapped.original[s:e], number))
    for m in BANK_CARD.finditer(view):
        number = m.group(1)
        if luhn(number) and number not in allow.numbers and number not in known:
            s, e = mapped.span(m.start(), m.end())
            out.append(Found("bank_card", s, e, mapped.original[s:e], number))
    return out


def _phones_in_runs(mapped: Mapped) -> list[tuple[int, int]]:
    """Phone numbers glued to a neighbouring number once separators are dropped.

    "电话 138 1234 5678 3点后打" folds to the digit run 138123456783; the groups as written (split where
    the original had separators) still show a leading (or trailing) 11-digit phone number."""
    out = []
    view = mapped.text
    for m in LONG_RUN.finditer(view):
        a, b = m.span()
        cuts = [i for i in range(a + 1, b) if mapped.ends[i - 1] != mapped.starts[i]]
        for cut in cuts:
            if cut - a == 11 and PHONE_SHAPE.fullmatch(view, a, cut):
                out.append((a, cut))
            if b - cut == 11 and PHONE_SHAPE.fullmatch(view, cut, b):
                out.append((cut, b))
    return out


def numbers_in(folded: str) -> list[str]:
    """The phone and card numbers in a fold view, without spans (for remembering a customer's)."""
    if not DIGIT_HINT.search(folded):
        return []
    return PHONE.findall(folded) + [n for n in BANK_CARD.findall(folded) if luhn(n)]


def wechat_id_pattern(prefixes: tuple[str, ...]) -> re.Pattern | None:
    if not prefixes:
        return None
    # "V 信" and "v信" alike: spaces may sit between the characters of a prefix.
    alternatives = "|".join(r"\s*".join(map(re.escape, p)) for p in sorted(prefixes, key=len, reverse=True))
    return re.compile(
        r"(wxid_[a-z0-9]{4,30})"
        rf"|(?<![a-z0-9])(?:{alternatives})\s*(?:号|id)?\s*[:：是为]?\s*([a-z][-_a-z0-9]{{5,19}})(?![-_a-z0-9])",
        re.IGNORECASE)


QQ_NUMBER = re.compile(r"(?<![a-z0-9])(?:qq|扣扣|企鹅)\s*(?:号)?\s*[:：是为]?\s*([1-9][0-9]{4,11})(?![0-9])",
                       re.IGNORECASE)
_ID_TABLE: list[str | None] = []


def id_table() -> list[str | None]:
    """Drops emoji, symbols, format characters and marks (薇❤️信 → 薇信) but keeps spaces and the
    punctuation ids are made of (_ - :); ➕ becomes +; full width becomes ASCII. A list indexed by
    code point (fast in `str.translate`), built on first use."""
    if not _ID_TABLE:
        import unicodedata

        _ID_TABLE.extend(None if unicodedata.category(chr(cp)) in ("So", "Sk", "Cf", "Mn", "Me", "Cs")
                         else chr(WIDTH.get(cp, cp)) for cp in range(0x20000))
        _ID_TABLE[0x2795] = "+"
    return _ID_TABLE


def ascii_finds(text: str, wechat_ids: re.Pattern | None, shop_domains: tuple[str, ...],
                allow: Allow) -> list[Found]:
    """WeChat ids, QQ numbers, links and tao-passwords in `text`, reported with offsets of `text`.

    Searched in the id view (emoji and symbols dropped, full width folded), so 薇❤️信号 and
    taobao😀.com are read as written without them."""
    if not ASCII_HINT.search(text):
        return []  # every id, number, link and code has a Latin letter or a digit
    table = _ID_TABLE or id_table()
    view = text.translate(table)
    found: list[tuple[str, int, int, str]] = []
    if wechat_ids is not None:
        for m in wechat_ids.finditer(view):
            wid = m.group(1) or m.group(2)
            if not wid.isdigit():  # a number after "vx" is a phone, found by numbers()
                found.append(("wechat_id", m.start(), m.end(), wid.lower()))
    found.extend(("qq", m.start(), m.end(), m.group(1)) for m in QQ_NUMBER.finditer(view))
    if LINK_HINT.search(view):
        for m in URL.finditer(view):
            scheme, host = m.group(1), re.sub(r"[。点]", ".", m.group(2)).lower()
            if allow.domain(host):
                continue
            if any(host == d or host.endswith("." + d) for d in shop_domains):
                found.append(("shop_link", m.start(), m.end(), host))
            elif scheme:
                found.append(("link", m.start(), m.end(), host))
        found.extend(("tao_password", m.start(), m.end(), m.group(1)) for m in TAO_PASSWORD.finditer(view)
                     if m.group(1) not in allow.codes)
    if not found:
        return []
    if len(view) == len(text):
        kept = range(len(text))
    else:  # view index → original index, only for the few messages with a finding
        kept = [i for i, ch in enumerate(text) if ord(ch) >= len(table) or table[ord(ch)] is not None]
    return [Found(kind, kept[a], kept[b - 1] + 1, text[kept[a]:kept[b - 1] + 1], value)
            for kind, a, b, value in found]
