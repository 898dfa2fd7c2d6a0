"""The rules file and the lexicons it points to: typed, validated, versioned.

A rules file is YAML:

    version: "2026-11-27.1"          # stamped on every alert as rules_version
    lexicons: [lexicons/diversion.yaml]
    rules:
      chat.diversion_phrase:
        enabled: true
        window_minutes: 60            # hits by one employee in one window update one alert

Anything wrong fails loudly with `file:line: what is wrong` (ConfigError); the worker refuses to start
on a bad file rather than run with half a rule set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from config.yamlfile import ConfigError, LineDict, line_of
from config.yamlfile import load as load_yaml

SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Term:
    text: str
    group: str
    severity: str


@dataclass(frozen=True)
class TermGroup:
    name: str
    title: str
    severity: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    groups: tuple[TermGroup, ...] = ()

    def terms(self) -> list[Term]:
        return [Term(t, g.name, g.severity) for g in self.groups for t in g.terms]


@dataclass(frozen=True)
class DiversionPhraseRule:
    enabled: bool = True
    window_ms: int = 3_600_000


@dataclass(frozen=True)
class Rules:
    version: str
    path: Path
    lexicon: Lexicon
    # Typed config of each rule section, by rule name (see RULE_PARSERS); absent sections get defaults.
    sections: dict[str, Any] = field(default_factory=dict)

    def rule(self, name: str) -> Any:
        if name in self.sections:
            return self.sections[name]
        return RULE_PARSERS[name](LineDict(), self.path)

    @property
    def diversion_phrase(self) -> DiversionPhraseRule:
        return self.rule("chat.diversion_phrase")


# --- validation helpers -------------------------------------------------------------------------

def _expect(cond: bool, path: Path, line: int | None, message: str) -> None:
    if not cond:
        raise ConfigError(path, line, message)


def _mapping(value: Any, path: Path, line: int | None, what: str) -> dict:
    _expect(isinstance(value, dict), path, line, f"{what} must be a mapping")
    return value


def _unknown_keys(mapping: dict, allowed: set[str], path: Path, what: str) -> None:
    for key in mapping:
        _expect(key in allowed, path, line_of(mapping, key),
                f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})")


def _severity(value: Any, path: Path, line: int | None) -> str:
    _expect(value in SEVERITIES, path, line, f"severity {value!r} must be one of {', '.join(SEVERITIES)}")
    return value


def load_lexicon(path: Path) -> Lexicon:
    doc = _mapping(load_yaml(path), path, 1, "a lexicon file")
    _unknown_keys(doc, {"groups"}, path, "the lexicon")
    groups_raw = doc.get("groups")
    _expect(isinstance(groups_raw, list) and groups_raw, path, line_of(doc, "groups"),
            "`groups` must be a non-empty list")
    groups, seen = [], set()
    for i, g in enumerate(groups_raw):
        line = line_of(groups_raw, i)
        g = _mapping(g, path, line, "a group")
        _unknown_keys(g, {"name", "title", "severity", "terms"}, path, "a group")
        name = g.get("name")
        _expect(isinstance(name, str) and name, path, line, "a group needs a `name`")
        _expect(name not in seen, path, line_of(g, "name"), f"group {name!r} defined twice")
        seen.add(name)
        terms = g.get("terms")
        _expect(isinstance(terms, list) and terms, path, line_of(g, "terms") or line,
                f"group {name!r}: `terms` must be a non-empty list")
        for j, t in enumerate(terms):
            _expect(isinstance(t, str) and t.strip(), path, line_of(terms, j),
                    f"group {name!r}: term {j + 1} must be a non-empty string")
        groups.append(TermGroup(name=name, title=str(g.get("title") or name),
                                severity=_severity(g.get("severity", "high"), path, line_of(g, "severity")),
                                terms=tuple(t.strip() for t in terms)))
    return Lexicon(tuple(groups))


def load_rules(path: Path | str) -> Rules:
    """Read and validate a rules file and its lexicons; raise ConfigError with file and line."""
    path = Path(path).resolve()
    doc = _mapping(load_yaml(path), path, 1, "a rules file")
    _unknown_keys(doc, {"version", "lexicons", "rules"}, path, "the rules file")
    version = doc.get("version")
    _expect(isinstance(version, str) and version.strip(), path, line_of(doc, "version") or 1,
            "`version` must be a non-empty string (it is stamped on every alert)")

    lex_files = doc.get("lexicons", [])
    _expect(isinstance(lex_files, list), path, line_of(doc, "lexicons"), "`lexicons` must be a list of paths")
    groups: list[TermGroup] = []
    for i, rel in enumerate(lex_files):
        _expect(isinstance(rel, str), path, line_of(lex_files, i), "a lexicon entry must be a path")
        lex_path = (path.parent / rel).resolve()
        _expect(lex_path.exists(), path, line_of(lex_files, i), f"lexicon file {rel!r} not found")
        groups.extend(load_lexicon(lex_path).groups)

    rules = _mapping(doc.get("rules", {}), path, line_of(doc, "rules"), "`rules`")
    _unknown_keys(rules, set(RULE_PARSERS), path, "`rules`")
    sections = {name: RULE_PARSERS[name](_mapping(raw, path, line_of(rules, name), name), path)
                for name, raw in rules.items()}
    return Rules(version=version.strip(), path=path, lexicon=Lexicon(tuple(groups)), sections=sections)


# --- rule sections ------------------------------------------------------------------------------
# Each parser takes the section's mapping (with line numbers) and the file's path, validates it and
# returns a typed, frozen config. A new rule family adds its parser here (or imports one from its own
# config module) — nothing else in this file needs to change.

def _bool(section: dict, key: str, default: bool, path: Path) -> bool:
    value = section.get(key, default)
    _expect(isinstance(value, bool), path, line_of(section, key), f"`{key}` must be true or false")
    return value


def _int_in(section: dict, key: str, default: int, lo: int, hi: int, path: Path) -> int:
    value = section.get(key, default)
    _expect(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi, path,
            line_of(section, key), f"`{key}` must be an integer from {lo} to {hi}")
    return value


def _parse_diversion_phrase(section: dict, path: Path) -> DiversionPhraseRule:
    _unknown_keys(section, {"enabled", "window_minutes"}, path, "chat.diversion_phrase")
    return DiversionPhraseRule(enabled=_bool(section, "enabled", True, path),
                               window_ms=_int_in(section, "window_minutes", 60, 1, 10_080, path) * 60_000)


RULE_PARSERS: dict[str, Callable[[dict, Path], Any]] = {
    "chat.diversion_phrase": _parse_diversion_phrase,
}
