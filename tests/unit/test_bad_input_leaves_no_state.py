"""Sustained bad input leaves nothing behind (issue 19: the worker's memory kept drifting over passes of
malformed records). The same company's records, once alone and once with passes of every kind of record
the decoders reject woven in, end in exactly the same detection state and alerts: nothing is kept per
rejected record, so memory under bad input is bounded by the good input alone."""

from __future__ import annotations

import io

import orjson

from bench.bench_faults import company, malformed
from config.rules import load_rules
from config.settings import CONFIG_DIR
from streams.replay import Replay


def _run(records) -> Replay:
    replay = Replay(load_rules(CONFIG_DIR / "rules.yaml"), io.BytesIO(), io.StringIO())
    for i, (topic, key, value) in enumerate(records):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = value.decode("utf-8", "replace")  # replay's own envelope must stay valid JSON
        replay.line(f"r{i}", orjson.dumps({"topic": topic, "key": key.decode(), "value": parsed}))
    return replay


def _alerts(replay: Replay) -> list[dict]:
    """What replay raised, less `detected_at` (when it ran)."""
    return [{k: v for k, v in orjson.loads(line).items() if k != "detected_at"}
            for line in replay.out.getvalue().splitlines()]


def test_passes_of_malformed_records_change_no_state_and_no_alert():
    good = company(3, 12, 3_000, "nostate-")
    woven = []
    for n, chunk in enumerate(range(0, len(good), 1_000)):
        woven += malformed(1_100, f"pass{n}-") + good[chunk:chunk + 1_000]
    alone, noisy = _run(good), _run(woven)
    assert noisy.bad >= 3 * 1_000  # they were all rejected, not skipped unseen
    assert _alerts(noisy) == _alerts(alone)
    for kind in ("chat", "behaviour", "teams", "owners", "directories"):
        assert getattr(noisy.store, kind) == getattr(alone.store, kind), kind
