"""`paodan ingest callback` as a process: order and HR intake over HTTP into the real Kafka, and the
WeCom verification on the same server."""

from __future__ import annotations

import secrets
import time

import aiohttp
import pytest

from ingest.wecom_client import contact_event, event_xml, signed_get, signed_post
from tests.ingest_server import IngestServer
from tests.live import Consumer, unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

INTAKE_TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def server(stack, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("ingest") / "ingest.log"
    srv = IngestServer(log_path, env={"PAODAN_INTAKE_TOKEN": INTAKE_TOKEN}).start()
    yield srv
    srv.stop()
    log = log_path.read_text()
    for name in ("PAODAN_WECOM_TOKEN", "PAODAN_WECOM_AES_KEY", "PAODAN_INTAKE_TOKEN"):
        assert srv.env[name] not in log, f"{name} leaked into the log"


def order(employee: str, **kw) -> dict:
    return {"order_id": unique("SO-"), "event": "created", "ts": int(time.time() * 1000), "employee_id": employee,
            "customer_id": "wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ", "amount": "1299.00", "currency": "CNY",
            "store_id": "SH-01", "customer": {"name": "王女士", "phone": "13800000000", "address": "上海市"},
            "approver_id": None, "commission": None, "items": [{"sku": "A-100", "qty": 1, "price": "1299.00"}], **kw}


async def post(url: str, payload, token: str | None = INTAKE_TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=payload, headers=headers) as resp:
            return resp.status, await resp.json() if resp.content_type == "application/json" else await resp.text()


async def test_a_valid_order_batch_is_produced_keyed_by_employee(server, stack):
    consumer = await Consumer(stack.kafka, "crm.orders").start()
    employee = unique("it-sales-")
    batch = [order(employee), order(employee, event="approved", approver_id="boss1")]
    try:
        status, body = await post(server.url + "/orders", batch)
        assert (status, body) == (200, {"accepted": 2, "rejected": 0, "errors": []})
        got = await consumer.until(lambda kv: kv[0] == employee, count=2)
        assert [v for _, v in got] == batch
    finally:
        await consumer.stop()


async def test_invalid_records_are_reported_by_index_and_the_valid_ones_produced(server, stack):
    consumer = await Consumer(stack.kafka, "hr.events").start()
    employee = unique("it-hr-")
    good = {"type": "checkin", "ts": int(time.time() * 1000), "employee_id": employee,
            "checkin_type": "上班打卡", "exception_type": "时间异常"}
    bad_type = {"type": "promotion", "ts": 1, "employee_id": employee}
    no_customer = {"type": "assignment", "ts": 1, "employee_id": employee}
    try:
        status, body = await post(server.url + "/hr", [bad_type, good, no_customer])
        assert status == 207 and body["accepted"] == 1 and body["rejected"] == 2
        assert [e["index"] for e in body["errors"]] == [0, 2]
        assert "type" in body["errors"][0]["errors"][0]
        assert "customer_id" in body["errors"][1]["errors"][0]
        [(_, value)] = await consumer.until(lambda kv: kv[0] == employee)
        assert value == good
    finally:
        await consumer.stop()


async def test_order_refusals(server):
    url = server.url + "/orders"
    status, body = await post(url, {"order_id": "x", "event": "approved", "ts": 1, "employee_id": "e",
                                    "amount": "12,50"})
    assert status == 422
    reasons = " ".join(body["errors"][0]["errors"])
    assert "amount" in reasons and "approver_id" in reasons
    assert (await post(url, [order("e")], token="wrong-token-0123456789"))[0] == 401
    assert (await post(url, [order("e")], token=None))[0] == 401
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=b"{not json", headers={"Authorization": f"Bearer {INTAKE_TOKEN}"}) as r:
            assert r.status == 400 and "not JSON" in await r.text()


async def test_the_same_server_answers_wecom(server, stack):
    crypto, corpid = server.crypto, server.corpid
    consumer = await Consumer(stack.kafka, "wecom.contacts").start()
    user = unique("it-cli-")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/wecom/callback", params=signed_get(crypto, b"echo-1")) as r:
                assert r.status == 200 and await r.text() == "echo-1"
            fields = contact_event(corpid, "add_external_contact", user, unique("wm"),
                                   State="qr1", WelcomeCode="W1")
            query, body = signed_post(crypto, corpid, event_xml(fields))
            async with session.post(server.url + "/wecom/callback", params=query, data=body) as r:
                assert r.status == 200
        [(_, value)] = await consumer.until(lambda kv: kv[0] == user)
        assert value == fields
    finally:
        await consumer.stop()
