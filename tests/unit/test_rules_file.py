"""A rules file is validated at start-up and a bad one fails with its file and line."""

from __future__ import annotations

import pytest

from config.rules import load_rules
from config.yamlfile import ConfigError


def write(tmp_path, rules: str, lexicon: str | None = None):
    if lexicon is not None:
        (tmp_path / "lex.yaml").write_text(lexicon, encoding="utf-8")
    path = tmp_path / "rules.yaml"
    path.write_text(rules, encoding="utf-8")
    return path


LEX = "groups:\n  - name: g\n    severity: high\n    terms: [去拼多多下单]\n"


def test_a_valid_file_loads_with_its_version_and_terms(tmp_path):
    rules = load_rules(write(tmp_path, 'version: "v9"\nlexicons: [lex.yaml]\nrules:\n  chat.diversion_phrase:\n    window_minutes: 30\n', LEX))
    assert rules.version == "v9"
    assert rules.diversion_phrase.window_ms == 30 * 60_000
    assert [t.text for t in rules.lexicon.terms()] == ["去拼多多下单"]


@pytest.mark.parametrize("rules_text, lexicon, line, words", [
    ('version: "v1"\nrules:\n  chat.diversion_phrase:\n    window_minutes: 0\n', None, 4, "window_minutes"),
    ('version: "v1"\nrules:\n  chat.unknown: {}\n', None, 3, "unknown key 'chat.unknown'"),
    ('rules: {}\n', None, 1, "version"),
    ('version: "v1"\nlexicons: [lex.yaml]\n', "groups:\n  - name: g\n    severity: urgent\n    terms: [a]\n", 3, "severity"),
    ('version: "v1"\nlexicons: [missing.yaml]\n', None, 2, "not found"),
    ('version: "v1"\nrules: [\n', None, 3, "invalid YAML"),
    ('version: "v1"\nversion: "v2"\n', None, 2, "duplicate key"),
])
def test_a_bad_file_names_the_file_and_line(tmp_path, rules_text, lexicon, line, words):
    with pytest.raises(ConfigError) as exc:
        load_rules(write(tmp_path, rules_text, lexicon))
    assert exc.value.line == line, str(exc.value)
    assert words in exc.value.message
    assert f":{line}: " in str(exc.value)


def test_every_error_of_a_bad_file_is_reported_at_once_each_with_its_line(tmp_path):
    text = ('version: "v1"\nlexicons: [missing.yaml]\nrules:\n'
            '  windows:\n    min_peers: -3\n    no_such_key: 1\n'
            '  drip:\n    recent_days: 700\n'
            '  chat.diversion_phrase:\n    window_minutes: 0\n'
            '  chat.unknown: {}\n')
    with pytest.raises(ConfigError) as exc:
        load_rules(write(tmp_path, text))
    found = [(e.line, e.message) for e in exc.value.errors]
    assert [line for line, _ in found] == [2, 11, 5, 6, 8, 10]
    for line, words in zip([2, 11, 5, 6, 8, 10], ["not found", "chat.unknown", "min_peers", "no_such_key",
                                                  "recent_days", "window_minutes"]):
        assert any(ln == line and words in m for ln, m in found)
    lines = str(exc.value).splitlines()
    assert len(lines) == 6 and all(str(tmp_path / "rules.yaml") + ":" in ln for ln in lines)
