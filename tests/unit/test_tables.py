"""faustkit.tables.Documents: decoded documents kept between batches never hide a changelog write.

A real Faust table on a real RocksDB store (in a temporary directory); the changelog records are
applied the way Faust's recovery applies them (restores, standby partitions, global tables).
"""

from __future__ import annotations

import faust
import orjson
import pytest
from faust.types import TP, Message

from faustkit.fetches import Current, during
from faustkit.tables import Documents


def changelog(partition: int, offset: int, key: str, doc) -> Current:
    """A changelog record as Faust's recovery hands it to `apply_changelog_batch` (an event: a message)."""
    return Current(Message("t-changelog", partition, offset, 0.0, 0, None, orjson.dumps(key),
                          None if doc is None else orjson.dumps(doc), 0, tp=TP("t-changelog", partition)))


@pytest.fixture()
def table(tmp_path):
    app = faust.App("paodan-doc-test", store="rocksdb://", datadir=str(tmp_path))
    return app.Table("t", default=None, value_type=bytes, partitions=1)


def test_a_changelog_record_applied_replaces_the_kept_document(table):
    docs = Documents(table, cached=100)
    table.apply_changelog_batch([changelog(0, 0, "emp1", {"n": 1})])
    assert docs.get("emp1") == {"n": 1}
    assert docs.get("nobody") is None  # kept as well: a miss is a look-up too
    # Another worker's write (or a restore after a rebalance) reaches this store only as changelog.
    table.apply_changelog_batch([changelog(0, 1, "emp1", {"n": 2}), changelog(0, 2, "nobody", {"n": 9})])
    assert docs.get("emp1") == {"n": 2}
    assert docs.get("nobody") == {"n": 9}
    table.apply_changelog_batch([changelog(0, 3, "emp1", None)])  # deleted
    assert docs.get("emp1") is None


def test_kept_documents_stay_bounded_and_evicted_ones_read_again(table):
    docs = Documents(table, cached=2)
    table.apply_changelog_batch([changelog(0, i, f"emp{i}", {"n": i}) for i in range(5)])
    assert [docs.get(f"emp{i}") for i in range(5)] == [{"n": i} for i in range(5)]
    assert len(docs._docs) == 2
    assert docs.get("emp0") == {"n": 0}


@pytest.fixture()
def global_table(tmp_path):
    app = faust.App("paodan-doc-test-g", store="rocksdb://", datadir=str(tmp_path))
    return app.GlobalTable("g", default=None, value_type=bytes, partitions=1)


async def test_a_global_tables_echo_of_its_own_write_keeps_it_and_anothers_write_replaces_it(global_table):
    docs = Documents(global_table, cached=100)
    with during(Message("in", 0, 0, 0.0, 0, None, b"k", b"v", 0, tp=TP("in", 0))):  # as inside an agent
        docs.put("c1", {"o": "emp1"})  # to RocksDB now; the changelog record waits in Faust's producer
        docs.put("c1", {"o": "emp2"})
    # The first write comes back through the changelog after the second: not what the key now holds.
    global_table.apply_changelog_batch([changelog(0, 0, "c1", {"o": "emp1"})])
    assert docs.get("c1") == {"o": "emp2"}
    global_table.apply_changelog_batch([changelog(0, 1, "c1", {"o": "emp2"})])
    assert docs.get("c1") == {"o": "emp2"}
    # Another worker's write to the same customer.
    global_table.apply_changelog_batch([changelog(0, 2, "c1", {"o": "emp7"})])
    assert docs.get("c1") == {"o": "emp7"}
