"""Published rules: a rules file and its lexicons as one versioned, hashed bundle on a compacted topic.

A worker on another machine does not see your rules file. `paodan rules publish FILE` validates the file
(errors name the file and line, as `paodan rules validate` does), packs it with the lexicons it lists into
a bundle and produces the bundle to the rules topic (`paodan.rules`, PAODAN_RULES_TOPIC): one partition,
`cleanup.policy=compact`, every bundle under the same key `rules`, so the topic always holds the latest
version. Every worker follows the topic (streams/rules_feed.py).

A bundle is one JSON object (UTF-8):

    {"kind": "paodan.rules", "schema": 1, "version": "2026-11-27.3", "digest": "<sha256 hex>",
     "rules_file": "config/rules.yaml",
     "files": [{"path": "config/rules.yaml", "text": "…"}, {"path": "config/lexicons/diversion.yaml", "text": "…"}],
     "published_at": 1764210000000, "published_by": "alice@ops-1"}

`files` are the rules file and then its lexicons, in load order, with paths relative to their common
folder (so the rules file's relative lexicon paths still point at them); `digest` is
`config.rules.contents_digest` of their bytes — the hash hot reload compares, so a worker knows when a
bundle holds exactly the rules it already runs. A worker unpacks a bundle into its data dir and loads it
with the same validation as a file; a bundle whose JSON, hash, paths or rules are wrong is refused whole.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import shutil
import socket
import time
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from config.rules import Rules, contents_digest, load_rules
from config.yamlfile import ConfigError
from formats import topics

KIND = "paodan.rules"
SCHEMA = 1
KEY = b"rules"  # every bundle under one key: compaction keeps the latest
MAX_BUNDLE_BYTES = topics.RULES_MAX_BYTES
# Where each worker reports the rules it runs: hash `{field: worker id, value: JSON}` per app id.
WORKERS_KEY = "paodan:rules:workers:{app_id}"


class BundleError(ValueError):
    """A bundle that cannot be run; str() says why (with file:line for a bad rule or lexicon)."""


# --- packing (paodan rules publish) ----------------------------------------------------------------

def pack(rules: Rules, published_by: str | None = None, now_ms: int | None = None) -> bytes:
    """The bundle of a loaded (validated) rule set, read from its files now."""
    root = Path(os.path.commonpath([p.parent for p in rules.sources]))
    files = [{"path": p.relative_to(root).as_posix(), "text": p.read_text(encoding="utf-8")} for p in rules.sources]
    body = {"kind": KIND, "schema": SCHEMA, "version": rules.version,
            "digest": contents_digest(f["text"].encode() for f in files), "rules_file": files[0]["path"],
            "files": files, "published_at": now_ms if now_ms is not None else int(time.time() * 1000),
            "published_by": published_by or f"{_user()}@{socket.gethostname()}"}
    return orjson.dumps(body)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "unknown"


# --- unpacking (every worker) ----------------------------------------------------------------------

def _parse(value: bytes | None) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(fields without the files, files); BundleError if it is not a bundle at all."""
    try:
        body = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"not JSON ({exc})") from None
    if not isinstance(body, dict) or body.get("kind") != KIND:
        raise BundleError(f"not a rules bundle (needs \"kind\": \"{KIND}\")")
    if body.get("schema") != SCHEMA:
        raise BundleError(f"bundle schema {body.get('schema')!r}; this worker reads schema {SCHEMA}")
    for name in ("version", "digest", "rules_file"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise BundleError(f"`{name}` must be a non-empty string")
    files = body.pop("files", None)
    if not isinstance(files, list) or not files or not all(
            isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("text"), str) for f in files):
        raise BundleError("`files` must be a non-empty list of {\"path\", \"text\"}")
    return body, files


def header(value: bytes | None) -> dict[str, Any]:
    """What a bundle says about itself (version, digest, who published it when, its file paths)."""
    head, files = _parse(value)
    return {**head, "files": [f["path"] for f in files]}


def _safe(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or not rel.parts or any(part in ("", ".", "..") for part in rel.parts) or "\\" in path:
        raise BundleError(f"file path {path!r} must be relative and stay inside the bundle")
    return rel


def unpack(value: bytes, into: Path) -> tuple[Rules, dict[str, Any]]:
    """Verify a bundle, write its files under `into/<digest>/` and load them like a rules file.

    Returns (rules, header). BundleError when anything is wrong: the hash, a path, or the rules
    themselves (then with the bundle's path and the line, e.g. `config/lexicons/x.yaml:3: …`)."""
    head, files = _parse(value)
    if contents_digest(f["text"].encode() for f in files) != head["digest"]:
        raise BundleError("the files do not match the bundle's digest (altered or truncated)")
    paths = [_safe(f["path"]) for f in files]
    if len(set(paths)) != len(paths):
        raise BundleError("a file path appears twice")
    if _safe(head["rules_file"]) != paths[0]:
        raise BundleError("`rules_file` must be the first of `files`")
    root = (Path(into) / head["digest"][:16]).resolve()
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, f in zip(paths, files):
        target = tmp.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f["text"], encoding="utf-8")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    try:
        rules = load_rules(root.joinpath(*paths[0].parts))
    except ConfigError as exc:
        where = Path(exc.path)
        shown = where.relative_to(root).as_posix() if where.is_relative_to(root) else str(where)
        raise BundleError(f"{shown}:{exc.line}: {exc.message}" if exc.line else f"{shown}: {exc.message}") from None
    outside = [str(p) for p in rules.sources if not p.is_relative_to(root)]
    if outside:
        raise BundleError(f"the rules refer to files outside the bundle ({', '.join(outside)}): list lexicons "
                          "by paths relative to the rules file")
    if rules.digest != head["digest"]:
        raise BundleError("the bundle's files are not exactly the rules file and the lexicons it lists, in order")
    if rules.version != head["version"]:
        raise BundleError(f"the bundle says version {head['version']!r} but its rules file says {rules.version!r}")
    return rules, {**head, "files": [f["path"] for f in files]}


def prune(into: Path, keep: Rules) -> None:
    """Remove unpacked bundles other than the one `keep` was loaded from."""
    into = Path(into).resolve()
    for child in into.iterdir() if into.is_dir() else ():
        if not keep.path.is_relative_to(child):
            shutil.rmtree(child, ignore_errors=True)


_PIECES = re.compile(r"(\d+)")


def version_key(version: str) -> tuple:
    """Natural order of versions: 2026-11-27.10 comes after 2026-11-27.9."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in _PIECES.split(version) if p)


def newer(candidate: str, than: str) -> bool:
    return version_key(candidate) > version_key(than)


# --- the topic (no Faust: the CLI uses these too) ----------------------------------------------------

async def ensure_topic(bootstrap: str, topic: str) -> bool:
    """Create the rules topic (formats.topics.rules) if it does not exist; True if created."""
    return bool(await topics.create_async(bootstrap, [topics.rules(topic)], 1))


def consumer(bootstrap: str):
    """A group-less consumer: every worker reads every bundle (a broadcast, not a shared workload)."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                            auto_offset_reset="earliest",
                            max_partition_fetch_bytes=MAX_BUNDLE_BYTES + (1 << 20),
                            fetch_max_bytes=MAX_BUNDLE_BYTES + (1 << 20))


async def partitions(c, topic: str) -> list:
    from aiokafka import TopicPartition

    await c.topics()  # refreshes metadata for every topic without asking the broker to create one
    return [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or {0})]


async def read_latest(bootstrap: str, topic: str) -> tuple[bytes | None, dict]:
    """The latest bundle on the topic (None if none) and the end offsets read up to."""
    await ensure_topic(bootstrap, topic)
    c = consumer(bootstrap)
    await c.start()
    try:
        tps = await partitions(c, topic)
        c.assign(tps)
        ends = await c.end_offsets(tps)
        last: dict = {}  # partition → (timestamp, value) of its last bundle; offsets order a partition
        starts = await c.beginning_offsets(tps)
        for tp in tps:
            c.seek(tp, starts[tp])  # explicit offsets: assign() may still be resolving its own positions
        while [tp for tp in tps if await c.position(tp) < ends[tp]]:
            for tp, records in (await c.getmany(*tps, timeout_ms=1000)).items():
                for r in records:
                    if r.offset < ends[tp] and r.key == KEY and r.value is not None:
                        last[tp] = (r.timestamp, r.value)
        latest = max(last.values(), key=lambda tv: tv[0], default=None)  # the key's partition, normally one
        return (latest[1] if latest else None), ends
    finally:
        await c.stop()


async def publish(bootstrap: str, topic: str, value: bytes) -> tuple[int, int]:
    """Produce a bundle under the fixed key; (partition, offset) once the broker has it."""
    from aiokafka import AIOKafkaProducer

    await ensure_topic(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                compression_type="gzip", max_request_size=MAX_BUNDLE_BYTES + (1 << 20))
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, key=KEY, value=value)
        return meta.partition, meta.offset
    finally:
        await producer.stop()


def run_blocking(coro, timeout: float):
    """Run a coroutine to completion from synchronous code, even inside a running event loop's thread
    (the worker's start-up, the CLI): on a private loop in a helper thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coro, timeout)).result()
