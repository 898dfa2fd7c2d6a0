"""The archive's hash chain on current ClickHouse (chdb): every stream's records get links that verify, a
redelivered batch gets the same links, and a row replaced by a newer version, a chain rewritten to
match, or a forged checkpoint are found."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sinks.chain import SOURCES, Chainer, Head, block_hash, body_hash
from sinks.chain_checkpoints import checkpoint
from streams.archive_verify import verify
from sinks.clickhouse import EmbeddedArchive
from sinks.clickhouse.rows import message_row
from sinks.clickhouse.schema import ARCHIVE_CHAIN, MESSAGES, migrate
from streams import archive as archive_mod
from streams.archive import Batch, write_batch

NOW_MS = (int(time.time()) // 86400 * 86400 + 3723) * 1000


def records() -> list[tuple[str, bytes, bytes]]:
    out = []
    for i in range(6):
        out.append(("wecom.msgaudit", b"zs", orjson.dumps({
            "msgid": f"c{i}", "action": "send", "from": "zs", "tolist": ["wmC"], "roomid": "", "msgtime": NOW_MS + i,
            "msgtype": "text", "text": {"content": f"第{i}条"}, "corpid": "ww1" if i % 2 else "ww2", "seq": i})))
    out.append(("wecom.contacts", b"zs", orjson.dumps({
        "ToUserName": "ww1", "CreateTime": NOW_MS // 1000, "ChangeType": "add_external_contact", "UserID": "zs",
        "ExternalUserID": "wmC", "State": "", "WelcomeCode": "W"})))
    out.append(("crm.orders", b"zs", orjson.dumps({"order_id": "SO-1", "event": "paid", "ts": NOW_MS,
                                                  "employee_id": "zs", "amount": "12.50", "items": [{"sku": "A"}]})))
    out.append(("hr.events", b"zs", orjson.dumps({"type": "checkin", "ts": NOW_MS, "employee_id": "zs",
                                                 "checkin_type": "上班打卡"})))
    alert = {"alert_id": "a1", "rule": "chat.diversion_phrase", "severity": "high", "score": 80.5,
             "employee_id": "zs", "team": "t", "branch": "b", "ts": NOW_MS, "window": {"start": NOW_MS, "end": NOW_MS},
             "title": "引导", "explanation": "…", "evidence": [], "rules_version": "v", "detected_at": NOW_MS,
             "revision": 1}
    out.append(("paodan.alerts", b"zs", orjson.dumps(alert)))
    out.append(("paodan.alert_actions", b"zs", orjson.dumps({
        "action_id": "x1", "alert_id": "a1", "employee_id": "zs", "action": "claim", "actor": "lisi", "ts": NOW_MS + 1})))
    out.append(("paodan.alerts", b"zs", orjson.dumps({**alert, "revision": 2, "score": 90.0})))
    return out


@pytest.fixture()
def archive():
    with EmbeddedArchive.scratch() as a:
        migrate(a)
        yield a


def _sign(archive, key) -> list[dict]:
    rows = archive.execute(f"SELECT source, corp, part, max(seq), argMax(hash, seq), argMax(last_offset, seq) "
                           f"FROM {archive.database}.archive_chain GROUP BY source, corp, part")
    return [checkpoint((s, c, int(p)), Head(int(q), bytes.fromhex(h), int(o)), key) for s, c, p, q, h, o in rows]


def test_every_stream_is_chained_and_verifies(archive):
    key = Ed25519PrivateKey.generate()
    batch = Batch.of(records())
    written = write_batch(archive, batch, Chainer())
    assert written["archive_chain"] == 7  # a block per chain
    assert {k[0] for k in batch.chained} == {"messages", "contact_events", "orders", "hr_events", "alerts",
                                            "alert_actions"}
    assert ("messages", "ww1", 0) in batch.chained and ("messages", "ww2", 0) in batch.chained  # per corp
    report = verify(archive, _sign(archive, key), key.public_key())
    assert report.ok, [f.line() for f in report.findings]
    assert report.records == len(records()) and report.blocks == 7 and report.checkpoints == 7


def _chats(first: int, count: int) -> list[tuple[str, bytes, bytes]]:
    return [("wecom.msgaudit", b"zs", orjson.dumps({
        "msgid": f"r{i}", "action": "send", "from": "zs", "tolist": ["wmC"], "roomid": "", "msgtime": NOW_MS + i,
        "msgtype": "text", "text": {"content": f"第{i}条"}, "corpid": "ww1", "seq": i})) for i in range(first, first + count)]


def test_a_batch_read_again_gets_the_blocks_it_had(archive):
    write_batch(archive, Batch.of(_chats(0, 4)), chainer := Chainer())
    write_batch(archive, Batch.of(_chats(4, 4), first_offset=4), chainer)
    query = f"SELECT DISTINCT seq, first_offset, last_offset, hash FROM {archive.database}.archive_chain ORDER BY seq"
    before = archive.execute(query)
    # A new owner of the partition reads the uncommitted second batch again: it finds the head before it.
    write_batch(archive, Batch.of(_chats(4, 4), first_offset=4), Chainer())
    assert archive.execute(query) == before and len(before) == 2
    key = Ed25519PrivateKey.generate()
    assert verify(archive, _sign(archive, key), key.public_key()).ok


def test_a_batch_read_again_in_other_batches_leaves_blocks_off_the_chain_that_verify(archive):
    key = Ed25519PrivateKey.generate()
    write_batch(archive, Batch.of(_chats(0, 4)), chainer := Chainer())
    write_batch(archive, Batch.of(_chats(4, 2), first_offset=4), chainer)
    write_batch(archive, Batch.of(_chats(6, 2), first_offset=6), chainer)
    signed = _sign(archive, key)  # the head after offsets 4–5 and 6–7, as published before the crash
    # Offsets 4–7 come back in one batch (their commits were lost), then the chain goes on.
    write_batch(archive, Batch.of(_chats(4, 4), first_offset=4), again := Chainer())
    write_batch(archive, Batch.of(_chats(8, 3), first_offset=8), again)
    report = verify(archive, signed + _sign(archive, key), key.public_key())
    assert report.ok, [f.line() for f in report.findings]
    assert report.stale_blocks == 2 and report.blocks == 3 and report.records == 11


def test_a_row_replaced_by_a_newer_version_is_found(archive):
    key = Ed25519PrivateKey.generate()
    write_batch(archive, Batch.of(records()), Chainer())
    cps = _sign(archive, key)
    rec = orjson.loads(records()[3][2])
    forged = message_row(rec, "我从没说过", int(time.time()) + 60, records()[3][2])
    archive.insert(MESSAGES, [forged])
    report = verify(archive, cps, key.public_key())
    assert [(f.record.split()[0], "c3" in f.record, f.what.split(" / ")[1]) for f in report.findings] == \
        [("messages", True, "row changed: content")]


def test_a_chain_rewritten_to_hide_a_change_disagrees_with_its_checkpoint(archive):
    key = Ed25519PrivateKey.generate()
    write_batch(archive, Batch.of(records()), Chainer())
    cps = _sign(archive, key)
    db = archive.database
    # The forger changes an order (its raw bytes and its amount) and recomputes its block.
    orders = SOURCES["orders"]
    [row] = archive.execute(f"SELECT {orders.table.columns_sql()} FROM {db}.orders")
    changed = dict(zip(orders.table.column_names, orders.read_back(row)))
    changed["amount"] = Decimal("99.00")
    changed["raw"] = changed["raw"].replace('"12.50"', '"99.00"')
    changed["ingested_at"] = int(time.time()) + 60
    changed = tuple(changed.values())
    archive.insert(orders.table, [changed])
    digest = orders.digest(changed).hex()
    names = [c if c != "digests" else "hex(digests)" for c in ARCHIVE_CHAIN.column_names]
    [block] = archive.execute(f"SELECT {', '.join(names)} FROM {db}.archive_chain WHERE source = 'orders'")
    block = dict(zip(ARCHIVE_CHAIN.column_names, block))
    body = body_hash(block["record_ids"], bytes.fromhex(digest))
    new_hash = block_hash(("orders", "", 0), 1, int(block["first_offset"]), int(block["last_offset"]), bytes(32), body)
    archive.insert(ARCHIVE_CHAIN, [tuple({**block, "digests": bytes.fromhex(digest), "hash": new_hash.hex(),
                                          "archived_at": int(time.time()) + 60}.values())])
    report = verify(archive, cps, key.public_key())
    assert len(report.findings) == 1 and "rewritten" in report.first().what and "orders" in report.first().record
    # Without the checkpoints the rewrite would pass: they are what catches it.
    assert verify(archive, [], key.public_key()).ok


def test_a_checkpoint_signed_by_another_key_is_a_finding(archive):
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    write_batch(archive, Batch.of(records()), Chainer())
    report = verify(archive, _sign(archive, other), key.public_key())
    assert len(report.findings) == 7 and all("signature" in f.what for f in report.findings)


def test_chaining_off_writes_no_links(archive, monkeypatch):
    monkeypatch.setattr(archive_mod, "CHAIN", archive_mod.CHAIN.__class__(enabled=False))
    batch = Batch.of(records())
    assert batch.pending == [] and "archive_chain" not in write_batch(archive, batch, Chainer())


def test_a_block_deleted_from_the_middle_breaks_the_chain(archive):
    key = Ed25519PrivateKey.generate()
    chainer = Chainer()
    for n in range(3):
        write_batch(archive, Batch.of(_chats(4 * n, 4), first_offset=4 * n), chainer)
    cps = _sign(archive, key)
    archive.execute(f"ALTER TABLE {archive.database}.archive_chain DELETE WHERE seq = 2 SETTINGS mutations_sync = 1")
    report = verify(archive, cps, key.public_key())
    assert [f.what.split("/ ")[-1] for f in report.findings] == ["chain broken after block 1: blocks deleted"], \
        [f.line() for f in report.findings]
    assert report.first().record == "messages offsets 4–7"


class _FailOnce:
    """An archive whose next `archive_chain` insert fails (ClickHouse went away mid-write)."""

    def __init__(self, archive):
        self.archive, self.database, self.fail = archive, archive.database, True

    def execute(self, *args, **kwargs):
        return self.archive.execute(*args, **kwargs)

    def insert(self, table, rows):
        if table is ARCHIVE_CHAIN and self.fail:
            self.fail = False
            raise ConnectionError("gone")
        return self.archive.insert(table, rows)


def test_blocks_gathered_over_batches_go_in_with_one_insert_and_verify(archive):
    blocks = archive_mod.BlockBuffer(Chainer())
    heads = [archive_mod.write_chained(archive, Batch.of(_chats(n * 3, 3), first_offset=n * 3), blocks, 3600)[1]
             for n in range(3)]
    assert heads == [None, None, None]  # not due: rows in, blocks waiting, offsets not to be committed
    assert archive.execute(f"SELECT count() FROM {archive.database}.archive_chain") == [(0,)]
    assert archive.execute(f"SELECT count() FROM {archive.database}.messages") == [(9,)]
    flaky = _FailOnce(archive)
    batch = Batch.of(_chats(9, 3), first_offset=9)
    with pytest.raises(ConnectionError):
        archive_mod.write_chained(flaky, batch, blocks, 0)
    # The consumer retries the whole write: the batch is not linked a second time.
    written, head = archive_mod.write_chained(flaky, batch, blocks, 0)
    assert written["archive_chain"] == 4 and head == {("messages", "ww1", 0): head[("messages", "ww1", 0)]}
    assert head[("messages", "ww1", 0)].seq == 4 and head[("messages", "ww1", 0)].last_offset == 11
    assert archive.execute(f"SELECT count(), sum(records) FROM {archive.database}.archive_chain") == [(4, 12)]
    key = Ed25519PrivateKey.generate()
    report = verify(archive, _sign(archive, key), key.public_key())
    assert report.ok and report.records == 12, [f.line() for f in report.findings]


def test_records_kept_apart_are_chained_and_a_changed_one_is_found(archive):
    refused = orjson.dumps({"msgid": "f1", "action": "forward", "from": "zs", "msgtime": NOW_MS, "msgtype": "text",
                            "text": {"content": "转发"}, "corpid": "ww1"})
    batch = Batch.of([*_chats(0, 2), ("wecom.msgaudit", b"zs", refused), ("wecom.msgaudit", b"zs", b"\x00junk"),
                      ("paodan.alerts", b"zs", b"not an alert")])
    write_batch(archive, batch, Chainer())
    key = Ed25519PrivateKey.generate()
    report = verify(archive, _sign(archive, key), key.public_key())
    assert report.ok and report.records == 5 and "rejected_records" not in report.unchained, \
        [f.line() for f in report.findings]
    db = archive.database
    archive.execute(f"ALTER TABLE {db}.rejected_records UPDATE raw = '{{}}' WHERE offset = 2 "
                    "SETTINGS mutations_sync = 1")
    [finding] = verify(archive, _sign(archive, key), key.public_key()).findings
    assert finding.record == 'rejected_records ["wecom.msgaudit",0,2]'
