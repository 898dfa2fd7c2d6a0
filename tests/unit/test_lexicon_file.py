"""Lexicon files: per-term attributes load as written, and every mistake names its file and line."""

from __future__ import annotations

import pytest

from config.lexicon import summary
from config.rules import load_rules
from config.yamlfile import ConfigError


def rules_with(tmp_path, *lexicons: str, rules: str = ""):
    names = []
    for i, text in enumerate(lexicons):
        (tmp_path / f"lex{i}.yaml").write_text(text, encoding="utf-8")
        names.append(f"lex{i}.yaml")
    path = tmp_path / "rules.yaml"
    path.write_text(f'version: "t1"\nlexicons: [{", ".join(names)}]\n{rules}', encoding="utf-8")
    return path


LEX = """groups:
  - name: platforms
    title: 竞品
    kind: entity
    severity: high
    mention: info
    pinyin: [full, initials]
    terms:
      - 拼多多
      - {text: 淘宝, severity: critical, direction: any, scope: {branches: [BJ-01]}, variants: [tb]}
variants:
  拼多多: [拼夕夕]
"""
ALLOW = """allow:
  numbers: ["400-820-8820", 13800000000]
  domains: [Shop.Example]
  weapps: [官方商城]
"""


def test_terms_carry_their_attributes_and_allow_lists_merge(tmp_path):
    rules = load_rules(rules_with(tmp_path, LEX, ALLOW))
    pdd, tb = rules.lexicon.terms()
    assert (pdd.kind, pdd.severity, pdd.mention, pdd.direction, pdd.pinyin) == \
        ("entity", "high", "info", "employee", ("full", "initials"))
    assert (tb.severity, tb.direction, tb.scope.branches, tb.variants) == ("critical", "any", ("BJ-01",), ("tb",))
    assert tb.source == "lex0.yaml:10"
    assert rules.lexicon.variants == (("拼多多", ("拼夕夕",)),)
    allow = rules.lexicon.allow
    assert allow.numbers == {"4008208820", "13800000000"} and allow.domain("m.shop.example")
    assert rules.sources[1:] == (tmp_path / "lex0.yaml", tmp_path / "lex1.yaml") and len(rules.digest) == 64
    assert any("platforms" in line and "entity" in line for line in summary(rules.lexicon))


@pytest.mark.parametrize("lexicon, line, words", [
    ("groups:\n  - name: g\n    kind: noun\n    terms: [a]\n", 3, "kind"),
    ("groups:\n  - name: g\n    terms:\n      - {text: ab, direction: sideways}\n", 4, "direction"),
    ("groups:\n  - name: g\n    terms:\n      - {text: ab, scope: {regions: [x]}}\n", 4, "unknown key 'regions'"),
    ("groups:\n  - name: g\n    pinyin: [tones]\n    terms: [ab]\n", 3, "pinyin mode"),
    ("groups:\n  - name: g\n    terms:\n      - {severity: high}\n", 4, "needs `text`"),
    ("groups:\n  - name: g\n    terms: [ab]\n  - name: g\n    terms: [cd]\n", 4, "defined twice"),
    ("allow:\n  numbers: [call-me]\n", 2, "not a number"),
    ("allow:\n  phones: [1]\n", 2, "unknown key 'phones'"),
    ("variants:\n  微信: 薇信\n", 2, "must be a list"),
])
def test_a_bad_lexicon_names_its_file_and_line(tmp_path, lexicon, line, words):
    with pytest.raises(ConfigError) as exc:
        load_rules(rules_with(tmp_path, lexicon))
    assert exc.value.path.endswith("lex0.yaml") and exc.value.line == line, str(exc.value)
    assert words in exc.value.message


@pytest.mark.parametrize("section, line, words", [
    ("rules:\n  chat.private_contact:\n    severity: {fax: high}\n", 5, "unknown key 'fax'"),
    ("rules:\n  chat.external_shop:\n    severity: {shop_link: urgent}\n", 5, "severity of shop_link"),
    ("rules:\n  chat.recall_after_hit:\n    recall_minutes: 0\n", 5, "recall_minutes"),
    ("rules:\n  chat.content:\n    max_text_chars: 5\n", 5, "max_text_chars"),
    ("rules:\n  chat.diversion_phrase:\n    min_severity: loud\n", 5, "min_severity"),
])
def test_a_bad_chat_rule_section_names_its_line(tmp_path, section, line, words):
    with pytest.raises(ConfigError) as exc:
        load_rules(rules_with(tmp_path, LEX, rules=section))
    assert exc.value.path.endswith("rules.yaml") and exc.value.line == line, str(exc.value)
    assert words in exc.value.message


def test_paodan_rules_validate_summarises_a_good_file_and_names_the_line_of_a_bad_one(tmp_path, capsys):
    from paodan.cli import main

    assert main(["rules", "validate", str(rules_with(tmp_path, LEX, ALLOW))]) == 0
    out = capsys.readouterr().out
    assert "ok — version t1, 2 terms in 1 groups from 2 lexicon files" in out
    assert "platforms" in out and "automaton:" in out and "chat.private_contact" in out
    with pytest.raises(SystemExit) as exc:
        main(["rules", "validate", str(rules_with(tmp_path, "groups:\n  - name: g\n    kind: noun\n    terms: [a]\n"))])
    assert "lex0.yaml:3:" in str(exc.value.code)
