"""`paodan ingest archive FILE|-`: chat-archive records (JSON lines) → `wecom.msgaudit`.

Input, one JSON object a line (WECOM.md §3), in `seq` order:
- a decrypted record as the finance SDK's `DecryptData` returns it, with the `seq` of its
  `GetChatData` entry added (`{"seq": 42, "msgid": …, "action": "send", "from": …}`), or
- a raw `GetChatData` entry (`seq`, `msgid`, `publickey_ver`, `encrypt_random_key`, `encrypt_chat_msg`)
  or a whole `GetChatData` answer (`{"errcode": 0, "chatdata": […]}`): the random key is decrypted with
  the archive's RSA private key (PKCS#1 v1.5) and the message by the SDK step (`--decrypt-command`,
  see ingest.envelope).

Each record is produced with `corpid` and `seq` added (CONTRACT.md §2), keyed by the employee: the
sender when internal, else one copy per internal recipient. Internal means "in the employee directory"
(`employee` events on `hr.events`) and, for ids the directory does not know, not shaped like an
external id (`wo…`/`wm…`) or a robot (`wb…`). `switch` records are keyed by their `user`.

Exactly-once onto the topic across crashes: every copy carries the headers `paodan-loader` (this
loader's id) and `paodan-seq`. After each batch is acknowledged the state file records the last `seq`
and the partitions' end offsets (written atomically). On start the loader re-reads the topic from those
offsets and skips every copy that a killed predecessor already got acknowledged past the checkpoint —
so a `kill -9` anywhere leaves neither a gap nor a duplicate. Lines that are not records go to
`paodan.deadletter` with the reason (`file:line: why`) and the original bytes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from config.settings import load as load_settings
from formats.deadletter import dead_letter
from formats.records import RecordError, loads_object
from formats.topics import DEADLETTER, HR
from formats.topics import MSGAUDIT as TOPIC
from metrics import loader as loader_metrics

LOADER_HEADER = "paodan-loader"
SEQ_HEADER = "paodan-seq"
EXTERNAL_PREFIXES = ("wo", "wm", "wb")  # external contacts and robots (WECOM.md §3): a fallback only


class LoaderError(RuntimeError):
    """The loader cannot go on; the message says what to do next."""


# --- who is an employee ----------------------------------------------------------------------------

@dataclass
class Directory:
    """Employee userids from `hr.events`; ids it does not know are judged by WeCom's id shapes."""

    employees: set[str] = field(default_factory=set)

    def is_internal(self, userid: str) -> bool:
        return userid in self.employees or not userid.startswith(EXTERNAL_PREFIXES)

    def add_hr_event(self, value: bytes) -> None:
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError:
            return
        if isinstance(event, dict) and event.get("type") == "employee" and isinstance(event.get("employee_id"), str):
            self.employees.add(event["employee_id"])

    @classmethod
    async def from_kafka(cls, bootstrap: str, topic: str = HR,
                         timeout_s: float = 120.0) -> tuple["Directory", dict[int, int]]:
        """The directory as `topic` holds it now, and the offsets where it ended (for `follow`)."""
        directory = cls()
        ends = await scan_topic(bootstrap, topic, None, lambda msg: directory.add_hr_event(msg.value), timeout_s)
        return directory, ends

    async def follow(self, bootstrap: str, start: dict[int, int], topic: str = HR) -> None:
        """Keep adding employees from `topic` after `start` (a long `--follow` load meets new hires)."""
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        try:
            await consumer.start()
            for tp in consumer.assignment():
                consumer.seek(tp, start.get(tp.partition, 0))
            async for msg in consumer:
                self.add_hr_event(msg.value)
        finally:
            await consumer.stop()


def check_record(record: dict) -> None:
    """The loader's share of validation: a chat-archive record with what keying needs. The worker
    checks the rest (formats.records) and dead-letters what it cannot use."""
    msgid, action = record.get("msgid"), record.get("action")
    if not isinstance(msgid, str) or not msgid:
        raise RecordError("missing field 'msgid'")
    if action == "switch":
        if not isinstance(record.get("user"), str) or not record["user"]:
            raise RecordError("switch record without 'user'")
        return
    if action not in ("send", "recall"):
        raise RecordError(f"field 'action' must be send, recall or switch, got {action!r}")
    if record.get("from") in (None, "") or isinstance(record.get("from"), (dict, list, bool)):
        raise RecordError("missing field 'from'")
    if not isinstance(record.get("tolist", []), list):
        raise RecordError("field 'tolist' must be a list")


def employee_keys(record: dict, directory: Directory) -> list[str]:
    """The keys a record is produced under (CONTRACT.md §2): one per copy, in a stable order."""
    if record.get("action") == "switch":
        return [str(record.get("user") or "")]
    sender = str(record.get("from") or "")
    if directory.is_internal(sender):
        return [sender]
    keys: list[str] = []
    for to in record.get("tolist") or []:
        to = str(to)  # numeric-looking ids happen
        if to and directory.is_internal(to) and to not in keys:
            keys.append(to)
    return keys


# --- reading the topic back ------------------------------------------------------------------------

async def scan_topic(bootstrap: str, topic: str, start: dict[int, int] | None, on_message: Callable | None,
                     timeout_s: float = 30.0) -> dict[int, int]:
    """Read `topic` from the `start` offsets (a partition not in it, or all when None: from the
    beginning) to its current end, calling `on_message`; return the end offsets. Without
    `on_message` only the end offsets are fetched."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    try:
        await consumer.start()
        tps = sorted(consumer.assignment())
        if not tps:
            raise LoaderError(f"topic {topic} does not exist: run `paodan stack up` or create it")
        ends = await consumer.end_offsets(tps)
        if on_message is None:
            return {tp.partition: ends[tp] for tp in tps}
        for tp in tps:
            consumer.seek(tp, (start or {}).get(tp.partition, 0))
        deadline = time.monotonic() + timeout_s
        todo = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while todo:
            if time.monotonic() > deadline:
                raise LoaderError(f"reading {topic} back took longer than {timeout_s:.0f}s; is Kafka healthy?")
            batch = await consumer.getmany(*todo, timeout_ms=500)
            for tp, msgs in batch.items():
                for msg in msgs:
                    if msg.offset < ends[tp]:
                        on_message(msg)
            todo = {tp for tp in todo if await consumer.position(tp) < ends[tp]}
        return {tp.partition: ends[tp] for tp in tps}
    finally:
        await consumer.stop()


# --- the state file --------------------------------------------------------------------------------

@dataclass
class State:
    """Progress of one archive (corpid): the last seq fully acknowledged and where the topic ended then."""

    path: Path
    corpid: str
    seq: int = -1
    loader: str = field(default_factory=lambda: uuid.uuid4().hex)
    offsets: dict[int, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, corpid: str) -> "State":
        if not path.exists():
            return cls(path, corpid)
        try:
            data = orjson.loads(path.read_bytes())
            state = cls(path, data["corpid"], int(data["seq"]), str(data["loader"]),
                        {int(p): int(o) for p, o in data.get("offsets", {}).items()})
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise LoaderError(f"{path}: unreadable state file ({exc}); move it away to start over "
                              "(the loader then begins at the first line)") from None
        if state.corpid != corpid:
            raise LoaderError(f"{path} belongs to corpid {state.corpid!r}, not {corpid!r}: pass --state")
        return state

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = orjson.dumps({"corpid": self.corpid, "seq": self.seq, "loader": self.loader,
                             "offsets": {str(p): o for p, o in sorted(self.offsets.items())}})
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


# --- input -----------------------------------------------------------------------------------------

@dataclass
class Line:
    raw: bytes
    origin: str  # "file:line" for dead letters and messages


async def _read_chunks(fd: int, follow: Callable[[], bool]) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    last_try = False
    while True:
        data = await loop.run_in_executor(None, os.read, fd, 1 << 20)
        if data:
            yield data
        elif last_try:
            return
        elif follow():
            await asyncio.sleep(0.2)
        else:
            last_try = True  # one more read: the file may have grown just before following stopped


async def read_lines(fd: int, name: str, follow: Callable[[], bool]) -> AsyncIterator[list[Line]]:
    """Lists of complete lines from `fd`; a trailing partial line waits for its newline (or EOF)."""
    tail, number = b"", 0
    async for data in _read_chunks(fd, follow):
        parts = (tail + data).split(b"\n")
        tail = parts.pop()
        lines = []
        for part in parts:
            number += 1
            if part.strip():
                lines.append(Line(part, f"{name}:{number}"))
        if lines:
            yield lines
    if tail.strip():
        yield [Line(tail, f"{name}:{number + 1}")]


async def read_source(source: str, follow: bool) -> AsyncIterator[list[Line]]:
    """Lines of a file, of stdin (`-`), or of every file in a directory in name order. With `follow`,
    a file is tailed as it grows; in a directory the newest file is tailed until a newer one appears."""
    if source == "-":
        async for lines in read_lines(sys.stdin.buffer.fileno(), "stdin", lambda: False):
            yield lines
        return
    path = Path(source)
    if not path.is_dir():
        fd = os.open(path, os.O_RDONLY)
        try:
            async for lines in read_lines(fd, path.name, lambda: follow):
                yield lines
        finally:
            os.close(fd)
        return
    done: set[str] = set()
    while True:
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        pending = [p for p in files if p.name not in done]
        if not pending:
            if not follow:
                return
            await asyncio.sleep(0.5)
            continue
        current = pending[0]

        def newer_exists(current=current) -> bool:
            return follow and not any(p.name > current.name for p in path.iterdir() if p.is_file())

        fd = os.open(current, os.O_RDONLY)
        try:
            async for lines in read_lines(fd, current.name, newer_exists):
                yield lines
        finally:
            os.close(fd)
        done.add(current.name)


# --- the loader ------------------------------------------------------------------------------------

@dataclass
class Stats:
    lines: int = 0
    produced: int = 0  # records (copies) acknowledged on wecom.msgaudit
    skipped: int = 0   # lines at or below the resumed seq, or copies already on the topic
    dead: int = 0


class Loader:
    def __init__(self, bootstrap: str, corpid: str, state: State, directory: Directory,
                 decrypt: Callable[[dict], bytes] | None = None, batch: int = 5000, linger_ms: int = 0):
        self.bootstrap, self.corpid, self.state, self.directory = bootstrap, corpid, state, directory
        self.decrypt = decrypt
        self.batch = batch
        self.linger_ms = linger_ms
        self.stats = Stats()
        self._present: set[tuple[int, str]] = set()  # (seq, key) copies a predecessor already produced
        self._acked: dict[int, int] = {}  # partition -> offset after our last acknowledged record
        self._partitioner = DefaultPartitioner()
        self._partitions: list[int] = []
        self._partition_of: dict[bytes, int] = {}
        self._producer: AIOKafkaProducer | None = None

    async def recover(self) -> None:
        """Find the copies a predecessor got onto the topic after its last checkpoint. A first run
        checkpoints the topic's end (and its loader id) before producing anything."""
        if not self.state.offsets:
            self.state.offsets = await scan_topic(self.bootstrap, TOPIC, None, None)
            self.state.save()
            return
        loader = self.state.loader.encode()

        def note(msg) -> None:
            headers = dict(msg.headers or ())
            if headers.get(LOADER_HEADER) == loader and SEQ_HEADER in headers:
                seq = int(headers[SEQ_HEADER])
                if seq > self.state.seq:
                    self._present.add((seq, (msg.key or b"").decode()))

        await scan_topic(self.bootstrap, TOPIC, self.state.offsets, note)

    async def __aenter__(self) -> "Loader":
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                          linger_ms=self.linger_ms, max_batch_size=1 << 20,
                                          max_request_size=16 << 20)
        await self._producer.start()
        self._partitions = sorted(await self._producer.partitions_for(TOPIC))
        await self.recover()
        return self

    async def __aexit__(self, *exc) -> None:
        if self._producer is not None:
            await self._producer.stop()

    def _record(self, line: Line) -> tuple[int, bytes, list[str]]:
        """(seq, value bytes, keys) for a line; RecordError with the reason when it is not a record."""
        rec = loads_object(line.raw)
        seq = rec.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise RecordError("missing or bad 'seq': each line needs the seq of its GetChatData entry")
        if "encrypt_chat_msg" in rec:
            if self.decrypt is None:
                raise RecordError("encrypted GetChatData entry: pass --private-key and --decrypt-command")
            rec = loads_object(self.decrypt(rec))
        check_record(rec)
        rec["corpid"], rec["seq"] = self.corpid, seq
        keys = employee_keys(rec, self.directory)
        if not keys or not all(keys):
            raise RecordError("no internal participant to key the record by (sender and recipients "
                              "all look external; add the employee to hr.events)")
        return seq, orjson.dumps(rec), keys

    def _expand(self, lines: list[Line]) -> Iterable[Line]:
        """Split whole GetChatData answers (`{"errcode":0,"chatdata":[…]}`) into one line per entry."""
        for line in lines:
            if line.raw.lstrip().startswith(b'{"errcode"') or b'"chatdata"' in line.raw[:200]:
                try:
                    answer = orjson.loads(line.raw)
                except orjson.JSONDecodeError:
                    yield line
                    continue
                if isinstance(answer, dict) and isinstance(answer.get("chatdata"), list):
                    for i, entry in enumerate(answer["chatdata"]):
                        yield Line(orjson.dumps(entry), f"{line.origin}#{i}")
                    continue
            yield line

    def _partition(self, key: bytes) -> int:
        """The partition Kafka's default partitioner (murmur2, as Faust's) picks; cached per employee."""
        partition = self._partition_of.get(key)
        if partition is None:
            partition = self._partition_of[key] = self._partitioner(key, self._partitions, self._partitions)
        return partition

    async def load(self, lines: list[Line]) -> None:
        """Produce one batch of lines and checkpoint once all of it is acknowledged.

        Copies are appended to one record batch per partition and sent with `send_batch`: the same
        bytes on the wire as `send()`, minus a future per record, which is what makes ≥ 50k/s."""
        assert self._producer is not None
        producer, loader = self._producer, self.state.loader.encode()
        open_batches: dict[int, Any] = {}
        sent: list[tuple[int, asyncio.Future]] = []  # (records in the batch, delivery future)
        letters: list[asyncio.Future] = []
        last_seq = self.state.seq

        async def ship(partition: int) -> None:
            batch = open_batches.pop(partition)
            sent.append((batch.record_count(), await producer.send_batch(batch, TOPIC, partition=partition)))

        for line in self._expand(lines):
            self.stats.lines += 1
            try:
                seq, value, keys = self._record(line)
            except RecordError as exc:
                letter = dead_letter(TOPIC, None, None, f"{line.origin}: {exc}", line.raw)
                letters.append(await producer.send(DEADLETTER, orjson.dumps(letter)))
                self.stats.dead += 1
                continue
            if seq <= self.state.seq:
                self.stats.skipped += 1
                continue
            headers = [(LOADER_HEADER, loader), (SEQ_HEADER, str(seq).encode())]
            for key in keys:
                if (seq, key) in self._present:
                    self.stats.skipped += 1
                    continue
                kb = key.encode()
                partition = self._partition(kb)
                batch = open_batches.get(partition) or open_batches.setdefault(partition, producer.create_batch())
                if batch.append(key=kb, value=value, timestamp=None, headers=headers) is None:
                    await ship(partition)  # full: send it and start the next one
                    batch = open_batches[partition] = producer.create_batch()
                    batch.append(key=kb, value=value, timestamp=None, headers=headers)
            last_seq = max(last_seq, seq)
        for partition in list(open_batches):
            await ship(partition)
        if not sent and not letters and last_seq == self.state.seq:
            return
        await asyncio.gather(*letters)
        for count, future in sent:
            meta = await future
            self.stats.produced += count
            self._acked[meta.partition] = max(self._acked.get(meta.partition, 0), meta.offset + count)
        self.state.seq = last_seq
        if self._present and last_seq >= max(s for s, _ in self._present):
            self._present.clear()
        if not self._present:
            # Only now may the read-back window move on: everything of ours before these offsets
            # has seq <= state.seq. While recovered copies lie ahead, the old window must stay.
            for partition, offset in self._acked.items():
                self.state.offsets[partition] = max(self.state.offsets.get(partition, 0), offset)
        self.state.save()

    async def run(self, batches: AsyncIterator[list[Line]], progress: Callable[[Stats], None] | None = None) -> Stats:
        async for lines in batches:
            for i in range(0, len(lines), self.batch):
                began, before = time.perf_counter(), dataclasses.replace(self.stats)
                await self.load(lines[i:i + self.batch])
                loader_metrics.batch(before, self.stats, self.corpid, self.state.seq, time.perf_counter() - began)
                if progress:
                    progress(self.stats)
        return self.stats


def state_path(stack_dir: Path, corpid: str) -> Path:
    return stack_dir / "ingest" / f"archive-{corpid}.json"


def progress_printer(every_s: float = 5.0) -> Callable[[Stats], None]:
    """A progress line on stderr at most every `every_s` seconds."""
    began = last = time.monotonic()

    def show(stats: Stats) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            print(f"[archive] {stats.lines:,} lines, {stats.produced:,} records produced "
                  f"({stats.lines / (now - began):,.0f} lines/s), {stats.dead} dead-lettered", file=sys.stderr,
                  flush=True)

    return show


async def load_archive(kafka: str, source: str, corpid: str, state_file: Path, follow: bool = False,
                       use_directory: bool = True, decrypt: Callable[[dict], bytes] | None = None,
                       batch: int = 5000, quiet: bool = False) -> Stats:
    """Load `source` (file, directory or `-`) for `corpid`, resuming from `state_file`."""
    state = State.load(state_file, corpid)
    directory, hr_ends = await Directory.from_kafka(kafka) if use_directory else (Directory(), {})
    if not quiet:
        print(f"[archive] corpid {corpid}: resuming after seq {state.seq} (state {state_file}); "
              f"{len(directory.employees)} employees in the directory", file=sys.stderr, flush=True)
    updates = asyncio.ensure_future(directory.follow(kafka, hr_ends)) if use_directory and follow else None
    # A loader that follows its source runs for good: Prometheus scrapes it like the worker.
    serving = asyncio.ensure_future(loader_metrics.serve(load_settings())) if follow else None
    try:
        async with Loader(kafka, corpid, state, directory, decrypt, batch) as loader:
            return await loader.run(read_source(source, follow), None if quiet else progress_printer())
    finally:
        for task in (updates, serving):
            if task is not None:
                task.cancel()


def run(kafka: str, source: str, corpid: str, state_file: Path, **options) -> int:
    """The `paodan ingest archive` command: load, print a summary, return the exit status."""
    from aiokafka.errors import KafkaError

    from ingest.envelope import DecryptCommandError

    if source != "-" and not Path(source).exists():
        print(f"paodan ingest archive: {source}: no such file or directory", file=sys.stderr)
        return 2
    began = time.monotonic()
    try:
        stats = asyncio.run(load_archive(kafka, source, corpid, state_file, **options))
    except FileNotFoundError as exc:
        print(f"paodan ingest archive: {exc.filename}: no such file", file=sys.stderr)
        return 2
    except (LoaderError, DecryptCommandError) as exc:
        print(f"paodan ingest archive: {exc}", file=sys.stderr)
        return 1
    except (KafkaError, OSError) as exc:
        print(f"paodan ingest archive: Kafka at {kafka} unavailable ({type(exc).__name__}): run "
              "`paodan stack up` or set PAODAN_KAFKA, then run the same command again — it resumes",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("[archive] interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    took = time.monotonic() - began
    print(f"[archive] done: {stats.lines:,} lines → {stats.produced:,} records on {TOPIC}, {stats.skipped:,} "
          f"already loaded, {stats.dead:,} dead-lettered, in {took:.1f}s "
          f"({stats.lines / took if took else 0:,.0f} lines/s)", file=sys.stderr)
    return 0
