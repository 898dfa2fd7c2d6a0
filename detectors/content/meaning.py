"""What the employee is doing in a message, composed from categories rather than fixed phrases.

A clause (the text between punctuation) is folded like everything else (detectors.textnorm) and its
words sorted into categories (detectors.content.categories): another place, private payment, off the
record, inducement, secrecy, a call to act, a refusal, a warning, the company's own channels,
agreement. Intents follow from what is present together:

- steer elsewhere: another place and a call to act (外面代购那里买, 去XX平台搜);
- pay privately: a payment to the person (转我, 我的卡, 个人收款码, 现金给我);
- off the record: another account or channel (另一个号, 生活号, 换个地方聊, 私人电话);
- private inducement: something for the customer together with secrecy (我私下给你返点, 别跟店里说…内部价).

A clause with a refusal or a warning (不能, 只能, 谨防, 假货) or about the company's own channels
(官方, 对公, 企业微信) and nothing private says no intent. Weak words (加我, 平台, 便宜) count only next
to a stronger category in the same message. A customer's words are never the employee's intent; but an
employee whose message opens with yes (可以, 行, 好的) to a customer's private proposal made just before
takes that proposal as theirs. One category is `medium`; two or more (pay + secrecy, place + inducement)
`high`.
"""

from __future__ import annotations

import re

import ahocorasick_rs

from detectors.content.categories import CATEGORIES
from detectors.textnorm import fold

BOUNDARY = re.compile(r"[，,。.！!？?；;：:～~…、\n\r（）()“”\"|]+")
# Words that count only beside a stronger category of the same message (folded, as clauses are).
WEAK = frozenset(fold(w) or w for w in (
    "加我", "打给你", "另一个", "私人的", "有记录", "被看到", "平台", "我那边", "我那个", "仓库", "展厅", "网店", "库里",
    "便宜", "打折", "优惠码", "改价", "压下来", "少你", "红包", "好处", "带你", "不开票", "不用开票", "别在这", "名片",
    "二维码", "那边拿", "那里拍", "那里买", "分你", "这价", "提成", "别扫", "地方给你", "熟人", "外面", "个地方", "私聊",
    "离职", "补贴", "我的手机"))
INTENTS = {"place": "steer", "pay": "pay", "offrecord": "offrecord", "induce": "induce"}
TITLES = {"steer": "引导到其他地方购买", "pay": "引导私下付款", "offrecord": "引导离开存档渠道",
          "induce": "私下利益诱导"}
CATEGORY_TITLES = {"place": "其他地方", "pay": "私人收款", "offrecord": "私人渠道", "induce": "利益", "secret": "隐瞒公司",
                   "act": "行动", "negation": "否定", "warning": "警示", "own": "公司渠道", "compare": "比较", "agree": "同意",
                   "plain": "日常用语"}
STRONG = ("place", "pay", "offrecord", "induce", "secret")

_WORD_CAT: dict[str, str] = {}
for _cat, _words in CATEGORIES.items():
    for _w in _words:
        _WORD_CAT.setdefault(fold(_w) or _w, _cat)
_ALL = re.compile("|".join(re.escape(w) for w in sorted(_WORD_CAT, key=len, reverse=True)))
# The first test on every message, one automaton pass: any word of a category that can make an intent.
# (Weak words alone make no intent, so they need not pass it.)
_HINT = ahocorasick_rs.AhoCorasick(sorted(w for w, c in _WORD_CAT.items() if c in STRONG and w not in WEAK))


def clause_words(clause: str) -> dict[str, list[str]]:
    """The category words of one folded clause, longest first at each place."""
    out: dict[str, list[str]] = {}
    for m in _ALL.finditer(clause):
        out.setdefault(_WORD_CAT[m.group()], []).append(m.group())
    return out


def _strong(words: dict[str, list[str]], cat: str) -> bool:
    return any(w not in WEAK for w in words.get(cat, ()))


def read(text: str, folded: str | None = None) -> tuple[str, str, list[tuple[str, str]]] | None:
    """(intent, severity, [(category, word)]) for one message, or None when it steers nowhere."""
    if folded is None:
        folded = fold(text)
    if not _HINT.find_matches_as_indexes(folded):
        return None
    kept: list[dict[str, list[str]]] = []
    clauses = [clause_words(c) for c in map(fold, BOUNDARY.split(text)) if c]
    if any("warning" in words for words in clauses):
        return None  # a warning against others (有人自称我们员工让您转账…千万别转) is about them, not a lure
    for words in clauses:
        if "negation" in words:
            continue  # a refusal, not a lure
        if ("own" in words or "compare" in words) and not (words.keys() & {"pay", "secret"}):
            continue  # the company's own channel, or a comparison with another seller
        kept.append(words)
    if not kept:
        return None
    found: dict[str, list[str]] = {}
    for words in kept:
        for cat, ws in words.items():
            found.setdefault(cat, []).extend(ws)
    strong = {cat for cat in STRONG if _strong(found, cat)}
    present = {cat for cat in STRONG if cat in found}
    intents: list[str] = []
    if "pay" in strong or ("pay" in present and present - {"pay"}):
        intents.append("pay")
    if "offrecord" in strong or ("offrecord" in present and strong - {"offrecord"}):
        intents.append("offrecord")
    # Another place with a call to act, or set against the company (有个渠道，比门店便宜).
    if "place" in present and ("act" in found or "secret" in strong) and ("place" in strong or strong - {"place"}):
        intents.append("steer")
    # Something for the customer, privately or paid to the person; beside a place alone it is price talk
    # (某东上便宜八百) unless the employee points there (steer).
    if "induce" in present and (strong & {"secret", "pay"} or "steer" in intents):
        intents.append("induce")
    if not intents and "secret" in strong:
        # 不走公司, 别在系统里下单: away from the company, wherever to; 偷偷给你的: a favour kept quiet.
        intents.append("steer" if "act" in found else "induce")
    if not intents:
        return None
    cats = [c for c in STRONG if c in present]
    severity = "high" if len(cats) >= 2 else "medium"
    quoted = [(c, w) for c in cats + ["act"] for w in dict.fromkeys(found.get(c, ()))]
    return intents[0], severity, quoted


# What may trail a yes in its clause (好的呀, 可以可以, 行吧亲); anything else makes it another word (有任何…).
_YES_TAIL = re.compile("(?:" + "|".join(sorted(map(re.escape, CATEGORIES["agree"]), key=len, reverse=True))
                       + r")+[的啊呀哈啦呢吧哦嗯滴亲呗嘛]*")


# A yes followed by this much more that says nothing private has moved on (好的，我记下了，有新款告诉您).
AGREE_REST_CHARS = 8


def agrees(text: str) -> bool:
    """Whether an employee's message opens with a yes of its own clause (可以，… / 好的呀), the rest of
    the message not keeping to the company (好的，给您下单了 is a sale here, not a yes to going private)
    and either short (好的呀，回头聊) or itself private (行吧，别在这说): a polite yes that goes on about
    something else is no agreement."""
    parts = BOUNDARY.split(text.strip(), 1)
    clause = fold(parts[0])
    if not _YES_TAIL.fullmatch(clause):
        return False
    rest = fold(parts[1]) if len(parts) > 1 else ""
    if len(rest) > AGREE_REST_CHARS and not (clause_words(rest).keys() & set(STRONG)):
        return False
    return not disowned(text)


def label(intent: str, quoted: list[tuple[str, str]]) -> str:
    """zh-CN: the intent and the categories that made it (no chat words: labels reach every viewer)."""
    cats = "＋".join(dict.fromkeys(CATEGORY_TITLES[c] for c, _ in quoted))
    return f"{TITLES[intent]}（{cats}）"


def words(quoted: list[tuple[str, str]]) -> str:
    """The words that made the intent, category by category, for the explanation to quote."""
    cats: dict[str, list[str]] = {}
    for c, w in quoted:
        cats.setdefault(c, []).append(w)
    return "；".join(f"{CATEGORY_TITLES[c]}：{'、'.join(ws)}" for c, ws in cats.items())


def disowned(text: str) -> bool:
    """Whether some clause of the message refuses, warns, or names the company's own channel with
    nothing private: a lexicon word there is the company speaking, not a lure."""
    for piece in BOUNDARY.split(text):
        words = clause_words(fold(piece))
        if "negation" in words or "warning" in words:
            return True
        if "own" in words and not (words.keys() & {"pay", "secret"}):
            return True
    return False
