"""`paodan worker`: import every agent and run the Faust worker until stopped."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

# What a started worker logs once it consumes: Faust's agents, the consumer feeding the board's live
# state (streams/live.py) and the archive consumer (streams/archive.py) each positioned on their topics.
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


def prepare_internal_topics(settings, names: tuple[str, ...]) -> None:
    """Create the application's internal topics and start its consumer group at their beginning.

    They must exist before Faust's consumer subscribes (a subscription to a missing topic is ignored
    until the next rebalance). And every record in them is this application's own: whatever
    PAODAN_OFFSET_RESET says about the input topics, a partition without a committed offset (one no
    member has committed yet when another takes it over) is read from its start, never skipped."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    from paodan.stack.manager import create_topics

    create_topics(settings, extra=names)

    async def start_at_beginning() -> None:
        tps = [TopicPartition(t, p) for t in names for p in range(settings.partitions)]
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka, group_id=settings.app_id,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(tps)
            unset = [tp for tp in tps if await consumer.committed(tp) is None]
            if unset:
                await consumer.commit(await consumer.beginning_offsets(unset))
        except KafkaError as exc:  # the group is running already: its members committed them
            logging.getLogger(__name__).info("internal topics' offsets left as they are (%s)", exc)
        finally:
            await consumer.stop()

    asyncio.run(start_at_beginning())


def run(loglevel: str = "info") -> None:
    from faust import Worker

    from streams.app import app, settings
    from streams import archive, detection, directory, live  # noqa: F401 - importing registers the agents
    from streams.rules_state import current_rules

    rules = current_rules()  # fail before joining the group if the rules file is bad
    prepare_internal_topics(settings, tuple(detection.INTERNAL.values()))
    logging.getLogger(__name__).info("rules %s loaded from %s", rules.version, rules.path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
