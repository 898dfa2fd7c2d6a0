"""`paodan replay` on two cores says exactly what it says on one.

The two-process replay (streams/replay_split.py) runs the chat content detectors in a forked child
and merges per line; the one-process replay is the reference. Same input: the same alert lines in
the same order (apart from `detected_at`), the same bad-line reports in the same order, the same
counts — over simulated company traffic (behaviour alerts), the labelled chat corpus (content
alerts) and bad lines of every kind in between.
"""

from __future__ import annotations

import io

import orjson
import pytest

from config.rules import load_rules
from config.settings import CONFIG_DIR
from ingest import simulator
from streams.replay import Replay
from tests import corpus

BAD = [
    b'{"topic": "wecom.msgaudit", "key": "x", "value": {"msgid": 1}}',       # decoding fails
    b"{not json",
    b'{"topic": "crm.orders", "value": [1]}',                                # value not an object
    b'{"topic": "wecom.msgaudit"}',                                          # no value
    b'{"topic": "wecom.msgaudit", "key": 7, "value": {}}',                   # key not a string
    b'{"topic": "hr.events", "value": {"type": "leave", "ts": 5, "employee_id": "e", "start": 9, "end": 3}}',
    b'{"topic": "\\u0077ecom.msgaudit", "key": "x", "value": {"msgid": "m", "action": "switch", "time": 1}}',
    b"",
    b"   ",
]


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory):
    lines = list(simulator.replay_lines(5, 12_000, 1_764_172_800_000, 16, days=40))
    chat = [orjson.dumps({"topic": t, "key": k, "value": v})
            for case in corpus.load() for t, k, v in corpus.records(case, prefix="split_")]
    mixed: list[bytes] = []
    for i, line in enumerate(lines):
        mixed.append(line)
        if i % 1500 == 0:
            mixed.extend(BAD)
        if i % 40 == 0 and chat:  # corpus chat interleaved with the company's traffic
            mixed.extend(chat[:25])
            del chat[:25]
    path = tmp_path_factory.mktemp("replay") / "events.jsonl"
    path.write_bytes(b"\n".join(mixed + chat) + b"\n")
    return path


def _replay(path, parallel: bool) -> tuple[list[dict], str, tuple[int, int, int]]:
    out, err = io.BytesIO(), io.StringIO()
    replay = Replay(load_rules(CONFIG_DIR / "rules.yaml"), out, err)
    replay.run([str(path)], parallel=parallel)
    alerts = [orjson.loads(line) for line in out.getvalue().splitlines()]
    for alert in alerts:
        del alert["detected_at"]
    return alerts, err.getvalue(), (replay.records, replay.alerts, replay.bad)


def test_two_processes_write_what_one_writes(replay_file):
    one = _replay(replay_file, parallel=False)
    two = _replay(replay_file, parallel=True)
    alerts, errors, counts = one
    rules = {a["rule"] for a in alerts}
    assert any(r.startswith("chat.") for r in rules) and any(not r.startswith("chat.") for r in rules)
    assert errors.count("\n") >= 5 * len(BAD) - 10
    assert two[0] == alerts
    assert two[1] == errors
    assert two[2] == counts


def test_a_missing_file_stops_both_after_the_files_before_it(replay_file, tmp_path):
    missing = str(tmp_path / "nope.jsonl")
    seen = []
    for parallel in (False, True):
        out = io.BytesIO()
        replay = Replay(load_rules(CONFIG_DIR / "rules.yaml"), out, io.StringIO())
        with pytest.raises(FileNotFoundError):
            replay.run([str(replay_file), missing], parallel=parallel)
        seen.append((replay.records, replay.alerts, out.getvalue().count(b"\n")))
    assert seen[0] == seen[1] and seen[0][0] > 5_000 and seen[0][1] > 0
