"""Decoding chat-archive records: good ones become detector events, bad ones a clear reason."""

from __future__ import annotations

import base64

import orjson
import pytest

from formats.deadletter import dead_letter
from formats.records import RecordError, decode_msgaudit

GOOD = {"msgid": "m1", "action": "send", "from": "zhangsan", "tolist": ["wmX"], "roomid": "",
        "msgtime": 1764210000000, "msgtype": "text", "text": {"content": "你好"}}


def test_a_text_record_becomes_a_chat_message():
    rec, msg = decode_msgaudit(b"zhangsan", orjson.dumps(GOOD))
    assert rec == GOOD
    assert (msg.employee_id, msg.sender, msg.text, msg.outbound) == ("zhangsan", "zhangsan", "你好", True)


def test_switch_records_and_unknown_types_are_valid():
    _, msg = decode_msgaudit(b"zhangsan", orjson.dumps({"msgid": "s", "action": "switch", "time": 1, "user": "zhangsan"}))
    assert msg is None
    rec = dict(GOOD, msgtype="hologram", hologram={"x": 1})
    del rec["text"]
    _, msg = decode_msgaudit(b"zhangsan", orjson.dumps(rec))
    assert msg.msgtype == "hologram" and msg.text == ""


@pytest.mark.parametrize("raw, reason", [
    (b"\xff\xfe", "not valid JSON"), (b"[1,2]", "expected a JSON object"), (None, "empty record"),
    (orjson.dumps({**GOOD, "msgid": ""}), "missing field 'msgid'"),
    (orjson.dumps({**GOOD, "action": "fly"}), "'action'"),
    (orjson.dumps({**GOOD, "msgtime": "soon"}), "msgtime"),
    (orjson.dumps({**GOOD, "tolist": "wmX"}), "tolist"),
    (orjson.dumps({k: v for k, v in GOOD.items() if k != "text"}), "without a 'text' object"),
])
def test_bad_records_raise_a_reason(raw, reason):
    with pytest.raises(RecordError, match=reason):
        decode_msgaudit(b"zhangsan", raw)


def test_dead_letters_keep_the_original_bytes():
    assert dead_letter("t", 1, 2, "e", "好".encode())["raw"] == "好"
    d = dead_letter("t", 1, 2, "e", b"\xff")
    assert d["raw_encoding"] == "base64" and base64.b64decode(d["raw"]) == b"\xff"


def test_dead_letters_stay_bounded_whatever_the_record():
    import hashlib
    raw = b"\xff" * 900_000
    d = dead_letter("t", 1, 2, "e" * 100_000, raw)
    assert len(orjson.dumps(d)) < 100_000
    assert d["raw_truncated"] is True and d["raw_size"] == 900_000
    assert d["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert base64.b64decode(d["raw"]) == raw[:len(base64.b64decode(d["raw"]))]
    small = dead_letter("t", 1, 2, "e", b"ok")
    assert small["raw_truncated"] is False and small["raw"] == "ok" and small["raw_size"] == 2


def test_truncated_utf8_dead_letter_stays_text():
    raw = ("好" * 50_000).encode()
    d = dead_letter("t", 1, 2, "e", raw, limit=1000)
    assert d["raw_encoding"] == "text" and d["raw_truncated"] and raw.startswith(d["raw"].encode())
