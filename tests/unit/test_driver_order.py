"""The driver's ordering rule (streams/driver.py): a notice takes effect right after the record that set
it off, wherever the records are cut into batches, however often a batch is redelivered.

Replay is the reference: one pass, every state in a dict. The worker's way is imitated without Kafka:
records carry a partition (the default partitioner's, as the contract keys them) and an offset, the
store keeps a batch's changes and writes them at the batch's end in the state's partition, and a batch
can be processed again from the states written before it (a crash after the state write) — the same
alerts, revision for revision, must come out.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import orjson
import pytest
from aiokafka.partitioner import murmur2

from config.rules import load_rules
from config.settings import CONFIG_DIR
from ingest import simulator
from streams.driver import BEHAVIOUR, CHAT, TEAM, Driver, Out
from formats.records import RecordError, decode_msgaudit
from streams.replay import Replay

PARTITIONS = 8
RULES = load_rules(CONFIG_DIR / "rules.yaml")


def partition(key: str) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str
    value: dict


@pytest.fixture(scope="module")
def records() -> list[Record]:
    """A company's records, with the offsets Kafka would give them (handovers and peer days included)."""
    world = simulator.build(seed=3, size=24, days=30, prefix="ord-")
    out, offsets = [], {}
    for i, (topic, key, value) in enumerate(simulator.records(world)):
        if i >= 25_000:
            break
        p = partition(key)
        offsets[topic, p] = offsets.get((topic, p), -1) + 1
        out.append(Record(topic, p, offsets[topic, p], key, value))
    return out


class BatchStore:
    """The worker's store (streams/detection.py `Batch`) without Faust: a batch's changes kept aside and
    written at its end, each in its partition; every partition held here."""

    def __init__(self, tables: dict[str, dict], owners: dict, directories: dict) -> None:
        self.tables, self.owners_table, self.directories = tables, owners, directories
        self.changed: dict[str, dict] = {CHAT: {}, BEHAVIOUR: {}, TEAM: {}}
        self.owners: dict = {}

    def get(self, kind, key, where):
        if key in self.changed[kind]:
            return self.changed[kind][key][0]
        doc = self.tables[kind].get((where.partition, key))
        return None if doc is None else orjson.loads(doc)  # a copy, as read back from the store

    def put(self, kind, key, doc, where):
        self.changed[kind][key] = (doc, where)

    def owner(self, customer):
        return self.owners[customer] if customer in self.owners else self.owners_table.get(customer)

    def set_owner(self, customer, value, where):
        self.owners[customer] = value

    def directory(self, employee, where=None):
        return self.directories.get(employee)

    def set_directory(self, employee, entry):
        self.directories[employee] = entry

    def place(self, topic, key):
        return Record(topic, partition(key), -1, key, {})

    def finish(self) -> None:
        for kind, changed in self.changed.items():
            for key, (doc, where) in changed.items():
                self.tables[kind][where.partition, key] = orjson.dumps(doc)
        self.owners_table.update(self.owners)


class Worker:
    """Batches of records through the driver over a BatchStore, alerts as the worker sends them."""

    def __init__(self) -> None:
        self.tables: dict[str, dict] = {CHAT: {}, BEHAVIOUR: {}, TEAM: {}}
        self.owners: dict = {}
        self.directories: dict = {}
        self.sent: list[dict] = []

    def batch(self, records: list[Record]) -> None:
        store = BatchStore(self.tables, self.owners, self.directories)
        driver = Driver(RULES, store)
        for r in records:
            if r.topic == "wecom.msgaudit":
                try:
                    record, msg = decode_msgaudit(r.key, r.value)
                except RecordError:
                    continue
                out = driver.chat(r.key, record, msg, r)
                self._send(out)
                out = driver.contact(Out(contact=out.contact, notices=out.notices), r)
            else:
                out = driver.input(r.topic, r.key, r.value, r)
            self._send(out)
        store.finish()

    def _send(self, out: Out) -> None:
        assert not out.publish  # every partition is held here: nothing goes through Kafka
        self.sent.extend(orjson.loads(orjson.dumps(a.to_dict())) for a in out.alerts)


def replayed(records: list[Record]) -> list[dict]:
    out = io.BytesIO()
    replay = Replay(RULES, out, io.StringIO())
    for i, r in enumerate(records):
        replay.line(str(i), orjson.dumps({"topic": r.topic, "key": r.key, "value": r.value}))
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def final(bodies: list[dict]) -> dict[str, dict]:
    last: dict[str, dict] = {}
    for b in bodies:
        b = {k: v for k, v in b.items() if k != "detected_at"}
        if b["revision"] >= last.get(b["alert_id"], {"revision": 0})["revision"]:
            last[b["alert_id"]] = b
    return last


def revisions(bodies: list[dict]) -> dict[tuple[str, int], set[bytes]]:
    seen: dict[tuple[str, int], set[bytes]] = {}
    for b in bodies:
        body = orjson.dumps({k: v for k, v in b.items() if k != "detected_at"}, option=orjson.OPT_SORT_KEYS)
        seen.setdefault((b["alert_id"], b["revision"]), set()).add(body)
    return seen


def cut(records: list[Record], rng: random.Random, most: int) -> list[list[Record]]:
    batches, i = [], 0
    while i < len(records):
        n = rng.randint(1, most)
        batches.append(records[i:i + n])
        i += n
    return batches


def test_the_data_sets_notices_off(records):
    # What the tests below compare depends on notices: peer signals from team days, handed-over customers.
    bodies = replayed(records)
    rules = {b["rule"] for b in bodies}
    assert any(r.startswith(("orders.", "conversion.", "followup.rate")) for r in rules), rules
    assert any(r == "risk.score" for r in rules)


@pytest.mark.parametrize("most", [1, 37, 2_000])
def test_batches_of_any_size_end_in_the_alerts_replay_raises(records, most):
    want = replayed(records)
    worker = Worker()
    for batch in cut(records, random.Random(most), most):
        worker.batch(batch)
    assert final(worker.sent) == final(want)
    assert revisions(worker.sent) == revisions(want)  # the same bodies, revision for revision


def test_a_batch_delivered_again_after_its_states_were_written_changes_nothing(records):
    want = replayed(records)
    worker = Worker()
    for n, batch in enumerate(cut(records, random.Random(5), 500)):
        worker.batch(batch)
        if n % 3 == 1:
            worker.batch(batch)  # the offsets were not committed: Kafka hands the batch over again
    assert final(worker.sent) == final(want)
    assert {k: v for k, v in revisions(worker.sent).items()} == revisions(want)  # no second body for a revision


def test_a_notice_for_a_state_held_elsewhere_is_published_not_applied():
    class Elsewhere(BatchStore):
        def place(self, topic, key):
            return None

    store = Elsewhere({CHAT: {}, BEHAVIOUR: {}, TEAM: {}}, {}, {})
    driver = Driver(RULES, store)
    source = Record("hr.events", 0, 0, "bob", {})
    out = driver.input("hr.events", "bob", {"type": "assignment", "ts": 1_764_172_800_000, "employee_id": "bob",
                                            "customer_id": "c1", "previous_owner_id": "amy",
                                            "reason": "handover"}, source)
    assert out.publish == [("paodan.behaviour", "amy", {"kind": "lost_customer", "employee_id": "amy",
                                                        "customer_id": "c1", "ts": 1_764_172_800_000})]
    assert "amy" not in store.changed[BEHAVIOUR]  # not here: the worker that holds amy applies it
