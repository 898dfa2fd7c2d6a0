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

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from config.chat_rules import PARSERS as CHAT_PARSERS
from config.chat_rules import ChatRule
from config.lexicon import SEVERITIES, Lexicon, Term, TermGroup, load_lexicon, merge  # noqa: F401 (re-exported)
from config.lexicon import _expect
from config.lexicon import _keys as _unknown_keys
from config.yamlfile import Collect, LineDict, line_of
from config.yamlfile import ConfigError  # noqa: F401 - re-exported: load_rules raises it
from config.yamlfile import load as load_yaml


@dataclass(frozen=True)
class Rules:
    version: str
    path: Path
    lexicon: Lexicon
    # Typed config of each rule section, by rule name (see RULE_PARSERS); absent sections get defaults.
    sections: dict[str, Any] = field(default_factory=dict)
    # Every file read (the rules file, then its lexicons) and a hash of their bytes: hot reload
    # (streams/rules_state.py) compares these to notice an edit.
    sources: tuple[Path, ...] = ()
    digest: str = ""

    def rule(self, name: str) -> Any:
        if name in self.sections:
            return self.sections[name]
        return RULE_PARSERS[name](LineDict(), self.path)

    @property
    def diversion_phrase(self) -> ChatRule:
        return self.rule("chat.diversion_phrase")


# --- validation helpers -------------------------------------------------------------------------

def _mapping(value: Any, path: Path, line: int | None, what: str) -> dict:
    _expect(isinstance(value, dict), path, line, f"{what} must be a mapping")
    return value


def load_rules(path: Path | str) -> Rules:
    """Read and validate a rules file and its lexicons; raise ConfigError with file and line."""
    path = Path(path).resolve()
    doc = _mapping(load_yaml(path), path, 1, "a rules file")
    _unknown_keys(doc, {"version", "lexicons", "rules"}, path, "the rules file")
    version = doc.get("version")
    _expect(isinstance(version, str) and version.strip(), path, line_of(doc, "version") or 1,
            "`version` must be a non-empty string (it is stamped on every alert)")

    # Every part is checked even after one failed: all the file's errors are reported at once.
    errors = Collect()
    lex_files = doc.get("lexicons", [])
    _expect(isinstance(lex_files, list), path, line_of(doc, "lexicons"), "`lexicons` must be a list of paths")
    lexicons, lex_paths, group_names = [], [], set()
    for i, rel in enumerate(lex_files):
        with errors.check():
            _expect(isinstance(rel, str), path, line_of(lex_files, i), "a lexicon entry must be a path")
            lex_path = (path.parent / rel).resolve()
            _expect(lex_path.exists(), path, line_of(lex_files, i), f"lexicon file {rel!r} not found")
            lexicons.append(load_lexicon(lex_path, group_names))
            lex_paths.append(lex_path)

    rules = _mapping(doc.get("rules", {}), path, line_of(doc, "rules"), "`rules`")
    with errors.check():
        _unknown_keys(rules, set(RULE_PARSERS), path, "`rules`")
    sections = {}
    for name, raw in rules.items():
        if name in RULE_PARSERS:
            with errors.check():
                sections[name] = RULE_PARSERS[name](_mapping(raw, path, line_of(rules, name), name), path)
    errors.raise_any()
    sources = (path, *lex_paths)
    return Rules(version=version.strip(), path=path, lexicon=merge(lexicons), sections=sections,
                 sources=sources, digest=sources_digest(sources))


def sources_digest(paths: tuple[Path, ...]) -> str:
    """sha256 over the files' bytes (missing files hash as empty): equal digests, equal rules."""
    def read(p: Path) -> bytes:
        try:
            return p.read_bytes()
        except OSError:
            return b""

    return contents_digest(read(p) for p in paths)


def contents_digest(contents: Iterable[bytes]) -> str:
    """The digest of the rules file's and its lexicons' bytes, in load order (also a published bundle's)."""
    h = hashlib.sha256()
    for data in contents:
        h.update(data)
        h.update(b"\x00")
    return h.hexdigest()


# --- rule sections ------------------------------------------------------------------------------
# Each parser takes the section's mapping (with line numbers) and the file's path, validates it and
# returns a typed, frozen config. A new rule family adds its parser here (or imports one from its own
# config module) — nothing else in this file needs to change.

RULE_PARSERS: dict[str, Callable[[dict, Path], Any]] = {
    **CHAT_PARSERS,  # chat.diversion_phrase, chat.private_contact, … (config/chat_rules.py)
}

# The behaviour detectors' sections (contacts, followup, orders, …) live in their own module.
from config.behaviour_rules import PARSERS as _BEHAVIOUR_PARSERS  # noqa: E402

RULE_PARSERS.update(_BEHAVIOUR_PARSERS)

# How chat-archive images are read (QR, OCR, the company's own codes): config/media_rules.py.
from config.media_rules import PARSERS as _MEDIA_PARSERS  # noqa: E402

RULE_PARSERS.update(_MEDIA_PARSERS)
