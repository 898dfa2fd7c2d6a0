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
    assert write_batch(archive, batch) == {"messages": 3, "orders": 1, "archive_chain": 2}  # a block per chain
    db = archive.database
    day = datetime.fromtimestamp(NOW_MS // 1000, timezone.utc).strftime("%Y-%m-%d")
    assert archive.execute(f"SELECT msgid, raw, content_norm, toString(msg_time), toString(msg_date), sender "
                           f"FROM {db}.messages FINAL ORDER BY msgid") == [
        ("b1", as_sent.decode(), match_view(CHAT["text"]["content"]), f"{day} 01:02:03", day, "zs"),
        ("b2", odd_action.decode(), match_view(CHAT["text"]["content"]), f"{day} 01:02:03", day, "zs")]
    assert write_batch(archive, batch) == {"messages": 3, "orders": 1, "archive_chain": 2}  # a block per chain  # a retried write stores nothing twice
    assert archive.execute(f"SELECT count() FROM {db}.messages FINAL") == [(2,)]
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
