"""The labelled corpus, replayed: every evasion family is caught, and the hard negatives (customers
naming competitors, staff warning against fakes, the company's own hotline, shop and mini-program,
ordinary chat) are not flagged. Scored per employee: flagged = an alert of severity medium or above."""

from __future__ import annotations

import io
from collections import defaultdict

import orjson

from config.rules import load_rules
from config.settings import CONFIG_DIR
from streams.replay import Replay
from tests import corpus
from tests.settled import settled

RULES = settled(load_rules(CONFIG_DIR / "rules.yaml"))
CASES = corpus.load()
MIN_FAMILY_RECALL = 0.9
MIN_PRECISION = 0.95


def replay_alerts(cases) -> list[dict]:
    out, err = io.BytesIO(), io.StringIO()
    replay = Replay(RULES, out, err)
    n = 0
    for case in cases:
        for topic, key, value in corpus.records(case):
            n += 1
            replay.line(f"corpus:{n}", orjson.dumps({"topic": topic, "key": key, "value": value}))
    assert err.getvalue() == ""
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_the_corpus_covers_every_evasion_and_every_hard_negative():
    families = {c.family for c in CASES if c.label == "steer"}
    assert families >= {"plain", "separators", "width_case", "traditional", "repeats", "pinyin", "variants",
                        "phone", "wechat_id", "bank_card", "shop_link", "tao_password", "card", "weapp",
                        "redpacket", "link_msg", "chatrecord", "mixed", "recall"}
    negatives = {c.family for c in CASES if c.label == "benign"}
    assert negatives >= {"customer", "warning", "own", "ordinary"}


def test_per_family_recall_and_overall_precision_at_the_employee_level():
    flagged = corpus.flagged(replay_alerts(CASES))
    by_family: dict[str, list[bool]] = defaultdict(list)
    for c in CASES:
        if c.label == "steer":
            by_family[c.family].append(corpus.employee_of(c, "corpus_") in flagged)
    missed = {c.id for c in CASES if c.label == "steer" and corpus.employee_of(c, "corpus_") not in flagged}
    recall = {f: sum(v) / len(v) for f, v in by_family.items()}
    assert all(r >= MIN_FAMILY_RECALL for r in recall.values()), (recall, missed)
    false = {c.id for c in CASES if c.label == "benign" and corpus.employee_of(c, "corpus_") in flagged}
    true = len(flagged) - len(false)
    precision = true / len(flagged)
    assert precision >= MIN_PRECISION, (precision, false)
    print(f"\ncorpus: {len(CASES)} cases, recall by family {recall}, precision {precision:.2f}")


def test_a_recall_is_flagged_only_because_of_the_recall():
    [case] = [c for c in CASES if c.id == "recall-mention"]
    alerts = replay_alerts([case])
    by_rule = {a["rule"]: a for a in alerts}
    assert by_rule["chat.diversion_phrase"]["severity"] == "low"  # the mention alone would not flag
    recall = by_rule["chat.recall_after_hit"]
    assert recall["severity"] == "medium"
    # Evidence: the recalled message, then the recall.
    assert [e["id"] for e in recall["evidence"]] == ["corpus_recall-mention-m0", "corpus_recall-mention-r"]
    assert "撤回" in recall["explanation"] and "淘宝" in recall["explanation"]


def test_replaying_the_corpus_twice_gives_the_same_bytes_apart_from_detected_at():
    runs = []
    for _ in range(2):
        alerts = replay_alerts(CASES)
        for a in alerts:
            a.pop("detected_at")
        runs.append([orjson.dumps(a) for a in alerts])
    assert runs[0] == runs[1] and len(runs[0]) > 50
