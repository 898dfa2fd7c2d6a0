"""The WeCom callback receiver on the real Kafka: verification, routing, dedup, attacks, broker outage."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import string
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer
from wechatpy.enterprise.crypto import WeChatCrypto as PeerCrypto

from config.wecom import IngestSettings
from ingest.callback import make_app
from ingest.wecom_client import contact_event, event_xml, signed_get, signed_post
from ingest.wecom_crypto import WecomCrypto
from tests.live import Consumer, free_port, unique
from tests.unit.test_wecom_crypto import AES_KEY, CHANGE_TYPES, CORPID, GET, POST, TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
URL = "/wecom/callback"


def fresh_settings(**kw) -> IngestSettings:
    alnum = string.ascii_letters + string.digits
    return IngestSettings(token=secrets.token_hex(8), aes_key="".join(secrets.choice(alnum) for _ in range(43)),
                          corpid=unique("ww"), **kw)


async def serve(settings: IngestSettings, kafka: str, clock=time.time) -> TestClient:
    client = TestClient(TestServer(make_app(settings, kafka, clock), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def receiver(stack):
    settings = fresh_settings()
    client = await serve(settings, stack.kafka)
    client.crypto = WecomCrypto(settings.token, settings.aes_key, settings.corpid)
    client.settings = settings
    yield client
    await client.close()


async def post_event(client, fields: dict, **kw):
    query, body = signed_post(client.crypto, client.settings.corpid, event_xml(fields), **kw)
    return await client.post(URL, params=query, data=body)


async def test_tencent_vectors_verify_the_url_and_decrypt_the_event(stack):
    settings = IngestSettings(token=TOKEN, aes_key=AES_KEY, corpid=CORPID)
    now = [int(GET["timestamp"])]
    client = await serve(settings, stack.kafka, clock=lambda: now[0])
    dead = await Consumer(stack.kafka, "paodan.deadletter").start()
    try:
        resp = await client.get(URL, params=GET)
        assert resp.status == 200 and await resp.read() == b"1288432023552776189"
        # The sample's POST is an app text message: authentic, but no event topic of ours -> dead letter.
        now[0] = int(POST["timestamp"])
        body = f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName><Encrypt><![CDATA[{POST['encrypt']}]]></Encrypt></xml>"
        resp = await client.post(URL, params={k: POST[k] for k in ("msg_signature", "timestamp", "nonce")}, data=body)
        assert resp.status == 200 and await resp.read() == b""
        [(_, letter)] = await dead.until(lambda kv: isinstance(kv[1], dict) and "ChenJiaShun" in kv[1].get("raw", ""))
        assert letter["topic"] == "wecom.callback" and "no topic" in letter["error"]
    finally:
        await dead.stop()
        await client.close()


async def test_url_verification_with_our_own_credentials(receiver):
    resp = await receiver.get(URL, params=signed_get(receiver.crypto, b"4242424242"))
    assert resp.status == 200 and await resp.text() == "4242424242"


async def peer_post(client, fields: dict):
    """POST an event encrypted and signed by wechatpy, an independent implementation of WeCom's scheme."""
    s = client.settings
    ts, nonce = str(int(time.time())), secrets.token_hex(6)
    body = PeerCrypto(s.token, s.aes_key, s.corpid).encrypt_message(event_xml(fields).decode(), nonce, ts)
    signature = body.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    return await client.post(URL, params={"msg_signature": signature, "timestamp": ts, "nonce": nonce},
                             data=body.encode())


async def test_every_change_type_reaches_wecom_contacts_keyed_by_userid(receiver, stack):
    consumer = await Consumer(stack.kafka, "wecom.contacts").start()
    user, sent = unique("it-user-"), []
    try:
        for change_type, extra in sorted(CHANGE_TYPES.items()):
            fields = contact_event(receiver.settings.corpid, change_type, user, unique("wm"), **extra)
            resp = await peer_post(receiver, fields)
            assert resp.status == 200, await resp.text()
            sent.append(fields)
        got = await consumer.until(lambda kv: kv[0] == user, count=len(sent))
        assert sorted((v for _, v in got), key=lambda v: v["ChangeType"]) == sent
        assert all(isinstance(v["CreateTime"], int) for _, v in got)
    finally:
        await consumer.stop()


async def test_other_events_go_to_their_own_topics(receiver, stack):
    corp = receiver.settings.corpid
    chat, tag, applicant = unique("wr"), unique("et"), unique("it-applicant-")
    cases = {
        "wecom.events.external_chat": ({"ToUserName": corp, "FromUserName": "sys", "CreateTime": int(time.time()),
                                        "MsgType": "event", "Event": "change_external_chat", "ChatId": chat,
                                        "ChangeType": "update", "UpdateDetail": "add_member", "JoinScene": 1,
                                        "MemChangeCnt": 1}, chat),
        "wecom.events.external_tag": ({"ToUserName": corp, "FromUserName": "sys", "CreateTime": int(time.time()),
                                       "MsgType": "event", "Event": "change_external_tag", "Id": tag,
                                       "TagType": "tag", "ChangeType": "create"}, tag),
        "wecom.events.msgaudit_notify": ({"ToUserName": corp, "FromUserName": "sys", "CreateTime": int(time.time()),
                                          "MsgType": "event", "AgentID": "2000003", "Event": "msgaudit_notify"}, corp),
        "wecom.events.approval": ({"ToUserName": corp, "FromUserName": "sys", "CreateTime": int(time.time()),
                                   "MsgType": "event", "Event": "sys_approval_change", "AgentID": "3010040",
                                   "ApprovalInfo": {"SpNo": unique("sp"), "SpStatus": 2, "Applyer": {"UserId": applicant},
                                                    "SpRecord": [{"Approver": {"UserId": "boss1"}},
                                                                 {"Approver": {"UserId": "boss2"}}]}}, applicant),
    }
    consumers = {topic: await Consumer(stack.kafka, topic).start() for topic in cases}
    try:
        for topic, (fields, _) in cases.items():
            assert (await post_event(receiver, fields)).status == 200
        for topic, (fields, key) in cases.items():
            [(got_key, value)] = await consumers[topic].until(lambda kv, k=key: kv[0] == k)
            assert value["Event"] == fields["Event"]
    finally:
        for c in consumers.values():
            await c.stop()


async def test_wecom_retries_of_one_event_are_produced_once(receiver, stack):
    consumer = await Consumer(stack.kafka, "wecom.contacts").start()
    user = unique("it-retry-")
    fields = contact_event(receiver.settings.corpid, "del_follow_user", user, unique("wm"))
    marker = contact_event(receiver.settings.corpid, "edit_external_contact", user, unique("wm"))
    try:
        for _ in range(3):  # WeCom re-sends the same event, freshly encrypted, with a new nonce
            assert (await post_event(receiver, fields)).status == 200
        assert (await post_event(receiver, marker)).status == 200
        # One key, one partition, in order: a duplicate would arrive before the marker.
        got = await consumer.until(lambda kv: kv[0] == user, count=2)
        assert [v["ChangeType"] for _, v in got] == ["del_follow_user", "edit_external_contact"]
    finally:
        await consumer.stop()


async def test_attacks_are_refused_with_4xx_and_produce_nothing(receiver, stack, caplog):
    caplog.set_level(logging.INFO, logger="paodan.ingest")
    corp, user = receiver.settings.corpid, unique("it-attack-")
    consumer = await Consumer(stack.kafka, "wecom.contacts").start()

    def event() -> bytes:
        return event_xml(contact_event(corp, "del_external_contact", user, unique("wm")))

    def body_with(encrypted: str) -> bytes:
        return f"<xml><ToUserName>{corp}</ToUserName><Encrypt>{encrypted}</Encrypt></xml>".encode()

    def signed(encrypted: str) -> dict:
        ts, nonce = str(int(time.time())), secrets.token_hex(6)
        return {"msg_signature": receiver.crypto.signature(ts, nonce, encrypted), "timestamp": ts, "nonce": nonce}

    try:
        query, body = signed_post(receiver.crypto, corp, event())
        forged = dict(query, msg_signature="0" * 40)
        assert (await receiver.post(URL, params=forged, data=body)).status == 403

        other_corp = WecomCrypto(receiver.settings.token, receiver.settings.aes_key, "wwsomeoneelse")
        q, b = signed_post(other_corp, corp, event())
        resp = await receiver.post(URL, params=q, data=b)
        assert resp.status == 403 and "corpid" in await resp.text()

        q, b = signed_post(receiver.crypto, corp, event(), timestamp=int(time.time()) - 301)
        resp = await receiver.post(URL, params=q, data=b)
        assert resp.status == 403 and "stale" in await resp.text()

        q, b = signed_post(receiver.crypto, corp, event(), timestamp=int(time.time()) + 400)
        assert (await receiver.post(URL, params=q, data=b)).status == 403

        truncated = base64.b64encode(base64.b64decode(receiver.crypto.encrypt(event()))[:-7]).decode()
        resp = await receiver.post(URL, params=signed(truncated), data=body_with(truncated))
        assert resp.status == 400 and "multiple" in await resp.text()

        resp = await receiver.post(URL, params=signed("%%%not-base64%%%"), data=body_with("%%%not-base64%%%"))
        assert resp.status == 400 and "base64" in await resp.text()

        resp = await receiver.post(URL, params=query, data=b"<xml>" + b"A" * (70 * 1024) + b"</xml>")
        assert resp.status == 413

        bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
                b"<xml><Encrypt>&b;</Encrypt></xml>")
        resp = await receiver.post(URL, params=query, data=bomb)
        assert resp.status == 400 and "unsafe" in await resp.text()

        resp = await receiver.post(URL, params={"timestamp": query["timestamp"]}, data=body)
        assert resp.status == 400

        # The genuine request passes once; the very same request again is a replay.
        assert (await receiver.post(URL, params=query, data=body)).status == 200
        resp = await receiver.post(URL, params=query, data=body)
        assert resp.status == 409 and "replayed" in await resp.text()

        await consumer.until(lambda kv: kv[0] == user, count=1)
        with pytest.raises(TimeoutError):  # ...and nothing else for this employee
            await consumer.until(lambda kv: kv[0] == user, timeout=1.5, count=1)
    finally:
        await consumer.stop()
    logged = caplog.text
    assert "refused 403: bad signature" in logged and "refused 409: replayed nonce" in logged
    for secret in (receiver.settings.token, receiver.settings.aes_key, query["msg_signature"]):
        assert secret not in logged


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def test_broker_down_answers_503_and_the_retry_delivers_once(stack):
    """Kafka is reached through a bootstrap address where nothing listens at first; WeCom's retry of the
    very same request, once the broker is reachable, is produced exactly once."""
    settings = fresh_settings()
    crypto = WecomCrypto(settings.token, settings.aes_key, settings.corpid)
    port = free_port()
    client = await serve(settings, f"127.0.0.1:{port}")
    consumer = await Consumer(stack.kafka, "wecom.contacts").start()
    user = unique("it-outage-")
    query, body = signed_post(crypto, settings.corpid, event_xml(contact_event(settings.corpid, "del_follow_user",
                                                                               user, unique("wm"))))
    kafka_host, kafka_port = stack.kafka.split(",")[0].rsplit(":", 1)

    async def bridge(reader, writer):
        up_reader, up_writer = await asyncio.open_connection(kafka_host, int(kafka_port))
        await asyncio.gather(_forward(reader, up_writer), _forward(up_reader, writer))

    proxy = None
    try:
        began = time.monotonic()
        resp = await client.post(URL, params=query, data=body)
        assert resp.status == 503 and "kafka" in await resp.text()
        assert time.monotonic() - began < 5  # WeCom gives up after 5 s: answer before that
        proxy = await asyncio.start_server(bridge, "127.0.0.1", port)
        resp = await client.post(URL, params=query, data=body)  # WeCom's retry: the same request
        assert resp.status == 200, await resp.text()
        resp = await client.post(URL, params=query, data=body)
        assert resp.status == 409
        [(key, value)] = await consumer.until(lambda kv: kv[0] == user)
        assert value["ChangeType"] == "del_follow_user"
        with pytest.raises(TimeoutError):
            await consumer.until(lambda kv: kv[0] == user, timeout=1.5, count=1)
    finally:
        await consumer.stop()
        await client.close()
        if proxy:
            proxy.close()
