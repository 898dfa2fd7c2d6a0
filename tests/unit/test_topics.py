"""The one list of topics (formats/topics.py) and the dead-letter key (formats/deadletter.py)."""

from types import SimpleNamespace

from formats import topics
from formats.deadletter import KEY_LIMIT, dead_letter_key


def test_every_shared_topic_says_what_its_key_is_and_none_is_listed_twice():
    shared = topics.shared(SimpleNamespace(rules_topic="r.rules"))
    names = [t.name for t in shared]
    assert len(names) == len(set(names))
    assert set(topics.INPUTS + topics.OUTPUTS + topics.WECOM_EVENTS) < set(names)
    assert all(t.key for t in shared)


def test_input_topics_share_the_partition_count_and_the_rules_topic_has_one_compacted_partition():
    shared = {t.name: t for t in topics.shared(SimpleNamespace(rules_topic="r.rules"))}
    assert all(shared[name].partitions is None for name in topics.INPUTS)
    rules = shared["r.rules"]
    assert rules.partitions == 1 and rules.config["cleanup.policy"] == "compact"
    assert int(rules.config["max.message.bytes"]) > topics.RULES_MAX_BYTES


def test_the_callback_routes_only_to_listed_topics():
    assert set(topics.EVENT_TOPICS.values()) <= set(topics.INPUTS + topics.WECOM_EVENTS)
    assert not set(topics.WECOM_EVENTS) & set(topics.INPUTS)


def test_internal_topics_carry_the_application_id():
    mine, theirs = topics.internal("app-a"), topics.internal("app-b")
    assert set(mine) == {topics.NOTICES, topics.TEAM_DAYS}
    assert all(name.startswith("app-a-") for name in mine.values())
    assert not set(mine.values()) & set(theirs.values())
    assert topics.media_text("app-a").startswith("app-a-")


def test_a_dead_letter_keeps_the_key_up_to_the_limit():
    assert dead_letter_key(None) is None
    assert dead_letter_key(b"zs") == b"zs"
    assert dead_letter_key(b"k" * (KEY_LIMIT + 5)) == b"k" * KEY_LIMIT


# Strings that equal a topic's name yet are not one.
NOT_TOPICS = {("streams/rules_bundle.py", "paodan.rules"): "the bundle's `kind`, a format name"}


def test_code_names_topics_only_through_formats_topics():
    import ast

    from tests.sources import parsed

    names = {*topics.TOPICS, *topics.EVENT_TOPICS.values(), topics.RULES, topics.CHAIN, topics.CALLBACK_SOURCE,
             topics.NOTICES, topics.TEAM_DAYS}
    own = [*topics.internal("APP").values(), topics.media_text("APP")]  # the application id's topics
    suffixes = tuple(n[len("APP"):] for n in own)
    found = []
    for rel, tree in parsed(skip=("formats/topics.py",)):
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
                text = node.value.decode("utf-8", "replace") if isinstance(node.value, bytes) else node.value
                if (text in names or text.endswith(suffixes)) and (rel, text) not in NOT_TOPICS:
                    found.append(f"{rel}:{node.lineno}: {text!r}")
    assert not found, "import the topic's name from formats/topics.py:\n" + "\n".join(found)
