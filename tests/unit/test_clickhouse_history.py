"""History queries on current ClickHouse (chdb): timeline, normalised keyword search, context around a
message and alert statistics — each permission-checked, and content views audited in alert_actions.

tests/integration/test_archive_history.py runs these same tests against the ClickHouse 18.16 server, so
every shipped query is checked on both."""

from __future__ import annotations

import time

import orjson
import pytest

from sinks.clickhouse import EmbeddedArchive
from sinks.clickhouse.rows import contact_row, hr_row, message_row, order_row
from sinks.clickhouse.schema import CONTACT_EVENTS, HR_EVENTS, MESSAGES, ORDERS, migrate
from sinks.clickhouse.writer import write_alert_changes
from sinks.history import (BadQuery, Caller, PermissionDenied, alert_stats, context, search, timeline)
from tests.live import unique

T0 = (int(time.time()) // 3600 - 48) * 3600 * 1000  # two days ago, on the hour
MIN = 60_000
COMPLIANCE = Caller("auditor-1", "compliance")
SUPERVISOR_A = Caller("boss-a", "supervisor", "华东一组")
SUPERVISOR_B = Caller("boss-b", "supervisor", "华南二组")
CARD_TITLE = "向客户发送私人联系方式：其他企业名片（别家公司）"  # the company's name came from the message


def chat(msgid: str, sender: str, to: str, minute: int, text: str, room: str = "") -> tuple:
    rec = {"msgid": msgid, "action": "send", "from": sender, "tolist": [to], "roomid": room,
           "msgtime": T0 + minute * MIN, "msgtype": "text", "text": {"content": text}, "corpid": "ww1", "seq": 1}
    return message_row(rec, text)


def seed_company(archive) -> None:
    """Two employees in two teams, a customer each, a conversation, an order, HR records, two alerts."""
    migrate(archive)
    archive.insert(HR_EVENTS, [
        hr_row({"type": "employee", "ts": T0 - 10 * MIN, "employee_id": "zs", "name": "张三", "team": "华东一组"}),
        hr_row({"type": "employee", "ts": T0 - 10 * MIN, "employee_id": "ls", "name": "李四", "team": "华南二组"}),
        hr_row({"type": "resignation", "ts": T0 + 30 * MIN, "employee_id": "zs", "last_day": T0 + 14 * 86400_000}),
    ])
    rows = [chat("m1", "wmCUST1", "zs", 1, "你好，在吗"), chat("m2", "zs", "wmCUST1", 2, "在的，您说"),
            chat("m3", "zs", "wmCUST1", 3, "加 我 私人 微-信，便宜两百"), chat("m4", "wmCUST1", "zs", 4, "好的"),
            chat("m5", "ls", "wmCUST2", 5, "加我微信吧"), chat("m6", "zs", "wmOTHER", 6, "别的客户")]
    archive.insert(MESSAGES, rows + rows[:3])  # m1-m3 delivered twice
    archive.insert(CONTACT_EVENTS, [contact_row({"ToUserName": "ww1", "CreateTime": (T0 + 20 * MIN) // 1000,
                                                 "ChangeType": "del_external_contact", "UserID": "zs",
                                                 "ExternalUserID": "wmCUST1"})])
    archive.insert(ORDERS, [order_row({"order_id": "SO-1", "event": "cancelled", "ts": T0 + 10 * MIN,
                                       "employee_id": "zs", "amount": "1299.00", "customer_id": "wmCUST1"})])

    def alert(alert_id, employee, team, minute, rule="chat.diversion_phrase", title="t"):
        return {"alert_id": alert_id, "rule": rule, "severity": "high", "score": 80.0, "employee_id": employee,
                "team": team, "branch": "", "ts": T0 + minute * MIN,
                "window": {"start": T0, "end": T0 + 60 * MIN}, "title": title, "explanation": "e",
                "evidence": [{"topic": "wecom.msgaudit", "id": "m3"}], "rules_version": "r", "revision": 1}

    def resolve(alert_id, employee, resolution):
        return {"action_id": unique(""), "alert_id": alert_id, "employee_id": employee, "action": "resolve",
                "actor": "boss", "actor_role": "supervisor", "ts": T0 + 90 * MIN, "resolution": resolution}

    write_alert_changes(archive, [("alert", alert("A1", "zs", "华东一组", 3, title=CARD_TITLE)),
                                  ("alert", alert("A2", "ls", "华南二组", 5)),
                                  ("action", resolve("A1", "zs", "true_positive")),
                                  ("action", resolve("A2", "ls", "false_positive"))])


@pytest.fixture()
def archive():
    with EmbeddedArchive.scratch() as a:
        seed_company(a)
        yield a


def views(archive) -> list[dict]:
    rows = archive.execute(f"SELECT employee_id, actor, actor_role, detail FROM {archive.database}.alert_actions "
                           "FINAL WHERE action = 'view_content' ORDER BY employee_id")
    return [{**orjson.loads(d), "employee_id": e, "actor": a, "role": r} for e, a, r, d in rows]


def test_timeline_merges_every_stream_in_time_order_once(archive):
    items = timeline(archive, COMPLIANCE, "zs", T0 - 3600_000, T0 + 3 * 3600_000)
    assert [(i["kind"], i["id"]) for i in items] == [
        ("hr", f"employee:{T0 - 10 * MIN}"), ("message", "m1"), ("message", "m2"), ("message", "m3"),
        ("alert", "A1"), ("message", "m4"), ("message", "m6"), ("order", f"SO-1:cancelled:{T0 + 10 * MIN}"),
        ("contact", f"del_external_contact:wmCUST1:{(T0 + 20 * MIN) // 1000 * 1000}"),
        ("hr", f"resignation:{T0 + 30 * MIN}")]
    assert items[3]["data"]["content"] == "加 我 私人 微-信，便宜两百"
    assert items[4]["data"]["status"] == "resolved" and items[4]["data"]["resolution"] == "true_positive"
    assert items[4]["data"]["title"] == CARD_TITLE
    assert items[7]["data"]["amount"] == "1299.00"
    assert items[9]["data"]["last_day"] == T0 + 14 * 86400_000
    [view] = views(archive)
    assert (view["employee_id"], view["actor"], view["what"]) == ("zs", "auditor-1", "timeline")
    assert sorted(view["msgids"]) == ["m1", "m2", "m3", "m4", "m6"]


def test_timeline_keeps_the_latest_events_when_limited(archive):
    items = timeline(archive, COMPLIANCE, "zs", T0 - 3600_000, T0 + 3 * 3600_000, limit=2)
    assert [i["kind"] for i in items] == ["contact", "hr"]
    assert views(archive) == []  # no message shown, nothing to audit


def test_a_supervisor_sees_their_own_team_only_and_messages_as_metadata(archive):
    items = timeline(archive, SUPERVISOR_A, "zs", T0 - 3600_000, T0 + 3 * 3600_000)
    m3 = next(i["data"] for i in items if i["id"] == "m3")
    assert next(i["data"] for i in items if i["id"] == "A1")["title"] == "向客户发送私人联系方式：其他企业名片"
    assert "content" not in m3 and m3["length"] == len("加 我 私人 微-信，便宜两百") and m3["sender"] == "zs"
    around = context(archive, SUPERVISOR_A, "m3", before=1, after=1)
    assert [m["msgid"] for m in around["before"] + [around["message"]] + around["after"]] == ["m2", "m3", "m4"]
    assert all("content" not in m for m in around["before"] + [around["message"]] + around["after"])
    assert views(archive) == []  # no content shown, nothing to audit
    with pytest.raises(PermissionDenied):
        timeline(archive, SUPERVISOR_B, "zs", T0 - 3600_000, T0 + 3 * 3600_000)
    with pytest.raises(PermissionDenied):
        context(archive, SUPERVISOR_B, "m3")
    with pytest.raises(PermissionDenied):
        search(archive, SUPERVISOR_A, "加我微信", T0 - 3600_000, T0 + 3 * 3600_000)  # search reads content
    stats = alert_stats(archive, SUPERVISOR_B, T0 - 3600_000, T0 + 3 * 3600_000, by=["team"])
    assert [s["team"] for s in stats] == ["华南二组"]
    with pytest.raises(PermissionDenied):
        Caller("x", "supervisor")  # a supervisor without a team sees nothing
    with pytest.raises(PermissionDenied):
        Caller("x", "guest")


def test_search_normalises_like_the_live_matcher_and_highlights_the_original(archive):
    result = search(archive, COMPLIANCE, "加我 微信", T0 - 3600_000, T0 + 3 * 3600_000)
    assert result["terms"] == ["加我", "微信"]
    assert [h["msgid"] for h in result["hits"]] == ["m5", "m3"]  # newest first, m3 once though stored twice
    m3 = result["hits"][1]
    assert [s["text"] for s in m3["highlights"]] == ["加 我", "微-信"]
    assert search(archive, COMPLIANCE, "ＷＥＩ信", T0 - 3600_000, T0 + 3 * 3600_000)["hits"] == []
    assert [h["msgid"] for h in search(archive, COMPLIANCE, "加我", T0 - 3600_000, T0 + 3 * 3600_000,
                                       employee_id="zs")["hits"]] == ["m3"]
    with pytest.raises(BadQuery):
        search(archive, COMPLIANCE, "，。！")
    audited = {(v["employee_id"], v["what"]) for v in views(archive)}
    assert audited == {("zs", "search"), ("ls", "search")}


def test_search_finds_what_an_image_said_as_the_archive_stored_it(archive):
    """The media agent's text record of an image (a QR code and OCR'd words) goes to `media_texts` through
    the archive consumer's own batch, and search finds the image message by those words."""
    from detectors.content.media import image_as_text_record
    from streams.archive import MEDIA_TEXT, Batch, write_batch

    image = {"msgid": "img-7", "action": "send", "from": "zs", "tolist": ["wmC1"], "roomid": "",
             "msgtime": T0 + 90 * MIN, "msgtype": "image", "image": {"md5sum": "ab" * 16, "filesize": 1},
             "corpid": "ww1", "seq": 7}
    said = image_as_text_record(image, "图片二维码：个人微信二维码 https://u.wechat.com/x\n图片文字：加 我 微-信 领券")
    batch = Batch.of([(MEDIA_TEXT, b"zs", orjson.dumps(said)), (MEDIA_TEXT, b"zs", b"{not json")])
    write_batch(archive, batch)
    stored = archive.execute(f"SELECT msgid, kind, md5sum, sender FROM {archive.database}.media_texts")
    assert stored == [("img-7", "image", "ab" * 16, "zs")]  # the malformed one is not a row
    hits = search(archive, COMPLIANCE, "加我 微信", T0 - 3600_000, T0 + 3 * 3600_000)["hits"]
    assert [h["msgid"] for h in hits] == ["img-7", "m5", "m3"]  # newest first, the image among the chats
    assert hits[0]["media"] and hits[0]["msgtype"] == "image"
    assert "加 我" in [s["text"] for s in hits[0]["highlights"]]  # the words as the image showed them
    assert search(archive, COMPLIANCE, "加我", T0 - 3600_000, T0 + 3 * 3600_000, employee_id="ls")["hits"][0][
        "msgid"] != "img-7"


def test_search_pages_newest_first_across_the_period(archive):
    # The same phrase on five days of a 30-day period: the newest `limit` come back, newest first,
    # whether they sit on the last day or weeks before it.
    days = [0, 1, 3, 9, 27]
    archive.insert(MESSAGES, [chat(f"d{d}", "zs", "wmCUST1", -d * 24 * 60, "满减活动今天截止") for d in days])
    until = T0 + 3 * 3600_000
    page = search(archive, COMPLIANCE, "满减活动", until - 30 * 86_400_000, until, limit=2)
    assert [h["msgid"] for h in page["hits"]] == ["d0", "d1"]
    whole = search(archive, COMPLIANCE, "满减活动", until - 30 * 86_400_000, until, limit=10)
    assert [h["msgid"] for h in whole["hits"]] == [f"d{d}" for d in days]
    assert search(archive, COMPLIANCE, "满减活动", until - 5 * 86_400_000, until)["hits"][-1]["msgid"] == "d3"


def test_context_shows_the_conversation_around_an_evidence_message(archive):
    result = context(archive, COMPLIANCE, "m3", before=1, after=5, alert_id="A1")
    assert result["message"]["content"] == "加 我 私人 微-信，便宜两百"
    assert [m["msgid"] for m in result["before"]] == ["m2"]
    assert [m["msgid"] for m in result["after"]] == ["m4"]  # m6 is another customer's conversation
    [view] = views(archive)
    assert (view["employee_id"], view["actor"], view["role"], view["what"]) == ("zs", "auditor-1", "compliance",
                                                                                "context")
    assert archive.execute(f"SELECT alert_id FROM {archive.database}.alert_actions FINAL WHERE "
                           "action = 'view_content'") == [("A1",)]
    with pytest.raises(BadQuery):
        context(archive, COMPLIANCE, "no-such-message")


def test_alert_statistics_by_rule_team_and_day(archive):
    stats = alert_stats(archive, COMPLIANCE, T0 - 3600_000, T0 + 3 * 3600_000)
    day = time.strftime("%Y-%m-%d", time.gmtime(T0 / 1000))
    assert [(s["rule"], s["team"], s["day"], s["alerts"], s["resolved"], s["precision"]) for s in stats] == [
        ("chat.diversion_phrase", "华东一组", day, 1, 1, 1.0),
        ("chat.diversion_phrase", "华南二组", day, 1, 1, 0.0)]
    [by_rule] = alert_stats(archive, COMPLIANCE, T0 - 3600_000, T0 + 3 * 3600_000, by=["rule"])
    assert (by_rule["alerts"], by_rule["true_positive"], by_rule["false_positive"], by_rule["precision"]) == \
        (2, 1, 1, 0.5)
    with pytest.raises(BadQuery):
        alert_stats(archive, COMPLIANCE, by=["colour"])
