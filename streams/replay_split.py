"""`paodan replay` on two cores: the chat content detectors in a second process, same output.

The behaviour engine has state that crosses employees (customer ownership, team aggregates, notices
to other employees), so it must see the records one by one in file order, in one process. The chat
content detectors keep state per employee and need only the directory (team and branch, from
`hr.events`). So the replay forks: the child reads the same files and runs the content detectors
(keeping its own copy of the directory), the parent runs everything else. For each line the parent
writes the child's alerts exactly where the one-process replay writes them — before the behaviour
engine's — and a content-detector failure ends the line there as it would in one process. Bad lines
are reported by the parent only. The output is the same, line for line (apart from `detected_at`).
"""

from __future__ import annotations

import io
import multiprocessing
import traceback
from typing import TYPE_CHECKING, Any

from streams.processing import decode_behaviour
from streams.records import RecordError

if TYPE_CHECKING:
    from streams.replay import Replay

CHUNK = 2000  # lines per report from the content process
POLL_EVERY = 1024  # lines between the parent's non-blocking looks at the reports
DONE = -1


class _DirectoryOnly:
    """The content process's stand-in for the behaviour engine: it keeps the directory up to date
    (the content detectors name the employee's team and branch) and raises no alert."""

    def __init__(self, directory: dict[str, dict[str, Any]]):
        self.directory = directory

    def handle_decoded(self, employee: str, event: Any, upsert: dict | None) -> list:
        return []

    def handle(self, topic: str, key: str | None, value: dict) -> list:
        if topic == "hr.events":  # as MemoryBehaviour does first, whatever the engine then says
            employee, _event, upsert = decode_behaviour(topic, key, value)
            if upsert is not None:
                self.directory[employee] = upsert
        return []


def _may_matter(raw: bytes) -> bool:
    """False for a line the content process can skip unparsed: not chat, not HR (a topic spelled
    with JSON escapes contains a backslash-u and is parsed)."""
    return b"msgaudit" in raw or b"hr.events" in raw or b"\\u" in raw


def _content_side(replay: Replay, paths: list[str], conn) -> None:
    """The child: content alerts per line number, reported every CHUNK lines as
    (lines done, [(n, alert lines)], [(n, failure)])."""
    from streams.replay import lines

    try:
        out = io.BytesIO()
        replay.out, replay.err = out, io.StringIO()
        replay.behaviour = _DirectoryOnly(replay.directory)
        chat, failed, current = replay._chat, {}, [0]

        def content(key, record, msg) -> None:
            try:
                chat(key, record, msg)
            except RecordError as exc:
                failed[current[0]] = str(exc)
                raise

        replay._chat = content
        alerts: list[tuple[int, bytes]] = []
        n = 0
        try:
            for n, (where, raw) in enumerate(lines(paths), 1):
                if _may_matter(raw):
                    current[0] = n
                    replay.line(where, raw)
                    if out.tell():
                        alerts.append((n, out.getvalue()))
                        out.seek(0)
                        out.truncate()
                if n % CHUNK == 0:
                    conn.send((n, alerts, list(failed.items())))
                    alerts = []
                    failed.clear()
        except FileNotFoundError:
            pass  # the parent stops at the same file and says so
        conn.send((DONE, alerts, list(failed.items())))
    except BaseException:  # noqa: BLE001 — whatever it is, the parent must hear of it, not wait
        conn.send((None, traceback.format_exc(), []))
    finally:
        conn.close()


def run_split(replay: Replay, paths: list[str]) -> None:
    """Replay `paths` (files, not stdin) with the content detectors in a forked child."""
    from streams.replay import lines

    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_content_side, args=(replay, paths, sender), daemon=True,
                        name="paodan-replay-content")
    child.start()
    sender.close()
    done = 0
    alerts: dict[int, bytes] = {}
    failures: dict[int, str] = {}
    current = [0]

    def receive() -> None:
        nonlocal done
        try:
            upto, found, failed = receiver.recv()
        except EOFError:
            raise RuntimeError("the replay's content process ended without a word") from None
        if upto is None:
            raise RuntimeError(f"the replay's content process failed:\n{found}")
        done = float("inf") if upto == DONE else upto
        alerts.update(found)
        failures.update(failed)

    def content(key, record, msg) -> None:
        n = current[0]
        while done < n:
            receive()
        found = alerts.pop(n, None)
        if found:
            replay.out.write(found)
            replay.alerts += found.count(b"\n")
        failure = failures.pop(n, None)
        if failure is not None:
            raise RecordError(failure)

    replay._chat = content
    try:
        for n, (where, raw) in enumerate(lines(paths), 1):
            current[0] = n
            replay.line(where, raw)
            if n % POLL_EVERY == 0:
                while done != float("inf") and receiver.poll():
                    receive()  # keep the pipe empty so the child never waits on it
    finally:
        del replay._chat
        receiver.close()
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join()
