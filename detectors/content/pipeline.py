"""Chat-content detection for one chat-archive record: pure, (state, message, record, rules) in,
(state, alerts) out. The live worker and `paodan replay` both call `detect` (via streams/processing).

For a message the employee sends, every text part (detectors.content.parts) is normalised once and
scanned once by the lexicon automaton, and checked for phone numbers, bank cards, WeChat ids, shop
links and tao-passwords; the message type itself (a 名片, a mini-program, a red packet) is graded
against the allow-lists. Lexicon hits are graded by intent (detectors.content.intent). A message the
customer sends is scanned only for terms whose direction is `customer` or `any`. A recall is matched
against the employee's recent hits (detectors.content.recall).

Signals go to five rules, each with its own growing alert per employee and window
(detectors.content.alerting):

| rule | signals |
| --- | --- |
| chat.diversion_phrase | lexicon words and phrases, graded by intent |
| chat.private_contact | personal mobile numbers, WeChat ids, personal or other-company 名片 |
| chat.external_shop | shop-platform links, other links, tao-passwords, mini-programs not on the allow-list |
| chat.offline_payment | bank-card numbers, red packets sent to customers |
| chat.recall_after_hit | a recall of a message that raised any of the above |

State per employee: `{"open": {alert_id: alert}, "recent": [[msgid, msgtime, severity, contact, summary]],
"customer_numbers": [[number, msgtime]]}` and the forgotten alerts' trace (`gone`, `late`, `wm`:
detectors.content.alerting), all bounded (open alerts and traces by age, the lists by count and age).
"""

from __future__ import annotations

import re
from typing import Any

from config.lexicon import Term
from config.rules import Rules
from detectors.alert import Alert
from detectors import channels
from detectors.content import contacts
from detectors.content.alerting import apply, book, close
from detectors.content.intent import grade
from detectors.content import meaning
from detectors.content.lexicon import LexiconMatcher
from detectors.textnorm import fold, native_fold, with_offsets
from detectors.content.parts import Finding, Part, of_record, payload_of
from detectors.content.recall import recalled, remember
from detectors.content.signals import Signal
from detectors.events import EXTERNAL_PREFIXES, ChatMessage
from detectors.windows import DEFAULT_TZ, local_day

RULES = ("chat.diversion_phrase", "chat.private_contact", "chat.external_shop", "chat.offline_payment",
         "chat.recall_after_hit")
# Which rule a contact/link finding feeds, whether it carries contact details, and its zh-CN label.
FOUND = {
    "phone": ("chat.private_contact", True, "个人手机号"),
    "wechat_id": ("chat.private_contact", True, "微信号"),
    "qq": ("chat.private_contact", True, "QQ号"),
    "bank_card": ("chat.offline_payment", True, "银行卡号"),
    "shop_link": ("chat.external_shop", False, "外部店铺链接"),
    "link": ("chat.external_shop", False, "外部链接"),
    "tao_password": ("chat.external_shop", False, "淘口令"),
}
ALLOWED = "allowed"  # the group of the allow-listed names
# Numbers a customer gave (delivery phone, refund card): kept per employee so that the employee
# repeating them back is not taken for handing out their own. Bounded in count and age.
CUSTOMER_NUMBERS_KEPT = 32
CUSTOMER_NUMBERS_MS = 30 * 86_400_000
_NO_NUMBERS: frozenset[str] = frozenset()
URL = re.compile(r"(?:https?://|www\.)\S+|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/\S*|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+){2,}")


class Compiled:
    """Everything derived from one Rules object: automata, patterns, allow-lists, rule configs."""

    def __init__(self, rules: Rules):
        lex = rules.lexicon
        terms = lex.terms()
        self.rules = rules
        # The company's own shops and mini-programs are words too, of severity info: as the longest
        # match they hide the competitor inside them (天猫 in 跑单天猫旗舰店).
        own = [Term(name, ALLOWED, "info", "entity", "info", "any", source="allow")
               for name in sorted(lex.allow.shops | lex.allow.weapps)]
        self.words = LexiconMatcher([t for t in terms if t.kind in ("entity", "phrase")] + own, lex)
        # Cues are short (去, 加, 别) and only matter near a word: a second automaton, run on hit only.
        self.cues = LexiconMatcher([t for t in terms if t.kind in ("act", "warning", "neutral")], lex, min_chars=1)
        self.titles = {g.name: g.title for g in lex.groups} | {ALLOWED: "公司自有渠道"}
        self.allow = lex.allow
        self.cfg = {name: rules.rule(name) for name in RULES}
        self.limits = rules.rule("chat.content")
        self.wechat_ids = contacts.wechat_id_pattern(self.cfg["chat.private_contact"].wechat_id_prefixes)
        self.shop_domains = self.cfg["chat.external_shop"].shop_domains
        self.keep_ms = 2 * max(c.window_ms for c in self.cfg.values())
        # textnorm.fold, natively where the scanner is built (the same table, equal output: test_scanner).
        self.fold = native_fold() or fold
        # Channels many colleagues send (detectors/channels.py), proposed or confirmed: info, never a flag.
        self.own_channels = self.limits.own_channels | self.limits.proposed_channels
        self.decided = self.own_channels | self.limits.rejected_channels  # never learned while detecting
        # No channels configured: the company's are learned while detecting, and until it has been seen
        # long enough an unknown contact is low (detectors/channels.py `warming`).
        self.warmup = self.limits.learn_warmup and not self.own_channels
        contacts.id_table()  # built here (start-up, reload), not on the first message


_compiled: list[Compiled] = []


def compiled(rules: Rules) -> Compiled:
    """The compiled form of `rules`, built once per Rules object (a reload makes a new one)."""
    if not _compiled or _compiled[0].rules is not rules:
        _compiled[:] = [Compiled(rules)]
    return _compiled[0]


def _severity(c: Compiled, rule: str, kind: str) -> str:
    return c.cfg[rule].severity[kind]


def _findings(c: Compiled, findings: list[Finding]) -> list[Signal]:
    """Grade what the message type itself means against the allow-lists."""
    out: list[Signal] = []
    allow = c.allow
    for f in findings:
        if f.kind == "card":
            corp = f.fields["corpname"]
            if corp and (corp == c.limits.own_corpname or corp in allow.corpnames):
                continue  # a colleague's card
            label = f"其他企业名片（{corp}）" if corp else "个人名片"
            out.append(Signal("chat.private_contact", "card", _severity(c, "chat.private_contact", "card"), label,
                              normalized=f.fields["userid"], part=f.part, contact=True, source="chat.private_contact",
                              channel=f"corp:{corp.lower()}" if corp else ""))
        elif f.kind == "weapp":
            names = {v for v in f.fields.values() if v}
            if names & allow.weapps:
                continue  # the company's own mini-program
            shown = f.fields["displayname"] or f.fields["title"] or f.fields["username"]
            about = " ".join(v for v in (f.fields["displayname"], f.fields["title"]) if v)
            competitor = any(h.term.kind == "entity" and h.term.severity not in ("info", "low")
                             and h.term.group != ALLOWED for h in c.words.find(about)) if about else False
            kind = "competitor_weapp" if competitor else "weapp"
            label = f"竞品小程序（{shown}）" if competitor else f"非公司小程序（{shown}）"
            out.append(Signal("chat.external_shop", kind, _severity(c, "chat.external_shop", kind), label,
                              normalized=f.fields["username"], part=f.part, source="chat.external_shop"))
        elif f.kind in ("redpacket", "external_redpacket"):
            fen = f.fields["totalamount"]
            amount = f"¥{int(fen) / 100:.2f}" if fen.isdigit() else "金额未知"
            label = ("外部红包" if f.kind == "external_redpacket" else "红包") + f"（{amount}）"
            out.append(Signal("chat.offline_payment", f.kind, _severity(c, "chat.offline_payment", f.kind), label,
                              part=f.part, source="chat.offline_payment"))
    return out


def analyse(msg: ChatMessage, record: dict[str, Any], rules: Rules,
            directory: dict[str, Any] | None = None, known: frozenset[str] = frozenset()) -> list[Signal]:
    """All content signals of one sent message (`known`: numbers the customer gave)."""
    c = compiled(rules)
    if not msg.outbound and not msg.sender.startswith(EXTERNAL_PREFIXES):
        return []  # a colleague's message: theirs to answer for, on their own copy
    return _signals(c, msg, _texts(c, record, msg.msgtype), directory, known)


Texts = tuple[list[Part], list[Finding], list[str]]  # a record's parts, findings and folded part texts


def _texts(c: Compiled, record: dict[str, Any], msgtype: str) -> Texts:
    """A record's parts, read and folded once (up to the length limit) for every detector."""
    parts, findings = of_record(record, msgtype)
    limit = c.limits.max_text_chars
    return parts, findings, [c.fold(p.text[:limit]) for p in parts]


PROPOSAL_MS = 30 * 60_000  # how long a customer's private proposal stays one to say yes to


def _intents(part: Part, text: str, folded: str, proposal: list | None) -> list[Signal]:
    """The employee's intent in one part (detectors.content.meaning), or their yes to a proposal."""
    found = meaning.read(text, folded)
    agreed = ""
    if found is None and proposal and meaning.agrees(text):
        found, agreed = (proposal[0], "medium", [tuple(q) for q in proposal[2]]), "（同意客户提议）"
    if found is None:
        return []
    intent, severity, quoted = found
    return [Signal("chat.diversion_phrase", "intent", severity, meaning.label(intent, quoted) + agreed,
                   text, meaning.words(quoted), part.name, 0, len(text), source="detectors/content/categories.py")]


def _proposal(texts: Texts, msgtime: int) -> list | None:
    """A customer's message read as if an employee wrote it: what a yes to it would agree to."""
    for part, folded in zip(texts[0], texts[2]):
        found = meaning.read(part.text, folded)
        if found:
            return [found[0], found[1], [list(q) for q in found[2]], msgtime]
    return None


def _signals(c: Compiled, msg: ChatMessage, texts: Texts, directory: dict[str, Any] | None,
             known: frozenset[str], proposal: list | None = None, learned: list | None = None) -> list[Signal]:
    outbound = msg.outbound
    parts, findings, folds = texts
    signals = _findings(c, findings) if outbound and findings else []
    pointer = any(s.rule != "chat.diversion_phrase" for s in signals) if signals else False
    limit = c.limits.max_text_chars
    for part, folded in zip(parts, folds):
        text = part.text[:limit]
        # The intent model's reading comes after the lexicon's words (highlights lead with the words).
        said = _intents(part, text, folded, proposal) if outbound else []
        raw, mapped = c.words.scan_text(text)
        if not raw and not outbound:
            continue  # a customer's words are all we look for in what they write
        found: list[contacts.Found] = []
        if outbound:
            if contacts.DIGIT_HINT.search(folded):
                found.extend(contacts.numbers(mapped or with_offsets(text, False), c.allow, known))
            found.extend(contacts.ascii_finds(text, c.wechat_ids, c.shop_domains, c.allow))
        if raw:
            directory = directory or {}
            who = (msg.employee_id, directory.get("team", ""), directory.get("branch", ""))
            # Own names have done their job in resolve() (hiding what they contain); they are no finding.
            hits = [h for h in c.words.resolve(raw, mapped) if h.term.group != ALLOWED]
            if "." in text or "/" in text:
                # Pinyin inside an address is part of a host or path (work.weixin.qq.com is WeCom
                # itself), not a word the employee wrote; the link detectors judge the address.
                urls = [m.span() for m in URL.finditer(text)]
                if urls:
                    hits = [h for h in hits if h.how == "text" or not any(a <= h.start < b for a, b in urls)]
            cues = c.cues.resolve(c.cues.scan_view(mapped.text), mapped)  # longest first: 去年 hides 去
            graded = grade(hits, cues, mapped, outbound, pointer or bool(found),
                           c.cfg["chat.diversion_phrase"], who, c.titles, part.name)
            if outbound and graded and not said and meaning.disowned(text):
                # The intent model read no lure and the words sit in a refusal, a warning or the
                # company's own channel: the lexicon word is a mention.
                graded = [Signal(s.rule, s.kind, "low", s.label + "（否定或公司渠道语境）", s.written, s.normalized,
                                 s.part, s.start, s.end, s.contact, s.source) if s.at_least("medium") else s
                          for s in graded]
            signals.extend(graded)
        signals.extend(said)
        for f in found:
            rule, contact, label = FOUND[f.kind]
            signals.append(Signal(rule, f.kind, _severity(c, rule, f.kind), label, f.written, f.normalized,
                                  part.name, f.start, f.end, contact=contact, source=rule))
    if signals and (c.own_channels or learned):
        # Learned while detecting (state `own`, detectors/channels.py): a rejection in the rules wins.
        own = c.own_channels.union(learned).difference(c.limits.rejected_channels) if learned else c.own_channels
        signals = [channels.as_info(s) if channels.is_own(s, own) else s for s in signals]
    if len(signals) < 2:
        return signals
    # The same finding twice in one message (a mini-program's title and name both 拼多多) is one.
    unique: dict[tuple, Signal] = {}
    for s in signals:
        unique.setdefault((s.rule, s.kind, s.written, s.normalized, s.severity), s)
    return list(unique.values())


def _numbers_given(texts: Texts) -> list[str]:
    return sorted({n for folded in texts[2] for n in contacts.numbers_in(folded)})


def detect(state: dict[str, Any] | None, msg: ChatMessage, record: dict[str, Any], rules: Rules,
           directory: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[Alert]]:
    """Return (new state, alerts raised or updated by this record). Unchanged state is returned as is."""
    c = compiled(rules)
    state = state or {}
    recent = state.get("recent", [])
    outbound = msg.outbound
    if msg.action == "recall":
        pre = payload_of(record, "revoke").get("pre_msgid")
        hit = recalled(recent, pre, msg.msgtime, c.cfg["chat.recall_after_hit"]) \
            if outbound and isinstance(pre, str) else None
        signals = [hit] if hit else []
    elif msg.action == "send":
        remembered = state.get("customer_numbers", [])
        if outbound or msg.sender.startswith(EXTERNAL_PREFIXES):
            texts = _texts(c, record, msg.msgtype)
            if not outbound:
                given = _numbers_given(texts)
                if given:
                    horizon = msg.msgtime - CUSTOMER_NUMBERS_MS
                    kept = [r for r in remembered if r[1] >= horizon and r[0] not in given]
                    state = dict(state, customer_numbers=(kept + [[n, msg.msgtime] for n in given])[-CUSTOMER_NUMBERS_KEPT:])
            proposal = state.get("proposal")
            if not outbound:
                made = _proposal(texts, msg.msgtime)
                if made or proposal:
                    state = dict(state, proposal=made)
                proposal = None
            elif proposal and msg.msgtime - proposal[3] > PROPOSAL_MS:
                proposal = None
            signals = _signals(c, msg, texts, directory,
                               frozenset(r[0] for r in remembered) if remembered else _NO_NUMBERS, proposal,
                               state.get("own"))
            if signals and c.warmup and outbound:
                if not state.get("warm"):
                    signals = [channels.warming(s, c.limits.rejected_channels) for s in signals]
                elif state.get("rising"):
                    ris = frozenset(state["rising"])
                    signals = [channels.warming(s, c.limits.rejected_channels, ris) for s in signals]
            if outbound:  # the day's targets, for the company's own channels (detectors/channels.py)
                sent = [t for t in channels.targets(signals) if t not in c.decided] if signals else []
                state = channels.track(state, local_day(msg.msgtime, (directory or {}).get("timezone") or DEFAULT_TZ),
                                       sent, msg.msgid)
        else:
            signals = []  # a colleague's message: theirs to answer for, on their own copy
    else:
        signals = []
    if not signals:
        return state, []
    memory = book(state, msg.msgtime, c.keep_ms)
    alerts: list[Alert] = []
    by_rule: dict[str, list[Signal]] = {}  # one pass over the signals rather than one per rule
    for s in signals:
        by_rule.setdefault(s.rule, []).append(s)
    for name in RULES:
        cfg = c.cfg[name]
        mine = by_rule.get(name)
        if cfg.enabled and mine:
            alert = apply(memory, cfg, msg.msgid, msg.employee_id, msg.msgtime, mine, rules.version,
                          directory or {})
            if alert is not None:
                alerts.append(alert)
    new_state = dict(state)
    new_state.update(close(memory))
    if msg.action == "send":
        new_state["recent"] = remember(recent, msg.msgid, msg.msgtime, signals, c.cfg["chat.recall_after_hit"])
    return new_state, alerts


def describe(rules: Rules) -> list[str]:
    """What `paodan rules validate` prints about chat content: groups, compiled forms, rule sections."""
    from config.lexicon import summary

    c = compiled(rules)
    lines = summary(rules.lexicon)
    lines.append(f"  automaton: {c.words.patterns} written forms of words and phrases (variants, pinyin, "
                 f"initials), {c.cues.patterns} cue forms")
    for name in RULES:
        cfg = c.cfg[name]
        state = "on" if cfg.enabled else "OFF"
        extra = ", ".join(f"{k} {v}" for k, v in cfg.severity.items())
        lines.append(f"  {name:<24} {state:<3} window {cfg.window_ms // 60_000} min, alerts from "
                     f"{cfg.min_severity}" + (f"; {extra}" if extra else ""))
    return lines
