"""The chat-content rule sections of the rules file (registered in config.rules.RULE_PARSERS).

    rules:
      chat.diversion_phrase:      # lexicon words, graded by intent
        window_minutes: 60        # one alert per employee and window, growing with each hit
        min_severity: low         # weaker signals are kept as context but raise no alert
        act_distance: 8           # an act cue (去/搜/加…) this close to an entity makes it a call to act
      chat.private_contact:       # personal phone numbers, WeChat ids, contact cards
        severity: {phone: high, wechat_id: high, qq: high, card: high}
        wechat_id_prefixes: [wxid_, vx, wx, 微信号, 微信, v信]
      chat.external_shop:         # shop links, tao-passwords, other companies' mini-programs
        severity: {shop_link: high, link: info, tao_password: high, weapp: medium, competitor_weapp: high}
        shop_domains: [yangkeduo.com, taobao.com, …]
      chat.offline_payment:       # bank-card numbers, red packets to customers
        severity: {bank_card: critical, redpacket: medium, external_redpacket: high}
      chat.recall_after_hit:      # a hit recalled within minutes
        recall_minutes: 10
        remember: 64              # recent hits kept per employee to recognise a recall
      chat.content:               # limits shared by the content detectors
        max_text_chars: 20000     # longer texts are scanned up to this length (and say so)
        own_corpname: 跑单科技     # 名片 from this company are colleagues, not a private channel
        own_channels: [weapp:gh_0a1b2c, domain:shop.example.com]  # confirmed own channels (info)
        proposed_channels: [phone:4008001234]  # widely sent, awaiting an admin (info until decided)
        rejected_channels: [phone:13800000000]  # proposed once, rejected by an admin: flag again

Every section is optional; a missing one runs with these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.lexicon import SEVERITIES, _choice, _expect, _keys, _strings
from config.yamlfile import line_of

DEFAULT_SHOP_DOMAINS = (
    "yangkeduo.com", "pinduoduo.com", "pdd.com", "taobao.com", "tb.cn", "tmall.com", "tmall.hk", "jd.com",
    "3.cn", "jd.hk", "douyin.com", "iesdouyin.com", "kuaishou.com", "chenzhongtech.com", "goofish.com",
    "xianyu.com", "1688.com", "weidian.com", "youzan.com", "vip.com", "suning.com", "dangdang.com",
    "xiaohongshu.com", "xhslink.com", "dewu.com", "mogu.com", "aliexpress.com", "u.jd.com",
)
DEFAULT_WECHAT_ID_PREFIXES = ("wxid_", "vx", "wx", "v信", "微信号", "微信", "威信", "薇信", "加v", "加微", "+v", "+微")


@dataclass(frozen=True)
class ChatRule:
    """One chat-content rule: a window, an alerting threshold and the severity of each signal kind."""

    name: str
    enabled: bool = True
    window_ms: int = 3_600_000
    min_severity: str = "low"
    severity: dict[str, str] = field(default_factory=dict)
    act_distance: int = 8
    recall_ms: int = 600_000
    remember: int = 64
    shop_domains: tuple[str, ...] = ()
    wechat_id_prefixes: tuple[str, ...] = ()


# What a channel target names (detectors/channels.py): `kind:value`, e.g. weapp:gh_0a1b2c.
CHANNEL_KINDS = ("phone", "wechat", "qq", "domain", "weapp", "card", "corp")


@dataclass(frozen=True)
class ContentLimits:
    max_text_chars: int = 20_000
    own_corpname: str = ""
    own_channels: frozenset[str] = frozenset()  # confirmed by an admin: never flag
    proposed_channels: frozenset[str] = frozenset()  # proposed, awaiting a decision: never flag
    rejected_channels: frozenset[str] = frozenset()  # rejected by an admin: flag even when widely sent
    # With no own channels configured, an unknown contact is low until the company has been seen for
    # detectors.channels.WARMUP_DAYS (its channels are being learned); off: judged from the first day.
    learn_warmup: bool = True


def _channels(section: dict, key: str, path: Path) -> frozenset[str]:
    if key not in section:
        return frozenset()
    line = line_of(section, key)
    out = set()
    for t in _strings(section[key], path, line, f"`{key}`"):
        kind, _, value = t.partition(":")
        _expect(kind in CHANNEL_KINDS and bool(value.strip()), path, line,
                f"`{key}`: {t!r} must be kind:value with kind one of {', '.join(CHANNEL_KINDS)}")
        out.add(f"{kind}:{value.strip().lower()}")
    return frozenset(out)


def _bool(section: dict, key: str, default: bool, path: Path) -> bool:
    value = section.get(key, default)
    _expect(isinstance(value, bool), path, line_of(section, key), f"`{key}` must be true or false")
    return value


def _int(section: dict, key: str, default: int, lo: int, hi: int, path: Path) -> int:
    value = section.get(key, default)
    _expect(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi, path,
            line_of(section, key), f"`{key}` must be an integer from {lo} to {hi}")
    return value


# Signal kinds of each rule and their default severities.
KINDS: dict[str, dict[str, str]] = {
    "chat.diversion_phrase": {},
    "chat.private_contact": {"phone": "high", "wechat_id": "high", "qq": "high", "card": "high"},
    "chat.external_shop": {"shop_link": "high", "link": "info", "tao_password": "high", "weapp": "medium",
                           "competitor_weapp": "high"},
    "chat.offline_payment": {"bank_card": "critical", "redpacket": "medium", "external_redpacket": "high"},
    "chat.recall_after_hit": {},
}
_EXTRA_KEYS = {
    "chat.diversion_phrase": {"act_distance"},
    "chat.private_contact": {"wechat_id_prefixes"},
    "chat.external_shop": {"shop_domains"},
    "chat.recall_after_hit": {"recall_minutes", "remember"},
}


def _parser(name: str):
    def parse(section: dict, path: Path) -> ChatRule:
        kinds = KINDS[name]
        allowed = {"enabled", "window_minutes", "min_severity"} | _EXTRA_KEYS.get(name, set())
        if kinds:
            allowed.add("severity")
        _keys(section, allowed, path, name)
        severity = dict(kinds)
        raw = section.get("severity", {})
        _expect(isinstance(raw, dict), path, line_of(section, "severity"), "`severity` must be a mapping")
        _keys(raw, tuple(kinds), path, f"{name}.severity")
        for kind, value in raw.items():
            severity[kind] = _choice(value, SEVERITIES, path, line_of(raw, kind), f"severity of {kind}")
        line = line_of(section, "shop_domains")
        shop = _strings(section["shop_domains"], path, line, "`shop_domains`") if "shop_domains" in section \
            else DEFAULT_SHOP_DOMAINS if name == "chat.external_shop" else ()
        line = line_of(section, "wechat_id_prefixes")
        prefixes = _strings(section["wechat_id_prefixes"], path, line, "`wechat_id_prefixes`") \
            if "wechat_id_prefixes" in section else \
            DEFAULT_WECHAT_ID_PREFIXES if name == "chat.private_contact" else ()
        return ChatRule(
            name=name, enabled=_bool(section, "enabled", True, path),
            window_ms=_int(section, "window_minutes", 60, 1, 10_080, path) * 60_000,
            min_severity=_choice(section.get("min_severity", "low"), SEVERITIES, path,
                                 line_of(section, "min_severity"), "min_severity"),
            severity=severity,
            act_distance=_int(section, "act_distance", 8, 0, 100, path),
            recall_ms=_int(section, "recall_minutes", 10, 1, 1440, path) * 60_000,
            remember=_int(section, "remember", 64, 1, 10_000, path),
            shop_domains=tuple(d.lower() for d in shop),
            wechat_id_prefixes=tuple(p.casefold() for p in prefixes),
        )
    return parse


def _parse_limits(section: dict, path: Path) -> ContentLimits:
    _keys(section, {"max_text_chars", "own_corpname", "own_channels", "proposed_channels",
                    "rejected_channels", "learn_warmup"}, path, "chat.content")
    warmup = section.get("learn_warmup", True)
    _expect(isinstance(warmup, bool), path, line_of(section, "learn_warmup"), "`learn_warmup` must be true or false")
    corp = section.get("own_corpname", "")
    _expect(isinstance(corp, str), path, line_of(section, "own_corpname"), "`own_corpname` must be a string")
    own, rejected = _channels(section, "own_channels", path), _channels(section, "rejected_channels", path)
    proposed = _channels(section, "proposed_channels", path) - own - rejected  # a decision wins
    both = sorted(own & rejected)
    _expect(not both, path, line_of(section, "rejected_channels"),
            f"{', '.join(both)} both confirmed and rejected")
    return ContentLimits(max_text_chars=_int(section, "max_text_chars", 20_000, 100, 10_000_000, path),
                         own_corpname=corp.strip(), own_channels=own, proposed_channels=proposed,
                         rejected_channels=rejected, learn_warmup=warmup)


PARSERS: dict[str, Any] = {name: _parser(name) for name in KINDS}
PARSERS["chat.content"] = _parse_limits
