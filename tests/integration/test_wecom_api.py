"""The WeCom API client against the stand-in over real HTTP: documented request shapes, the token cached
and renewed on 40014/42001, backoff on 45009, and errors that say what went wrong in words."""

from __future__ import annotations

import pytest

from config.wecom_app import WecomApp
from ingest.wecom_api import WecomApi, WecomError

pytestmark = [pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
async def api(wecom):
    wecom.requests.clear()
    wecom.violations.clear()
    client = WecomApi(WecomApp(api=wecom.url, corpid=wecom.corpid, agentid=wecom.agentid, secret=wecom.secret),
                      backoff_s=0.01)
    yield client
    await client.close()
    assert wecom.violations == []


async def test_token_is_fetched_once_and_renewed_when_wecom_says_it_expired(wecom, api):
    wecom.member("mgr_wang", "wmCustomerA")
    await api.message_customers("mgr_wang", ["wmCustomerA"], "您好")
    await api.message_customers("mgr_wang", ["wmCustomerA"], "您好")
    assert len(wecom.calls("/cgi-bin/gettoken")) == 1
    method, _, query, _ = wecom.calls("/cgi-bin/gettoken")[0]
    assert method == "GET" and query == {"corpid": wecom.corpid, "corpsecret": wecom.secret}
    wecom.expire_tokens()
    await api.message_customers("mgr_wang", ["wmCustomerA"], "再次问候")
    assert len(wecom.calls("/cgi-bin/gettoken")) == 2
    sends = wecom.calls("/cgi-bin/externalcontact/add_msg_template")
    assert len(sends) == 4  # the third send was refused with 42001 and sent again with the new token
    assert sends[2][2]["access_token"] != sends[3][2]["access_token"]


async def test_an_invalid_token_is_renewed_too(wecom, api):
    wecom.member("mgr_wang", "wmCustomerA")
    await api.token()
    wecom.tokens.clear()  # WeCom forgot it: 40014
    await api.message_customers("mgr_wang", ["wmCustomerA"], "您好")
    assert len(wecom.calls("/cgi-bin/gettoken")) == 2


async def test_message_request_shape(wecom, api):
    wecom.member("mgr_li", "wmC1", "wmC2")
    answer = await api.message_customers("mgr_li", ["wmC1", "wmOther"], "官方优惠：本周下单立减50元")
    _, path, query, body = wecom.calls("/cgi-bin/externalcontact/add_msg_template")[-1]
    assert set(query) == {"access_token"}
    assert body == {"chat_type": "single", "external_userid": ["wmC1", "wmOther"], "sender": "mgr_li",
                    "text": {"content": "官方优惠：本周下单立减50元"}}
    assert answer["fail_list"] == ["wmOther"] and answer["msgid"]


async def test_frequency_limit_is_retried_with_backoff_then_given_up(wecom, api):
    wecom.member("mgr_wang", "wmCustomerA")
    wecom.fail_next("/cgi-bin/externalcontact/add_msg_template", 45009, 45009)
    await api.message_customers("mgr_wang", ["wmCustomerA"], "您好")
    assert len(wecom.calls("/cgi-bin/externalcontact/add_msg_template")) == 3
    wecom.fail_next("/cgi-bin/externalcontact/add_msg_template", *[45009] * 4)
    with pytest.raises(WecomError) as info:
        await api.message_customers("mgr_wang", ["wmCustomerA"], "您好")
    assert info.value.errcode == 45009 and "频率" in info.value.plain and "rate limit" in info.value.plain


async def test_no_privilege_is_not_retried_and_reads_plainly(wecom, api):
    wecom.member("mgr_wang", "wmCustomerA")
    wecom.no_privilege.add("mgr_wang")
    try:
        with pytest.raises(WecomError) as info:
            await api.message_customers("mgr_wang", ["wmCustomerA"], "您好")
    finally:
        wecom.no_privilege.clear()
    assert info.value.errcode == 60011
    assert len(wecom.calls("/cgi-bin/externalcontact/add_msg_template")) == 1
    assert "可见范围" in info.value.plain and "visible range" in info.value.plain


async def test_a_wrong_secret_says_so_and_never_shows_it(wecom):
    client = WecomApi(WecomApp(api=wecom.url, corpid=wecom.corpid, agentid=wecom.agentid,
                               secret="not-the-secret-000000"))
    try:
        with pytest.raises(WecomError) as info:
            await client.token()
    finally:
        await client.close()
    assert info.value.errcode == 40001 and "Secret" in info.value.plain
    assert "not-the-secret" not in str(info.value) and "not-the-secret" not in repr(client.app)


async def test_transfers_on_job_and_after_resignation(wecom, api):
    wecom.member("sales_zhao", "wmT1", "wmT2")
    wecom.member("sales_qian")
    answer = await api.transfer_customers("sales_zhao", "sales_qian", ["wmT1", "wmNope"], resigned=False,
                                          message="您好，之后由同事小钱为您服务")
    assert answer["customer"] == [{"external_userid": "wmT1", "errcode": 0},
                                  {"external_userid": "wmNope", "errcode": 40096}]
    _, _, _, body = wecom.calls("/cgi-bin/externalcontact/transfer_customer")[-1]
    assert body == {"handover_userid": "sales_zhao", "takeover_userid": "sales_qian",
                    "external_userid": ["wmT1", "wmNope"], "transfer_success_msg": "您好，之后由同事小钱为您服务"}
    assert [c["status"] for c in await api.transfer_result("sales_zhao", "sales_qian", resigned=False)] == [2]
    wecom.complete_transfers()
    assert [c["status"] for c in await api.transfer_result("sales_zhao", "sales_qian", resigned=False)] == [1]

    with pytest.raises(WecomError) as info:  # not resigned: WeCom refuses the resigned transfer
        await api.transfer_customers("sales_zhao", "sales_qian", ["wmT2"], resigned=True, message="ignored")
    assert info.value.errcode == 40097
    _, _, _, body = wecom.calls("/cgi-bin/externalcontact/resigned/transfer_customer")[-1]
    assert "transfer_success_msg" not in body


async def test_an_unreachable_wecom_is_said_plainly():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = WecomApi(WecomApp(api=f"http://127.0.0.1:{port}", corpid="ww1436e0e65a779aee", agentid="1000002",
                               secret="standin-secret-0123456789abcdef"), timeout_s=2)
    try:
        with pytest.raises(WecomError) as info:
            await client.token()
    finally:
        await client.close()
    assert info.value.errcode == -2 and "could not be reached" in info.value.plain
    assert "standin-secret" not in str(info.value)


async def test_unassigned_customers_are_read_page_by_page_with_the_cursor(wecom, api):
    """get_unassigned_list (path 92124) lists every leaver's customers, ≤1000 a page: the client follows
    next_cursor until is_last and keeps only the leaver asked for."""
    leaver = wecom.member("left_zhou", *[f"wmZ{i:05d}" for i in range(1500)], resigned=True)
    wecom.member("left_qian", *[f"wmQ{i:05d}" for i in range(900)], resigned=True)
    assert leaver.dimission_time > 0
    found = await api.customers_of("left_zhou", resigned=True)
    assert found == sorted(leaver.customers)
    calls = wecom.calls("/cgi-bin/externalcontact/get_unassigned_list")
    assert len(calls) == 3  # 2,400 entries in pages of 1000
    assert [c[3] for c in calls][0] == {"page_size": 1000}
    assert all(set(c[3]) == {"page_size", "cursor"} and c[3]["cursor"] for c in calls[1:])


async def test_the_stand_in_refuses_a_cursor_it_never_gave_and_an_empty_intercept_range(wecom, api):
    with pytest.raises(WecomError) as bad:
        await api.call("POST", "/cgi-bin/externalcontact/get_unassigned_list", body={"cursor": "made-up"})
    assert bad.value.errcode == 40058
    with pytest.raises(WecomError) as empty:
        await api.add_intercept_rule("跑单哨兵-测试", ["私聊"], [])
    assert empty.value.errcode == 40058
    assert any("cannot both be empty" in v for v in wecom.violations)
    wecom.violations.clear()
