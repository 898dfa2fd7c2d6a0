"""Signed checkpoints of the archive's hash chains, kept outside ClickHouse.

After every batch the archive consumer signs the new head of each chain it extended (source, corp, part,
seq, hash) with the deployment's Ed25519 key and keeps it twice: appended to a file (every checkpoint)
and produced to a compacted Kafka topic keyed by the chain (its latest checkpoint). Someone who can
rewrite ClickHouse can recompute the chain after a change, but cannot sign the new heads: verification
(sinks/chain_verify.py) compares the chain with these checkpoints, so a rewritten or shortened chain is
found too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterable

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from config.chain import ChainSettings
from sinks.chain import ChainKey, Head

log = logging.getLogger(__name__)


def load_private_key(settings: ChainSettings, create: bool = True) -> Ed25519PrivateKey:
    """The deployment's key; made (0600, with its public half beside it) if missing and `create`."""
    path = settings.key_file
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"no chain key at {path} (PAODAN_CHAIN_KEY)")
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another archive process made it first
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    pub = settings.public_key_file
    if not pub.exists():
        pub.write_bytes(public_pem(key.public_key()))
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key


def _signed_bytes(body: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in body.items() if k != "sig"}, option=orjson.OPT_SORT_KEYS)


def chain_name(key: ChainKey, writer: str = "") -> str:
    source, corp, part = key
    return f"{writer}:{source}/{corp}/{part}" if writer else f"{source}/{corp}/{part}"


def cp_chain(cp: dict[str, Any]) -> str:
    """The chain a checkpoint is of; KeyError/ValueError if it is not a checkpoint."""
    return chain_name((str(cp["source"]), str(cp["corp"]), int(cp["part"])), str(cp.get("writer", "")))


def checkpoint(key: ChainKey, head: Head, signer: Ed25519PrivateKey, now_ms: int | None = None,
               writer: str = "", database: str = "") -> dict[str, Any]:
    source, corp, part = key
    body = {"database": database, "writer": writer, "source": source, "corp": corp, "part": part, "seq": head.seq, "hash": head.hash.hex(),
            "last_offset": head.last_offset, "at": now_ms if now_ms is not None else int(time.time() * 1000)}
    return {**body, "sig": signer.sign(_signed_bytes(body)).hex()}


def signature_ok(cp: dict[str, Any], public: Ed25519PublicKey) -> bool:
    try:
        public.verify(bytes.fromhex(str(cp.get("sig", ""))), _signed_bytes(cp))
    except (InvalidSignature, ValueError):
        return False
    return True


def append_file(path: Path, checkpoints: Iterable[dict[str, Any]]) -> None:
    """One line per checkpoint, in one write (O_APPEND: lines of several processes do not interleave)."""
    data = b"".join(orjson.dumps(cp) + b"\n" for cp in checkpoints)
    if not data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_file(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        try:
            cp = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(cp, dict):
            out.append(cp)
    return out


async def ensure_topic(kafka: str, topic: str) -> None:
    """The compacted checkpoint topic (one partition: a few records a second at most)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        if topic in await admin.list_topics():
            return
        try:
            await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})])
        except TopicAlreadyExistsError:
            pass
    finally:
        await admin.close()


async def read_topic(kafka: str, topic: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Every checkpoint the topic still holds (at least the latest of every chain)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from faustkit.kafka import refresh_metadata

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await refresh_metadata(consumer)
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps:
            return out
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        async def behind() -> bool:
            for tp in tps:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        while await behind() and time.monotonic() < deadline:
            got = await consumer.getmany(timeout_ms=500)
            for messages in got.values():
                for m in messages:
                    try:
                        cp = orjson.loads(m.value) if m.value else None
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(cp, dict):
                        out.append(cp)
    finally:
        await consumer.stop()
    return out


class Publisher:
    """Signs and keeps one batch's heads (the archive consumer calls `publish` after each write)."""

    def __init__(self, settings: ChainSettings, kafka: str, database: str = ""):
        self.settings = settings
        self.kafka = kafka
        self.database = database  # checkpoints say which archive they are of (several may share a topic)
        self._key = load_private_key(settings)
        self._producer = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        await ensure_topic(self.kafka, self.settings.checkpoint_topic)
        self._producer = AIOKafkaProducer(bootstrap_servers=self.kafka, linger_ms=5)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def sign(self, heads: dict[ChainKey, Head], writer: str) -> list[dict[str, Any]]:
        return [checkpoint(key, head, self._key, writer=writer, database=self.database) for key, head in heads.items()]

    async def publish(self, heads: dict[ChainKey, Head], writer: str) -> None:
        checkpoints = self.sign(heads, writer)
        if not checkpoints:
            return
        await asyncio.to_thread(append_file, self.settings.checkpoint_file, checkpoints)
        if self._producer is None:
            return
        try:
            for cp in checkpoints:
                key = f"{self.database}/{cp_chain(cp)}".encode()
                await self._producer.send(self.settings.checkpoint_topic, orjson.dumps(cp), key=key)
            await self._producer.flush()
        except Exception as exc:  # the file has them; the next batch's checkpoint supersedes these
            log.warning("chain checkpoints not produced to %s: %s", self.settings.checkpoint_topic, exc)
