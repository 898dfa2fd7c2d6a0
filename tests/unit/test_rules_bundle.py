"""Published rules bundles: a rules file and its lexicons travel as one versioned, hashed record; a worker
runs a valid one and refuses an altered, escaping or invalid one whole, with the bundle's file and line."""

from __future__ import annotations

import orjson
import pytest

from config.rules import contents_digest, load_rules
from streams import rules_bundle
from streams.rules_bundle import BundleError, newer, pack, unpack
from streams.rules_state import RulesHolder

LEX = "groups:\n  - name: g\n    kind: phrase\n    severity: high\n    terms: [{terms}]\n"


def rules_dir(tmp_path, version: str, terms: str = "去拼多多下单", name: str = "src"):
    root = tmp_path / name
    (root / "lexicons").mkdir(parents=True)
    (root / "lexicons" / "lex.yaml").write_text(LEX.format(terms=terms), encoding="utf-8")
    (root / "rules.yaml").write_text(f'version: "{version}"\nlexicons: [lexicons/lex.yaml]\n', encoding="utf-8")
    return root / "rules.yaml"


def reseal(value: bytes, edit) -> bytes:
    """A hand-made bundle: `edit(body)` changes it, the digest is recomputed so only the edit is wrong."""
    body = orjson.loads(value)
    edit(body)
    body["digest"] = contents_digest(f["text"].encode() for f in body["files"])
    return orjson.dumps(body)


def test_a_bundle_carries_the_rules_file_and_its_lexicons_and_loads_like_the_file(tmp_path):
    source = load_rules(rules_dir(tmp_path, "v2", "去拼多多下单, 走后门"))
    value = pack(source, published_by="ops", now_ms=1)
    head = rules_bundle.header(value)
    assert (head["version"], head["digest"], head["files"]) == ("v2", source.digest, ["rules.yaml", "lexicons/lex.yaml"])
    rules, _ = unpack(value, tmp_path / "worker")
    assert rules.version == "v2" and rules.digest == source.digest
    assert [t.text for t in rules.lexicon.terms()] == ["去拼多多下单", "走后门"]
    assert rules.path.is_relative_to((tmp_path / "worker").resolve())


@pytest.mark.parametrize("edit, reason", [
    (lambda b: b["files"][1].update(text=LEX.format(terms="x").replace("high", "loud")), "lexicons/lex.yaml:4:"),
    (lambda b: b["files"][1].update(path="../../etc/lex.yaml"), "must be relative"),
    (lambda b: b["files"].pop(), "lexicons/lex.yaml' not found"),
    (lambda b: b.update(version="v9"), "says version 'v9'"),
    (lambda b: b["files"][0].update(text='version: "v2"\nlexicons: [/etc/lex.yaml]\n'), "not found"),
])
def test_a_wrong_bundle_is_refused_with_a_reason(tmp_path, edit, reason):
    value = reseal(pack(load_rules(rules_dir(tmp_path, "v2"))), edit)
    with pytest.raises(BundleError, match=reason.replace("(", r"\(")):
        unpack(value, tmp_path / "worker")


def test_an_altered_or_foreign_record_is_refused(tmp_path):
    value = pack(load_rules(rules_dir(tmp_path, "v2")))
    body = orjson.loads(value)
    body["files"][1]["text"] = body["files"][1]["text"].replace("去拼多多下单", "改了")
    with pytest.raises(BundleError, match="digest"):
        unpack(orjson.dumps(body), tmp_path / "w")
    for garbage, why in ((b"\xff\xfe", "not JSON"), (b"[]", "not a rules bundle"), (b'{"kind": "paodan.rules"}', "schema")):
        with pytest.raises(BundleError, match=why):
            unpack(garbage, tmp_path / "w")


def test_versions_compare_in_natural_order():
    assert newer("2026-11-27.10", "2026-11-27.9") and newer("2026-11-28.1", "2026-11-27.12")
    assert not newer("2026-11-27.2", "2026-11-27.2") and not newer("v1", "v2")


def test_the_worker_runs_a_published_version_refuses_a_bad_one_and_the_latest_change_wins(tmp_path):
    holder = RulesHolder(rules_dir(tmp_path, "v1"), tmp_path / "published")
    published = pack(load_rules(rules_dir(tmp_path, "v2", "去拼多多下单, 走后门", name="elsewhere")))
    assert holder.apply_published(published) == "applied"
    assert (holder.rules.version, holder.origin) == ("v2", "published")
    assert "走后门" in [t.text for t in holder.rules.lexicon.terms()]
    assert holder.apply_published(published) is None  # already running it

    bad = reseal(published, lambda b: b["files"][1].update(text="groups:\n  - name: g\n    severity: loud\n"))
    assert holder.apply_published(bad) == "refused" and holder.rules.version == "v2"
    assert holder.refused.startswith("published bundle: lexicons/lex.yaml:3:")
    assert holder.apply_published(b"not a bundle") == "refused" and holder.rules.version == "v2"
    assert holder.check() is None  # the file did not change: the published version keeps running

    # An edit of the local file is the latest change: it runs (file reload works as before).
    (tmp_path / "src" / "rules.yaml").write_text('version: "v3"\nlexicons: [lexicons/lex.yaml]\n', encoding="utf-8")
    assert holder.check() == "reloaded" and (holder.rules.version, holder.origin) == ("v3", "file")


def test_at_start_up_only_a_newer_published_version_replaces_the_file(tmp_path):
    holder = RulesHolder(rules_dir(tmp_path, "2026-11-27.5"), tmp_path / "published")
    older = pack(load_rules(rules_dir(tmp_path, "2026-11-27.4", name="old")))
    assert holder.apply_published(older, only_if_newer=True) is None and holder.origin == "file"
    newer_one = pack(load_rules(rules_dir(tmp_path, "2026-11-27.10", name="new")))
    assert holder.apply_published(newer_one, only_if_newer=True) == "applied"
    assert holder.rules.version == "2026-11-27.10"
