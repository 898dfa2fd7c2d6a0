"""`paodan replay` on two cores: chat records in a second process, the same output.

The behaviour engine has state that crosses employees (customer ownership, team aggregates, notices
to other employees), so it must see every record in file order, in one process. The chat content
detectors keep state per employee and need only the directory (team and branch, from `hr.events`).
So the replay forks, and both processes read the same files:

- the child takes the `wecom.msgaudit` lines (most of a company's traffic): it parses and decodes
  them, runs the content detectors, and reports per line the alerts they wrote, the line's error if
  any, and the chat as customer contact (a ChatTouch, as plain values) for the behaviour engine. It
  also keeps its own copy of the directory from the `hr.events` lines, and skips everything else
  unparsed;
- the parent does everything else and, for a line the child took, writes the child's alerts and
  hands the contact to the behaviour engine — exactly where and in the order the one-process replay
  does (Replay._msgaudit), so the output and stderr are the same, line for line, apart from
  `detected_at`.
"""

from __future__ import annotations

import io
import multiprocessing
import queue
import threading
import traceback
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import orjson

from detectors.events import ChatTouch
from detectors.frozen import field_names
from streams.processing import decode_behaviour
from formats.records import RecordError
from formats.topics import HR

if TYPE_CHECKING:
    from streams.replay import Replay

CHUNK = 500  # lines per report from the child
DONE = -1
_TOUCH_VALUES = attrgetter(*field_names(ChatTouch))  # a ChatTouch as plain values


class _ChatSide:
    """The child's stand-in for the behaviour engine: keeps the directory up to date (the content
    detectors name the employee's team and branch) and keeps the line's chat contact for the parent."""

    def __init__(self, directory: dict[str, dict[str, Any]]):
        self.directory = directory
        self.contact: tuple | None = None

    def handle_decoded(self, employee: str, event: Any, upsert: dict | None, notices=()) -> list:
        self.contact = (employee, None if event is None else _TOUCH_VALUES(event), list(notices))
        return []

    def handle(self, topic: str, key: str | None, value: dict) -> list:
        if topic == HR:  # as MemoryBehaviour does first, whatever the engine then says
            employee, _event, upsert = decode_behaviour(topic, key, value)
            if upsert is not None:
                self.directory[employee] = upsert
        return []


def _may_matter(raw: bytes) -> bool:
    """False for a line the child can skip unparsed: neither chat nor HR (a topic spelled with JSON
    escapes contains a backslash-u and is parsed)."""
    return b"msgaudit" in raw or b"hr.events" in raw or b"\\u" in raw


def _child(replay: Replay, paths: list[str], conn) -> None:
    """Reports every CHUNK lines, as JSON (orjson: several times cheaper than pickling 2,000 small
    tuples): [lines done, [[n, alert lines, error or null, contact or null], …]] for the lines that
    reached Replay._msgaudit."""
    from streams.replay import lines

    try:
        out = io.BytesIO()
        replay.out, replay.err = out, io.StringIO()
        side = replay.behaviour = _ChatSide(replay.directory)
        taken: list[list] = []
        state: dict[str, Any] = {"n": 0, "took": False, "error": None}
        msgaudit, bad = replay._msgaudit, replay._bad

        def take(key, value) -> None:
            state["took"] = True
            msgaudit(key, value)

        def failed(where: str, reason: str) -> None:
            state["error"] = reason
            bad(where, reason)

        replay._msgaudit, replay._bad = take, failed
        try:
            for n, (where, raw) in enumerate(lines(paths), 1):
                if _may_matter(raw):
                    state.update(took=False, error=None)
                    side.contact = None
                    replay.line(where, raw)
                    if state["took"]:
                        taken.append([n, out.getvalue().decode(), state["error"], side.contact])
                    if out.tell():
                        out.seek(0)
                        out.truncate()
                if n % CHUNK == 0:
                    conn.send_bytes(orjson.dumps([n, taken]))
                    taken = []
        except FileNotFoundError:
            pass  # the parent stops at the same file and says so
        conn.send_bytes(orjson.dumps([DONE, taken]))
    except BaseException:  # noqa: BLE001 — whatever it is, the parent must hear of it, not wait
        conn.send_bytes(orjson.dumps([None, traceback.format_exc()]))
    finally:
        conn.close()


def run_split(replay: Replay, paths: list[str]) -> None:
    """Replay `paths` (files, not stdin) with the chat records in a forked child."""
    from streams.replay import lines

    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(replay, paths, sender), daemon=True, name="paodan-replay-chat")
    child.start()
    sender.close()
    # A thread empties the pipe as reports come, so the child never waits for the parent to need
    # them: a report of a few hundred KB through a 64 KB pipe would otherwise make the two take
    # turns, chunk by chunk — seconds on a busy machine.
    reports: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    reader = threading.Thread(target=_read, args=(receiver, reports), daemon=True, name="paodan-replay-reports")
    reader.start()
    done = 0
    taken: dict[int, list] = {}

    def receive() -> None:
        nonlocal done
        report = reports.get()
        if report is None:
            raise RuntimeError("the replay's chat process ended without a word")
        upto, found = orjson.loads(report)
        if upto is None:
            raise RuntimeError(f"the replay's chat process failed:\n{found}")
        done = float("inf") if upto == DONE else upto
        for report in found:
            taken[report[0]] = report

    def settle(_n: int, alerts: str, error: str | None, contact: list | None) -> None:
        """What Replay._record does for a chat line, from the child's report."""
        replay.records += 1
        if alerts:
            replay.out.write(alerts.encode())
            replay.alerts += alerts.count("\n")
        if error is not None:
            raise RecordError(error)
        employee, touch, notices = contact
        if touch is not None or notices:
            replay._write(replay.behaviour.handle_decoded(employee, None if touch is None else ChatTouch(*touch),
                                                          None, notices))

    def not_here(key, value) -> None:
        raise RuntimeError("a chat line the replay's chat process did not take")  # the two disagree: a bug

    replay._msgaudit = not_here
    try:
        for n, (where, raw) in enumerate(lines(paths), 1):
            while done < n:
                receive()
            report = taken.pop(n, None)
            if report is None:
                replay.line(where, raw)
                continue
            try:
                settle(*report)
            except RecordError as exc:
                replay._bad(where, str(exc))
    except BaseException:
        child.terminate()  # stopped early (a closed stdout, ^C, a bug): the child's work is moot
        raise
    finally:
        del replay._msgaudit
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join()
        reader.join(timeout=5)  # the child's end is closed: the reader sees the end of the pipe
        receiver.close()


def _read(receiver, reports: queue.SimpleQueue) -> None:
    try:
        while True:
            reports.put(receiver.recv_bytes())
    except (EOFError, OSError):
        reports.put(None)
