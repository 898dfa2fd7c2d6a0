"""`paodan worker`: import every agent and run the Faust worker until stopped."""

from __future__ import annotations

import gc
import logging
import subprocess
import time
from pathlib import Path

# What a started worker logs once it consumes: Faust's agents, and in the archive's first process the
# consumer feeding the board's live state (streams/live.py) and the archive consumer (streams/archive.py),
# each positioned on their topics.
# Records produced after all three lines are seen by every part of the worker.
READY_LINES = ("Worker ready", "live alerts consumer ready", "archive consumer ready")


def wait_ready(log_path: Path, proc: subprocess.Popen | None, timeout: float, after: int = 0) -> None:
    """Wait until the worker writing `log_path` (from byte `after` on) has logged every READY_LINES."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = log_path.read_text(errors="replace")[after:]
        except FileNotFoundError:
            text = ""
        if all(line in text for line in READY_LINES):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}; see {log_path}:\n{text[-3000:]}")
        time.sleep(0.3)
    missing = [line for line in READY_LINES if line not in text]
    raise TimeoutError(f"worker not ready within {timeout:.0f}s (not yet: {', '.join(missing)}); see {log_path}")


def create_own_topics(app, settings, internal: tuple[str, ...]) -> None:
    """Create the topics this application subscribes to before its consumer does: the contract's,
    the engine's internal ones and every table's changelog (compacted, the table's partition count).

    Faust creates changelogs while it starts, racing its own consumer's first subscription: a topic
    created just after the group's assignment is left out of it until the next metadata refresh
    (five minutes), and the worker sits unready until then."""
    from formats.topics import create_topics

    create_topics(settings, extra=internal,
                  compacted={t.changelog_topic.get_topic_name(): t.changelog_topic.partitions or settings.partitions
                             for t in app.tables.values()})


def _collect_less_often() -> None:
    """Tune CPython's cyclic garbage collector for a worker. Its default runs a young collection every
    700 new containers, and a full one whenever the survivors grew by a quarter: every full one walks
    everything alive (the lexicon's automaton, the rules, Faust, up to 10,000 decoded employee states),
    about 90 ms each here. Over a 180,000-record backlog that was 1.3-1.5 s of a 10-12 s run; with
    what start-up made frozen (never walked again) and young collections every 50,000, it was 0.4 s.
    Almost nothing the worker makes forms reference cycles, so collecting later keeps little more."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def run(loglevel: str = "info") -> None:
    from faustkit.app import Worker, raise_producer_buffer

    from streams.app import app, settings
    from streams import archive, detection, directory, media_agent  # noqa: F401 - importing registers the agents
    from streams.rules_state import current_rules

    rules = current_rules()  # fail before joining the group if the rules file is bad
    _collect_less_often()  # after imports and rules: what they made is frozen
    create_own_topics(app, settings, (*detection.INTERNAL.values(), media_agent.TOPIC))
    # Table writes wait in Faust's producer buffer until its background task sends them; past 100
    # waiting, Faust stops the consumer and drains the buffer a record at a time, logging a warning
    # each time. A detection batch writes a state per employee and an owner per customer it touched
    # (hundreds) at once, so allow a few batches' worth before that throttle (and its warning) starts.
    raise_producer_buffer(app, 4 * settings.batch_max)
    logging.getLogger(__name__).info("rules %s loaded from %s", rules.version, rules.path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.exit_on_crash = True  # a crashed worker exits for its supervisor to restart it (streams/app.py)
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
