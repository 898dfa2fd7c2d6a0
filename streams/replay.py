"""`paodan replay FILE…` — offline detection over records in the replay format (CONTRACT.md §8).

Each input line is `{"topic": …, "key": …, "value": {…}}`. Records are processed in file order by the
driver the live worker calls (streams/driver.py), with every state in memory instead of Faust tables, and every alert the worker would publish is written to stdout as one JSON line. Same
input, same output, byte for byte apart from `detected_at`. A bad line is reported on stderr with its
file and line number and the replay goes on.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

import orjson

from config.rules import Rules
from streams.behaviour_memory import MemoryBehaviour
from streams.driver import Driver, MemoryStore, Out
from streams.processing import BEHAVIOUR_TOPICS, chat_contact
from formats.records import RecordError, decode_msgaudit, loads_object
from formats.topics import MSGAUDIT

BEHAVIOUR_INPUTS = BEHAVIOUR_TOPICS[:4]  # the contract's input topics (not the internal notices)


class Replay:
    """Records of the replay format through the driver (streams/driver.py), every state in memory."""

    def __init__(self, rules: Rules, out: IO[bytes], err: IO[str]):
        self.media = None  # streams.media.MediaReader with --media: images read as text
        self.rules = rules
        self.out = out
        self.err = err
        self.store = MemoryStore()
        self.driver = Driver(rules, self.store)
        self.chat_state: dict[str, dict[str, Any]] = self.store.chat
        self.directory: dict[str, dict[str, Any]] = self.store.directories
        self.behaviour = MemoryBehaviour(rules, driver=self.driver)
        self.channels = self.driver.channels  # on the chat side, with the chat states
        self.records = 0
        self.alerts = 0
        self.bad = 0

    def bad_line(self, where: str, reason: str) -> None:
        self.bad += 1
        self.err.write(f"{where}: {reason}\n")

    def line(self, where: str, raw: bytes) -> None:
        if not raw.strip():
            return
        try:
            self.record(raw)
        except RecordError as exc:
            self.bad_line(where, str(exc))

    def record(self, raw: bytes) -> None:
        """One replay line (not blank); RecordError for a bad one."""
        envelope = loads_object(raw)
        topic, key, value = envelope.get("topic"), envelope.get("key"), envelope.get("value")
        if not isinstance(topic, str):
            raise RecordError("missing 'topic'")
        if key is not None and not isinstance(key, str):
            raise RecordError("'key' must be a string")
        self.records += 1
        if type(value) is not dict:
            raise RecordError(f"expected a JSON object, got {type(value).__name__}")
        # Each record is decoded once (the decoders take the parsed value as it is).
        if topic == MSGAUDIT:
            self.chat_record(key, value)
        elif topic in BEHAVIOUR_INPUTS:  # contacts, orders, HR; HR updates the directory
            self.input_record(topic, key, value)

    def chat_record(self, key: str | None, value: dict[str, Any]) -> None:
        out = self.chat(key, value)
        self.contact(out)  # as in the worker: a record the detectors failed on is still a contact
        if out.dead:
            raise RecordError(out.dead[0])

    def input_record(self, topic: str, key: str | None, value: dict[str, Any]) -> None:
        self.write(self._checked(self.driver.input(topic, key, value)))

    def chat(self, key: str | None, value: dict[str, Any]) -> Out:
        """The content half of a chat record: its alerts written; answers what the behaviour half takes
        (`out.dead`: why the detectors failed on it). RecordError when it does not decode."""
        record, msg = decode_msgaudit(key, value)
        seen_record, seen_msg = record, msg
        if msg is not None and self.media is not None:
            seen = self.media.as_text_record(record)
            if seen:
                seen_record, seen_msg = decode_msgaudit(key, seen)
        # A keyless record: its payload's employee, as the worker re-keys it.
        employee = key or (msg.employee_id if msg is not None else "")
        out = self.driver.chat(employee, seen_record, seen_msg, contact=False)
        out.contact = chat_contact(record, msg)
        self.write(out.alerts)
        return out

    def contact(self, out: Out) -> None:
        """The behaviour half of a chat record (`chat`'s answer): the chat as customer contact."""
        alerts = self._checked(self.driver.contact(Out(contact=out.contact, notices=out.notices)))
        self.write(alerts)

    def _checked(self, out: Out) -> list:
        if out.dead:
            raise RecordError(out.dead[0])
        for employee, update in out.risk:
            self.behaviour.risk[employee] = update
        return out.alerts

    def write(self, alerts) -> None:
        if not alerts:
            return
        now = int(time.time() * 1000)
        for alert in alerts:
            body = alert.to_dict()
            body["detected_at"] = now
            self.out.write(orjson.dumps(body) + b"\n")
            self.alerts += 1

    def run(self, paths: Iterable[str], parallel: bool | None = None) -> None:
        """Replay the files in order. With two cores or more (or `parallel=True`) and no stdin among
        them, the chat records go to a second process (streams.replay_split); the output is the
        same, line for line."""
        paths = list(paths)
        # The records' objects are freed by reference counting; the cycle collector only costs time here
        # (walking a growing state again and again): run it rarely, and never over what start-up built.
        threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(100_000, 50, 1000)
        try:
            self._run(paths, parallel)
        finally:
            gc.set_threshold(*threshold)
            gc.unfreeze()
        self.out.flush()

    def _run(self, paths: list[str], parallel: bool | None) -> None:
        if parallel is None:
            parallel = two_cores()
        if parallel and "-" not in paths:
            from streams.replay_split import run_split

            run_split(self, paths)
        else:
            for where, raw in lines(paths):
                self.line(where, raw)


def two_cores() -> bool:
    """Whether this process may run on two cores or more. (Even on a busy machine two processes beat
    one: measured at a load average of 4 on 2 cores, 3.1–4.4 s against 5.3–8.9 s for 200k records.)"""
    return hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > 1


def lines(paths: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """("file:line", raw line) of each file in turn ("-" is stdin)."""
    for path in paths:
        name = "<stdin>" if path == "-" else path
        stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")
        try:
            for n, raw in enumerate(stream, 1):
                yield f"{name}:{n}", raw
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
