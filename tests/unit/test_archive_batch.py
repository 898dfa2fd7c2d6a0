"""The archive consumer's batches (streams.archive): records become rows as they are fetched, keep the
bytes they came with, and land once in the archive (current ClickHouse, chdb); a batch closes about
PAODAN_SINK_FLUSH seconds after its oldest record was sent, less what writes take."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import orjson
import pytest

from detectors.textnorm import match_view
from sinks.clickhouse import EmbeddedArchive
from sinks.clickhouse.schema import migrate
from streams.archive import Batch, closing_time, write_batch

NOW_MS = (int(time.time()) // 86400 * 86400 + 3723) * 1000 + 123  # today 01:02:03.123 UTC (inside retention)
CHAT = {"msgid": "b1", "action": "send", "from": "zs", "tolist": ["wmC"], "roomid": "", "msgtime": NOW_MS,
        "msgtype": "text", "text": {"content": "加 我 ＶＸ，拼拼多多下单"}, "corpid": "ww1", "seq": 9}


@pytest.fixture()
def archive():
    with EmbeddedArchive.scratch() as a:
        migrate(a)
        yield a


def test_a_batch_archives_each_record_once_with_the_bytes_it_came_with(archive):
    as_sent = json.dumps(CHAT).encode()  # spaces, \u escapes: not what orjson would write
    odd_action = orjson.dumps({**CHAT, "msgid": "b2", "action": "forward"})  # detection dead-letters it
    records = [("wecom.msgaudit", b"zs", as_sent), ("wecom.msgaudit", b"zs", b"{not json"),
               ("wecom.msgaudit", b"zs", b"[1, 2]"), ("wecom.msgaudit", b"zs", orjson.dumps({"action": "send"})),
               ("wecom.msgaudit", b"zs", odd_action), ("wecom.msgaudit", b"zs", as_sent),  # redelivered
               ("crm.orders", b"zs", orjson.dumps({"order_id": "SO-1", "event": "paid", "ts": NOW_MS,
                                                  "employee_id": "zs", "amount": "12.50"})),
               ("paodan.alerts", b"zs", b"not an alert")]
    batch = Batch.of(records)
    assert batch.size == len(records) and batch.changes == []
    # A block per chain: messages, orders, and the rejected records of wecom.msgaudit (two corps: '' and
    # ww1) and of paodan.alerts.
    written = {"messages": 2, "orders": 1, "rejected_records": 5, "archive_chain": 5}
    assert write_batch(archive, batch) == written
    db = archive.database
    day = datetime.fromtimestamp(NOW_MS // 1000, timezone.utc).strftime("%Y-%m-%d")
    assert archive.execute(f"SELECT msgid, raw, content_norm, toString(msg_time), toString(msg_date), sender "
                           f"FROM {db}.messages FINAL ORDER BY msgid") == [
        ("b1", as_sent.decode(), match_view(CHAT["text"]["content"]), f"{day} 01:02:03", day, "zs")]
    # What detection refuses is kept apart, with why, where it was read and its bytes.
    assert archive.execute(f"SELECT topic, offset, table_name, reason, raw FROM {db}.rejected_records FINAL "
                           "ORDER BY topic, offset") == [
        ("paodan.alerts", 0, "", "not a JSON object", "not an alert"),  # its own topic
        ("wecom.msgaudit", 1, "messages", "not valid JSON: unexpected character, expected a string key: line 1 column 2 (char 1)",
         "{not json"),
        ("wecom.msgaudit", 2, "messages", "expected a JSON object, got list", "[1, 2]"),
        ("wecom.msgaudit", 3, "messages", "missing field 'msgid'", '{"action":"send"}'),
        ("wecom.msgaudit", 4, "messages", "field 'action' must be send, recall or switch, got 'forward'",
         odd_action.decode())]
    assert write_batch(archive, batch) == written  # a retried write stores nothing twice
    assert archive.execute(f"SELECT count() FROM {db}.messages FINAL") == [(1,)]
    assert archive.execute(f"SELECT count() FROM {db}.rejected_records FINAL") == [(5,)]
    assert archive.execute(f"SELECT order_id, toFloat64(amount) FROM {db}.orders FINAL") == [("SO-1", 12.5)]


def test_a_batch_closes_so_that_its_oldest_record_is_stored_a_flush_interval_after_it_was_sent():
    fetched, flush = 1000.0, 1.0
    assert closing_time(fetched - 0.01, fetched, flush) == pytest.approx(fetched + 0.99)  # fresh: a window
    # It waited 0.3 s before we fetched it (we were busy writing): 0.7 s more, not a whole window.
    assert closing_time(fetched - 0.3, fetched, flush) == pytest.approx(fetched + 0.7)
    # Recent writes took 0.2 s: close that much sooner, so the record is stored on time all the same.
    assert closing_time(fetched - 0.01, fetched, flush, write_s=0.2) == pytest.approx(fetched + 0.79)
    # Never sooner than half a window after the fetch (old records, a producer's clock running behind,
    # very slow writes): no stream of tiny inserts.
    assert closing_time(fetched - 60, fetched, flush) == fetched + 0.5
    assert closing_time(fetched - 0.01, fetched, flush, write_s=3.0) == fetched + 0.5
    # The producer's clock runs ahead: never longer than a window.
    assert closing_time(fetched + 5, fetched, flush) == fetched + 1.0


def test_the_archives_quick_chat_test_never_passes_what_detection_refuses():
    from streams.archive import _plainly_valid_chat
    from formats.records import RecordError, decode_msgaudit

    variants = [CHAT, {**CHAT, "action": "recall"}, {**CHAT, "action": "forward"}, {**CHAT, "from": ""},
                {**CHAT, "from": 7}, {**CHAT, "msgtime": -1}, {**CHAT, "msgtime": "1"}, {**CHAT, "msgtype": ""},
                {**CHAT, "tolist": "wmC"}, {**CHAT, "text": "x"}, {**CHAT, "roomid": 5}, {**CHAT, "msgid": ""},
                {k: v for k, v in CHAT.items() if k != "tolist"}, {k: v for k, v in CHAT.items() if k != "roomid"},
                {**CHAT, "msgtype": "image", "text": None}, {"action": "switch", "msgid": "s", "time": NOW_MS}]
    passed = 0
    for rec in variants:
        if _plainly_valid_chat(rec):
            passed += 1
            decode_msgaudit(b"zs", rec)  # raises if the quick test let through a refused record
        else:
            try:
                decode_msgaudit(b"zs", rec)
            except RecordError:
                pass
    assert passed >= 4  # the usual records take the quick path
