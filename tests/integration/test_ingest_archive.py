"""`paodan ingest archive` on the real Kafka: keying, dead letters, resume after kill -9 with no gap and
no duplicate, recovery of copies produced after the last checkpoint, --follow, raw GetChatData entries."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from prometheus_client.parser import text_string_to_metric_families

from ingest.archive_loader import DEADLETTER, LOADER_HEADER, SEQ_HEADER, TOPIC, State, load_archive, scan_topic
from ingest.wecom_crypto import pad
from tests.live import REPO, free_port, produce, unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
HERE = Path(__file__).resolve().parent


def records(prefix: str, n: int, start: int = 1) -> list[dict]:
    """n records: internal senders, external senders to one employee, a group message, a switch."""
    a, b = f"{prefix}a", f"{prefix}b"
    out = []
    for seq in range(start, start + n):
        kind = seq % 4
        if kind == 0:
            r = {"action": "send", "from": a, "tolist": ["wmCUSTOMER1"], "roomid": ""}
        elif kind == 1:
            r = {"action": "send", "from": "wmCUSTOMER1", "tolist": [b], "roomid": ""}
        elif kind == 2:  # a customer in a group with both employees: one copy each
            r = {"action": "send", "from": "woCUSTOMER2", "tolist": [a, b, "wmCUSTOMER1"], "roomid": "wrG"}
        else:
            out.append({"seq": seq, "msgid": f"{prefix}{seq}", "action": "switch", "time": 1764210000000, "user": b})
            continue
        out.append({"seq": seq, "msgid": f"{prefix}{seq}", "msgtime": 1764210000000 + seq, "msgtype": "text",
                    "text": {"content": f"第{seq}条"}, **r})
    return out


def expected_copies(recs: list[dict]) -> Counter:
    return Counter((r["seq"], k) for r in recs for k in
                   ([r["user"]] if r["action"] == "switch" else
                    [r["from"]] if not r["from"].startswith("w") else [t for t in r["tolist"] if not t.startswith("w")]))


def write_lines(path: Path, recs: list[dict], extra: bytes = b"") -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs) + extra)


async def ours(kafka: str, start: dict[int, int], corpid: str) -> list[tuple[str, dict]]:
    found = []

    def note(msg):
        value = orjson.loads(msg.value)
        if value.get("corpid") == corpid:
            found.append((msg.key.decode(), value))

    await scan_topic(kafka, TOPIC, start, note)
    return found


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "paodan", "ingest", "archive", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, **kw)


async def test_records_are_keyed_by_employee_and_bad_lines_dead_lettered(stack, tmp_path):
    prefix, corpid = unique("it-arch-"), unique("ww")
    recs = records(prefix, 12)
    path = tmp_path / "a.jsonl"
    write_lines(path, recs, extra=b'{"seq": 13, "msgid": "x", "action": "send"\n')
    before = await scan_topic(stack.kafka, TOPIC, None, None)
    dead_before = await scan_topic(stack.kafka, DEADLETTER, None, None)
    stats = await load_archive(stack.kafka, str(path), corpid, tmp_path / "state.json", quiet=True)
    assert (stats.lines, stats.dead) == (13, 1)
    got = await ours(stack.kafka, before, corpid)
    assert Counter((v["seq"], k) for k, v in got) == expected_copies(recs)
    first = next(v for k, v in got if v["seq"] == 1)
    assert first == {**recs[0], "corpid": corpid}
    letters = []
    await scan_topic(stack.kafka, DEADLETTER, dead_before, lambda m: letters.append(orjson.loads(m.value)))
    [letter] = [x for x in letters if x["error"].startswith("a.jsonl:13:")]
    assert "not valid JSON" in letter["error"] and letter["raw"].startswith('{"seq": 13')


async def test_restart_after_kill_9_leaves_no_gap_and_no_duplicate(stack, tmp_path):
    prefix, corpid = unique("it-kill-"), unique("ww")
    recs = records(prefix, 12_000)
    path, state = tmp_path / "big.jsonl", tmp_path / "state.json"
    write_lines(path, recs)
    before = await scan_topic(stack.kafka, TOPIC, None, None)
    args = (str(path), "--corpid", corpid, "--state", str(state), "--batch", "100", "--no-directory")
    proc = cli(*args)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if orjson.loads(state.read_bytes())["seq"] >= 2000:
                break
        except (OSError, orjson.JSONDecodeError, KeyError):
            pass
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    killed_at = orjson.loads(state.read_bytes())["seq"]
    assert 0 < killed_at < 12_000, "the loader should have been killed mid-load"
    proc = cli(*args)
    out = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 0, out
    assert f"resuming after seq {killed_at}" in out
    got = await ours(stack.kafka, before, corpid)
    copies = Counter((v["seq"], k) for k, v in got)
    assert copies == expected_copies(recs)  # every copy exactly once: no gap, no duplicate


async def test_copies_acknowledged_after_the_last_checkpoint_are_not_produced_again(stack, tmp_path):
    """A predecessor died after Kafka acknowledged seq 7..8 (and one of seq 10's two copies) but before
    it saved its checkpoint: the next loader reads those back and produces only what is missing."""
    prefix, corpid = unique("it-rec-"), unique("ww")
    recs = records(prefix, 12)
    path, state_file = tmp_path / "a.jsonl", tmp_path / "state.json"
    write_lines(path, recs[:6])
    before = await scan_topic(stack.kafka, TOPIC, None, None)
    await load_archive(stack.kafka, str(path), corpid, state_file, use_directory=False, quiet=True)
    state = State.load(state_file, corpid)
    assert state.seq == 6
    orphans = [r for r in recs if r["seq"] in (7, 8)]
    partial = next(r for r in recs if r["seq"] == 10)  # a group message: copies for a and b
    headers = lambda seq: [(LOADER_HEADER, state.loader.encode()), (SEQ_HEADER, str(seq).encode())]  # noqa: E731
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    await producer.start()
    try:
        for r in orphans:
            for (_, key) in expected_copies([r]):
                await producer.send_and_wait(TOPIC, orjson.dumps({**r, "corpid": corpid}), key=key.encode(),
                                             headers=headers(r["seq"]))
        await producer.send_and_wait(TOPIC, orjson.dumps({**partial, "corpid": corpid}),
                                     key=f"{prefix}a".encode(), headers=headers(10))
    finally:
        await producer.stop()
    write_lines(path, recs)
    stats = await load_archive(stack.kafka, str(path), corpid, state_file, use_directory=False, quiet=True)
    assert stats.skipped >= 6 + 3
    got = await ours(stack.kafka, before, corpid)
    assert Counter((v["seq"], k) for k, v in got) == expected_copies(recs)


async def test_follow_tails_a_growing_directory(stack, tmp_path):
    prefix, corpid = unique("it-follow-"), unique("ww")
    recs = records(prefix, 30)
    folder = tmp_path / "drop"
    folder.mkdir()
    write_lines(folder / "0001.jsonl", recs[:10])
    before = await scan_topic(stack.kafka, TOPIC, None, None)
    port = free_port()
    proc = cli(str(folder), "--follow", "--corpid", corpid, "--state", str(tmp_path / "s.json"), "--no-directory",
               env={**os.environ, "PAODAN_METRICS_PORT": str(port)})

    async def wait_for(recs_so_far: list[dict]) -> list:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = await ours(stack.kafka, before, corpid)
            if len(got) >= sum(expected_copies(recs_so_far).values()):
                return got
            time.sleep(0.3)
        return got

    try:
        await wait_for(recs[:10])  # the first file is loaded: the loader is now tailing it
        with open(folder / "0001.jsonl", "ab") as fh:  # the current file grows…
            fh.write(b"".join(orjson.dumps(r) + b"\n" for r in recs[10:20]))
        await wait_for(recs[:20])
        write_lines(folder / "0002.jsonl", recs[20:])  # …and a newer one appears
        got = await wait_for(recs)
        assert proc.poll() is None, "--follow must keep running"
        # A loader that follows runs for good, so Prometheus scrapes it: what it read and loaded.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                metrics = {s.name: s for f in text_string_to_metric_families(await r.text()) for s in f.samples
                           if not s.labels or s.labels.get("corp") == corpid}
        assert metrics["paodan_loader_lines_total"].value == 30
        assert metrics["paodan_loader_records_produced_total"].value == sum(expected_copies(recs).values())
        assert metrics["paodan_loader_seq"].value == max(r["seq"] for r in recs)
        assert metrics["paodan_loader_batch_seconds_count"].value >= 3
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    assert Counter((v["seq"], k) for k, v in got) == expected_copies(recs)


def _seal(public_key, random_key: bytes, record: dict) -> dict:
    enc = Cipher(algorithms.AES(random_key), modes.CBC(random_key[:16])).encryptor()
    msg = enc.update(pad(orjson.dumps(record))) + enc.finalize()
    return {"msgid": record["msgid"], "publickey_ver": 1,
            "encrypt_random_key": base64.b64encode(public_key.encrypt(random_key, padding.PKCS1v15())).decode(),
            "encrypt_chat_msg": base64.b64encode(msg).decode()}


async def test_raw_getchatdata_entries_with_rsa_key_and_decrypt_command(stack, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "archive.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
    prefix, corpid = unique("it-env-"), unique("ww")
    recs = records(prefix, 5)
    entries = [{"seq": r["seq"], **_seal(key.public_key(), secrets.token_hex(16).encode(),
                                         {k: v for k, v in r.items() if k != "seq"})} for r in recs]
    path = tmp_path / "chatdata.jsonl"
    # Entries one per line, and a whole GetChatData answer on one line.
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in entries[:2])
                     + orjson.dumps({"errcode": 0, "errmsg": "ok", "chatdata": entries[2:]}) + b"\n")
    before = await scan_topic(stack.kafka, TOPIC, None, None)
    proc = cli(str(path), "--corpid", corpid, "--state", str(tmp_path / "s.json"), "--no-directory",
               "--private-key", str(pem), "--decrypt-command", f"{sys.executable} {HERE / 'aes_decrypt_command.py'}")
    out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, out
    got = await ours(stack.kafka, before, corpid)
    assert Counter((v["seq"], k) for k, v in got) == expected_copies(recs)
    assert {v["msgid"]: v for _, v in got}[recs[0]["msgid"]] == {**recs[0], "corpid": corpid}


async def test_follow_learns_new_employees_from_hr_events(stack, tmp_path):
    """An employee whose userid looks external (`wo…`) is internal once hr.events says so, also when
    the `employee` event arrives while the loader is already tailing."""
    prefix, corpid = unique("it-dir-"), unique("ww")
    hire = unique("wohire")
    path = tmp_path / "a.jsonl"
    write_lines(path, records(prefix, 4))
    before = await scan_topic(stack.kafka, TOPIC, None, None)
    proc = cli(str(path), "--follow", "--corpid", corpid, "--state", str(tmp_path / "s.json"))
    try:
        deadline = time.monotonic() + 30
        while len(await ours(stack.kafka, before, corpid)) < sum(expected_copies(records(prefix, 4)).values()):
            assert time.monotonic() < deadline, "the loader did not start"
            time.sleep(0.3)
        await produce(stack.kafka, [("hr.events", hire, {"type": "employee", "ts": int(time.time() * 1000),
                                                        "employee_id": hire, "status": "active"})])
        seq, found = 100, []
        while not found and time.monotonic() < deadline + 30:
            seq += 1
            with open(path, "ab") as fh:  # probes until the hire is known; earlier ones are dead-lettered
                fh.write(orjson.dumps({"seq": seq, "msgid": f"{prefix}p{seq}", "action": "send", "from": hire,
                                       "tolist": ["wmCUSTOMER1"], "roomid": "", "msgtime": 1, "msgtype": "text",
                                       "text": {"content": "hi"}}) + b"\n")
            time.sleep(0.5)
            found = [(k, v) for k, v in await ours(stack.kafka, before, corpid) if k == hire]
        assert found and found[0][1]["from"] == hire
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
