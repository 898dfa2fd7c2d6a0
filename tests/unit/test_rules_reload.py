"""Hot reload: an edited rules or lexicon file replaces the rules in force; a bad edit is refused with
its file and line and the old rules keep running."""

from __future__ import annotations

import os

from streams.rules_state import RulesHolder

LEX = "groups:\n  - name: g\n    kind: phrase\n    severity: high\n    terms: [{terms}]\n"


def write(path, text: str, tick: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(tick * 1_000_000_000, tick * 1_000_000_000))  # distinct mtimes, even within a tick


def test_edits_are_picked_up_and_bad_edits_refused(tmp_path):
    rules, lex = tmp_path / "rules.yaml", tmp_path / "lex.yaml"
    write(lex, LEX.format(terms="去拼多多下单"), 1)
    write(rules, 'version: "v1"\nlexicons: [lex.yaml]\n', 1)
    holder = RulesHolder(rules)
    assert holder.check() is None and holder.rules.version == "v1"

    write(lex, LEX.format(terms="去拼多多下单, 走后门"), 2)
    write(rules, 'version: "v2"\nlexicons: [lex.yaml]\n', 2)
    assert holder.check() == "reloaded"
    assert holder.rules.version == "v2" and [t.text for t in holder.rules.lexicon.terms()] == ["去拼多多下单", "走后门"]

    write(lex, "groups:\n  - name: g\n    severity: loud\n    terms: [x]\n", 3)
    assert holder.check() == "refused"
    assert holder.rules.version == "v2"  # the old rules keep running
    assert "lex.yaml:3:" in holder.refused and "severity" in holder.refused
    assert holder.check() is None  # refused once, not on every tick

    write(lex, LEX.format(terms="去拼多多下单"), 4)
    write(rules, 'version: "v3"\nlexicons: [lex.yaml]\n', 4)
    assert holder.check() == "reloaded" and holder.rules.version == "v3" and holder.refused is None


def test_touching_a_file_without_changing_it_reloads_nothing(tmp_path):
    rules, lex = tmp_path / "rules.yaml", tmp_path / "lex.yaml"
    write(lex, LEX.format(terms="去拼多多下单"), 1)
    write(rules, 'version: "v1"\nlexicons: [lex.yaml]\n', 1)
    holder = RulesHolder(rules)
    before = holder.rules
    os.utime(lex, ns=(9_000_000_000, 9_000_000_000))
    assert holder.check() is None and holder.rules is before
