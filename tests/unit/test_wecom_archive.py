"""Archive loader logic without Kafka: keying by employee (CONTRACT.md §2), input lines, record checks."""

from __future__ import annotations

import asyncio
import os

import orjson
import pytest

from ingest.archive_loader import Directory, Line, Loader, State, employee_keys, read_lines
from formats.records import RecordError


def rec(sender, tolist, roomid=""):
    return {"msgid": "m1", "action": "send", "from": sender, "tolist": tolist, "roomid": roomid,
            "msgtime": 1764210000000, "msgtype": "text", "text": {"content": "hi"}}


def test_an_internal_sender_is_the_key():
    assert employee_keys(rec("zhangsan", ["wmCUST"]), Directory()) == ["zhangsan"]
    assert employee_keys(rec("zhangsan", ["lisi", "wangwu"], "wr1"), Directory()) == ["zhangsan"]


def test_an_external_sender_gives_one_copy_per_internal_recipient():
    group = rec("wmCUST", ["zhangsan", "woOTHER", "lisi", "wbROBOT", 12345, "zhangsan"], "wr1")
    assert employee_keys(group, Directory()) == ["zhangsan", "lisi", "12345"]


def test_the_directory_outranks_id_shapes():
    directory = Directory({"wmaster"})  # an employee whose userid happens to look external
    assert employee_keys(rec("wmaster", ["wmCUST"]), directory) == ["wmaster"]
    assert employee_keys(rec("wmCUST", ["wmaster"]), directory) == ["wmaster"]
    directory.add_hr_event(orjson.dumps({"type": "employee", "ts": 1, "employee_id": "wolf"}))
    directory.add_hr_event(b"not json")
    assert directory.is_internal("wolf") and not directory.is_internal("woCUSTOMER")


def test_switch_records_are_keyed_by_their_user():
    assert employee_keys({"msgid": "s1", "action": "switch", "time": 1, "user": "lisi"}, Directory()) == ["lisi"]


@pytest.fixture
def loader(tmp_path):
    return Loader("127.0.0.1:1", "ww1", State(tmp_path / "s.json", "ww1"), Directory())


def test_a_record_gets_corpid_and_seq_and_keeps_unknown_msgtypes(loader):
    line = {"seq": 7, "msgid": "m7", "action": "send", "from": "zhangsan", "tolist": ["wmC"], "roomid": "",
            "msgtime": 1, "msgtype": "sphfeed_v9", "sphfeed_v9": {"x": 1}}
    seq, value, keys = loader._record(Line(orjson.dumps(line), "f:1"))
    assert (seq, keys) == (7, ["zhangsan"])
    assert orjson.loads(value) == {**line, "corpid": "ww1"}


@pytest.mark.parametrize("raw,reason", [
    (b"{oops", "not valid JSON"),
    (b"[1]", "JSON object"),
    (orjson.dumps({"msgid": "m", "action": "send", "from": "a", "msgtime": 1, "msgtype": "text",
                   "text": {"content": "x"}}), "seq"),
    (orjson.dumps({"seq": 1, "msgid": "m", "action": "shout", "from": "a"}), "action"),
    (orjson.dumps({"seq": 1, "msgid": "m", "action": "send", "from": "wmA", "tolist": ["wmB"], "msgtime": 1,
                   "msgtype": "text", "text": {"content": "x"}}), "internal participant"),
    (orjson.dumps({"seq": 1, "msgid": "m", "encrypt_random_key": "k", "encrypt_chat_msg": "c"}), "--private-key"),
])
def test_bad_lines_are_refused_with_a_reason(loader, raw, reason):
    with pytest.raises(RecordError, match=reason):
        loader._record(Line(raw, "f:1"))


def test_whole_getchatdata_answers_split_into_entries(loader):
    answer = orjson.dumps({"errcode": 0, "errmsg": "ok", "chatdata": [{"seq": 1}, {"seq": 2}]})
    lines = list(loader._expand([Line(answer, "f:3")]))
    assert [orjson.loads(x.raw)["seq"] for x in lines] == [1, 2] and lines[1].origin == "f:3#1"


async def test_lines_are_numbered_and_a_partial_last_line_waits_for_its_newline(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a":1}\n\n{"b":2}\n{"c":')
    fd = os.open(path, os.O_RDONLY)
    grown = asyncio.Event()

    async def grow():
        await asyncio.sleep(0.3)
        with open(path, "ab") as fh:
            fh.write(b'3}\n')
        grown.set()

    task = asyncio.ensure_future(grow())
    got = []
    async for lines in read_lines(fd, "a.jsonl", lambda: not grown.is_set()):
        got += [(line.origin, line.raw) for line in lines]
    await task
    os.close(fd)
    assert got[:2] == [("a.jsonl:1", b'{"a":1}'), ("a.jsonl:3", b'{"b":2}')]
    assert got[2:] == [("a.jsonl:4", b'{"c":3}')]
