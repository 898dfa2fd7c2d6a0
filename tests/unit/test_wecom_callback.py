"""The callback receiver's pure parts: routing, the retry dedup key, the nonce window, once-only runs."""

from __future__ import annotations

import asyncio

import pytest

from ingest.callback import NonceWindow, OnceOnly, dedup_key, route


def contact(**kw):
    base = {"ToUserName": "ww1", "FromUserName": "sys", "CreateTime": 1764210000, "MsgType": "event",
            "Event": "change_external_contact", "ChangeType": "add_external_contact", "UserID": "zhangsan",
            "ExternalUserID": "wmA"}
    return {**base, **kw}


def test_contact_events_route_to_wecom_contacts_keyed_by_userid():
    assert route(contact()) == ("wecom.contacts", "zhangsan")


def test_other_events_route_to_their_topics_with_sensible_keys():
    assert route({"Event": "change_external_chat", "ChatId": "wrX", "ToUserName": "ww1"}) == \
        ("wecom.events.external_chat", "wrX")
    assert route({"Event": "change_external_tag", "Id": "etY", "ToUserName": "ww1"}) == \
        ("wecom.events.external_tag", "etY")
    assert route({"Event": "msgaudit_notify", "ToUserName": "ww1"}) == ("wecom.events.msgaudit_notify", "ww1")
    approval = {"Event": "sys_approval_change", "ToUserName": "ww1",
                "ApprovalInfo": {"SpNo": "1", "Applyer": {"UserId": "lisi"}}}
    assert route(approval) == ("wecom.events.approval", "lisi")


@pytest.mark.parametrize("event", [{"MsgType": "text", "Content": "hi"}, contact(UserID="")])
def test_unroutable_events_say_why(event):
    with pytest.raises(ValueError):
        route(event)


def test_retries_share_the_dedup_key_and_different_changes_do_not():
    assert dedup_key(contact()) == dedup_key(dict(contact()))
    assert dedup_key(contact()) != dedup_key(contact(ChangeType="del_follow_user"))
    assert dedup_key(contact()) != dedup_key(contact(CreateTime=1764210001))
    other = {"Event": "msgaudit_notify", "ToUserName": "ww1", "CreateTime": 1}
    assert dedup_key(other) == dedup_key(dict(reversed(list(other.items()))))


def test_nonce_is_refused_within_its_window_and_forgotten_after():
    w = NonceWindow()
    assert w.claim("n1", expires_at=1300, now=1000)
    assert not w.claim("n1", expires_at=1300, now=1100)
    assert w.claim("n1", expires_at=1700, now=1301)  # the first one expired
    w.release("n1")
    assert w.claim("n1", expires_at=1700, now=1302)  # released after a failure: the retry may pass


async def test_once_only_runs_an_action_once_and_a_failed_first_attempt_lets_the_retry_run():
    once, calls = OnceOnly(), []

    async def ok():
        calls.append("ok")

    async def boom():
        calls.append("boom")
        raise RuntimeError("broker down")

    with pytest.raises(RuntimeError):
        await once.run("k", boom)
    assert await once.run("k", ok) is True
    assert await once.run("k", ok) is False
    assert calls == ["boom", "ok"]


async def test_a_duplicate_in_flight_waits_for_the_first():
    once, gate, calls = OnceOnly(), asyncio.Event(), []

    async def slow():
        await gate.wait()
        calls.append("slow")

    first = asyncio.ensure_future(once.run("k", slow))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(once.run("k", slow))
    await asyncio.sleep(0)
    gate.set()
    assert await first is True and await second is False
    assert calls == ["slow"]


def test_stack_up_creates_every_topic_the_receiver_routes_to():
    from formats.topics import EVENT_TOPICS, INPUTS as INPUT_TOPICS, WECOM_EVENTS as WECOM_EVENT_TOPICS

    assert set(EVENT_TOPICS.values()) <= set(INPUT_TOPICS + WECOM_EVENT_TOPICS)
    assert set(WECOM_EVENT_TOPICS) == {"wecom.events.external_chat", "wecom.events.external_tag",
                                       "wecom.events.msgaudit_notify", "wecom.events.approval"}
