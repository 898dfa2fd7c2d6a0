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
  hands the contact to the driver's behaviour half — exactly where and in the order the one-process
  replay does (Replay.chat_record), so the output and stderr are the same, line for line, apart from
  `detected_at`.
"""

from __future__ import annotations

import io
import multiprocessing
import queue
import threading
import traceback
from operator import attrgetter

import orjson

from detectors.events import ChatTouch
from detectors.frozen import field_names
from streams.driver import Out
from streams.processing import decode_behaviour
from formats.records import RecordError
from formats.topics import HR, MSGAUDIT
from streams.replay import Replay, lines

CHUNK = 500  # lines per report from the child
DONE = -1
_TOUCH_VALUES = attrgetter(*field_names(ChatTouch))  # a ChatTouch as plain values


class _ChatSide(Replay):
    """The child's replay, over the forked copy of the parent's: chat records through the driver's
    content half (their contact kept for the parent), `hr.events` lines for the directory only (the
    content detectors name the employee's team and branch), everything else left to the parent."""

    def __init__(self, replay: Replay) -> None:  # a copy of the replay, so no super().__init__()
        self.__dict__.update(replay.__dict__)
        self.out, self.err = io.BytesIO(), io.StringIO()
        self.took = False
        self.error: str | None = None
        self.touch: list | None = None

    def begin(self) -> None:
        self.took, self.error, self.touch = False, None, None

    def chat_record(self, key, value) -> None:
        self.took = True
        out = self.chat(key, value)
        employee, event, _ = out.contact
        self.touch = [employee, None if event is None else _TOUCH_VALUES(event), list(out.notices)]
        if out.dead:
            raise RecordError(out.dead[0])

    def input_record(self, topic: str, key, value) -> None:
        if topic == HR:  # as the driver does first, whatever the engine then says
            employee, _event, upsert = decode_behaviour(topic, key, value)
            if upsert is not None:
                self.store.set_directory(employee, upsert)

    def bad_line(self, where: str, reason: str) -> None:
        self.error = reason


_CHAT, _HR = MSGAUDIT.encode(), HR.encode()


def _may_matter(raw: bytes) -> bool:
    """False for a line the child can skip unparsed: neither chat nor HR (a topic spelled with JSON
    escapes contains a backslash-u and is parsed)."""
    return _CHAT in raw or _HR in raw or b"\\u" in raw


def _child(replay: Replay, paths: list[str], conn) -> None:
    """Reports every CHUNK lines, as JSON (orjson: several times cheaper than pickling 2,000 small
    tuples): [lines done, [[n, alert lines, error or null, contact or null], …]] for the chat lines
    it took."""
    try:
        side = _ChatSide(replay)
        out = side.out
        taken: list[list] = []
        try:
            for n, (where, raw) in enumerate(lines(paths), 1):
                if _may_matter(raw):
                    side.begin()
                    side.line(where, raw)
                    if side.took:
                        taken.append([n, out.getvalue().decode(), side.error, side.touch])
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
        """What Replay.chat_record does for a chat line, from the child's report."""
        replay.records += 1
        if alerts:
            replay.out.write(alerts.encode())
            replay.alerts += alerts.count("\n")
        if contact is not None:
            employee, touch, notices = contact
            if touch is not None or notices:
                replay.contact(Out(contact=(employee, None if touch is None else ChatTouch(*touch), None),
                                   notices=notices))
        if error is not None:
            raise RecordError(error)

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
                replay.bad_line(where, str(exc))
    except BaseException:
        child.terminate()  # stopped early (a closed stdout, ^C, a bug): the child's work is moot
        raise
    finally:
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
