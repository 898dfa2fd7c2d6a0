"""Callback XML parsing: CDATA or bare text, nested events, and hostile XML refused before expansion."""

from __future__ import annotations

import pytest

from ingest.wecom_xml import XmlError, envelope_encrypt, message

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><Encrypt>&lol3;</Encrypt></xml>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<xml><Encrypt>&e;</Encrypt></xml>"""


def test_envelope_accepts_cdata_and_bare_text():
    assert envelope_encrypt(b"<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[abc=]]></Encrypt></xml>") == "abc="
    assert envelope_encrypt(b"<xml><ToUserName>ww1</ToUserName><Encrypt>abc=</Encrypt></xml>") == "abc="


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_entity_tricks_are_refused(body):
    with pytest.raises(XmlError, match="unsafe XML"):
        envelope_encrypt(body)


@pytest.mark.parametrize("body", [b"", b"<xml><Encrypt>abc", b"not xml", b"<xml><Other>1</Other></xml>"])
def test_malformed_envelopes_are_refused(body):
    with pytest.raises(XmlError):
        envelope_encrypt(body)


def test_message_is_flat_for_contact_events_and_create_time_is_seconds():
    msg = message(b"<xml><ToUserName><![CDATA[ww1]]></ToUserName><CreateTime>1403610513</CreateTime>"
                  b"<ChangeType><![CDATA[del_follow_user]]></ChangeType><UserID>zhangsan</UserID></xml>")
    assert msg == {"ToUserName": "ww1", "CreateTime": 1403610513, "ChangeType": "del_follow_user",
                   "UserID": "zhangsan"}


def test_nested_and_repeated_elements_become_objects_and_lists():
    msg = message(b"<xml><Event>sys_approval_change</Event><ApprovalInfo><SpNo>202611270001</SpNo>"
                  b"<Applyer><UserId>lisi</UserId></Applyer><SpRecord><Approver><UserId>a</UserId></Approver>"
                  b"</SpRecord><SpRecord><Approver><UserId>b</UserId></Approver></SpRecord></ApprovalInfo></xml>")
    info = msg["ApprovalInfo"]
    assert info["Applyer"] == {"UserId": "lisi"}
    assert [r["Approver"]["UserId"] for r in info["SpRecord"]] == ["a", "b"]
