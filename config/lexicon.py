"""Lexicon files: the words, names and cues chat-content detection looks for, and the allow-lists.

A lexicon file is YAML with up to three keys (several files are merged in the order the rules file
lists them):

    groups:
      - name: competitor_platform     # unique across all files
        title: 竞品平台                # what the alert calls it (zh-CN)
        kind: entity                  # entity | phrase | act | warning (see below)
        severity: high                # an employee pointing the customer there (entity) / saying it (phrase)
        mention: low                  # entity only: the employee merely naming it
        direction: employee           # whose messages count: employee | customer | any
        pinyin: [full, initials]      # also match 拼多多 written pin duo duo / pdd
        scope: {teams: [华东一组]}     # optional: only these teams / branches / employees
        terms:
          - 淘宝
          - {text: 拼多多, variants: [拼夕夕, 拼dd], severity: critical}   # per-term overrides
    variants:                         # homophones and nicknames, substituted inside every term
      微信: [薇信, V信, 威信, vx]
    allow:                            # the company's own channels: never a signal
      numbers: ["4008208820"]         # phone numbers (digits only after normalisation)
      domains: [shop.paodan.example]  # link hosts (and their subdomains)
      weapps: [官方商城]               # mini-program displayname or username
      corpnames: [跑单科技]            # 名片 of colleagues
      codes: []                       # tao-passwords or codes the company publishes itself
      shops: [跑单天猫旗舰店]           # names of the company's own shops: naming them is never a lure

Kinds: an `entity` is a place or channel (拼多多, 微信, 收款码) whose bare mention is weak evidence and
whose use in a call to act is strong; a `phrase` is a call to act by itself (加我私人微信, 转账给我);
`act` cues (去, 搜, 加, 下单, 扫…) and `warning` cues (别, 谨防, 假冒…) grade entity hits by intent;
`neutral` words (去年, 加急, 收到…) contain a cue character without being a cue, and hide it.

Every error names the file and line (ConfigError), and the worker refuses a bad file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.yamlfile import ConfigError, line_of
from config.yamlfile import load as load_yaml

SEVERITIES = ("info", "low", "medium", "high", "critical")
KINDS = ("entity", "phrase", "act", "warning", "neutral")
DIRECTIONS = ("employee", "customer", "any")
PINYIN_MODES = ("full", "initials")
ALLOW_KEYS = ("numbers", "domains", "weapps", "corpnames", "codes", "shops")


@dataclass(frozen=True)
class Scope:
    """Who a term applies to; empty means everyone. Any one match (team, branch or employee) is enough."""

    teams: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    employees: tuple[str, ...] = ()

    def covers(self, employee_id: str, team: str, branch: str) -> bool:
        if not (self.teams or self.branches or self.employees):
            return True
        return employee_id in self.employees or team in self.teams or branch in self.branches


@dataclass(frozen=True)
class Term:
    text: str
    group: str
    severity: str
    kind: str = "phrase"
    mention: str = "low"
    direction: str = "employee"
    scope: Scope = Scope()
    pinyin: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    source: str = ""  # file:line, for explanations and `paodan rules validate`


@dataclass(frozen=True)
class TermGroup:
    name: str
    title: str
    severity: str
    terms: tuple[Term, ...]
    kind: str = "phrase"


@dataclass(frozen=True)
class Allow:
    numbers: frozenset[str] = frozenset()
    domains: tuple[str, ...] = ()
    weapps: frozenset[str] = frozenset()
    corpnames: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    shops: frozenset[str] = frozenset()

    def domain(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class Lexicon:
    groups: tuple[TermGroup, ...] = ()
    variants: tuple[tuple[str, tuple[str, ...]], ...] = ()
    allow: Allow = Allow()

    def terms(self) -> list[Term]:
        return [t for g in self.groups for t in g.terms]

    def title(self, group: str) -> str:
        return next((g.title for g in self.groups if g.name == group), group)


# --- validation ---------------------------------------------------------------------------------

def _expect(cond: bool, path: Path, line: int | None, message: str) -> None:
    if not cond:
        raise ConfigError(path, line, message)


def _keys(mapping: dict, allowed: tuple[str, ...] | set[str], path: Path, what: str) -> None:
    for key in mapping:
        _expect(key in allowed, path, line_of(mapping, key),
                f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})")


def _choice(value: Any, choices: tuple[str, ...], path: Path, line: int | None, what: str) -> str:
    _expect(value in choices, path, line, f"{what} {value!r} must be one of {', '.join(choices)}")
    return value


def _strings(value: Any, path: Path, line: int | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    _expect(isinstance(value, list), path, line, f"{what} must be a list")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)  # numbers written unquoted
        _expect(isinstance(item, str) and item.strip(), path, line_of(value, i) or line,
                f"{what}: item {i + 1} must be a non-empty string")
        out.append(item.strip())
    return tuple(out)


def _scope(value: Any, path: Path, line: int | None) -> Scope:
    if value is None:
        return Scope()
    _expect(isinstance(value, dict), path, line, "`scope` must be a mapping of teams/branches/employees")
    _keys(value, ("teams", "branches", "employees"), path, "`scope`")
    return Scope(*(_strings(value.get(k), path, line_of(value, k) or line, f"scope.{k}")
                   for k in ("teams", "branches", "employees")))


def _pinyin(value: Any, path: Path, line: int | None) -> tuple[str, ...]:
    modes = _strings(value, path, line, "`pinyin`")
    for m in modes:
        _choice(m, PINYIN_MODES, path, line, "pinyin mode")
    return modes


def _group(g: Any, path: Path, line: int | None, seen: set[str]) -> TermGroup:
    _expect(isinstance(g, dict), path, line, "a group must be a mapping")
    _keys(g, ("name", "title", "kind", "severity", "mention", "direction", "pinyin", "scope", "terms"),
          path, "a group")
    name = g.get("name")
    _expect(isinstance(name, str) and name, path, line, "a group needs a `name`")
    _expect(name not in seen, path, line_of(g, "name"), f"group {name!r} defined twice")
    seen.add(name)
    kind = _choice(g.get("kind", "phrase"), KINDS, path, line_of(g, "kind"), "kind")
    severity = _choice(g.get("severity", "high"), SEVERITIES, path, line_of(g, "severity"), "severity")
    mention = _choice(g.get("mention", "low"), SEVERITIES, path, line_of(g, "mention"), "mention severity")
    direction = _choice(g.get("direction", "employee"), DIRECTIONS, path, line_of(g, "direction"), "direction")
    pinyin = _pinyin(g.get("pinyin"), path, line_of(g, "pinyin"))
    scope = _scope(g.get("scope"), path, line_of(g, "scope"))
    raw_terms = g.get("terms")
    _expect(isinstance(raw_terms, list) and raw_terms, path, line_of(g, "terms") or line,
            f"group {name!r}: `terms` must be a non-empty list")
    terms = []
    for j, t in enumerate(raw_terms):
        tline = line_of(raw_terms, j) or line
        source = f"{path.name}:{tline}"
        if isinstance(t, int) and not isinstance(t, bool):
            t = str(t)  # 1688 written unquoted
        if isinstance(t, str):
            _expect(bool(t.strip()), path, tline, f"group {name!r}: term {j + 1} is empty")
            terms.append(Term(t.strip(), name, severity, kind, mention, direction, scope, pinyin, (), source))
            continue
        _expect(isinstance(t, dict), path, tline, f"group {name!r}: term {j + 1} must be a string or a mapping")
        _keys(t, ("text", "severity", "mention", "direction", "scope", "pinyin", "variants"), path, "a term")
        text = t.get("text")
        _expect(isinstance(text, str) and text.strip(), path, tline, f"group {name!r}: term {j + 1} needs `text`")
        terms.append(Term(
            text=text.strip(), group=name, kind=kind, source=source,
            severity=_choice(t.get("severity", severity), SEVERITIES, path, line_of(t, "severity"), "severity"),
            mention=_choice(t.get("mention", mention), SEVERITIES, path, line_of(t, "mention"), "mention severity"),
            direction=_choice(t.get("direction", direction), DIRECTIONS, path, line_of(t, "direction"), "direction"),
            scope=_scope(t["scope"], path, line_of(t, "scope")) if "scope" in t else scope,
            pinyin=_pinyin(t["pinyin"], path, line_of(t, "pinyin")) if "pinyin" in t else pinyin,
            variants=_strings(t.get("variants"), path, line_of(t, "variants"), "`variants`"),
        ))
    return TermGroup(name=name, title=str(g.get("title") or name), severity=severity, terms=tuple(terms),
                     kind=kind)


def load_lexicon(path: Path, seen_groups: set[str] | None = None) -> Lexicon:
    """Read and validate one lexicon file; raise ConfigError with file and line."""
    doc = load_yaml(path)
    _expect(isinstance(doc, dict), path, 1, "a lexicon file must be a mapping with `groups`")
    _keys(doc, ("groups", "variants", "allow"), path, "the lexicon")
    seen = seen_groups if seen_groups is not None else set()
    groups_raw = doc.get("groups", [])
    _expect(isinstance(groups_raw, list), path, line_of(doc, "groups"), "`groups` must be a list")
    _expect(bool(groups_raw) or "variants" in doc or "allow" in doc, path, line_of(doc, "groups") or 1,
            "`groups` must be a non-empty list")
    groups = tuple(_group(g, path, line_of(groups_raw, i), seen) for i, g in enumerate(groups_raw))

    variants_raw = doc.get("variants", {})
    _expect(isinstance(variants_raw, dict), path, line_of(doc, "variants"), "`variants` must be a mapping")
    variants = []
    for canonical, forms in variants_raw.items():
        vline = line_of(variants_raw, canonical)
        _expect(isinstance(canonical, str) and canonical.strip(), path, vline, "a variant key must be a word")
        variants.append((canonical.strip(), _strings(forms, path, vline, f"variants of {canonical!r}")))

    allow_raw = doc.get("allow", {})
    _expect(isinstance(allow_raw, dict), path, line_of(doc, "allow"), "`allow` must be a mapping")
    _keys(allow_raw, ALLOW_KEYS, path, "`allow`")
    got = {k: _strings(allow_raw.get(k), path, line_of(allow_raw, k), f"allow.{k}") for k in ALLOW_KEYS}
    for i, number in enumerate(got["numbers"]):
        _expect(number.replace("-", "").replace(" ", "").isdigit(), path,
                line_of(allow_raw.get("numbers"), i), f"allow.numbers: {number!r} is not a number")
    allow = Allow(numbers=frozenset(n.replace("-", "").replace(" ", "") for n in got["numbers"]),
                  domains=tuple(d.lower() for d in got["domains"]), weapps=frozenset(got["weapps"]),
                  corpnames=frozenset(got["corpnames"]), codes=frozenset(got["codes"]),
                  shops=frozenset(got["shops"]))
    return Lexicon(groups, tuple(variants), allow)


def merge(lexicons: list[Lexicon]) -> Lexicon:
    """Several files in order: groups and variants concatenated, allow-lists united."""
    allow = Allow(
        numbers=frozenset().union(*(lx.allow.numbers for lx in lexicons)),
        domains=tuple(d for lx in lexicons for d in lx.allow.domains),
        weapps=frozenset().union(*(lx.allow.weapps for lx in lexicons)),
        corpnames=frozenset().union(*(lx.allow.corpnames for lx in lexicons)),
        codes=frozenset().union(*(lx.allow.codes for lx in lexicons)),
        shops=frozenset().union(*(lx.allow.shops for lx in lexicons)),
    )
    return Lexicon(tuple(g for lx in lexicons for g in lx.groups),
                   tuple(v for lx in lexicons for v in lx.variants), allow)


def summary(lexicon: Lexicon) -> list[str]:
    """Lines for `paodan rules validate`: what each group holds, and the allow-lists' sizes."""
    lines = [f"  {g.name:<24} {g.kind:<8} {len(g.terms):>5} terms  "
             f"{'severity ' + g.severity if g.kind in ('entity', 'phrase') else '':<17} {g.title}"
             for g in lexicon.groups]
    lines.append(f"  variants for {len(lexicon.variants)} words; allow-lists: "
                 + ", ".join(f"{k} {len(getattr(lexicon.allow, k))}" for k in ALLOW_KEYS))
    return lines

